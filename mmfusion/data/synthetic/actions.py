"""The synthetic actions: NTU action ids mapped to parametric motions and held objects.

Cues are split across modalities on purpose, so that fusion can beat every single modality:

===========  =====================  =============================================================
group        classes (NTU id)       what separates them
===========  =====================  =============================================================
to mouth     1 drink water          reference: red object, normal IR reflectance, thin
             2 eat meal             object colour (green): **RGB only**
             3 brush teeth          object IR reflectance (bright): **IR only**
             4 brush hair           object thickness (24 cm towards the camera): **depth only**
hold front   29 play with phone     reference: blue object, normal IR, thin
             30 type on keyboard    colour (yellow): **RGB only**
             11 reading             IR reflectance (bright): **IR only**
             12 writing             thickness: **depth only**
hands        10 clapping            hands 0-24 cm apart at ~2 Hz
             34 rub two hands       hands together, 2.5 cm circles: **fine motion** (skeleton;
                                    barely visible at low image resolution)
===========  =====================  =============================================================

The skeleton sees none of the object cues: within a group, the first six classes share
their motion distribution exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import Subject, two_bone_ik


@dataclass(frozen=True)
class HeldObject:
    """A box held in the hand(s): colour (RGB), IR reflectance, thickness towards the camera (m)."""

    color: tuple[int, int, int]
    ir: float
    thickness: float


@dataclass(frozen=True)
class ActionSpec:
    name: str
    motion: str
    obj: HeldObject | None = None


RED, GREEN, BLUE, YELLOW = (200, 30, 30), (30, 170, 40), (40, 60, 210), (225, 200, 30)
THIN, THICK, IR_NORMAL, IR_BRIGHT = 0.03, 0.24, 0.45, 1.0

ACTIONS: dict[int, ActionSpec] = {
    1: ActionSpec("drink water", "to_mouth", HeldObject(RED, IR_NORMAL, THIN)),
    2: ActionSpec("eat meal", "to_mouth", HeldObject(GREEN, IR_NORMAL, THIN)),
    3: ActionSpec("brush teeth", "to_mouth", HeldObject(RED, IR_BRIGHT, THIN)),
    4: ActionSpec("brush hair", "to_mouth", HeldObject(RED, IR_NORMAL, THICK)),
    29: ActionSpec("play with phone/tablet", "hold_front", HeldObject(BLUE, IR_NORMAL, THIN)),
    30: ActionSpec("type on a keyboard", "hold_front", HeldObject(YELLOW, IR_NORMAL, THIN)),
    11: ActionSpec("reading", "hold_front", HeldObject(BLUE, IR_BRIGHT, THIN)),
    12: ActionSpec("writing", "hold_front", HeldObject(BLUE, IR_NORMAL, THICK)),
    10: ActionSpec("clapping", "clap"),
    34: ActionSpec("rub two hands together", "rub"),
}

FPS = 30.0


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _envelope(p: np.ndarray, up: float, down: float) -> np.ndarray:
    """0 -> 1 during [0, up], 1 until ``down``, back to 0 at the end."""
    return _smoothstep(p / up) * (1 - _smoothstep((p - down) / (1 - down)))


def perform(action: int, subject: Subject, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Body-frame joints (T, 25, 3) of ``subject`` performing ``action`` (see :data:`ACTIONS`)."""
    spec = ACTIONS[action]
    rest = subject.rest_pose()
    t = np.arange(num_frames, dtype=np.float64)
    speed = rng.uniform(0.8, 1.25)
    warp = rng.uniform(0.8, 1.25)
    p = (t / max(num_frames - 1, 1)) ** warp               # warped phase in [0, 1]
    sec = t / FPS * speed
    s = subject.scale
    amp = rng.uniform(0.85, 1.15)
    wl, wr = np.repeat(rest[None, 6], num_frames, 0), np.repeat(rest[None, 10], num_frames, 0)

    if spec.motion == "to_mouth":
        env = _envelope(p, rng.uniform(0.25, 0.4), rng.uniform(0.65, 0.8))[:, None]
        mouth = np.array([-0.05 * s, rest[3, 1] - 0.17 * s, -0.13 * s])
        mouth = mouth + np.sin(2 * np.pi * rng.uniform(0.8, 1.5) * sec)[:, None] * [0, 0.015, 0] * amp
        wr = wr * (1 - env) + mouth * env
    elif spec.motion == "hold_front":
        env = _envelope(p, rng.uniform(0.2, 0.3), rng.uniform(0.8, 0.9))[:, None]
        y = rest[1, 1] - 0.02 * s
        jit = 0.012 * amp * np.sin(2 * np.pi * rng.uniform(2.0, 3.5) * sec + rng.uniform(0, 6))[:, None]
        wl = wl * (1 - env) + (np.array([0.13 * s, y, -0.33 * s]) + jit * [0, 1, 0]) * env
        wr = wr * (1 - env) + (np.array([-0.13 * s, y, -0.33 * s]) - jit * [0, 1, 0]) * env
    elif spec.motion in ("clap", "rub"):
        env = _envelope(p, rng.uniform(0.15, 0.25), rng.uniform(0.85, 0.92))[:, None]
        y = rest[1, 1] + 0.04 * s
        phase = 2 * np.pi * rng.uniform(1.8, 2.4) * sec
        if spec.motion == "clap":
            half = (0.015 + 0.11 * amp * (0.5 + 0.5 * np.cos(phase)))[:, None]
            circ = np.zeros((num_frames, 3))
        else:
            half = np.full((num_frames, 1), 0.02)
            circ = 0.025 * amp * np.stack([np.cos(phase), np.sin(phase), np.zeros_like(phase)], 1)
        centre = np.array([0.0, y, -0.3 * s])
        wl = wl * (1 - env) + (centre + half * [1, 0, 0] + circ) * env
        wr = wr * (1 - env) + (centre - half * [1, 0, 0] - circ) * env
    else:  # pragma: no cover - ACTIONS only names the motions above
        raise ValueError(spec.motion)

    joints = np.repeat(rest[None], num_frames, 0)
    pole = np.array([0.3, -1.0, 0.3])
    for sh, el, wri, hand, tip, thumb, side in ((4, 5, 6, 7, 21, 22, 1.0), (8, 9, 10, 11, 23, 24, -1.0)):
        l1 = float(np.linalg.norm(rest[el] - rest[sh]))
        l2 = float(np.linalg.norm(rest[wri] - rest[el]))
        target = wl if side > 0 else wr
        elbow, wrist = two_bone_ik(joints[:, sh], target, l1, l2, pole * [side, 1, 1])
        fore = (wrist - elbow) / np.linalg.norm(wrist - elbow, axis=1, keepdims=True)
        joints[:, el], joints[:, wri] = elbow, wrist
        joints[:, hand] = wrist + fore * 0.06 * s
        joints[:, tip] = wrist + fore * 0.12 * s
        joints[:, thumb] = wrist + fore * 0.06 * s + np.array([-0.03 * side, 0.0, -0.03]) * s
    # breathing / sway so that no two clips are identical
    sway = 0.01 * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * sec + rng.uniform(0, 6))
    joints[:, :, 0] += sway[:, None] * (joints[:, :, 1] / 1.75)
    return joints
