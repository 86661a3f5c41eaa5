"""Weak-supervision losses of UniPose stage A (2-D keypoints + body priors only) — C3P's terms.

All joints are camera-frame metres, shape (N, T, J, 3) (a clip of T frames); 2-D detections
(N, T, J, 2) pixels with scores (N, T, J); intrinsics (N, 4) or (4,) ``[fx, fy, cx, cy]``.

* :func:`back_projection_loss` (weight 10): sine of the angle between each predicted joint
  and the camera ray through its 2-D detection, ``|r x P| / (|r| |P|)``, score-weighted mean.
  Scale free: any point on the ray costs 0.
* :func:`bone_length_loss` (weight 1): MSE of the limb lengths (upper arm, forearm, thigh,
  shank; left and right = 8 bones, read from the layout's arm/leg parts) to a target:
  ``"clip"`` the robust length estimate of the network's own clip (median over frames,
  left/right averaged, no gradient) — default, needs no external data;
  ``"prior"`` a canonical adult body (:data:`CANONICAL_LIMBS`); ``"batch"`` per-subject
  lengths given in ``batch["bone_lengths"]`` (N, 8) as C3P's per-subject files.
* :func:`symmetry_loss` (weight 0.002): left/right and right/left length ratios of each
  limb pair (pairs via ``layout.flip``) pushed to 1.
* :func:`motion_loss` (weight 0.1): ``MSE(P_t, (P_{t-1} + P_{t+1}) / 2)`` over the clip.
* :func:`bone_ratio_loss` (C3P's ``v_len_loss``, weight 0 by default): every bone over the
  frame's mean bone length pushed to 1.
* :func:`ray_guidance_loss` (weight ``guide``, an mmfusion addition standing in for UniPose's
  unpublished "cross-modality interaction"): per-point heat and vote directions are pulled
  towards the values that make every vote land on the camera ray through the 2-D detection
  (C3P's heat ``1 - d / radius`` with d the point's distance from that ray; the direction
  to the foot of the perpendicular on the ray). It tells the network *which* points see the joint, so voting
  starts near the right place instead of being found by the sparse top-k gradient alone.
  2-D detections and the cloud only; no 3-D label.

:class:`WeakPoseLoss` sums the weighted terms over the network's stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..data.layouts import SkeletonLayout, get_layout
from ..errors import ConfigError, MissingModalityError
from .decode import camera_rays

__all__ = [
    "WeakLossWeights", "WeakPoseLoss", "limb_bones", "limb_pairs", "bone_lengths", "back_projection_loss",
    "bone_length_loss", "clip_bone_target", "prior_bone_lengths", "symmetry_loss", "motion_loss",
    "bone_ratio_loss", "ray_guidance_loss", "prior_joint_depths", "CANONICAL_LIMBS", "CANONICAL_DEPTH",
]

#: canonical adult limb lengths in metres by (distal, proximal) joint-name keyword; a prior
#: only (anthropometric averages rounded to 1 cm), used by ``bone_target="prior"``
CANONICAL_LIMBS: dict[tuple[str, str], float] = {
    ("elbow", "shoulder"): 0.29, ("wrist", "elbow"): 0.25, ("hand", "elbow"): 0.27,
    ("knee", "hip"): 0.42, ("ankle", "knee"): 0.41, ("foot", "knee"): 0.44,
}


#: canonical depth of joint centres behind the visible body surface, metres, by joint-name keyword
#: (anatomical averages: about the local limb radius; face keypoints sit on the skin). A body prior
#: like CANONICAL_LIMBS, used by ``guide_depth="prior"`` (first matching keyword wins).
CANONICAL_DEPTH: dict[str, float] = {
    "nose": 0.01, "eye": 0.015, "ear": 0.03, "head": 0.08, "neck": 0.06, "shoulder": 0.06, "elbow": 0.04,
    "wrist": 0.03, "hand": 0.03, "torso": 0.10, "hip": 0.09, "knee": 0.05, "ankle": 0.04, "foot": 0.04,
}


def prior_joint_depths(layout: str | SkeletonLayout) -> Tensor:
    """(J,) :data:`CANONICAL_DEPTH` per joint of a layout, matched by joint-name keywords."""
    lay = get_layout(layout)
    out = []
    for name in lay.joints:
        hit = [v for k, v in CANONICAL_DEPTH.items() if k in name.lower()]
        if not hit:
            raise ConfigError(f"no canonical surface depth for joint {name} of layout {lay.name}")
        out.append(hit[0])
    return torch.tensor(out)


@dataclass
class WeakLossWeights:
    """Weights and options of :class:`WeakPoseLoss` (defaults = C3P's weights).

    Attributes:
        proj, bone, sym, motion, bone_ratio, guide: term weights.
        guide_radius: the network's vote radius (metres) used by the ``guide`` targets.
        guide_free_depth: ``free_depth`` of :func:`ray_guidance_loss`.
        guide_depth: ``"surface"`` (votes aim at the observed surface) or ``"prior"`` (at
            :data:`CANONICAL_DEPTH` behind it).
        bone_target: ``"clip"`` | ``"prior"`` | ``"batch"`` (see module docstring).
        stage_weights: weight of each network stage's joints (last entry repeats).
    """

    proj: float = 10.0
    bone: float = 1.0
    sym: float = 0.002
    motion: float = 0.1
    bone_ratio: float = 0.0
    guide: float = 0.0
    guide_radius: float = 0.8
    guide_free_depth: bool = False
    guide_depth: str = "surface"
    bone_target: str = "clip"
    stage_weights: tuple[float, ...] = field(default=(1.0, 1.0))

    def __post_init__(self) -> None:
        if self.guide_depth not in ("surface", "prior"):
            raise ConfigError(f"guide_depth must be 'surface' or 'prior', got {self.guide_depth!r}")
        if self.bone_target not in ("clip", "prior", "batch"):
            raise ConfigError(f"bone_target must be 'clip', 'prior' or 'batch', got {self.bone_target!r}")
        if any(w < 0 for w in (self.proj, self.bone, self.sym, self.motion, self.bone_ratio, self.guide)):
            raise ConfigError("loss weights must be >= 0")


def limb_bones(layout: str | SkeletonLayout) -> list[tuple[int, int]]:
    """(child, parent) bones whose two joints lie in one arm or leg part of the layout."""
    lay = get_layout(layout)
    limbs = [set(v) for k, v in lay.parts.items() if "arm" in k or "leg" in k]
    bones = [(c, p) for c, p in lay.bones if any(c in s and p in s for s in limbs)]
    if not bones:
        raise ConfigError(f"layout {lay.name} has no arm/leg parts to take limb bones from")
    return bones


def limb_pairs(layout: str | SkeletonLayout, bones: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Pairs (i, k) of indices into ``bones`` that mirror each other under ``layout.flip``."""
    lay = get_layout(layout)
    bones = bones if bones is not None else limb_bones(lay)
    pos = {b: i for i, b in enumerate(bones)}
    pairs = []
    for i, (c, p) in enumerate(bones):
        k = pos.get((lay.flip[c], lay.flip[p]))
        if k is not None and i < k:
            pairs.append((i, k))
    return pairs


def bone_lengths(joints: Tensor, bones: list[tuple[int, int]]) -> Tensor:
    """(..., J, 3) -> (..., B) Euclidean lengths of (child, parent) bones."""
    c = torch.tensor([b[0] for b in bones], device=joints.device)
    p = torch.tensor([b[1] for b in bones], device=joints.device)
    return (joints[..., c, :] - joints[..., p, :]).norm(dim=-1)


def back_projection_loss(joints: Tensor, kp2d: Tensor, intr: Any, scores: Tensor | None = None) -> Tensor:
    """Score-weighted mean sine of the angle between joints and their detection rays.

    Args:
        joints: (..., J, 3) camera metres.
        kp2d: (..., J, 2) detected pixels.
        intr: intrinsics broadcasting to (..., 4) over the leading dims of ``kp2d`` without J
            (pass (N, 1, 1, 4) for (N, T, J, 2), or (4,)).
        scores: (..., J) detection confidences (weights); None = all 1; 0 ignores a joint.
    """
    r = camera_rays(kp2d.float(), intr)
    pj = joints.float()
    cross = torch.linalg.cross(r.expand_as(pj), pj, dim=-1).norm(dim=-1)
    sine = cross / (r.norm(dim=-1) * pj.norm(dim=-1)).clamp_min(1e-6)
    w = torch.ones_like(sine) if scores is None else scores.float().clamp_min(0).expand_as(sine)
    return (w * sine).sum() / w.sum().clamp_min(1e-6)


def bone_length_loss(joints: Tensor, target: Tensor, bones: list[tuple[int, int]]) -> Tensor:
    """MSE between bone lengths of (..., J, 3) joints and ``target`` (broadcasting to (..., B)), metres^2."""
    lens = bone_lengths(joints.float(), bones)
    return (lens - target.to(lens)).square().mean()


def clip_bone_target(joints: Tensor, layout: str | SkeletonLayout, bones: list[tuple[int, int]]) -> Tensor:
    """Robust per-clip bone lengths from predictions: median over frames, left/right averaged.

    (N, T, J, 3) -> (N, 1, B), no gradient (a target, not a prediction).
    """
    with torch.no_grad():
        lens = bone_lengths(joints.detach().float(), bones).median(dim=1, keepdim=True).values  # (N, 1, B)
        sym = lens.clone()
        for i, k in limb_pairs(layout, bones):
            m = (lens[..., i] + lens[..., k]) / 2
            sym[..., i] = m
            sym[..., k] = m
    return sym


def prior_bone_lengths(layout: str | SkeletonLayout, bones: list[tuple[int, int]] | None = None) -> Tensor:
    """(B,) canonical lengths (:data:`CANONICAL_LIMBS`) of the layout's limb bones, matched by joint names."""
    lay = get_layout(layout)
    bones = bones if bones is not None else limb_bones(lay)
    out = []
    for c, p in bones:
        cn, pn = lay.joints[c].lower(), lay.joints[p].lower()
        hit = [v for (kc, kp), v in CANONICAL_LIMBS.items() if kc in cn and kp in pn]
        if not hit:
            raise ConfigError(f"no canonical length for bone {lay.joints[c]}-{lay.joints[p]} of layout {lay.name}")
        out.append(hit[0])
    return torch.tensor(out)


def symmetry_loss(joints: Tensor, layout: str | SkeletonLayout, bones: list[tuple[int, int]] | None = None) -> Tensor:
    """Mean of (l/r - 1)^2 + (r/l - 1)^2 over mirrored limb pairs; 0 for a symmetric skeleton."""
    bones = bones if bones is not None else limb_bones(layout)
    pairs = limb_pairs(layout, bones)
    if not pairs:
        return joints.new_zeros(())
    lens = bone_lengths(joints.float(), bones).clamp_min(1e-6)
    li = lens[..., [i for i, _ in pairs]]
    ri = lens[..., [k for _, k in pairs]]
    return ((li / ri - 1).square() + (ri / li - 1).square()).mean()


def motion_loss(joints: Tensor) -> Tensor:
    """(N, T, J, 3): MSE(P_t, (P_{t-1} + P_{t+1}) / 2) for t = 1..T-2; 0 when T < 3 (metres^2)."""
    if joints.shape[1] < 3:
        return joints.new_zeros(())
    j = joints.float()
    return (j[:, 1:-1] - (j[:, :-2] + j[:, 2:]) / 2).square().mean()


def bone_ratio_loss(joints: Tensor, bones: list[tuple[int, int]]) -> Tensor:
    """C3P ``v_len_loss``: every bone over the frame's mean bone length pushed to 1."""
    lens = bone_lengths(joints.float(), bones)
    return (lens / lens.mean(-1, keepdim=True).clamp_min(1e-6) - 1).square().mean()


def ray_guidance_loss(heat: Tensor, offset: Tensor | None, points: Tensor, kp2d: Tensor, intr: Any,
                      scores: Tensor | None = None, radius: float = 0.8, free_depth: bool = False,
                      depth_offset: Tensor | None = None) -> Tensor:
    """Pull heat and vote directions towards what the 2-D detection says about each point.

    With ``d`` the distance of point p from the ray through the detection of joint j and
    ``f`` the foot of the perpendicular from p on that ray, the heat target is C3P's
    ``max(0, 1 - d / radius)`` and the direction target the lateral unit vector ``(f - p) / d``,
    so that the vote ``p + (1 - h) radius v`` lands on the ray at the point's own depth
    (1 - cosine). With ``free_depth`` only the component of v perpendicular to the ray is
    compared, leaving the depth along the ray to the other terms; in our runs that let the
    votes drift in depth (no term pins the depth), so by default the whole direction is
    compared, which anchors the joints to the observed surface. Score-weighted; direction
    errors weighted by the squared heat target.

    Args:
        heat: (N, T, J, P); offset: (N, T, J, P, 3) camera-frame unit directions or None.
        points: (N, T, P, 3) camera metres; kp2d: (N, T, J, 2); intr as in
            :func:`back_projection_loss`; scores: (N, T, J) or None.
        radius: the network's vote radius in metres.
        free_depth: compare only the direction's component perpendicular to the ray.
        depth_offset: optional (J,) metres: votes aim that far behind the foot of the
            perpendicular along the ray (joint centres lie inside the body, the cloud is its
            surface); the heat target then uses the distance to that aim point.
    """
    r = camera_rays(kp2d.float(), intr)
    r = r / r.norm(dim=-1, keepdim=True)  # (N, T, J, 3)
    p = points.float()
    along = torch.einsum("ntjc,ntpc->ntjp", r, p)  # (N, T, J, P): p . r
    # distance to the ray from |p|^2 = along^2 + d^2 (no (N, T, J, P, 3) temporaries)
    d = (p.square().sum(-1).unsqueeze(2) - along.square()).clamp_min(0).sqrt()
    delta = None if depth_offset is None else depth_offset.to(d).view(1, 1, -1, 1)
    dist = d if delta is None else (d.square() + delta.square()).sqrt()  # to the aim point foot + delta r
    target = (1 - dist / radius).clamp_min(0)
    w = torch.ones_like(kp2d[..., 0]) if scores is None else scores.float().clamp_min(0)
    err = (heat.float() - target).square().mean(-1)  # (N, T, J)
    if offset is not None:
        v = offset.float()
        vr = torch.einsum("ntjpc,ntjc->ntjp", v, r)
        vp = torch.einsum("ntjpc,ntpc->ntjp", v, p)
        # lateral = along r - p is orthogonal to r, so v_perp . lateral = v . lateral = along (v.r) - v.p
        # and |v_perp| = sqrt(1 - (v.r)^2) for a unit v (|v| = 1 otherwise)
        norm_v = (1 - vr.square()).clamp_min(0).sqrt() if free_depth else torch.ones_like(vr)
        if delta is None or free_depth:
            cos = (along * vr - vp) / (norm_v * d).clamp_min(1e-6)
        else:  # aim = lateral + delta r, |aim| = dist
            cos = (along * vr - vp + delta * vr) / dist.clamp_min(1e-6)
        tw = target.square()
        err = err + ((1 - cos) * tw).sum(-1) / tw.sum(-1).clamp_min(1e-6)
    return (w * err).sum() / w.sum().clamp_min(1e-6)


def _clip_view(x: Tensor, name: str, ndim: int) -> Tensor:
    """Accept the contract's person axis (N, M=1, T, ...) as well as (N, T, ...)."""
    if x.ndim == ndim + 1:
        if x.shape[1] != 1:
            raise ConfigError(f"{name}: stage A handles one person per clip, got M={x.shape[1]}")
        x = x[:, 0]
    if x.ndim != ndim:
        raise ConfigError(f"{name}: unexpected shape {tuple(x.shape)}")
    return x


class WeakPoseLoss(nn.Module):
    """Weighted sum of the weak-supervision terms over the network's stages.

    Batch keys: "keypoints2d" (N, [1,] T, J, 2) pixels, "keypoint_scores" (N, [1,] T, J)
    (optional), "intrinsics" (N, 4); "bone_lengths" (N, B) when ``bone_target="batch"``.
    Outputs: "joints_stages" (S, N, T, J, 3) (or "joints" (N, T, J, 3)).

    Returns a dict: "loss" (scalar to minimise) and every unweighted term (last stage),
    detached, for logging.
    """

    def __init__(self, layout: str | SkeletonLayout = "coco17", weights: WeakLossWeights | None = None) -> None:
        super().__init__()
        self.layout = get_layout(layout)
        self.weights = weights or WeakLossWeights()
        self.bones = limb_bones(self.layout)
        self.register_buffer("prior", prior_bone_lengths(self.layout, self.bones)
                             if self.weights.bone_target == "prior" else torch.zeros(len(self.bones)),
                             persistent=False)
        self.register_buffer("joint_depth", prior_joint_depths(self.layout) if self.weights.guide_depth == "prior"
                             else torch.zeros(self.layout.num_joints), persistent=False)

    def _target(self, joints: Tensor, batch: dict[str, Tensor]) -> Tensor:
        mode = self.weights.bone_target
        if mode == "clip":
            return clip_bone_target(joints, self.layout, self.bones)
        if mode == "prior":
            return self.prior.to(joints.device)
        if "bone_lengths" not in batch:
            raise MissingModalityError("bone_lengths", "bone_target='batch' needs per-subject lengths (N, B)")
        return batch["bone_lengths"].float().to(joints.device)[:, None, :]

    def forward(self, outputs: dict[str, Tensor], batch: dict[str, Tensor]) -> dict[str, Tensor]:
        for k in ("keypoints2d", "intrinsics"):
            if k not in batch:
                raise MissingModalityError(k, "WeakPoseLoss needs 2-D detections and camera intrinsics")
        stages = outputs["joints_stages"] if "joints_stages" in outputs else outputs["joints"].unsqueeze(0)
        kp = _clip_view(batch["keypoints2d"], "keypoints2d", 4)
        sc = batch.get("keypoint_scores")
        sc = None if sc is None else _clip_view(sc, "keypoint_scores", 3)
        intr = batch["intrinsics"].float().to(kp.device)
        intr = intr.view(-1, 1, 1, 4) if intr.ndim == 2 else intr
        w = self.weights
        total = stages.new_zeros((), dtype=torch.float32)
        terms: dict[str, Tensor] = {}
        for s in range(stages.shape[0]):
            joints = stages[s]
            if joints.shape[:3] != kp.shape[:3]:
                raise ConfigError(f"WeakPoseLoss: joints {tuple(joints.shape)} and keypoints2d "
                                  f"{tuple(kp.shape)} differ")
            terms = {
                "proj": back_projection_loss(joints, kp, intr, sc),
                "bone": bone_length_loss(joints, self._target(joints, batch), self.bones),
                "sym": symmetry_loss(joints, self.layout, self.bones),
                "motion": motion_loss(joints),
            }
            if w.bone_ratio:
                terms["bone_ratio"] = bone_ratio_loss(joints, self.layout.bones)
            if w.guide:
                if "heat_stages" not in outputs or "points" not in batch:
                    raise MissingModalityError("heat_stages", "guide > 0 needs the network's heat and batch['points']")
                pts = batch["points"].to(joints.device)
                pts = pts.unsqueeze(1) if pts.ndim == 3 else pts
                off = outputs["offset_cam_stages"][s] if "offset_cam_stages" in outputs else None
                depth = self.joint_depth if w.guide_depth == "prior" else None
                terms["guide"] = ray_guidance_loss(outputs["heat_stages"][s], off, pts, kp, intr, sc, w.guide_radius,
                                                   w.guide_free_depth, depth)
            sw = w.stage_weights[min(s, len(w.stage_weights) - 1)]
            total = total + sw * sum(getattr(w, k) * v for k, v in terms.items())
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}
