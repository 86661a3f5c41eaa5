"""Skeleton layouts as data: joints, bones, skip bones, flip map, part groups, correspondences.

Nothing else in mmfusion hard-codes a joint index; encoders, augmentations, heatmap
generators and the synthetic worlds take a :class:`SkeletonLayout`.

Layouts (all indices 0-based; ``get_layout(name)``):

==============  ===  =====================================================================
name            V    source of the joint order and the tree
==============  ===  =====================================================================
``ntu25``       25   Kinect v2 (NTU RGB+D, PKU-MMD); CTR-GCN's bone list, root SpineShoulder
``ucla20``      20   Kinect v1 (NW-UCLA ``all_sqe``); CTR-GCN ``ucla`` graph
``coco17``      17   COCO keypoints (2-D detectors, PYSKL 2-D, FineTec)
``openpose18``  18   OpenPose COCO-18 (ST-GCN ``openpose`` graph; hips hang from shoulders)
``h36m17``      17   Human3.6M 17-joint (VideoPose3D order)
``smpl24``      24   SMPL kinematic tree (MeTRAbs ``smpl_24``; MS-CLR graph)
``smplx42``     42   MeTRAbs ``smplx_42``: graph only (MS-CLR edge list; see below)
``mhad43``      43   MeTRAbs ``berkeley_mhad_43``: graph only (MS-CLR edge list; see below)
``mediapipe33`` 33   MediaPipe Pose landmarks (tree from ``POSE_CONNECTIONS``, see below)
==============  ===  =====================================================================

``smplx42`` and ``mhad43``: MS-CLR ships only their edge lists (``net/utils/graph.py``), not
joint names; the names here are generic (``j01``...), the parents come from a breadth-first
walk of those edges from MS-CLR's centre joint, the flip map is the identity (unknown) and no
part groups are defined. In ``smplx42`` joints 24 and 25 (1-based) have no edge in MS-CLR's
list; they are roots of their own. ``mediapipe33``'s official connections are a graph with
cycles (hand and foot triangles, the shoulder-hip box) and no nose-to-body link; the tree here
keeps the official edges that form a tree and hangs mouth and shoulders from the nose.

Part groups (``layout.part_groups[group][part]``), where the papers define them:
``psumnet`` body/hand/leg on ntu25 (PSUMNet ``feeders/feeder_ntu.py``: hand = SpineShoulder +
both arms with hands, 13 joints; leg = SpineBase + both legs, 9 joints, in the official order);
``brl`` upper/lower on ntu25 (BRL: upper {1..11, 20..24}, lower {0, 12..19});
``finetec`` head/left_arm/right_arm/left_leg/right_leg on coco17 (FineTec's five regions) and on
ntu25 (ours: Neck + Head, the arms with shoulders and hands, the legs with hips; SpineBase,
SpineMid and SpineShoulder in no region).

Correspondences: :func:`correspondence` gives a (V_dst, V_src) averaging matrix from one layout
to another (each target joint is the mean of one or more source joints), composed through
registered pairs; :func:`convert` applies it along a joint axis.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class SkeletonLayout:
    """A joint tree.

    Attributes:
        name: registry key (``"ntu25"`` ...).
        joints: joint names, index = joint id.
        parents: parent of each joint; a root is its own parent.
        flip: index of the mirrored joint (itself for joints on the mid-line); an involution.
        parts: named groups of joints (torso, arms, legs) used by part-based models.
        center: joint used to centre a sequence.
        spine: (lower, upper) joints of the bone aligned with +z by 2s-AGCN / PYSKL
            (``None`` where the layout has no such bone).
        shoulders: (right, left) joints of the vector aligned with +x (``None`` if absent).
        part_groups: paper -> part name -> joints (see the module docstring).
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    flip: tuple[int, ...]
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    center: int = 0
    spine: tuple[int, int] | None = None
    shoulders: tuple[int, int] | None = None
    part_groups: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = len(self.joints)
        if len(self.parents) != v or len(self.flip) != v:
            raise ConfigError(f"layout {self.name}: joints/parents/flip lengths differ")
        if sorted(self.flip) != list(range(v)):
            raise ConfigError(f"layout {self.name}: flip is not a permutation")
        if any(self.flip[self.flip[j]] != j for j in range(v)):
            raise ConfigError(f"layout {self.name}: flip is not an involution")
        if any(not 0 <= p < v for p in self.parents):
            raise ConfigError(f"layout {self.name}: parent index out of range")
        for j in range(v):  # every chain of parents must end in a root (no cycles)
            seen, k = set(), j
            while self.parents[k] != k:
                if k in seen:
                    raise ConfigError(f"layout {self.name}: parent cycle through joint {j}")
                seen.add(k)
                k = self.parents[k]

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def roots(self) -> tuple[int, ...]:
        return tuple(j for j, p in enumerate(self.parents) if j == p)

    @property
    def grandparents(self) -> tuple[int, ...]:
        """Parent of the parent of each joint; a root and a root's child map to themselves, so
        their skip bone is zero (BRL ``JointToKB``: e.g. ntu25 pairs ``(1, 1)``, ``(0, 20)``)."""
        par = self.parents
        return tuple(j if par[par[j]] == par[j] else par[par[j]] for j in range(len(par)))

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(child, parent) pairs, the roots' self loops excluded."""
        return [(c, p) for c, p in enumerate(self.parents) if c != p]

    @property
    def skip_bones(self) -> list[tuple[int, int]]:
        """(joint, grandparent) pairs (BRL's "k" modality); roots and their children excluded."""
        return [(c, g) for c, g in enumerate(self.grandparents) if g != c]

    def index(self, name: str) -> int:
        try:
            return self.joints.index(name)
        except ValueError:
            raise ConfigError(f"layout {self.name} has no joint {name!r}") from None

    def adjacency(self, self_loops: bool = True) -> np.ndarray:
        """Symmetric 0/1 adjacency matrix of shape (V, V)."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for c, p in self.bones:
            a[c, p] = a[p, c] = 1.0
        if self_loops:
            a += np.eye(self.num_joints, dtype=np.float32)
        return a

    def hop_distance(self) -> np.ndarray:
        """(V, V) graph distance in bones (``inf`` where unreachable)."""
        v = self.num_joints
        d = np.full((v, v), np.inf)
        adj = self.adjacency(self_loops=False) > 0
        for s in range(v):
            d[s, s] = 0
            frontier, k = [s], 0
            while frontier:
                k += 1
                nxt = [j for i in frontier for j in np.flatnonzero(adj[i]) if d[s, j] == np.inf]
                for j in nxt:
                    d[s, j] = k
                frontier = nxt
        return d

    def part(self, group: str, part: str) -> tuple[int, ...]:
        """Joints of ``part`` in paper ``group`` (``layout.part("psumnet", "hand")``)."""
        try:
            return self.part_groups[group][part]
        except KeyError:
            known = {g: sorted(p) for g, p in self.part_groups.items()}
            raise ConfigError(f"layout {self.name} has no part {group}/{part}; known: {known}") from None

    def sub_layout(self, joints: tuple[int, ...] | list[int], name: str | None = None) -> SkeletonLayout:
        """The layout restricted to ``joints`` (in that order): each joint hangs from its
        nearest ancestor inside the subset (a root where none is); used for PSUMNet's part
        streams. Shape: data (..., V, ...) -> take ``joints`` on the joint axis."""
        joints = tuple(int(j) for j in joints)
        pos = {j: i for i, j in enumerate(joints)}
        parents = []
        for j in joints:
            k = self.parents[j]
            while k not in pos and self.parents[k] != k:
                k = self.parents[k]
            parents.append(pos.get(k, pos[j]))
        flip = tuple(pos.get(self.flip[j], i) for i, j in enumerate(joints))
        if any(flip[flip[i]] != i for i in range(len(joints))):
            flip = tuple(range(len(joints)))
        center = pos.get(self.center, 0)
        return SkeletonLayout(name or f"{self.name}_sub{len(joints)}", tuple(self.joints[j] for j in joints),
                              tuple(parents), flip, center=center)


def _flip_by_name(joints: tuple[str, ...]) -> tuple[int, ...]:
    """Mirror map from names: Left<->Right, left<->right, L_<->R_ (prefix or suffix)."""
    swaps = (("Left", "Right"), ("left", "right"), ("L_", "R_"))
    out = []
    for name in joints:
        twin = name
        for a, b in swaps:
            if a in name:
                twin = name.replace(a, b)
                break
            if b in name:
                twin = name.replace(b, a)
                break
        out.append(joints.index(twin) if twin in joints else joints.index(name))
    return tuple(out)


def _tree_from_edges(v: int, edges: list[tuple[int, int]], root: int) -> tuple[int, ...]:
    """Parents by a breadth-first walk of undirected 0-based ``edges`` from ``root``;
    joints the walk does not reach are roots of their own."""
    nbr: list[list[int]] = [[] for _ in range(v)]
    for a, b in edges:
        nbr[a].append(b)
        nbr[b].append(a)
    parents = list(range(v))
    seen = {root}
    queue = deque([root])
    while queue:
        i = queue.popleft()
        for j in sorted(nbr[i]):
            if j not in seen:
                seen.add(j)
                parents[j] = i
                queue.append(j)
    return tuple(parents)


_NTU_JOINTS = ("SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft",
               "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft",
               "KneeLeft", "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight",
               "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight")

NTU25 = SkeletonLayout(
    name="ntu25",
    joints=_NTU_JOINTS,
    # CTR-GCN's bone list (root = SpineShoulder), 0-based
    parents=(1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 20, 22, 7, 24, 11),
    flip=(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23, 24, 21, 22),
    parts={"torso": (0, 1, 2, 3, 20), "left_arm": (4, 5, 6, 7, 21, 22),
           "right_arm": (8, 9, 10, 11, 23, 24), "left_leg": (12, 13, 14, 15),
           "right_leg": (16, 17, 18, 19)},
    center=1,  # SpineMid, the CTR-GCN / PreNormalize3D origin
    spine=(0, 1),  # 2s-AGCN pre_normalization zaxis=[0, 1]
    shoulders=(8, 4),  # 2s-AGCN xaxis=[8, 4]
    part_groups={
        "psumnet": {"body": tuple(range(25)),
                    "hand": (20, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24),
                    "leg": (0, 12, 13, 14, 15, 16, 17, 18, 19)},
        "brl": {"upper": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 20, 21, 22, 23, 24),
                "lower": (0, 12, 13, 14, 15, 16, 17, 18, 19)},
        # FineTec's five regions (defined on coco17) carried to Kinect: shoulders in the arms and hips in
        # the legs as in coco17; the three spine joints (0, 1, 20) belong to no region
        "finetec": {"head": (2, 3), "left_arm": (4, 5, 6, 7, 21, 22), "right_arm": (8, 9, 10, 11, 23, 24),
                    "left_leg": (12, 13, 14, 15), "right_leg": (16, 17, 18, 19)},
    },
)

COCO17 = SkeletonLayout(
    name="coco17",
    joints=("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
            "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
            "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    parents=(0, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
    flip=(0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15),
    parts={"head": (0, 1, 2, 3, 4), "left_arm": (5, 7, 9), "right_arm": (6, 8, 10),
           "left_leg": (11, 13, 15), "right_leg": (12, 14, 16)},
    center=0,
    shoulders=(6, 5),
    part_groups={"finetec": {"head": (0, 1, 2, 3, 4), "left_arm": (5, 7, 9), "right_arm": (6, 8, 10),
                             "left_leg": (11, 13, 15), "right_leg": (12, 14, 16)}},
)

UCLA20 = SkeletonLayout(
    name="ucla20",
    joints=("HipCenter", "Spine", "ShoulderCenter", "Head", "ShoulderLeft", "ElbowLeft",
            "WristLeft", "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight",
            "HipLeft", "KneeLeft", "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight",
            "FootRight"),
    parents=(1, 2, 2, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18),
    flip=(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15),
    parts={"torso": (0, 1, 2, 3), "left_arm": (4, 5, 6, 7), "right_arm": (8, 9, 10, 11),
           "left_leg": (12, 13, 14, 15), "right_leg": (16, 17, 18, 19)},
    center=1,
    spine=(0, 1),
    shoulders=(8, 4),
    part_groups={"brl": {"upper": (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), "lower": (0, 12, 13, 14, 15, 16, 17, 18, 19)}},
)

_OP18 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
         "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
         "right_eye", "left_eye", "right_ear", "left_ear")
OPENPOSE18 = SkeletonLayout(
    name="openpose18", joints=_OP18,
    # ST-GCN 'openpose' neighbour links, rooted at the neck (its graph centre)
    parents=(1, 1, 1, 2, 3, 1, 5, 6, 2, 8, 9, 5, 11, 12, 0, 0, 14, 15),
    flip=_flip_by_name(_OP18),
    parts={"head": (0, 14, 15, 16, 17), "left_arm": (5, 6, 7), "right_arm": (2, 3, 4),
           "left_leg": (11, 12, 13), "right_leg": (8, 9, 10)},
    center=1, shoulders=(2, 5),
)

_H36M = ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine",
         "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
         "right_elbow", "right_wrist")
H36M17 = SkeletonLayout(
    name="h36m17", joints=_H36M,
    parents=(0, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    flip=_flip_by_name(_H36M),
    parts={"torso": (0, 7, 8, 9, 10), "left_arm": (11, 12, 13), "right_arm": (14, 15, 16),
           "left_leg": (4, 5, 6), "right_leg": (1, 2, 3)},
    center=0, spine=(0, 7), shoulders=(14, 11),
)

_SMPL = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
         "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
         "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
         "left_hand", "right_hand")
SMPL24 = SkeletonLayout(
    name="smpl24", joints=_SMPL,
    parents=(0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21),
    flip=_flip_by_name(_SMPL),
    parts={"torso": (0, 3, 6, 9, 12, 15), "left_arm": (13, 16, 18, 20, 22), "right_arm": (14, 17, 19, 21, 23),
           "left_leg": (1, 4, 7, 10), "right_leg": (2, 5, 8, 11)},
    center=0, spine=(0, 3), shoulders=(17, 16),
)

# MS-CLR net/utils/graph.py edge lists (1-based), converted to 0-based
_SMPLX42_EDGES = [(7, 10), (4, 7), (1, 4), (2, 1), (5, 2), (8, 5), (35, 8), (11, 8), (33, 11), (34, 11),
                  (3, 1), (6, 3), (9, 6), (38, 9), (12, 9), (36, 12), (37, 12),
                  (14, 10), (17, 14), (19, 17), (21, 19), (26, 21), (39, 21), (40, 21),
                  (15, 10), (18, 15), (20, 18), (22, 20), (27, 22), (41, 22), (42, 22),
                  (13, 10), (23, 13), (16, 23), (28, 16), (30, 28), (32, 30), (29, 28), (31, 29)]
_MHAD43_EDGES = [(1, 2), (1, 3), (4, 5), (4, 36), (5, 6), (5, 7), (7, 28), (8, 9), (8, 29), (9, 10), (9, 11),
                 (11, 37), (12, 13), (12, 20), (13, 14), (14, 15), (15, 16), (16, 17), (16, 18), (16, 19),
                 (20, 21), (21, 22), (22, 23), (23, 24), (24, 25), (24, 26), (24, 27), (28, 30), (28, 36),
                 (29, 30), (29, 31), (31, 32), (32, 33), (33, 34), (34, 35), (36, 38), (37, 38), (37, 39),
                 (39, 40), (40, 41), (41, 42), (42, 43)]


def _graph_only(name: str, v: int, edges_1based: list[tuple[int, int]], center: int) -> SkeletonLayout:
    edges = [(a - 1, b - 1) for a, b in edges_1based]
    return SkeletonLayout(name=name, joints=tuple(f"j{i + 1:02d}" for i in range(v)),
                          parents=_tree_from_edges(v, edges, center), flip=tuple(range(v)), center=center)


SMPLX42 = _graph_only("smplx42", 42, _SMPLX42_EDGES, center=9)  # MS-CLR centre: thorax (10, 1-based)
MHAD43 = _graph_only("mhad43", 43, _MHAD43_EDGES, center=7)  # MS-CLR centre: belly (9, 1-based)

_MP33 = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
         "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
         "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky",
         "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee",
         "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index",
         "right_foot_index")
MEDIAPIPE33 = SkeletonLayout(
    name="mediapipe33", joints=_MP33,
    parents=(0, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16, 11, 12, 23, 24,
             25, 26, 27, 28, 29, 30),
    flip=_flip_by_name(_MP33),
    parts={"head": tuple(range(11)), "left_arm": (11, 13, 15, 17, 19, 21), "right_arm": (12, 14, 16, 18, 20, 22),
           "left_leg": (23, 25, 27, 29, 31), "right_leg": (24, 26, 28, 30, 32)},
    center=0, shoulders=(12, 11),
)

LAYOUTS: dict[str, SkeletonLayout] = {lay.name: lay for lay in (
    NTU25, COCO17, UCLA20, OPENPOSE18, H36M17, SMPL24, SMPLX42, MHAD43, MEDIAPIPE33)}

#: NTU-25 joint feeding each COCO-17 joint when NTU 3D skeletons are projected to 2D
#: heatmaps (face points have no Kinect counterpart and take the head).
NTU25_TO_COCO17: tuple[int, ...] = (3, 3, 3, 3, 3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18)

#: (src, dst) -> for each dst joint, the src joints it is the mean of. Approximate anatomical
#: matches (Kinect joints are not SMPL joints); face points take the head where none exists.
_PAIRS: dict[tuple[str, str], tuple[tuple[int, ...], ...]] = {
    ("ntu25", "coco17"): tuple((j,) for j in NTU25_TO_COCO17),
    ("coco17", "ntu25"): ((11, 12), (5, 6, 11, 12), (5, 6), (0, 1, 2, 3, 4), (5,), (7,), (9,), (9,), (6,), (8,),
                          (10,), (10,), (11,), (13,), (15,), (15,), (12,), (14,), (16,), (16,), (5, 6), (9,), (9,),
                          (10,), (10,)),
    ("coco17", "openpose18"): ((0,), (5, 6), (6,), (8,), (10,), (5,), (7,), (9,), (12,), (14,), (16,), (11,),
                               (13,), (15,), (2,), (1,), (4,), (3,)),
    ("ntu25", "ucla20"): tuple((j,) for j in (0, 1, 20, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                                              19)),
    ("ucla20", "ntu25"): tuple((j,) for j in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
                                              19, 2, 7, 7, 11, 11)),
    ("ntu25", "h36m17"): tuple((j,) for j in (0, 16, 17, 18, 12, 13, 14, 1, 20, 2, 3, 4, 5, 6, 8, 9, 10)),
    ("h36m17", "ntu25"): tuple((j,) for j in (0, 7, 9, 10, 11, 12, 13, 13, 14, 15, 16, 16, 4, 5, 6, 6, 1, 2, 3,
                                              3, 8, 13, 13, 16, 16)),
    ("ntu25", "smpl24"): ((0,), (12,), (16,), (0, 1), (13,), (17,), (1,), (14,), (18,), (20,), (15,), (19,),
                          (2,), (20, 4), (20, 8), (3,), (4,), (8,), (5,), (9,), (6,), (10,), (7,), (11,)),
    ("smpl24", "ntu25"): tuple((j,) for j in (0, 6, 12, 15, 16, 18, 20, 22, 17, 19, 21, 23, 1, 4, 7, 10, 2, 5,
                                              8, 11, 9, 22, 22, 23, 23)),
    ("coco17", "h36m17"): ((11, 12), (12,), (14,), (16,), (11,), (13,), (15,), (5, 6, 11, 12), (5, 6), (0,),
                           (1, 2), (5,), (7,), (9,), (6,), (8,), (10,)),
}


def get_layout(layout: str | SkeletonLayout) -> SkeletonLayout:
    """Return a layout by name (or pass one through)."""
    if isinstance(layout, SkeletonLayout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise ConfigError(f"unknown skeleton layout {layout!r}; known: {sorted(LAYOUTS)}") from None


def _pair_matrix(src: str, dst: str) -> np.ndarray:
    rows = _PAIRS[(src, dst)]
    w = np.zeros((len(rows), get_layout(src).num_joints))
    for i, js in enumerate(rows):
        w[i, list(js)] = 1.0 / len(js)
    return w


def correspondence(src: str | SkeletonLayout, dst: str | SkeletonLayout) -> np.ndarray:
    """(V_dst, V_src) matrix of weights (rows sum to 1): target joint i = sum_j W[i, j] * source
    joint j. Registered pairs are chained by the shortest path (e.g. ntu25 -> coco17 -> openpose18)."""
    s, d = get_layout(src).name, get_layout(dst).name
    if s == d:
        return np.eye(get_layout(s).num_joints)
    prev: dict[str, str] = {s: s}
    queue = deque([s])
    while queue and d not in prev:
        cur = queue.popleft()
        for a, b in _PAIRS:
            if a == cur and b not in prev:
                prev[b] = cur
                queue.append(b)
    if d not in prev:
        raise ConfigError(f"no joint correspondence from {s} to {d}; registered: {sorted(_PAIRS)}")
    w = np.eye(get_layout(d).num_joints)
    node = d
    while node != s:
        w = w @ _pair_matrix(prev[node], node)
        node = prev[node]
    return w


def convert(x: np.ndarray, src: str | SkeletonLayout, dst: str | SkeletonLayout, joint_axis: int = -2) -> np.ndarray:
    """Re-express joints of layout ``src`` in layout ``dst`` along ``joint_axis`` (any array,
    e.g. (C, T, V, M) with ``joint_axis=-2`` or (T, V, C) with ``joint_axis=1``)."""
    w = correspondence(src, dst)
    x = np.asarray(x)
    if x.shape[joint_axis] != w.shape[1]:
        raise ConfigError(f"joint axis has {x.shape[joint_axis]} joints, layout {get_layout(src).name} "
                          f"has {w.shape[1]}")
    moved = np.moveaxis(x, joint_axis, -1)
    return np.moveaxis(moved @ w.T.astype(moved.dtype if moved.dtype.kind == "f" else np.float64), -1, joint_axis)
