"""A parametric Kinect-style body: 25 NTU joints, per-subject proportions, forward kinematics.

Frames: the *body frame* is right-handed with x = the person's left, y = up, z = the direction
the person faces; the root (SpineBase) sits above the floor (y = 0 is the floor). Joint
rotations are expressed per *bone*: ``local[j]`` rotates the bone that ends at joint ``j`` (and
everything below it) relative to its parent's frame, so the shoulder's motion is
``local[ElbowLeft]``, the elbow's ``local[WristLeft]``, the knee's ``local[AnkleLeft]``. In the
rest pose (all identities) the person stands upright with arms hanging straight down.

The kinematic tree follows the Kinect v2 / NTU joint hierarchy (HandTip and Thumb hang from
Hand; the root is SpineBase) and is looked up by joint *name* in
:data:`mmfusion.data.layouts.NTU25`, so no joint index is hard-coded.

Shapes: ``forward_kinematics`` takes ``root_pos (T, 3)``, ``root_rot (T, 3, 3)``,
``local (T, V, 3, 3)`` and returns joint positions ``(T, V, 3)`` and global rotations
``(T, V, 3, 3)`` (V = 25).

The body surface is a set of :class:`Shape` primitives (ellipsoids for head, hair and trunk,
capsules for neck and limbs) attached to joints; :func:`body_primitives` poses them for a
clip. Each subject has its own size, limb proportions, girth, skin/hair/clothing colours and
clothing IR reflectance (:class:`Subject`). :func:`coco17_points` reads the 17 COCO keypoints
(face points from the head's pose) off a posed body. This one body serves both synthetic
worlds: the NTU world (:mod:`.actions`, :mod:`.generate`) and the pose world (:mod:`.pose_world`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mmfusion.data.layouts import COCO17, NTU25, NTU25_TO_COCO17, SkeletonLayout

J = {name: i for i, name in enumerate(NTU25.joints)}

#: kinematic parent by name (Kinect v2 hierarchy, rooted at SpineBase)
KINEMATIC_PARENT: dict[str, str] = {
    "SpineMid": "SpineBase", "SpineShoulder": "SpineMid", "Neck": "SpineShoulder", "Head": "Neck",
    "ShoulderLeft": "SpineShoulder", "ElbowLeft": "ShoulderLeft", "WristLeft": "ElbowLeft", "HandLeft": "WristLeft",
    "HandTipLeft": "HandLeft", "ThumbLeft": "HandLeft",
    "ShoulderRight": "SpineShoulder", "ElbowRight": "ShoulderRight", "WristRight": "ElbowRight",
    "HandRight": "WristRight", "HandTipRight": "HandRight", "ThumbRight": "HandRight",
    "HipLeft": "SpineBase", "KneeLeft": "HipLeft", "AnkleLeft": "KneeLeft", "FootLeft": "AnkleLeft",
    "HipRight": "SpineBase", "KneeRight": "HipRight", "AnkleRight": "KneeRight", "FootRight": "AnkleRight",
}

#: rest positions (metres, body frame, root at the origin) of a 1.65 m reference person, with bone lengths
#: close to the median Kinect v2 bones of real NTU files (Kinect's thigh/shin/hip bones are shorter than
#: anatomical ones); right = mirrored left
_REST_LEFT: dict[str, tuple[float, float, float]] = {
    "SpineBase": (0.0, 0.0, 0.0), "SpineMid": (0.0, 0.285, -0.01), "SpineShoulder": (0.0, 0.495, -0.01),
    "Neck": (0.0, 0.562, 0.0), "Head": (0.0, 0.69, 0.01),
    "ShoulderLeft": (0.16, 0.455, -0.01), "ElbowLeft": (0.16, 0.205, -0.01), "WristLeft": (0.16, -0.03, -0.01),
    "HandLeft": (0.16, -0.092, -0.01), "HandTipLeft": (0.16, -0.15, -0.005), "ThumbLeft": (0.155, -0.08, 0.035),
    "HipLeft": (0.06, -0.03, 0.0), "KneeLeft": (0.06, -0.40, 0.0), "AnkleLeft": (0.06, -0.78, 0.0),
    "FootLeft": (0.06, -0.815, 0.105),
}
#: bone groups scaled by the subject's proportions
_GROUP: dict[str, str] = {
    "SpineMid": "trunk", "SpineShoulder": "trunk", "Neck": "trunk", "Head": "trunk",
    "Shoulder": "shoulder", "Elbow": "arm", "Wrist": "arm", "Hand": "hand", "HandTip": "hand", "Thumb": "hand",
    "Hip": "hip", "Knee": "leg", "Ankle": "leg", "Foot": "foot",
}
ANKLE_HEIGHT = 0.075  # ankle joint above the floor for the reference person, metres
LEAF_JOINTS = ("Head", "FootLeft", "FootRight", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight")


def _group(name: str) -> str:
    for suffix in ("Left", "Right"):
        if name.endswith(suffix):
            return _GROUP[name[: -len(suffix)]]
    return _GROUP.get(name, "trunk")


def rest_positions(layout: SkeletonLayout = NTU25) -> np.ndarray:
    """(V, 3) rest joint positions of the reference body (body frame, root at origin)."""
    out = np.zeros((layout.num_joints, 3))
    for name, pos in _REST_LEFT.items():
        out[layout.joints.index(name)] = pos
        if name.endswith("Left"):
            out[layout.joints.index(name[:-4] + "Right")] = (-pos[0], pos[1], pos[2])
    return out


def kinematic_order(layout: SkeletonLayout = NTU25) -> tuple[list[int], np.ndarray]:
    """Joints in parents-first order and the (V,) kinematic parent index (root: itself)."""
    parent = np.arange(layout.num_joints)
    for child, par in KINEMATIC_PARENT.items():
        parent[layout.joints.index(child)] = layout.joints.index(par)
    order: list[int] = []
    root = layout.joints.index("SpineBase")
    frontier = [root]
    while frontier:
        order.extend(frontier)
        frontier = [c for p in frontier for c in range(layout.num_joints) if parent[c] == p and c != p]
    if len(order) != layout.num_joints:
        raise RuntimeError("kinematic tree does not reach every joint")
    return order, parent


ORDER, KPARENT = kinematic_order()


@dataclass(frozen=True)
class Material:
    """Surface appearance: RGB albedo in [0, 1] and near-IR (850 nm) reflectance in [0, 1]."""

    rgb: tuple[float, float, float]
    ir: float


@dataclass(frozen=True)
class Shape:
    """One body primitive.

    kind "capsule": segment from joint ``a`` to joint ``b`` with radius ``size[0]``.
    kind "ellipsoid": centred at joint ``a`` + ``frame`` rotation applied to ``offset``, semi-axes
    ``size`` along the axes of the global rotation of joint ``frame``.
    """

    kind: str
    a: str
    b: str | None
    size: tuple[float, ...]
    material: str
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    frame: str | None = None


#: body primitives of the reference person (radii scaled by the subject's girth / size)
BODY_SHAPES: tuple[Shape, ...] = (
    Shape("ellipsoid", "Head", None, (0.074, 0.100, 0.088), "skin", (0.0, 0.015, 0.005), "Head"),
    Shape("ellipsoid", "Head", None, (0.080, 0.080, 0.084), "hair", (0.0, 0.045, -0.018), "Head"),
    Shape("capsule", "SpineShoulder", "Neck", (0.048,), "skin"),
    Shape("ellipsoid", "SpineMid", None, (0.165, 0.175, 0.105), "shirt", (0.0, 0.115, 0.0), "SpineShoulder"),
    Shape("ellipsoid", "SpineBase", None, (0.150, 0.165, 0.100), "shirt", (0.0, 0.14, 0.0), "SpineMid"),
    Shape("ellipsoid", "SpineBase", None, (0.160, 0.110, 0.110), "trousers", (0.0, -0.03, 0.0), "SpineBase"),
    Shape("capsule", "ShoulderLeft", "ElbowLeft", (0.050,), "shirt"),
    Shape("capsule", "ShoulderRight", "ElbowRight", (0.050,), "shirt"),
    Shape("capsule", "ElbowLeft", "WristLeft", (0.040,), "sleeve"),
    Shape("capsule", "ElbowRight", "WristRight", (0.040,), "sleeve"),
    Shape("capsule", "WristLeft", "HandTipLeft", (0.036,), "skin"),
    Shape("capsule", "WristRight", "HandTipRight", (0.036,), "skin"),
    Shape("capsule", "HipLeft", "KneeLeft", (0.075,), "trousers"),
    Shape("capsule", "HipRight", "KneeRight", (0.075,), "trousers"),
    Shape("capsule", "KneeLeft", "AnkleLeft", (0.055,), "trousers"),
    Shape("capsule", "KneeRight", "AnkleRight", (0.055,), "trousers"),
    Shape("capsule", "AnkleLeft", "FootLeft", (0.040,), "shoes"),
    Shape("capsule", "AnkleRight", "FootRight", (0.040,), "shoes"),
)

_SKIN_TONES = ((0.94, 0.78, 0.66), (0.86, 0.67, 0.52), (0.72, 0.52, 0.38), (0.55, 0.38, 0.26), (0.38, 0.26, 0.18))
_HAIR = ((0.08, 0.06, 0.05), (0.25, 0.16, 0.09), (0.45, 0.33, 0.18), (0.75, 0.62, 0.38), (0.5, 0.5, 0.5))


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


@dataclass
class Subject:
    """A performer: proportions and appearance (deterministic from the performer ID and seed).

    Attributes:
        performer: NTU performer ID.
        height_scale: overall size (1 = 1.65 m reference; subjects 1.49-1.85 m).
        proportions: per bone group length factor (trunk, shoulder, arm, hand, hip, leg, foot).
        girth: radius factor of the trunk and limbs.
        materials: name -> :class:`Material` (skin, hair, shirt, sleeve, trousers, shoes).
    """

    performer: int
    height_scale: float
    proportions: dict[str, float]
    girth: float
    materials: dict[str, Material]
    offsets: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((25, 3)))
    root_height: float = 0.0

    @classmethod
    def create(cls, performer: int, seed: int = 0) -> Subject:
        rng = np.random.default_rng([seed, 11, performer])
        s = float(rng.uniform(0.9, 1.12))
        prop = {"trunk": rng.uniform(0.94, 1.06), "shoulder": rng.uniform(0.88, 1.14), "arm": rng.uniform(0.93, 1.07),
                "hand": rng.uniform(0.92, 1.08), "hip": rng.uniform(0.9, 1.12), "leg": rng.uniform(0.93, 1.07),
                "foot": rng.uniform(0.92, 1.08)}
        prop = {k: float(v) for k, v in prop.items()}
        girth = float(rng.uniform(0.85, 1.3))
        skin = _SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))]
        hair = _HAIR[int(rng.integers(len(_HAIR)))]
        shirt = _hsv(float(rng.uniform()), float(rng.uniform(0.25, 0.85)), float(rng.uniform(0.3, 0.9)))
        trousers = _hsv(float(rng.uniform()), float(rng.uniform(0.1, 0.6)), float(rng.uniform(0.15, 0.55)))
        shoes = _hsv(float(rng.uniform()), float(rng.uniform(0.0, 0.4)), float(rng.uniform(0.1, 0.8)))
        long_sleeves = bool(rng.uniform() < 0.6)
        ir_shirt, ir_trousers = float(rng.uniform(0.3, 0.8)), float(rng.uniform(0.25, 0.7))
        materials = {"skin": Material(skin, float(rng.uniform(0.5, 0.62))),
                     "hair": Material(hair, float(rng.uniform(0.12, 0.3))),
                     "shirt": Material(shirt, ir_shirt),
                     "sleeve": Material(shirt, ir_shirt) if long_sleeves else Material(skin, 0.56),
                     "trousers": Material(trousers, ir_trousers),
                     "shoes": Material(shoes, float(rng.uniform(0.1, 0.3)))}
        subj = cls(performer, s, prop, girth, materials)
        subj.offsets, subj.root_height = subj._bone_offsets()
        return subj

    def _bone_offsets(self) -> tuple[np.ndarray, float]:
        rest = rest_positions()
        off = np.zeros_like(rest)
        for j in ORDER[1:]:
            name = NTU25.joints[j]
            off[j] = (rest[j] - rest[KPARENT[j]]) * self.proportions[_group(name)] * self.height_scale
        # the root stands so that the ankles are at ankle height above the floor
        ankle = NTU25.joints.index("AnkleLeft")
        y, j = 0.0, ankle
        while j != KPARENT[j]:
            y += off[j, 1]
            j = KPARENT[j]
        return off, float(-y + ANKLE_HEIGHT * self.height_scale)

    @property
    def height(self) -> float:
        """Standing height (top of the head), metres."""
        return self.root_height + float(self.offsets[[J["SpineMid"], J["SpineShoulder"], J["Neck"], J["Head"]], 1]
                                        .sum()) + 0.115 * self.height_scale

    def radius(self, shape: Shape) -> tuple[float, ...]:
        """Primitive size for this subject (girth scales trunk and limb thickness)."""
        g = self.girth if shape.material in ("shirt", "trousers", "sleeve") else 1.0
        if shape.kind == "capsule":
            return (shape.size[0] * g * self.height_scale,)
        sx, sy, sz = shape.size
        if shape.a == "Head":
            return (sx * self.height_scale, sy * self.height_scale, sz * self.height_scale)
        return (sx * self.height_scale * (0.5 + 0.5 * g) * self.proportions["shoulder"] ** 0.5,
                sy * self.height_scale * self.proportions["trunk"], sz * self.height_scale * g)

    def segment_length(self, joint: str) -> float:
        """Length of the bone ending at ``joint``."""
        return float(np.linalg.norm(self.offsets[J[joint]]))


# ----------------------------------------------------------------------------- rotations


def rot_x(a: np.ndarray | float) -> np.ndarray:
    """(..., 3, 3) rotation about x by ``a`` radians."""
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray | float) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def frame_from(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """(..., 3, 3) orthonormal columns (e1 = primary, e2 = secondary made orthogonal, e3 = e1 x e2)."""
    e1 = primary / np.linalg.norm(primary, axis=-1, keepdims=True)
    s = secondary - (secondary * e1).sum(-1, keepdims=True) * e1
    e2 = s / np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
    return np.stack([e1, e2, np.cross(e1, e2)], axis=-1)


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 4) unit quaternions (w, x, y, z), w >= 0."""
    m = r
    w = np.sqrt(np.maximum(0.0, 1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2])) / 2
    x = np.sqrt(np.maximum(0.0, 1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2])) / 2
    y = np.sqrt(np.maximum(0.0, 1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2])) / 2
    z = np.sqrt(np.maximum(0.0, 1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2])) / 2
    x = np.copysign(x, m[..., 2, 1] - m[..., 1, 2])
    y = np.copysign(y, m[..., 0, 2] - m[..., 2, 0])
    z = np.copysign(z, m[..., 1, 0] - m[..., 0, 1])
    q = np.stack([w, x, y, z], -1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- kinematics


def forward_kinematics(subject: Subject, root_pos: np.ndarray, root_rot: np.ndarray, local: np.ndarray,
                       overrides: dict[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pose the body.

    Args:
        root_pos: (T, 3) root (SpineBase) position in the output frame.
        root_rot: (T, 3, 3) root orientation (body frame -> output frame).
        local: (T, V, 3, 3) per-bone rotations (see module docstring); ``local[:, root]`` is ignored.
        overrides: joint index -> (T, 3, 3) *global* rotation replacing ``G_parent @ local`` for the
            bone ending at that joint (used by inverse kinematics).

    Returns:
        positions (T, V, 3) and global rotations (T, V, 3, 3).
    """
    t = root_pos.shape[0]
    v = subject.offsets.shape[0]
    pos = np.zeros((t, v, 3))
    glob = np.zeros((t, v, 3, 3))
    root = ORDER[0]
    pos[:, root] = root_pos
    glob[:, root] = root_rot
    overrides = overrides or {}
    for j in ORDER[1:]:
        p = KPARENT[j]
        g = overrides[j] if j in overrides else glob[:, p] @ local[:, j]
        glob[:, j] = g
        pos[:, j] = pos[:, p] + g @ subject.offsets[j]
    return pos, glob


def two_bone_ik(shoulder: np.ndarray, target: np.ndarray, pole: np.ndarray, l1: float, l2: float,
                rest_dir: np.ndarray, rest_bend_axis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic two-bone IK (upper arm + forearm, or thigh + shin), vectorised over T.

    Args:
        shoulder: (T, 3) base joint; target: (T, 3) wanted end position (clamped to reach);
        pole: (T, 3) a point the middle joint should bend towards.
        l1, l2: bone lengths; rest_dir: (3,) unit direction of both bones at rest (straight limb);
        rest_bend_axis: (3,) axis about which the middle joint flexes (``rot_x(-a)`` bends forward).

    Returns:
        g1 (T, 3, 3) global rotation of the first bone, g2 (T, 3, 3) of the second bone, and the
        reached end position (T, 3).
    """
    d = target - shoulder
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    dhat = d / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    cos_a = (l1 ** 2 + dist ** 2 - l2 ** 2) / (2 * l1 * dist)
    sin_a = np.sqrt(np.maximum(0.0, 1 - cos_a ** 2))
    pv = pole - shoulder
    n = pv - (pv * dhat).sum(-1, keepdims=True) * dhat
    n_norm = np.linalg.norm(n, axis=-1, keepdims=True)
    # a pole on the reach line leaves the bend plane undefined: fall back to any perpendicular
    fallback = np.cross(dhat, np.array([1.0, 0.0, 0.0]))
    fallback /= np.maximum(np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-9)
    n = np.where(n_norm > 1e-6, n / np.maximum(n_norm, 1e-12), fallback)
    elbow = shoulder + l1 * (cos_a * dhat + sin_a * n)
    end = shoulder + dist * dhat
    u = (elbow - shoulder) / l1
    f = (end - elbow) / l2
    axis = np.cross(f, u)
    ax_norm = np.linalg.norm(axis, axis=-1, keepdims=True)
    # straight limb: keep the bend axis perpendicular to u and closest to the pole-derived one
    axis = np.where(ax_norm > 1e-6, axis / np.maximum(ax_norm, 1e-12), np.cross(n, u))
    rest = frame_from(rest_dir, rest_bend_axis)
    world = frame_from(u, axis)
    g1 = world @ np.swapaxes(rest, -1, -2)[None]
    flex = np.arctan2(np.linalg.norm(np.cross(u, f), axis=-1), (u * f).sum(-1))
    g2 = g1 @ rot_x(-flex)
    return g1, g2, end


#: offsets (Head frame, metres, reference size) of the COCO-17 face points from the Head joint
COCO_FACE: dict[str, tuple[float, float, float]] = {
    "nose": (0.0, -0.005, 0.1), "left_eye": (0.032, 0.03, 0.08), "right_eye": (-0.032, 0.03, 0.08),
    "left_ear": (0.078, 0.01, 0.0), "right_ear": (-0.078, 0.01, 0.0)}


def coco17_points(joints: np.ndarray, glob: np.ndarray, scale: float) -> np.ndarray:
    """(T, 17, 3) COCO-17 keypoints of a posed body ((T, 25, 3) joints, (T, 25, 3, 3) global
    rotations, ``scale`` = the subject's ``height_scale``): face points from the head's pose,
    the rest from the NTU joints (:data:`~mmfusion.data.layouts.NTU25_TO_COCO17`)."""
    out = joints[:, list(NTU25_TO_COCO17)].copy()
    head_rot = glob[:, J["Head"]]
    for name, off in COCO_FACE.items():
        out[:, COCO17.joints.index(name)] = joints[:, J["Head"]] + head_rot @ (np.asarray(off) * scale)
    return out


__all__ = ["BODY_SHAPES", "COCO_FACE", "J", "KINEMATIC_PARENT", "KPARENT", "LEAF_JOINTS", "Material", "ORDER", "Shape",
           "Subject", "coco17_points", "forward_kinematics", "frame_from", "kinematic_order", "matrix_to_quaternion",
           "rest_positions", "rot_x", "rot_y", "rot_z", "two_bone_ik"]
