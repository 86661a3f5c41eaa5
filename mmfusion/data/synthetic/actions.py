"""The synthetic action classes: real NTU action IDs, parametric motions and held props.

Size: mostly the motion table itself (one short function per action class).

Every class is a parametric joint-angle trajectory of the :mod:`.body` model (plus
inverse-kinematics hand targets), played with per-sample time warping, amplitude variation
and idle sway. Classes come in *pairs* whose difference only some modalities can see, so
that each single modality confuses some pairs while their combination separates all
(table in docs/synthetic.md and :data:`PAIRS`):

=====  ==========================  ============================================  ===========================
NTU    class                       what the performer does / holds               separable from its partner by
=====  ==========================  ============================================  ===========================
A001   drink water                 right hand to mouth, holds a red cup          --
A002   eat meal/snack              same motion, green cup-shaped snack tub       **RGB only** (colour)
A011   reading                     book held at the chest, 15 cm thick           --
A012   writing                     same motion, 1.2 cm clipboard, same cover     **depth only** (thickness)
A029   playing with phone/tablet   tablet held at the waist, IR-dark glass       --
A030   typing on a keyboard        same motion, same colour, IR-bright plastic   **IR only** (reflectance)
A010   clapping                    hands part sideways in front of the chest     --
A034   rub two hands together      same posture, hands slide vertically +-2.5 cm **skeleton** (fine motion,
                                   and the palms turn (thumbs swing +-2.5 cm)    1-2 px in 128-px frames;
                                                                                 thumbs not rendered)
A008   sitting down                stand -> sit                                  all (temporal order)
A009   standing up                 sit -> stand                                  all (temporal order)
A023   hand waving                 right arm raised, hand oscillates             all
A024   kicking something           right leg kicks forward                       all
A027   jump up                     crouch, jump, land                            all
A038   salute                      right hand to forehead, elbow out             all
=====  ==========================  ============================================  ===========================

Within a pair the two classes call the *same* motion function, which draws the same random
numbers, so a performance seeded alike differs only in the prop (see ``SampleSpec.seed``).
Props are oriented towards the observing camera (billboards), so a prop's silhouette is the
same whichever camera sees it; that keeps the thickness cue out of RGB and IR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .body import (
    J,
    Material,
    Subject,
    forward_kinematics,
    rot_x,
    rot_y,
    rot_z,
    two_bone_ik,
)


@dataclass(frozen=True)
class Prop:
    """An object held by the performer.

    Attributes:
        name: what it is.
        kind: "capsule" (radius, half-length: an upright rounded cylinder) or "box"
            (width, height, thickness; faces the camera).
        size: metres, see ``kind``.
        material: colour and IR reflectance.
        grip: "right_hand" (in front of the right hand) or "both_hands" (between the hands).
    """

    name: str
    kind: str
    size: tuple[float, float, float]
    material: Material
    grip: str


@dataclass(frozen=True)
class ActionDef:
    """One class: NTU action ID and name, motion function name, prop, and the cue it carries."""

    action: int
    name: str
    motion: str
    prop: Prop | None = None
    partner: int | None = None
    cue: str = ""


_CUP = (0.06, 0.05, 0.0)
_BOOK = (0.24, 0.30, 0.15)
_CLIPBOARD = (0.24, 0.30, 0.012)
_TABLET = (0.30, 0.20, 0.025)
RED_CUP = Prop("red cup", "capsule", _CUP, Material((0.86, 0.10, 0.08), 0.45), "right_hand")
GREEN_TUB = Prop("green snack tub", "capsule", _CUP, Material((0.10, 0.68, 0.18), 0.45), "right_hand")
THICK_BOOK = Prop("thick book", "box", _BOOK, Material((0.92, 0.80, 0.42), 0.62), "both_hands")
CLIPBOARD = Prop("clipboard", "box", _CLIPBOARD, Material((0.92, 0.80, 0.42), 0.62), "both_hands")
TABLET = Prop("tablet (IR-dark glass)", "box", _TABLET, Material((0.17, 0.17, 0.19), 0.05), "both_hands")
KEYBOARD = Prop("keyboard (IR-bright plastic)", "box", _TABLET, Material((0.17, 0.17, 0.19), 0.95), "both_hands")

ACTIONS: dict[int, ActionDef] = {a.action: a for a in (
    ActionDef(1, "drink water", "hand_to_mouth", RED_CUP, 2, "red cup vs green tub: colour only"),
    ActionDef(2, "eat meal/snack", "hand_to_mouth", GREEN_TUB, 1, "RGB only (prop colour)"),
    ActionDef(11, "reading", "hold_chest", THICK_BOOK, 12, "15 cm book vs 1.2 cm clipboard: thickness only"),
    ActionDef(12, "writing", "hold_chest", CLIPBOARD, 11, "depth only (prop thickness towards the camera)"),
    ActionDef(29, "playing with phone/tablet", "hold_waist", TABLET, 30, "IR-dark vs IR-bright: reflectance only"),
    ActionDef(30, "typing on a keyboard", "hold_waist", KEYBOARD, 29, "IR only (prop IR reflectance)"),
    ActionDef(10, "clapping", "clap", None, 34, "hands part sideways by up to 5 cm"),
    ActionDef(34, "rub two hands together", "rub", None, 10,
              "skeleton (fine hand motion and thumb swing, ~1 px in images)"),
    ActionDef(8, "sitting down", "sit_down", None, 9, "all modalities (temporal order)"),
    ActionDef(9, "standing up (from sitting position)", "stand_up", None, 8, "all modalities (temporal order)"),
    ActionDef(23, "hand waving", "wave", None, None, "all modalities"),
    ActionDef(24, "kicking something", "kick", None, None, "all modalities"),
    ActionDef(27, "jump up", "jump", None, None, "all modalities"),
    ActionDef(38, "salute", "salute", None, None, "all modalities"),
)}

#: the complementary pairs and the modalities that see their difference
PAIRS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (1, 2, ("rgb",)),
    (11, 12, ("depth", "points")),
    (29, 30, ("ir",)),
    (10, 34, ("skeleton",)),
    (8, 9, ("skeleton", "depth", "points", "ir", "rgb")),
)


# ----------------------------------------------------------------------------- timing helpers


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def envelope(tau: np.ndarray, a: float, b: float, c: float, d: float) -> np.ndarray:
    """0 before ``a``, rises to 1 at ``b``, stays until ``c``, back to 0 at ``d``."""
    return smoothstep((tau - a) / max(b - a, 1e-6)) * (1 - smoothstep((tau - c) / max(d - c, 1e-6)))


def keyframes(tau: np.ndarray, times: list[float], values: list[float]) -> np.ndarray:
    """Piecewise smoothstep interpolation through (time, value) keys (held outside)."""
    tau = np.asarray(tau, dtype=np.float64)
    out = np.full_like(tau, values[0], dtype=np.float64)
    for k in range(len(times) - 1):
        seg = smoothstep((tau - times[k]) / max(times[k + 1] - times[k], 1e-6))
        out = np.where(tau >= times[k], values[k] + (values[k + 1] - values[k]) * seg, out)
    return out


@dataclass
class MotionContext:
    """What a motion function gets.

    Attributes:
        subject: the performer; T: frames; fps: frame rate.
        tau: (T,) warped action phase in [0, 1]; sec: (T,) time in seconds.
        amp: amplitude factor; rng: the performance's random stream (draw the same numbers
            whatever the class within a pair).
    """

    subject: Subject
    T: int
    fps: float
    tau: np.ndarray
    sec: np.ndarray
    amp: float
    rng: np.random.Generator


HandTargets = Callable[[np.ndarray, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]]


@dataclass
class Motion:
    """A motion: joint angles (degrees) by driver name, hand targets, support and root offset.

    Attributes:
        angles: driver name (see :data:`DRIVERS`) -> (T, 3) degrees ``(flex, abduction/lateral, twist)``.
        hands: optional callable ``(pos (T,V,3), glob (T,V,3,3)) -> {"left"|"right": (target (T,3),
            weight (T,), pole (T,3) or None)}`` evaluated on the angle-driven pose.
        support: which ankle(s) stay planted: "both", "left" or "right".
        lift: (T,) extra root height (jumps), metres.
        free_feet: feet whose ankle angles are kept (the others stay flat on the floor).
    """

    angles: dict[str, np.ndarray]
    hands: HandTargets | None = None
    support: str = "both"
    lift: np.ndarray | None = None
    free_feet: tuple[str, ...] = ()
    extra: dict[str, np.ndarray] = field(default_factory=dict)


#: driver -> (driven joint, axis convention); left/right drivers mirror abduction and twist
DRIVERS: dict[str, tuple[str, str]] = {
    "lumbar": ("SpineMid", "spine"), "thorax": ("SpineShoulder", "spine"), "neck": ("Neck", "spine"),
    "head": ("Head", "spine"),
    "clavicle_l": ("ShoulderLeft", "limb"), "clavicle_r": ("ShoulderRight", "limb"),
    "shoulder_l": ("ElbowLeft", "limb"), "shoulder_r": ("ElbowRight", "limb"),
    "elbow_l": ("WristLeft", "limb"), "elbow_r": ("WristRight", "limb"),
    "wrist_l": ("HandLeft", "limb"), "wrist_r": ("HandRight", "limb"),
    "fingers_l": ("HandTipLeft", "limb"), "fingers_r": ("HandTipRight", "limb"),
    "thumb_l": ("ThumbLeft", "limb"), "thumb_r": ("ThumbRight", "limb"),
    "hip_l": ("KneeLeft", "limb"), "hip_r": ("KneeRight", "limb"),
    "knee_l": ("AnkleLeft", "knee"), "knee_r": ("AnkleRight", "knee"),
    "ankle_l": ("FootLeft", "ankle"), "ankle_r": ("FootRight", "ankle"),
}


def driver_rotation(driver: str, ang: np.ndarray) -> np.ndarray:
    """(T, 3, 3) local rotation of ``driver`` from (T, 3) degrees (flex, abduction, twist).

    Positive flex bends a limb forward (shoulder, hip, elbow, wrist), the knee backward and the
    spine/head forward; positive abduction moves a limb away from the mid-line (and bends the
    spine to the person's left); positive twist rotates limbs outward (spine: to the left).
    """
    joint, conv = DRIVERS[driver]
    a = np.deg2rad(np.asarray(ang, dtype=np.float64))
    flex, abd, twist = a[..., 0], a[..., 1], a[..., 2]
    side = 1.0 if driver.endswith("_l") else -1.0
    if conv == "spine":
        return rot_y(twist) @ rot_x(flex) @ rot_z(-abd)
    if conv == "knee":
        return rot_x(flex)
    if conv == "ankle":
        return rot_x(-flex)
    return rot_z(side * abd) @ rot_x(-flex) @ rot_y(side * twist)


# ----------------------------------------------------------------------------- motions


def _zeros(T: int) -> np.ndarray:
    return np.zeros((T, 3))


def _base(ctx: MotionContext) -> dict[str, np.ndarray]:
    """Relaxed standing pose with per-sample variation and idle sway (drawn for every class)."""
    T, rng, sec = ctx.T, ctx.rng, ctx.sec
    ang = {k: _zeros(T) for k in DRIVERS}
    for side in ("l", "r"):
        ang[f"shoulder_{side}"][:] = (rng.uniform(-4, 8), rng.uniform(7, 14), rng.uniform(-5, 10))
        ang[f"elbow_{side}"][:, 0] = rng.uniform(8, 22)
        ang[f"wrist_{side}"][:, 0] = rng.uniform(-5, 10)
        ang[f"hip_{side}"][:, 1] = rng.uniform(2, 6)
        knee = rng.uniform(1, 6)
        ang[f"knee_{side}"][:, 0] = knee
        ang[f"hip_{side}"][:, 0] = knee * 0.5
    f_breath, p_breath = rng.uniform(0.2, 0.35), rng.uniform(0, 2 * np.pi)
    f_sway, p_sway = rng.uniform(0.1, 0.25), rng.uniform(0, 2 * np.pi)
    ang["lumbar"][:, 0] = 1.5 * np.sin(2 * np.pi * f_breath * sec + p_breath) + rng.uniform(-2, 3)
    ang["lumbar"][:, 1] = 1.2 * np.sin(2 * np.pi * f_sway * sec + p_sway)
    ang["head"][:, 2] = 4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * sec + rng.uniform(0, 2 * np.pi))
    ang["head"][:, 0] = rng.uniform(-5, 5)
    return ang


def _timing(ctx: MotionContext, a: float, b: float, c: float, d: float, jitter: float = 0.03) -> np.ndarray:
    j = ctx.rng.uniform(-jitter, jitter, 4)
    return envelope(ctx.tau, a + j[0], b + j[1], c + j[2], d + j[3])


def _local(pos: np.ndarray, glob: np.ndarray, joint: str, offset: np.ndarray) -> np.ndarray:
    """Point ``offset`` (T, 3) or (3,) given in joint ``joint``'s frame, in the output frame."""
    return pos[:, J[joint]] + np.einsum("tij,tj->ti", glob[:, J[joint]], np.broadcast_to(offset, pos[:, 0].shape))


def _in_body(glob: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Body-frame direction(s) ``vec`` (3,) or (T, 3) in the output frame (root orientation)."""
    return np.einsum("tij,tj->ti", glob[:, J["SpineBase"]], np.broadcast_to(vec, glob[:, 0, 0].shape))


def hand_to_mouth(ctx: MotionContext) -> Motion:
    ang = _base(ctx)
    s = ctx.subject.height_scale
    env = _timing(ctx, 0.12, 0.32, 0.66, 0.86)
    f_sip, p_sip = ctx.rng.uniform(0.6, 1.2), ctx.rng.uniform(0, 2 * np.pi)
    sip = 0.012 * ctx.amp * np.sin(2 * np.pi * f_sip * ctx.sec + p_sip)
    ang["head"][:, 0] -= 10 * env  # tilt back while the hand is at the mouth
    ang["shoulder_l"][:, 0] += 4 * env

    def hands(pos: np.ndarray, glob: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        mouth = _local(pos, glob, "Head", np.array([-0.01, -0.05, 0.1]) * s)
        target = mouth + _in_body(glob, np.array([-0.02, -0.09, 0.06]) * s) + sip[:, None] * _in_body(
            glob, np.array([0.0, 1.0, 0.0]))
        pole = pos[:, J["ShoulderRight"]] + _in_body(glob, np.array([-0.25, -0.35, -0.05]) * s)
        return {"right": (target, env, pole)}

    return Motion(ang, hands)


def _hold(ctx: MotionContext, height: float, forward: float, width: float, head_down: float,
          tap: bool) -> Motion:
    ang = _base(ctx)
    s = ctx.subject.height_scale
    env = _timing(ctx, 0.04, 0.2, 0.84, 0.97)
    f_bob, p_bob = ctx.rng.uniform(0.2, 0.5), ctx.rng.uniform(0, 2 * np.pi)
    bob = 0.012 * ctx.amp * np.sin(2 * np.pi * f_bob * ctx.sec + p_bob)
    f_tap, p_tap = ctx.rng.uniform(2.5, 4.5), ctx.rng.uniform(0, 2 * np.pi)
    ang["head"][:, 0] += head_down * env * ctx.amp
    ang["neck"][:, 0] += 0.4 * head_down * env
    if tap:
        for side in ("l", "r"):
            ang[f"fingers_{side}"][:, 0] += 25 * env * (0.5 + 0.5 * np.sin(2 * np.pi * f_tap * ctx.sec + p_tap))
            ang[f"thumb_{side}"][:, 0] += 15 * env * (0.5 + 0.5 * np.sin(2 * np.pi * f_tap * ctx.sec + p_tap + 1))

    def hands(pos: np.ndarray, glob: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        centre = pos[:, J["SpineBase"]] + _in_body(glob, np.array([0.0, height, forward]) * s)
        centre = centre + bob[:, None] * _in_body(glob, np.array([0.0, 1.0, 0.0]))
        half = _in_body(glob, np.array([width / 2 + 0.02, 0.0, 0.0]))
        out = {}
        for side, sign in (("left", 1.0), ("right", -1.0)):
            sh = pos[:, J["ShoulderLeft" if sign > 0 else "ShoulderRight"]]
            pole = sh + _in_body(glob, np.array([0.3 * sign, -0.4, -0.1]) * s)
            out[side] = (centre + sign * half - _in_body(glob, np.array([0.0, 0.0, 0.03])), env, pole)
        return out

    return Motion(ang, hands)


def hold_chest(ctx: MotionContext) -> Motion:
    return _hold(ctx, height=0.36, forward=0.30, width=_BOOK[0], head_down=22, tap=False)


def hold_waist(ctx: MotionContext) -> Motion:
    return _hold(ctx, height=0.16, forward=0.36, width=_TABLET[0], head_down=30, tap=True)


def _hands_together(ctx: MotionContext, rub: bool) -> Motion:
    ang = _base(ctx)
    s = ctx.subject.height_scale
    env = _timing(ctx, 0.08, 0.22, 0.8, 0.93)
    freq, phase = ctx.rng.uniform(2.5, 4.0), ctx.rng.uniform(0, 2 * np.pi)
    amp = 0.05 * ctx.amp
    osc = np.sin(2 * np.pi * freq * ctx.sec + phase)
    contact = 0.036 * s
    if rub:  # the palms turn against each other: the thumbs swing, the hand blobs do not
        for side in ("l", "r"):
            ang[f"wrist_{side}"][:, 2] += 35 * ctx.amp * env * osc

    def hands(pos: np.ndarray, glob: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        centre = pos[:, J["SpineBase"]] + _in_body(glob, np.array([0.0, 0.36, 0.28]) * s)
        if rub:  # hands stay in contact and slide up/down against each other
            sep = np.full(ctx.T, contact)
            vert = 0.5 * amp * osc
        else:    # hands part sideways and meet again
            sep = contact + amp * (0.5 + 0.5 * osc)
            vert = np.zeros(ctx.T)
        out = {}
        for side, sign in (("left", 1.0), ("right", -1.0)):
            off = np.stack([sign * sep, sign * vert, np.zeros(ctx.T)], -1)
            sh = pos[:, J["ShoulderLeft" if sign > 0 else "ShoulderRight"]]
            pole = sh + _in_body(glob, np.array([0.35 * sign, -0.35, -0.1]) * s)
            out[side] = (centre + np.einsum("tij,tj->ti", glob[:, J["SpineBase"]], off), env, pole)
        return out

    return Motion(ang, hands)


def clap(ctx: MotionContext) -> Motion:
    return _hands_together(ctx, rub=False)


def rub(ctx: MotionContext) -> Motion:
    return _hands_together(ctx, rub=True)


def _sit_angles(ctx: MotionContext, phase: np.ndarray) -> dict[str, np.ndarray]:
    """Angles along a stand (phase 0) -> sit (phase 1) transition."""
    ang = _base(ctx)
    lean = ctx.rng.uniform(22, 35) * ctx.amp
    hip = keyframes(phase, [0.0, 0.45, 1.0], [0.0, 45.0, 88.0])
    knee = keyframes(phase, [0.0, 0.45, 1.0], [0.0, 55.0, 92.0])
    for side in ("l", "r"):
        ang[f"hip_{side}"][:, 0] += hip
        ang[f"knee_{side}"][:, 0] += knee
        ang[f"shoulder_{side}"][:, 0] += keyframes(phase, [0.0, 0.45, 1.0], [0.0, 25.0, 12.0])
        ang[f"elbow_{side}"][:, 0] += keyframes(phase, [0.0, 1.0], [0.0, 35.0])
    ang["lumbar"][:, 0] += keyframes(phase, [0.0, 0.45, 0.8, 1.0], [0.0, lean, 12.0, 6.0])
    ang["head"][:, 0] -= keyframes(phase, [0.0, 0.45, 1.0], [0.0, 0.5 * lean, 3.0])
    return ang


def sit_down(ctx: MotionContext) -> Motion:
    j = ctx.rng.uniform(-0.05, 0.05, 2)
    phase = smoothstep((ctx.tau - 0.15 - j[0]) / (0.7 + j[1]))
    return Motion(_sit_angles(ctx, phase))


def stand_up(ctx: MotionContext) -> Motion:
    j = ctx.rng.uniform(-0.05, 0.05, 2)
    phase = 1 - smoothstep((ctx.tau - 0.15 - j[0]) / (0.7 + j[1]))
    return Motion(_sit_angles(ctx, phase))


def wave(ctx: MotionContext) -> Motion:
    ang = _base(ctx)
    s = ctx.subject.height_scale
    env = _timing(ctx, 0.1, 0.28, 0.76, 0.92)
    freq, phase = ctx.rng.uniform(1.5, 2.6), ctx.rng.uniform(0, 2 * np.pi)
    swing = 0.11 * ctx.amp * np.sin(2 * np.pi * freq * ctx.sec + phase)

    def hands(pos: np.ndarray, glob: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        sh = pos[:, J["ShoulderRight"]]
        target = sh + _in_body(glob, np.array([-0.22, 0.36, 0.12]) * s) + swing[:, None] * _in_body(
            glob, np.array([1.0, 0.0, 0.0]))
        pole = sh + _in_body(glob, np.array([-0.5, -0.15, -0.05]) * s)
        return {"right": (target, env, pole)}

    return Motion(ang, hands)


def salute(ctx: MotionContext) -> Motion:
    ang = _base(ctx)
    s = ctx.subject.height_scale
    env = _timing(ctx, 0.14, 0.32, 0.7, 0.86)
    ang["head"][:, 0] -= 5 * env

    def hands(pos: np.ndarray, glob: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        brow = _local(pos, glob, "Head", np.array([-0.075, 0.07, 0.07]) * s)
        target = brow + _in_body(glob, np.array([-0.02, -0.05, 0.03]) * s)
        pole = pos[:, J["ShoulderRight"]] + _in_body(glob, np.array([-0.5, 0.05, 0.1]) * s)
        return {"right": (target, env, pole)}

    return Motion(ang, hands)


def kick(ctx: MotionContext) -> Motion:
    ang = _base(ctx)
    k0 = ctx.rng.uniform(0.25, 0.38)
    dur = ctx.rng.uniform(0.35, 0.5)
    kappa = (ctx.tau - k0) / dur
    a = ctx.amp
    ang["hip_r"][:, 0] += keyframes(kappa, [0.0, 0.3, 0.55, 0.75, 1.0], [0.0, 50 * a, 80 * a, 45 * a, 0.0])
    ang["knee_r"][:, 0] += keyframes(kappa, [0.0, 0.3, 0.55, 0.75, 1.0], [0.0, 95.0, 8.0, 75.0, 0.0])
    ang["ankle_r"][:, 0] += keyframes(kappa, [0.0, 0.3, 0.55, 1.0], [0.0, -10.0, -30.0, 0.0])
    ang["lumbar"][:, 0] += keyframes(kappa, [0.0, 0.55, 1.0], [0.0, -12.0, 0.0])
    for side, amt in (("l", 30.0), ("r", 22.0)):
        ang[f"shoulder_{side}"][:, 1] += keyframes(kappa, [0.0, 0.5, 1.0], [0.0, amt, 0.0])
    ang["knee_l"][:, 0] += keyframes(kappa, [0.0, 0.5, 1.0], [0.0, 12.0, 0.0])
    ang["hip_l"][:, 0] += keyframes(kappa, [0.0, 0.5, 1.0], [0.0, 6.0, 0.0])
    return Motion(ang, support="left", free_feet=("right",))


def jump(ctx: MotionContext) -> Motion:
    ang = _base(ctx)
    t0 = ctx.rng.uniform(0.36, 0.44)
    flight = ctx.rng.uniform(0.18, 0.26)
    height = ctx.rng.uniform(0.16, 0.3) * ctx.amp
    keys = [0.0, t0 - 0.22, t0 - 0.03, t0 + 0.03, t0 + flight - 0.02, t0 + flight + 0.08, t0 + flight + 0.25]
    crouch = [0.0, 0.0, 1.0, 0.1, 0.15, 0.8, 0.0]
    c = keyframes(ctx.tau, keys, crouch)
    for side in ("l", "r"):
        ang[f"hip_{side}"][:, 0] += 50 * c
        ang[f"knee_{side}"][:, 0] += 85 * c
        ang[f"shoulder_{side}"][:, 0] += keyframes(ctx.tau, keys, [0.0, 0.0, -35.0, 150.0, 120.0, -10.0, 0.0])
        ang[f"elbow_{side}"][:, 0] += 15 * c
    ang["lumbar"][:, 0] += 32 * c
    ang["head"][:, 0] -= 15 * c
    x = (ctx.tau - t0) / flight
    lift = np.where((x > 0) & (x < 1), 4 * height * x * (1 - x), 0.0)
    return Motion(ang, lift=lift)


MOTIONS: dict[str, Callable[[MotionContext], Motion]] = {
    "hand_to_mouth": hand_to_mouth, "hold_chest": hold_chest, "hold_waist": hold_waist, "clap": clap,
    "rub": rub, "sit_down": sit_down, "stand_up": stand_up, "wave": wave, "salute": salute, "kick": kick,
    "jump": jump,
}


# ----------------------------------------------------------------------------- posing


@dataclass
class PosedClip:
    """A performed clip in the *stage* frame (body frame of the performer's starting spot).

    Attributes:
        joints: (T, V, 3) true joint centres, metres (y up, floor at 0).
        glob: (T, V, 3, 3) global joint rotations.
        tau: (T,) action phase.
    """

    joints: np.ndarray
    glob: np.ndarray
    tau: np.ndarray


def time_warp(T: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """(T,) monotone action phase in [0, 1]: smooth speed changes plus a random start/end."""
    x = np.linspace(0.0, 1.0, T)
    a1 = rng.uniform(-1, 1) * strength
    a2 = rng.uniform(-1, 1) * strength * 0.5
    w = x + a1 * np.sin(2 * np.pi * x) / (2 * np.pi) + a2 * np.sin(4 * np.pi * x) / (4 * np.pi)
    s0, s1 = rng.uniform(0.0, 0.08), rng.uniform(0.92, 1.0)
    return np.clip((w - s0) / (s1 - s0), 0.0, 1.0)


def perform(action: int, subject: Subject, T: int, rng: np.random.Generator, fps: float = 30.0,
            speed_jitter: float = 0.3, amplitude_jitter: float = 0.2) -> PosedClip:
    """Pose ``subject`` performing NTU ``action`` for ``T`` frames (stage frame, see :class:`PosedClip`)."""
    tau = time_warp(T, rng, speed_jitter)
    amp = float(rng.uniform(1 - amplitude_jitter, 1 + amplitude_jitter))
    ctx = MotionContext(subject, T, fps, tau, np.arange(T) / fps, amp, rng)
    motion = MOTIONS[ACTIONS[action].motion](ctx)

    v = len(J)
    local = np.broadcast_to(np.eye(3), (T, v, 3, 3)).copy()
    for driver, ang in motion.angles.items():
        if np.any(ang):
            local[:, J[DRIVERS[driver][0]]] = driver_rotation(driver, ang)
    root_rot = np.broadcast_to(np.eye(3), (T, 3, 3)).copy()
    root_pos = np.zeros((T, 3))
    overrides: dict[int, np.ndarray] = {}
    # feet flat on the floor unless the motion frees them
    for side, foot in (("left", "FootLeft"), ("right", "FootRight")):
        if side not in motion.free_feet:
            overrides[J[foot]] = root_rot
    pos, glob = forward_kinematics(subject, root_pos, root_rot, local, overrides)

    # plant the support foot (feet) at its rest spot: translate the whole body
    rest_pos, _ = forward_kinematics(subject, np.zeros((1, 3)), np.eye(3)[None],
                                     np.broadcast_to(np.eye(3), (1, v, 3, 3)))
    ankles = {"left": [J["AnkleLeft"]], "right": [J["AnkleRight"]], "both": [J["AnkleLeft"], J["AnkleRight"]]}
    idx = ankles[motion.support]
    want = rest_pos[0, idx].mean(0) + np.array([0.0, subject.root_height, 0.0])
    shift = want - pos[:, idx].mean(1)
    if motion.lift is not None:
        shift[:, 1] += motion.lift
    root_pos = root_pos + shift
    pos = pos + shift[:, None]

    if motion.hands is not None:
        targets = motion.hands(pos, glob)
        for side, (target, weight, pole) in targets.items():
            sfx = "Left" if side == "left" else "Right"
            sh, el, wr = J[f"Shoulder{sfx}"], J[f"Elbow{sfx}"], J[f"Wrist{sfx}"]
            w = np.clip(weight, 0.0, 1.0)[:, None]
            goal = (1 - w) * pos[:, wr] + w * target
            elbow_pole = pos[:, el] if pole is None else (1 - w) * pos[:, el] + w * pole
            g1, g2, _ = two_bone_ik(pos[:, sh], goal, elbow_pole, subject.segment_length(f"Elbow{sfx}"),
                                    subject.segment_length(f"Wrist{sfx}"), np.array([0.0, -1.0, 0.0]),
                                    np.array([1.0, 0.0, 0.0]))
            overrides[el], overrides[wr] = g1, g2
        pos, glob = forward_kinematics(subject, root_pos, root_rot, local, overrides)
    return PosedClip(pos, glob, tau)


__all__ = ["ACTIONS", "ActionDef", "DRIVERS", "MOTIONS", "Motion", "MotionContext",
           "PAIRS", "PosedClip", "Prop", "driver_rotation", "envelope", "keyframes", "perform",
           "smoothstep", "time_warp"]
