"""A parametric NTU-25 body: subject proportions and two-bone inverse kinematics.

Body frame: metres, origin on the floor between the feet, +Y up, +X towards the subject's
left, the subject faces -Z (towards a frontal camera). Joint order is
:data:`mmfusion.data.layouts.NTU25`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# rest pose of a 1.75 m subject (NTU-25 order), arms hanging
_REST = np.array([
    [0.00, 1.00, 0.00],   # 0 SpineBase
    [0.00, 1.22, 0.00],   # 1 SpineMid
    [0.00, 1.52, 0.00],   # 2 Neck
    [0.00, 1.64, -0.02],  # 3 Head
    [0.19, 1.44, 0.00],   # 4 ShoulderLeft
    [0.21, 1.16, 0.02],   # 5 ElbowLeft
    [0.22, 0.90, 0.02],   # 6 WristLeft
    [0.22, 0.84, 0.02],   # 7 HandLeft
    [-0.19, 1.44, 0.00],  # 8 ShoulderRight
    [-0.21, 1.16, 0.02],  # 9 ElbowRight
    [-0.22, 0.90, 0.02],  # 10 WristRight
    [-0.22, 0.84, 0.02],  # 11 HandRight
    [0.09, 0.97, 0.00],   # 12 HipLeft
    [0.10, 0.53, -0.01],  # 13 KneeLeft
    [0.10, 0.09, 0.02],   # 14 AnkleLeft
    [0.10, 0.03, -0.08],  # 15 FootLeft
    [-0.09, 0.97, 0.00],  # 16 HipRight
    [-0.10, 0.53, -0.01], # 17 KneeRight
    [-0.10, 0.09, 0.02],  # 18 AnkleRight
    [-0.10, 0.03, -0.08], # 19 FootRight
    [0.00, 1.45, 0.00],   # 20 SpineShoulder
    [0.22, 0.78, 0.02],   # 21 HandTipLeft
    [0.20, 0.82, -0.02],  # 22 ThumbLeft
    [-0.22, 0.78, 0.02],  # 23 HandTipRight
    [-0.20, 0.82, -0.02], # 24 ThumbRight
])


@dataclass(frozen=True)
class Subject:
    """Proportions and appearance of one performer (a function of the performer id and seed)."""

    height: float
    arm_scale: float
    girth: float
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    skin: tuple[int, int, int]

    @property
    def scale(self) -> float:
        return self.height / 1.75

    def rest_pose(self) -> np.ndarray:
        """(25, 3) rest joints scaled to the subject."""
        p = _REST * self.scale
        # arms are scaled about the shoulders so arm length varies independently of height
        for sh, chain in ((4, (5, 6, 7, 21, 22)), (8, (9, 10, 11, 23, 24))):
            p[list(chain)] = p[sh] + (p[list(chain)] - p[sh]) * self.arm_scale
        return p


# clothes avoid the object colours (red, green, blue, yellow) so objects stay the only colour cue
_SHIRTS = [(90, 90, 95), (120, 100, 80), (70, 60, 55), (150, 150, 140), (100, 85, 110), (60, 75, 70)]
_PANTS = [(40, 40, 50), (70, 60, 50), (30, 30, 30), (90, 90, 100)]
_SKINS = [(224, 180, 150), (190, 140, 110), (140, 100, 75), (235, 200, 175)]


def make_subject(performer: int, seed: int = 0) -> Subject:
    rng = np.random.default_rng([seed, 7919, performer])
    return Subject(height=float(rng.uniform(1.50, 1.92)), arm_scale=float(rng.uniform(0.92, 1.08)),
                   girth=float(rng.uniform(0.85, 1.2)),
                   shirt=_SHIRTS[int(rng.integers(len(_SHIRTS)))], pants=_PANTS[int(rng.integers(len(_PANTS)))],
                   skin=_SKINS[int(rng.integers(len(_SKINS)))])


def two_bone_ik(root: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray) -> tuple[np.ndarray, ...]:
    """Elbow and (reachable) end positions of a 2-bone chain for targets (T, 3).

    ``pole`` (3,) is the direction the middle joint bends towards.
    """
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    reach = np.clip(dist, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    u = d / np.maximum(dist, 1e-9)
    end = root + u * reach
    a = (l1 ** 2 - l2 ** 2 + reach ** 2) / (2 * reach)     # distance from root to elbow's projection
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))
    side = pole - np.sum(pole * u, -1, keepdims=True) * u   # pole made perpendicular to the chain
    side /= np.maximum(np.linalg.norm(side, axis=-1, keepdims=True), 1e-9)
    elbow = root + u * a + side * h
    return elbow, end
