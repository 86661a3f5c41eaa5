"""Motion vocabulary of the skeleton world: 120 NTU classes from shared motion parts.

Each class is a short list of *parts* (see :data:`CLASSES`) on the body model of the
multimodal world (:mod:`.body`: bone offsets of each :class:`~.body.Subject`,
:func:`~.actions.driver_rotation` joint conventions); many classes share parts, and some pairs
differ only in a detail: which hand (A044 touch head vs. the left-hand A061-style variants), a
small gesture on top of the same reach (A001 drink vs. A041 sneeze: a torso jerk), speed or
repetition count (A001 one sip vs. A002 three bites), the order of the same moves (A014 wear /
A015 take off jacket, A008 sit down / A009 stand up). A050-A060 (and A106-A120) are two-person
interactions: a second performer (the partner) faces the first.

Parts (``tau`` is the warped action phase in [0, 1], ``w = (a, b, c, d)`` an envelope that
rises over [a, b], holds, and falls over [c, d]):

* ``("arm", side, target, w)``: arm ``side`` ("r", "l" or "b" for both) reaches ``target``
  (a body location in :data:`TARGETS`; the joint angles come from a grid search on the
  reference body, :func:`arm_angles`) and returns;
* ``("osc", driver, axis, amp, cycles, w)``: ``amp`` degrees x sin(2 pi cycles tau) on one
  driver axis (0 flex, 1 abduction, 2 twist) inside the envelope (repetitions, shaking);
* ``("pose", driver, axis, amp, w)``: a posture change of ``amp`` degrees inside the envelope;
* ``("ramp", driver, axis, amp, (a, b))``: a state change from 0 to ``amp`` over [a, b]
  (negative ``a`` means "from amp to 0": standing up);
* ``("root", kind, amount, w)``: whole-body motion, kind "drop" / "lift" (m), "fwd" / "side" (m,
  body frame), "yaw" / "pitch" (degrees), "hop" (m per hop, ``cycles`` = 3);
* ``("partner", parts)``: the parts of the second performer.

Shapes: :func:`animate` takes ``B`` sequences sharing ``T`` frames and returns joint positions
``(B, T, 25, 3)`` and global rotations ``(B, T, 25, 3, 3)`` in each performer's stage frame.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .actions import DRIVERS, driver_rotation
from .body import KPARENT, ORDER, J, rest_positions

W = tuple[float, float, float, float]
REACH: W = (0.1, 0.3, 0.7, 0.9)
LONG: W = (0.05, 0.25, 0.8, 0.97)
EARLY: W = (0.05, 0.25, 0.45, 0.65)
LATE: W = (0.35, 0.55, 0.8, 0.97)
FULL: W = (0.0, 0.1, 0.9, 1.0)

#: body locations a hand reaches, relative to a reference joint, in the body frame
#: (x = the person's left, y = up, z = forward); "r" targets are for the right hand (mirrored for the left)
TARGETS: dict[str, tuple[str, tuple[float, float, float]]] = {
    "mouth": ("Head", (-0.02, -0.08, 0.12)), "ear": ("Head", (-0.11, -0.02, 0.02)),
    "top": ("Head", (-0.03, 0.13, 0.0)), "forehead": ("Head", (-0.05, 0.05, 0.12)),
    "eye": ("Head", (-0.04, 0.01, 0.13)), "temple": ("Head", (-0.1, 0.04, 0.05)),
    "neck": ("Neck", (-0.03, 0.0, 0.09)), "chest": ("SpineShoulder", (-0.06, -0.12, 0.2)),
    "centre": ("SpineShoulder", (-0.02, -0.15, 0.3)), "belly": ("SpineMid", (-0.04, -0.05, 0.2)),
    "pocket": ("HipRight", (-0.06, -0.05, 0.07)), "back": ("SpineBase", (-0.1, 0.12, -0.14)),
    "front": ("ShoulderRight", (0.0, 0.0, 0.62)), "front_low": ("ShoulderRight", (0.05, -0.35, 0.45)),
    "table": ("SpineMid", (-0.12, -0.05, 0.42)), "up": ("ShoulderRight", (-0.05, 0.62, 0.05)),
    "side_up": ("ShoulderRight", (-0.38, 0.3, 0.12)), "side": ("ShoulderRight", (-0.6, 0.0, 0.0)),
    "high_front": ("ShoulderRight", (0.0, 0.35, 0.5)), "cross": ("SpineShoulder", (0.18, -0.15, 0.35)),
    "wind": ("ShoulderRight", (-0.15, 0.25, -0.35)), "face_front": ("Head", (-0.05, -0.05, 0.3)),
    "hip_side": ("HipRight", (-0.12, 0.05, -0.02)), "knee": ("KneeRight", (0.0, 0.0, 0.12)),
    "foot": ("AnkleLeft", (-0.05, 0.05, 0.15)), "partner": ("ShoulderRight", (0.08, -0.05, 0.55)),
}


@cache
def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Right-hand positions relative to the right shoulder over a grid of arm angles."""
    flex = np.arange(-50, 181, 10.0)
    abd = np.arange(-30, 101, 10.0)
    twist = np.arange(-60, 91, 15.0)
    elbow = np.arange(0, 151, 10.0)
    g = np.stack(np.meshgrid(flex, abd, twist, elbow, indexing="ij"), -1).reshape(-1, 4)
    rest = rest_positions()
    o_el = rest[J["ElbowRight"]] - rest[J["ShoulderRight"]]
    o_wr = rest[J["WristRight"]] - rest[J["ElbowRight"]]
    o_ha = rest[J["HandRight"]] - rest[J["WristRight"]]
    rs = driver_rotation("shoulder_r", g[:, :3])
    re = driver_rotation("elbow_r", np.stack([g[:, 3], 0 * g[:, 3], 0 * g[:, 3]], -1))
    hand = rs @ o_el + (rs @ re) @ (o_wr + o_ha)
    return g, hand


@cache
def arm_angles(target: str) -> tuple[float, float, float, float]:
    """(shoulder flex, abduction, twist, elbow flex) degrees bringing the right hand of the
    reference body closest to ``target`` (a comfort term prefers small angles)."""
    ref, off = TARGETS[target]
    rest = rest_positions()
    goal = rest[J[ref]] + np.array(off) - rest[J["ShoulderRight"]]
    g, hand = _grid()
    cost = np.linalg.norm(hand - goal, axis=1) + 1e-4 * np.abs(g).sum(1)
    return tuple(float(v) for v in g[int(np.argmin(cost))])


def _c(*parts: tuple) -> tuple:
    return parts


#: class id (1-based NTU action) -> parts. Shared parts make classes overlap on purpose.
CLASSES: dict[int, tuple] = {
    1: _c(("arm", "r", "mouth", REACH), ("pose", "head", 0, -10, REACH)),
    2: _c(("arm", "r", "mouth", LONG), ("osc", "elbow_r", 0, 18, 3, LONG)),
    3: _c(("arm", "r", "mouth", LONG), ("osc", "shoulder_r", 1, 7, 9, LONG)),
    4: _c(("arm", "r", "temple", LONG), ("osc", "shoulder_r", 0, 14, 4, LONG), ("pose", "head", 1, 8, LONG)),
    5: _c(("arm", "r", "front_low", EARLY), ("pose", "head", 0, 20, (0.2, 0.4, 0.6, 0.8))),
    6: _c(("root", "drop", 0.25, REACH), ("pose", "lumbar", 0, 45, REACH), ("pose", "hip_l", 0, 40, REACH),
          ("pose", "hip_r", 0, 40, REACH), ("pose", "knee_l", 0, 60, REACH), ("pose", "knee_r", 0, 60, REACH),
          ("arm", "r", "knee", REACH)),
    7: _c(("arm", "r", "wind", (0.1, 0.35, 0.4, 0.5)), ("arm", "r", "high_front", (0.45, 0.55, 0.6, 0.85)),
          ("pose", "thorax", 2, 15, (0.1, 0.35, 0.45, 0.7))),
    8: _c(("ramp", "hip_l", 0, 85, (0.2, 0.75)), ("ramp", "hip_r", 0, 85, (0.2, 0.75)),
          ("ramp", "knee_l", 0, 85, (0.2, 0.75)), ("ramp", "knee_r", 0, 85, (0.2, 0.75)),
          ("root", "drop_ramp", 0.42, (0.2, 0.75)), ("pose", "lumbar", 0, 25, (0.2, 0.45, 0.6, 0.8))),
    9: _c(("ramp", "hip_l", 0, 85, (-0.25, 0.8)), ("ramp", "hip_r", 0, 85, (-0.25, 0.8)),
          ("ramp", "knee_l", 0, 85, (-0.25, 0.8)), ("ramp", "knee_r", 0, 85, (-0.25, 0.8)),
          ("root", "drop_ramp", 0.42, (-0.25, 0.8)), ("pose", "lumbar", 0, 25, (0.2, 0.4, 0.55, 0.75))),
    10: _c(("arm", "b", "centre", LONG), ("osc", "shoulder_r", 1, 14, 6, LONG), ("osc", "shoulder_l", 1, 14, 6, LONG)),
    11: _c(("arm", "b", "chest", LONG), ("pose", "head", 0, 22, LONG)),
    12: _c(("arm", "b", "chest", LONG), ("pose", "head", 0, 22, LONG), ("osc", "wrist_r", 1, 12, 8, LONG)),
    13: _c(("arm", "b", "centre", LONG), ("osc", "elbow_r", 0, 20, 2, LONG), ("osc", "elbow_l", 0, -20, 2, LONG),
           ("osc", "shoulder_r", 2, 20, 2, LONG)),
    14: _c(("arm", "r", "side", (0.05, 0.2, 0.3, 0.45)), ("arm", "l", "side", (0.4, 0.55, 0.65, 0.8)),
           ("arm", "b", "chest", (0.75, 0.88, 0.92, 1.0)), ("pose", "thorax", 2, 12, (0.1, 0.3, 0.6, 0.8))),
    15: _c(("arm", "b", "chest", (0.0, 0.08, 0.12, 0.25)), ("arm", "l", "side", (0.2, 0.35, 0.45, 0.6)),
           ("arm", "r", "side", (0.55, 0.7, 0.8, 0.95)), ("pose", "thorax", 2, -12, (0.2, 0.4, 0.7, 0.9))),
    16: _c(("root", "drop", 0.2, LONG), ("pose", "lumbar", 0, 50, LONG), ("pose", "hip_l", 0, 70, LONG),
           ("pose", "knee_l", 0, 95, LONG), ("arm", "b", "foot", LATE), ("osc", "elbow_r", 0, 12, 3, LATE)),
    17: _c(("root", "drop", 0.2, LONG), ("pose", "lumbar", 0, 50, LONG), ("pose", "hip_l", 0, 70, LONG),
           ("pose", "knee_l", 0, 95, LONG), ("arm", "b", "foot", EARLY), ("pose", "elbow_r", 0, -25, LATE)),
    18: _c(("arm", "b", "eye", (0.2, 0.45, 0.6, 0.85)), ("pose", "head", 0, 5, REACH)),
    19: _c(("arm", "b", "eye", (0.1, 0.3, 0.4, 0.7)), ("arm", "b", "face_front", (0.4, 0.6, 0.7, 0.9))),
    20: _c(("arm", "b", "top", (0.2, 0.45, 0.6, 0.85))),
    21: _c(("arm", "b", "top", (0.1, 0.3, 0.4, 0.6)), ("arm", "b", "high_front", (0.45, 0.6, 0.7, 0.9))),
    22: _c(("arm", "b", "up", LONG), ("osc", "shoulder_r", 0, 20, 2, LONG), ("osc", "shoulder_l", 0, 20, 2, LONG)),
    23: _c(("arm", "r", "side_up", LONG), ("osc", "shoulder_r", 1, 18, 4, LONG)),
    24: _c(("pose", "hip_r", 0, 75, (0.3, 0.5, 0.5, 0.75)), ("pose", "knee_r", 0, 40, (0.15, 0.3, 0.45, 0.6)),
           ("root", "pitch", -6, (0.3, 0.5, 0.5, 0.75))),
    25: _c(("arm", "r", "pocket", REACH), ("pose", "lumbar", 1, -8, REACH)),
    26: _c(("pose", "knee_l", 0, 80, FULL), ("pose", "hip_l", 0, 30, FULL), ("root", "hop", 0.1, LONG)),
    27: _c(("pose", "knee_l", 0, 50, (0.2, 0.35, 0.4, 0.5)), ("pose", "knee_r", 0, 50, (0.2, 0.35, 0.4, 0.5)),
           ("root", "drop", 0.15, (0.2, 0.35, 0.4, 0.5)), ("root", "lift", 0.3, (0.45, 0.55, 0.58, 0.7)),
           ("arm", "b", "up", (0.45, 0.55, 0.6, 0.75))),
    28: _c(("arm", "r", "ear", LONG), ("pose", "head", 1, 8, LONG)),
    29: _c(("arm", "b", "belly", LONG), ("pose", "head", 0, 28, LONG), ("osc", "wrist_r", 0, 8, 5, LONG)),
    30: _c(("arm", "b", "table", LONG), ("pose", "head", 0, 15, LONG), ("osc", "wrist_r", 0, 10, 10, LONG),
           ("osc", "wrist_l", 0, 10, 9, LONG)),
    31: _c(("arm", "r", "front", REACH)),
    32: _c(("arm", "r", "high_front", LONG), ("pose", "head", 1, -10, LONG), ("osc", "wrist_r", 0, 10, 1, LATE)),
    33: _c(("arm", "l", "chest", REACH), ("pose", "head", 0, 25, REACH), ("pose", "elbow_l", 2, 30, REACH)),
    34: _c(("arm", "b", "centre", LONG), ("osc", "elbow_r", 0, 6, 8, LONG), ("osc", "elbow_l", 0, -6, 8, LONG)),
    35: _c(("pose", "lumbar", 0, 35, REACH), ("pose", "head", 0, 20, REACH)),
    36: _c(("osc", "head", 2, 30, 3, LONG), ("osc", "neck", 2, 10, 3, LONG)),
    37: _c(("arm", "r", "eye", LONG), ("osc", "shoulder_r", 1, 10, 2, LONG), ("osc", "elbow_r", 0, 10, 2, LONG)),
    38: _c(("arm", "r", "forehead", REACH)),
    39: _c(("arm", "b", "centre", REACH)),
    40: _c(("arm", "b", "cross", REACH)),
    41: _c(("arm", "r", "mouth", REACH), ("pose", "lumbar", 0, 25, (0.4, 0.48, 0.52, 0.65)),
           ("pose", "head", 0, 25, (0.4, 0.48, 0.52, 0.65))),
    42: _c(("root", "side", 0.25, FULL), ("osc", "lumbar", 1, 12, 2, FULL), ("root", "fwd", 0.4, FULL),
           ("osc", "hip_l", 0, 20, 2, FULL), ("osc", "hip_r", 0, -20, 2, FULL)),
    43: _c(("root", "pitch", 75, (0.3, 0.8, 0.99, 1.0)), ("root", "drop", 0.75, (0.35, 0.85, 0.99, 1.0)),
           ("arm", "b", "front_low", (0.4, 0.7, 0.99, 1.0))),
    44: _c(("arm", "r", "temple", LONG), ("pose", "head", 1, 12, LONG)),
    45: _c(("arm", "r", "chest", LONG), ("pose", "lumbar", 0, 12, LONG)),
    46: _c(("arm", "r", "back", LONG), ("pose", "lumbar", 0, -10, LONG)),
    47: _c(("arm", "r", "neck", LONG), ("pose", "head", 0, -10, LONG)),
    48: _c(("pose", "lumbar", 0, 45, LONG), ("arm", "r", "mouth", LONG), ("arm", "l", "belly", LONG),
           ("pose", "head", 0, 20, LONG)),
    49: _c(("arm", "r", "face_front", LONG), ("osc", "wrist_r", 0, 25, 6, LONG)),
    50: _c(("arm", "r", "wind", (0.1, 0.3, 0.35, 0.45)), ("arm", "r", "partner", (0.45, 0.52, 0.56, 0.75)),
           ("partner", (("pose", "lumbar", 0, -20, (0.5, 0.58, 0.65, 0.85)),
               ("root", "fwd", -0.2, (0.5, 0.6, 0.9, 1.0))))),
    51: _c(("pose", "hip_r", 0, 70, (0.3, 0.45, 0.5, 0.7)), ("pose", "knee_r", 0, 30, (0.2, 0.3, 0.45, 0.6)),
           ("partner", (("pose", "lumbar", 0, 25, (0.4, 0.5, 0.6, 0.8)),
               ("root", "fwd", -0.15, (0.45, 0.55, 0.9, 1.0))))),
    52: _c(("arm", "b", "partner", (0.2, 0.45, 0.55, 0.8)), ("root", "fwd", 0.15, (0.3, 0.5, 0.9, 1.0)),
           ("partner", (("root", "fwd", -0.35, (0.4, 0.65, 0.95, 1.0)), ("pose", "lumbar", 0, -12, REACH)))),
    53: _c(("arm", "r", "high_front", LONG), ("osc", "elbow_r", 0, 15, 3, LONG),
           ("partner", (("pose", "head", 0, 10, LONG),))),
    54: _c(("arm", "r", "front", REACH), ("partner", (("pose", "head", 2, 10, REACH),))),
    55: _c(("root", "fwd", 0.3, (0.05, 0.3, 0.95, 1.0)), ("arm", "b", "side", (0.15, 0.35, 0.75, 0.9)),
           ("partner", (("root", "fwd", 0.3, (0.05, 0.3, 0.95, 1.0)), ("arm", "b", "side", (0.15, 0.35, 0.75, 0.9))))),
    56: _c(("arm", "r", "partner", REACH), ("partner", (("arm", "r", "partner", (0.25, 0.45, 0.7, 0.9)),))),
    57: _c(("arm", "r", "pocket", (0.2, 0.4, 0.6, 0.8)), ("root", "fwd", 0.2, REACH),
           ("partner", (("pose", "head", 2, -15, REACH),))),
    58: _c(("arm", "r", "partner", LONG), ("osc", "shoulder_r", 0, 8, 3, LONG),
           ("partner", (("arm", "r", "partner", LONG), ("osc", "shoulder_r", 0, 8, 3, LONG)))),
    59: _c(("root", "fwd", 0.8, FULL), ("osc", "hip_l", 0, 25, 2, FULL), ("osc", "hip_r", 0, -25, 2, FULL),
           ("partner", (("root", "fwd", 0.8, FULL), ("osc", "hip_l", 0, 25, 2, FULL),
               ("osc", "hip_r", 0, -25, 2, FULL)))),
    60: _c(("root", "yaw", 180, (0.0, 0.2, 0.99, 1.0)), ("root", "fwd", -0.8, (0.2, 0.9, 0.99, 1.0)),
           ("osc", "hip_l", 0, 25, 2, FULL), ("osc", "hip_r", 0, -25, 2, FULL),
           ("partner", (("root", "yaw", 180, (0.0, 0.2, 0.99, 1.0)), ("root", "fwd", -0.8, (0.2, 0.9, 0.99, 1.0))))),
}


def _mirror_part(p: tuple) -> tuple:
    """The same part with the other hand / leg (left <-> right drivers and arm sides)."""
    if p[0] == "arm":
        return (p[0], {"r": "l", "l": "r"}.get(p[1], p[1]), *p[2:])
    if p[0] in ("osc", "pose", "ramp"):
        d = p[1]
        d = d[:-2] + "_l" if d.endswith("_r") else d[:-2] + "_r" if d.endswith("_l") else d
        return (p[0], d, *p[2:])
    if p[0] == "partner":
        return (p[0], tuple(_mirror_part(q) for q in p[1]))
    return p


def _scaled(parts: tuple, speed: float = 1.0, amp: float = 1.0, extra: tuple = ()) -> tuple:
    out = []
    for p in parts:
        if p[0] == "osc":
            p = (p[0], p[1], p[2], p[3] * amp, p[4] * speed, p[5])
        out.append(p)
    return tuple(out) + extra


# NTU-120's A061-A120: built from the same parts -- mirrored hands, faster / slower repetitions,
# small extra gestures -- so that they overlap with A001-A060 (novel-class few-shot settings).
_NOVEL = {
    61: _c(("arm", "b", "ear", REACH)), 62: _c(("arm", "b", "ear", (0.1, 0.3, 0.4, 0.6)),
                                               ("arm", "b", "front_low", (0.55, 0.7, 0.75, 0.95))),
    63: _scaled(CLASSES[7], extra=(("root", "lift", 0.08, (0.45, 0.55, 0.6, 0.7)),)),
    64: _c(("arm", "r", "front_low", LONG), ("osc", "shoulder_r", 0, 15, 5, LONG)),
    65: _c(("arm", "r", "wind", (0.1, 0.3, 0.35, 0.45)), ("arm", "r", "front", (0.45, 0.6, 0.65, 0.85)),
           ("pose", "thorax", 2, 30, (0.1, 0.35, 0.5, 0.8))),
    66: _c(("arm", "b", "chest", LONG), ("osc", "elbow_r", 0, 15, 6, LONG), ("osc", "elbow_l", 0, 15, 6, LONG)),
    67: _c(("arm", "r", "mouth", REACH), ("pose", "head", 0, 5, REACH)),
    68: _c(("arm", "r", "temple", REACH), ("osc", "shoulder_r", 1, 10, 1, REACH)),
    69: _c(("arm", "r", "front", REACH), ("pose", "elbow_r", 0, 40, REACH)),
    70: _c(("arm", "r", "front", REACH), ("pose", "elbow_r", 0, 40, REACH), ("pose", "wrist_r", 2, 60, REACH)),
    71: _c(("arm", "r", "face_front", REACH), ("pose", "wrist_r", 0, 20, REACH)),
    72: _c(("arm", "r", "side_up", REACH), ("pose", "elbow_r", 0, 25, REACH)),
    73: _c(("arm", "b", "table", LONG), ("osc", "shoulder_r", 0, 15, 2, LONG)),
    74: _c(("arm", "b", "chest", LONG), ("osc", "wrist_r", 2, 15, 7, LONG), ("pose", "head", 0, 20, LONG)),
    75: _c(("arm", "b", "chest", LONG), ("osc", "wrist_r", 0, 6, 5, LONG), ("pose", "head", 0, 30, LONG)),
    76: _c(("arm", "b", "chest", LONG), ("osc", "wrist_r", 1, 10, 4, LONG), ("pose", "head", 0, 15, LONG)),
    77: _c(("arm", "r", "side_up", REACH), ("osc", "wrist_r", 0, 10, 3, REACH)),
    78: _c(("arm", "b", "chest", LONG), ("osc", "wrist_r", 2, 35, 2, LONG)),
    79: _c(("arm", "r", "mouth", REACH), ("pose", "head", 0, 10, REACH), ("pose", "lumbar", 0, 8, REACH)),
    80: _c(("root", "drop", 0.35, LONG), ("pose", "hip_l", 0, 90, LONG), ("pose", "hip_r", 0, 90, LONG),
           ("pose", "knee_l", 0, 110, LONG), ("pose", "knee_r", 0, 110, LONG)),
    81: _c(("arm", "r", "chest", EARLY), ("arm", "r", "high_front", (0.5, 0.6, 0.65, 0.85))),
    82: _c(("arm", "b", "table", LONG), ("osc", "elbow_r", 0, 20, 2, LONG),
        ("osc", "elbow_l", 0, 20, 2, (0.2, 0.4, 0.6, 0.8))),
    83: _c(("arm", "b", "centre", LONG), ("osc", "wrist_r", 0, 20, 4, LONG), ("osc", "wrist_l", 0, -20, 4, LONG)),
    84: _c(("arm", "b", "chest", LONG), ("osc", "wrist_r", 2, 30, 5, LONG), ("osc", "wrist_l", 2, 30, 5, LONG)),
    85: _c(("arm", "b", "eye", LONG), ("osc", "shoulder_r", 1, 8, 3, LONG), ("osc", "shoulder_l", 1, 8, 3, LONG)),
    86: _c(("arm", "r", "chest", LONG), ("arm", "l", "centre", LONG), ("osc", "elbow_r", 0, 8, 4, LONG)),
    87: _c(("arm", "r", "up", (0.1, 0.3, 0.4, 0.5)), ("arm", "r", "pocket", (0.45, 0.6, 0.75, 0.9)),
           ("pose", "thorax", 2, 15, LONG)),
    88: _c(("arm", "r", "pocket", (0.1, 0.25, 0.4, 0.5)), ("arm", "r", "up", (0.5, 0.65, 0.75, 0.9)),
           ("pose", "thorax", 2, -15, LONG)),
    89: _c(("arm", "l", "front_low", LONG), ("arm", "r", "front_low", (0.2, 0.4, 0.6, 0.8)),
        ("pose", "head", 0, 20, LONG)),
    90: _c(("arm", "l", "front_low", LONG), ("arm", "r", "high_front", (0.2, 0.4, 0.6, 0.8)),
        ("pose", "head", 0, 20, LONG)),
    91: _c(("arm", "b", "table", (0.1, 0.25, 0.5, 0.7)), ("pose", "wrist_r", 2, 50, (0.25, 0.4, 0.5, 0.7))),
    92: _c(("root", "drop", 0.3, REACH), ("pose", "lumbar", 0, 55, REACH), ("pose", "knee_l", 0, 70, REACH),
           ("pose", "knee_r", 0, 70, REACH), ("arm", "b", "front_low", REACH)),
    93: _c(("arm", "r", "side", LONG), ("osc", "shoulder_r", 0, 10, 4, LONG), ("pose", "head", 1, -10, LONG)),
    94: _c(("arm", "b", "up", REACH), ("root", "lift", 0.05, (0.35, 0.45, 0.5, 0.6))),
    95: _c(("arm", "b", "up", REACH)), 96: _c(("arm", "b", "cross", LONG), ("pose", "head", 0, -5, LONG)),
    97: _c(("arm", "b", "side", FULL), ("osc", "shoulder_r", 0, 40, 3, FULL), ("osc", "shoulder_l", 0, 40, 3, FULL)),
    98: _c(("arm", "b", "side", FULL), ("osc", "shoulder_r", 2, 60, 3, FULL), ("osc", "shoulder_l", 2, -60, 3, FULL)),
    99: _c(("osc", "hip_l", 0, 40, 5, FULL), ("osc", "hip_r", 0, -40, 5, FULL), ("root", "hop", 0.05, FULL)),
    100: _c(("osc", "knee_l", 0, 60, 4, FULL), ("osc", "knee_r", 0, -60, 4, FULL), ("root", "hop", 0.04, FULL)),
    101: _c(("pose", "lumbar", 0, 60, LONG), ("arm", "r", "foot", LONG), ("pose", "hip_l", 0, 20, LONG)),
    102: _c(("pose", "hip_r", 1, 50, (0.3, 0.45, 0.5, 0.7)), ("pose", "lumbar", 1, -15, (0.3, 0.45, 0.5, 0.7))),
    103: _c(("arm", "r", "mouth", REACH), ("pose", "head", 0, -20, REACH)),
    104: _c(("arm", "b", "up", LONG), ("pose", "lumbar", 0, -15, LONG), ("pose", "head", 0, -15, LONG)),
    105: _c(("arm", "r", "mouth", LONG), ("osc", "head", 0, 10, 2, LONG), ("pose", "lumbar", 0, 10, LONG)),
    106: _scaled(CLASSES[50], extra=(("pose", "elbow_r", 0, 30, REACH),)),
    107: _c(("arm", "r", "high_front", (0.1, 0.3, 0.35, 0.45)), ("arm", "r", "partner", (0.45, 0.55, 0.6, 0.8)),
            ("partner", (("arm", "b", "face_front", (0.4, 0.55, 0.7, 0.9)),))),
    108: _c(("root", "fwd", 0.4, (0.2, 0.5, 0.9, 1.0)), ("pose", "thorax", 2, 20, (0.3, 0.5, 0.6, 0.8)),
            ("partner", (("root", "side", 0.4, (0.45, 0.7, 0.9, 1.0)), ("pose", "lumbar", 1, 20, REACH)))),
    109: _c(("arm", "r", "partner", (0.2, 0.4, 0.5, 0.6)), ("arm", "r", "belly", (0.6, 0.75, 0.85, 1.0)),
            ("partner", (("arm", "r", "belly", (0.1, 0.3, 0.4, 0.6)),))),
    110: _c(("arm", "b", "front", REACH), ("pose", "lumbar", 0, 10, REACH),
        ("partner", (("pose", "head", 0, 15, REACH),))),
    111: _c(("pose", "hip_r", 0, 30, (0.3, 0.4, 0.5, 0.6)), ("pose", "knee_r", 0, 50, (0.3, 0.4, 0.45, 0.55)),
            ("partner", (("pose", "lumbar", 0, 20, (0.45, 0.55, 0.6, 0.75)),))),
    112: _c(("arm", "r", "high_front", REACH), ("partner", (("arm", "l", "high_front", REACH),))),
    113: _c(("arm", "r", "mouth", (0.5, 0.65, 0.75, 0.9)), ("arm", "r", "partner", (0.1, 0.25, 0.3, 0.45)),
            ("partner", (("arm", "r", "mouth", (0.5, 0.65, 0.75, 0.9)),
                ("arm", "r", "partner", (0.1, 0.25, 0.3, 0.45))))),
    114: _c(("arm", "b", "front_low", FULL), ("root", "side", 0.5, (0.2, 0.8, 0.95, 1.0)),
            ("partner", (("arm", "b", "front_low", FULL), ("root", "side", -0.5, (0.2, 0.8, 0.95, 1.0))))),
    115: _c(("arm", "b", "face_front", LONG), ("partner", (("pose", "head", 0, -5, LONG),))),
    116: _c(("root", "fwd", 0.7, FULL), ("osc", "hip_l", 0, 25, 2, FULL),
            ("partner", (("root", "fwd", -0.6, FULL), ("root", "yaw", 180, (0.0, 0.05, 0.99, 1.0))))),
    117: _c(("arm", "r", "ear", REACH), ("root", "fwd", 0.25, REACH), ("pose", "head", 1, 15, REACH),
            ("partner", (("pose", "head", 1, -10, REACH),))),
    118: _c(("arm", "r", "partner", (0.1, 0.3, 0.5, 0.7)), ("arm", "r", "belly", (0.6, 0.75, 0.85, 1.0)),
            ("partner", (("arm", "r", "partner", (0.1, 0.3, 0.5, 0.7)),
                ("arm", "r", "belly", (0.6, 0.75, 0.85, 1.0))))),
    119: _c(("arm", "r", "partner", LONG), ("root", "fwd", 0.15, REACH),
            ("partner", (("arm", "l", "belly", LONG), ("pose", "lumbar", 0, 20, LONG)))),
    120: _c(("arm", "r", "front", LONG), ("osc", "elbow_r", 0, 20, 3, (0.1, 0.3, 0.5, 0.6)),
            ("partner", (("arm", "r", "front", LONG), ("osc", "elbow_r", 0, 20, 3, (0.1, 0.3, 0.5, 0.6))))),
}
CLASSES.update(_NOVEL)
#: interaction classes (two performers)
TWO_PERSON: frozenset[int] = frozenset(c for c, parts in CLASSES.items() if any(p[0] == "partner" for p in parts))
#: frames of a class at 30 fps for the reference tempo
BASE_FRAMES: dict[int, int] = {c: 60 + 10 * (sum(p[0] == "osc" for p in parts) > 0)
                               + 15 * any(p[0] == "root" for p in parts) for c, parts in CLASSES.items()}


# ----------------------------------------------------------------------------- evaluation


def _env(tau: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(B, T) envelope with per-sample windows ``w`` (B, 4)."""
    a, b, c, d = (w[:, i:i + 1] for i in range(4))

    def ss(x: np.ndarray) -> np.ndarray:
        x = np.clip(x, 0.0, 1.0)
        return x * x * (3 - 2 * x)

    return ss((tau - a) / np.maximum(b - a, 1e-6)) * (1 - ss((tau - c) / np.maximum(d - c, 1e-6)))


def _ramp(tau: np.ndarray, a: float, b: float, jit: np.ndarray) -> np.ndarray:
    x = np.clip((tau - (abs(a) + jit)) / max(b - abs(a), 1e-6), 0.0, 1.0)
    s = x * x * (3 - 2 * x)
    return 1 - s if a < 0 else s


def apply_parts(parts: tuple, tau: np.ndarray, rng: np.random.Generator, amp: np.ndarray,
                speed: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Driver angles ``{driver: (B, T, 3)}`` degrees and root terms ``{kind: (B, T)}`` of ``parts``."""
    b, t = tau.shape
    ang: dict[str, np.ndarray] = {}
    root: dict[str, np.ndarray] = {}

    def add(driver: str, axis: int, val: np.ndarray) -> None:
        ang.setdefault(driver, np.zeros((b, t, 3)))[..., axis] += val

    for p in parts:
        if p[0] == "partner":
            continue
        w = None
        if p[0] in ("arm", "osc", "pose") or (p[0] == "root" and p[1] != "drop_ramp"):
            w = np.asarray(p[-1], dtype=np.float64)[None] + rng.uniform(-0.03, 0.03, (b, 4))
            w = np.sort(np.clip(w, 0.0, 1.0), axis=1)
            env = _env(tau, w)
        if p[0] == "arm":
            f, a, tw, el = arm_angles(p[2])
            for side in (("r", "l") if p[1] == "b" else (p[1],)):
                jit = rng.normal(0, 5.0, (b, 4))
                add(f"shoulder_{side}", 0, env * (f + jit[:, :1]))
                add(f"shoulder_{side}", 1, env * (a + jit[:, 1:2]))
                add(f"shoulder_{side}", 2, env * (tw + jit[:, 2:3]))
                add(f"elbow_{side}", 0, env * (el + jit[:, 3:4]))
        elif p[0] == "osc":
            _, driver, axis, a, cycles, _ = p
            n = cycles * speed[:, None] * rng.uniform(0.85, 1.15, (b, 1))
            ph = rng.uniform(-0.3, 0.3, (b, 1))
            add(driver, axis, env * a * amp[:, None] * np.sin(2 * np.pi * (n * tau + ph)))
        elif p[0] == "pose":
            add(p[1], p[2], env * p[3] * amp[:, None] * rng.uniform(0.85, 1.15, (b, 1)))
        elif p[0] == "ramp":
            _, driver, axis, a, (lo, hi) = p
            add(driver, axis, a * _ramp(tau, lo, hi, rng.uniform(-0.03, 0.03, (b, 1))))
        elif p[0] == "root":
            kind, amount = p[1], p[2]
            if kind == "drop_ramp":
                lo, hi = p[3]
                root["drop"] = root.get("drop", 0) + amount * _ramp(tau, lo, hi, rng.uniform(-0.03, 0.03, (b, 1)))
            elif kind == "hop":
                n = 3 * speed[:, None]
                root["lift"] = root.get("lift", 0) + env * amount * np.abs(np.sin(np.pi * n * tau))
            else:
                root[kind] = root.get(kind, 0) + env * amount * amp[:, None]
    return ang, root


def base_angles(b: int, t: int, rng: np.random.Generator, sec: np.ndarray,
                style: np.ndarray) -> dict[str, np.ndarray]:
    """Relaxed standing pose with per-sample variation, breathing and sway (B, T, 3) per driver;
    ``style`` (B, 2): the performer's arm carriage and forward lean (degrees)."""
    ang = {k: np.zeros((b, t, 3)) for k in DRIVERS}
    for side in ("l", "r"):
        ang[f"shoulder_{side}"][:] = np.stack([rng.uniform(-4, 8, b), rng.uniform(7, 14, b) + style[:, 0],
                                               rng.uniform(-5, 10, b)], -1)[:, None]
        ang[f"elbow_{side}"][..., 0] = rng.uniform(8, 22, (b, 1))
        ang[f"hip_{side}"][..., 1] = rng.uniform(2, 6, (b, 1))
        knee = rng.uniform(1, 6, (b, 1))
        ang[f"knee_{side}"][..., 0] = knee
        ang[f"hip_{side}"][..., 0] = 0.5 * knee
    f_b, p_b = rng.uniform(0.2, 0.35, (b, 1)), rng.uniform(0, 2 * np.pi, (b, 1))
    f_s, p_s = rng.uniform(0.1, 0.25, (b, 1)), rng.uniform(0, 2 * np.pi, (b, 1))
    ang["lumbar"][..., 0] = 1.5 * np.sin(2 * np.pi * f_b * sec + p_b) + style[:, 1:2]
    ang["lumbar"][..., 1] = 1.2 * np.sin(2 * np.pi * f_s * sec + p_s)
    ang["head"][..., 2] = 4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3, (b, 1)) * sec + rng.uniform(0, 6.3, (b, 1)))
    return ang


def forward_kinematics_batch(offsets: np.ndarray, root_pos: np.ndarray, root_rot: np.ndarray,
                             ang: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised FK: offsets (B, V, 3), root_pos (B, T, 3), root_rot (B, T, 3, 3), driver angles
    -> positions (B, T, V, 3) and global rotations (B, T, V, 3, 3)."""
    b, t = root_pos.shape[:2]
    v = offsets.shape[1]
    local = {J[DRIVERS[d][0]]: driver_rotation(d, a) for d, a in ang.items() if np.any(a)}
    pos = np.zeros((b, t, v, 3))
    glob = np.zeros((b, t, v, 3, 3))
    r0 = ORDER[0]
    pos[:, :, r0], glob[:, :, r0] = root_pos, root_rot
    for j in ORDER[1:]:
        p = KPARENT[j]
        g = glob[:, :, p] @ local[j] if j in local else glob[:, :, p]
        glob[:, :, j] = g
        pos[:, :, j] = pos[:, :, p] + np.einsum("btij,bj->bti", g, offsets[:, j])
    return pos, glob
