"""Skeleton layouts as data: joint names, parent tree, left/right flip map, body parts.

Nothing else in mmfusion hard-codes a joint index; encoders, augmentations, heatmap
generators and the synthetic world take a :class:`SkeletonLayout`.

Layouts shipped: ``ntu25`` (Kinect v2, NTU RGB+D and PKU-MMD), ``coco17`` (2D detectors,
PoseC3D/EPAM-Net heatmaps), ``ucla20`` (Kinect v1, NW-UCLA). All indices are 0-based.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class SkeletonLayout:
    """A joint tree.

    Attributes:
        name: registry key (``"ntu25"`` ...).
        joints: joint names, index = joint id.
        parents: parent of each joint; the centre joint is its own parent.
        flip: index of the mirrored joint (itself for joints on the mid-line).
        parts: named groups of joints (torso, arms, legs) used by part-based models.
        center: joint used to centre a sequence.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    flip: tuple[int, ...]
    parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    center: int = 0

    def __post_init__(self) -> None:
        v = len(self.joints)
        if len(self.parents) != v or len(self.flip) != v:
            raise ConfigError(f"layout {self.name}: joints/parents/flip lengths differ")
        if sorted(self.flip) != list(range(v)):
            raise ConfigError(f"layout {self.name}: flip is not a permutation")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(child, parent) pairs, the root's self loop excluded."""
        return [(c, p) for c, p in enumerate(self.parents) if c != p]

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


NTU25 = SkeletonLayout(
    name="ntu25",
    joints=("SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft",
            "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft",
            "KneeLeft", "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight",
            "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight"),
    # CTR-GCN's bone list (root = SpineShoulder), 0-based
    parents=(1, 20, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 20, 22, 7, 24, 11),
    flip=(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23, 24, 21, 22),
    parts={"torso": (0, 1, 2, 3, 20), "left_arm": (4, 5, 6, 7, 21, 22),
           "right_arm": (8, 9, 10, 11, 23, 24), "left_leg": (12, 13, 14, 15),
           "right_leg": (16, 17, 18, 19)},
    center=1,  # SpineMid, the CTR-GCN / PreNormalize3D origin
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
)

#: NTU-25 joint feeding each COCO-17 joint when NTU 3D skeletons are projected to 2D
#: heatmaps (face points have no Kinect counterpart and take the head).
NTU25_TO_COCO17: tuple[int, ...] = (3, 3, 3, 3, 3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18)

LAYOUTS: dict[str, SkeletonLayout] = {lay.name: lay for lay in (NTU25, COCO17, UCLA20)}


def get_layout(layout: str | SkeletonLayout) -> SkeletonLayout:
    """Return a layout by name (or pass one through)."""
    if isinstance(layout, SkeletonLayout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise ConfigError(f"unknown skeleton layout {layout!r}; known: {sorted(LAYOUTS)}") from None
