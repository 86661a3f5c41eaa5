"""UniPose stage A: a two-stage PointNet++ predicting per-point joint heat and vote directions.

Follows the C3P design (see docs/unipose.md): every frame's cloud is normalised in its
oriented bounding box (:mod:`mmfusion.pose.obb`); a PointNet++ encoder-decoder (two set
abstraction levels sharing FPS centres and ball-query groups, a global level, three feature
propagation levels) gives a feature per point; two per-point heads predict

* heat ``h`` (B, J, P) in [0, 1] (sigmoid): closeness of the point to joint j;
* offset ``v`` (B, J, P, 3): unit direction from the point towards joint j (OBB frame).

Stage 2 re-runs the same encoder-decoder (own weights, same groups) on
``[input ; stage-1 point features ; stage-1 maps (4J)]``. Joints are decoded from each stage
by heat-weighted voting (:func:`mmfusion.pose.decode.vote_joints`), with a vote radius of
``vote_radius`` metres converted to OBB units (``vote_radius / l``), then mapped back to the
camera frame. All frames of all clips are processed as one batch (no per-sample loop).

Input batch (dict):
    "points": (N, T, P, 3) camera-frame metres (contract key); (N, P, 3) is read as T = 1.
    features (optional, ``feature_key``, default "normals"): (N, T, P, F) per-point features;
        with ``rotate_features`` (normals) they are rotated into the OBB frame.
Output dict:
    "joints": (N, T, J, 3) camera metres (last stage); "joints_stages": (S, N, T, J, 3);
    "joints_obb": (N, T, J, 3); "heat": (N, T, J, P); "heat_stages": (S, N, T, J, P);
    "offset": (N, T, J, P, 3) (OBB frame); "offset_cam_stages": (S, N, T, J, P, 3) (camera frame);
    "obb_rotation" (N, T, 3, 3), "obb_centre" (N, T, 3), "obb_length" (N, T).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..encoders.pointnet2 import ball_query, farthest_point_sample, gather_points
from ..errors import ConfigError, MissingModalityError
from ..model_cfg import InputSpec, ModelCfg
from ..registry import register_model
from .decode import vote_joints
from .obb import fit_obb

__all__ = ["PointPoseNet", "unipose_pointnet", "unipose_pointnet_tiny"]


def _mlp2d(cin: int, widths: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv2d(cin, w, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        cin = w
    return nn.Sequential(*layers)


def _mlp1d(cin: int, widths: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv1d(cin, w, 1, bias=False), nn.BatchNorm1d(w), nn.ReLU(inplace=True)]
        cin = w
    return nn.Sequential(*layers)


class _Groups:
    """Sampling / grouping / interpolation indices of one batch, shared by both stages."""

    def __init__(self, xyz: Tensor, npoints: Sequence[int], radii: Sequence[float], nsample: Sequence[int]) -> None:
        self.xyz = [xyz]
        self.group: list[Tensor] = []
        self.interp: list[tuple[Tensor, Tensor]] = []  # (idx (B, P_fine, 3), weights (B, P_fine, 3))
        cur = xyz
        for s, r, k in zip(npoints, radii, nsample):
            centres = gather_points(cur, farthest_point_sample(cur, s))
            self.group.append(ball_query(cur, centres, r, k))
            self.interp.append(_three_nn(cur, centres))
            self.xyz.append(centres)
            cur = centres


def _three_nn(fine: Tensor, coarse: Tensor) -> tuple[Tensor, Tensor]:
    with torch.autocast(device_type=fine.device.type, enabled=False):
        d = torch.cdist(fine.float(), coarse.float())
        k = min(3, coarse.shape[1])
        dist, idx = d.topk(k, dim=-1, largest=False)
        w = 1.0 / (dist + 1e-8)
        w = w / w.sum(-1, keepdim=True)
    return idx, w


def _interpolate(feat: Tensor, idx: Tensor, w: Tensor) -> Tensor:
    """Coarse features (B, C, S) -> fine (B, C, P) by inverse-distance 3-NN weights."""
    g = gather_points(feat.transpose(1, 2), idx)  # (B, P, 3, C)
    return (g * w.unsqueeze(-1).to(g.dtype)).sum(2).transpose(1, 2)


class _Stage(nn.Module):
    """PointNet++ encoder-decoder + heat / offset heads. (B, C_in, P) -> feat (B, D, P), maps."""

    def __init__(self, cin: int, num_joints: int, sa_mlps: Sequence[Sequence[int]], global_mlp: Sequence[int],
                 fp_mlps: Sequence[Sequence[int]], head_dim: int, dropout: float) -> None:
        super().__init__()
        if len(sa_mlps) != 2 or len(fp_mlps) != 3:
            raise ConfigError("PointPoseNet: needs 2 set-abstraction and 3 feature-propagation MLPs")
        self.sa1 = _mlp2d(cin + 3, sa_mlps[0])
        self.sa2 = _mlp2d(sa_mlps[0][-1] + 3, sa_mlps[1])
        self.sa3 = _mlp1d(sa_mlps[1][-1] + 3, global_mlp)
        self.fp3 = _mlp1d(global_mlp[-1] + sa_mlps[1][-1], fp_mlps[0])
        self.fp2 = _mlp1d(fp_mlps[0][-1] + sa_mlps[0][-1], fp_mlps[1])
        self.fp1 = _mlp1d(fp_mlps[1][-1] + cin, fp_mlps[2])
        d = fp_mlps[2][-1]
        self.out_dim = d
        self.heat_head = nn.Sequential(_mlp1d(d, [head_dim]), nn.Dropout(dropout), nn.Conv1d(head_dim, num_joints, 1))
        self.vec_head = nn.Sequential(_mlp1d(d, [head_dim]), nn.Dropout(dropout),
                                      nn.Conv1d(head_dim, 3 * num_joints, 1))
        self.num_joints = num_joints

    @staticmethod
    def _sa(mlp: nn.Module, xyz: Tensor, centres: Tensor, feat: Tensor, group: Tensor) -> Tensor:
        rel = gather_points(xyz, group) - centres.unsqueeze(2)  # (B, S, K, 3)
        g = gather_points(feat.transpose(1, 2), group)  # (B, S, K, C)
        x = torch.cat([rel.to(g.dtype), g], dim=-1).permute(0, 3, 1, 2)
        return mlp(x).amax(dim=-1)  # (B, C', S)

    def forward(self, x: Tensor, groups: _Groups) -> tuple[Tensor, Tensor, Tensor]:
        xyz0, xyz1, xyz2 = groups.xyz
        f1 = self._sa(self.sa1, xyz0, xyz1, x, groups.group[0])
        f2 = self._sa(self.sa2, xyz1, xyz2, f1, groups.group[1])
        g = self.sa3(torch.cat([xyz2.transpose(1, 2).to(f2.dtype), f2], 1)).amax(-1, keepdim=True)
        u2 = self.fp3(torch.cat([g.expand(-1, -1, f2.shape[-1]), f2], 1))
        u1 = self.fp2(torch.cat([_interpolate(u2, *groups.interp[1]), f1], 1))
        u0 = self.fp1(torch.cat([_interpolate(u1, *groups.interp[0]), x], 1))
        b, _, p = u0.shape
        heat = torch.sigmoid(self.heat_head(u0).float())  # (B, J, P)
        vec = self.vec_head(u0).float().view(b, self.num_joints, 3, p).transpose(2, 3)
        vec = F.normalize(vec, dim=-1, eps=1e-6)  # (B, J, P, 3)
        return u0, heat, vec


class PointPoseNet(nn.Module):
    """Two-stage PointNet++ joint-heat / vote network (UniPose stage A).

    Args:
        num_joints: J; defaults to the layout's joint count.
        layout: skeleton layout name (documentation of the joint order; ``coco17`` default).
        in_features: F extra per-point channels (0: xyz only; 3: normals).
        feature_key: batch key holding the (N, T, P, F) features.
        rotate_features: rotate the features into the OBB frame (True for normals).
        obb_rotation: normalise in the PCA-oriented box (C3P); False keeps the camera axes
            (axis-aligned box: centring and scaling only).
        view_features: append each point's unit viewing ray (camera -> point), rotated into
            the OBB frame: 3 more input channels that tell the network where the camera is,
            which the OBB rotation hides (the 2-D losses are all about camera rays).
        npoints, radii, nsample: FPS centres, ball radii (OBB units, longest box side = 1)
            and group sizes of the two set-abstraction levels.
        sa_mlps, global_mlp, fp_mlps, head_dim: layer widths.
        num_stages: 1 or 2.
        dropout: before the last conv of each head.
        vote_radius: longest vote in metres (C3P: 0.8).
        topk: points averaged per joint.

    Shapes: see the module docstring; P >= npoints[0].
    """

    def __init__(self, num_joints: int | None = None, layout: str = "coco17", in_features: int = 0,
                 feature_key: str = "normals", rotate_features: bool = True, view_features: bool = False,
                 obb_rotation: bool = True,
                 npoints: Sequence[int] = (512, 128), radii: Sequence[float] = (0.12, 0.2),
                 nsample: Sequence[int] = (32, 64),
                 sa_mlps: Sequence[Sequence[int]] = ((64, 64, 128), (128, 128, 256)),
                 global_mlp: Sequence[int] = (256, 512, 1024),
                 fp_mlps: Sequence[Sequence[int]] = ((256, 256), (256, 128), (128, 128, 128)),
                 head_dim: int = 128, num_stages: int = 2, dropout: float = 0.5, vote_radius: float = 0.8,
                 topk: int = 64) -> None:
        super().__init__()
        lay = get_layout(layout)
        self.layout = lay.name
        self.num_joints = num_joints or lay.num_joints
        if num_stages not in (1, 2):
            raise ConfigError(f"PointPoseNet: num_stages must be 1 or 2, got {num_stages}")
        if len(npoints) != 2 or len(radii) != 2 or len(nsample) != 2:
            raise ConfigError("PointPoseNet: npoints, radii and nsample need 2 values (two SA levels)")
        self.in_features, self.feature_key, self.rotate_features = in_features, feature_key, rotate_features
        self.view_features, self.obb_rotation = view_features, obb_rotation
        self.npoints, self.radii, self.nsample = tuple(npoints), tuple(radii), tuple(nsample)
        self.vote_radius, self.topk = vote_radius, topk
        cin = 3 + in_features + (3 if view_features else 0)
        j = self.num_joints
        self.stages = nn.ModuleList()
        for s in range(num_stages):
            c = cin if s == 0 else cin + fp_mlps[2][-1] + 4 * j
            self.stages.append(_Stage(c, j, sa_mlps, global_mlp, fp_mlps, head_dim, dropout))

    def _inputs(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        if "points" not in batch:
            raise MissingModalityError("points", "PointPoseNet needs batch['points'] (N, T, P, 3)")
        pts = batch["points"]
        if pts.ndim == 3:
            pts = pts.unsqueeze(1)
        if pts.ndim != 4 or pts.shape[-1] != 3:
            raise ConfigError(f"PointPoseNet: points must be (N, T, P, 3), got {tuple(batch['points'].shape)}")
        if pts.shape[2] < self.npoints[0]:
            raise ConfigError(f"PointPoseNet: {pts.shape[2]} points per frame < npoints[0]={self.npoints[0]}")
        feat = None
        if self.in_features:
            if self.feature_key not in batch:
                raise MissingModalityError(self.feature_key, f"PointPoseNet was built with in_features="
                                           f"{self.in_features}; pass batch[{self.feature_key!r}] (N, T, P, F)")
            feat = batch[self.feature_key]
            if feat.ndim == 3:
                feat = feat.unsqueeze(1)
            if feat.shape[:3] != pts.shape[:3] or feat.shape[-1] != self.in_features:
                raise ConfigError(f"PointPoseNet: {self.feature_key} must be {(*pts.shape[:3], self.in_features)}, "
                                  f"got {tuple(feat.shape)}")
        return pts, feat

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        pts, feat = self._inputs(batch)
        n, t, p, _ = pts.shape
        flat = pts.reshape(n * t, p, 3).float()
        obb = fit_obb(flat, rotate=self.obb_rotation)
        xyz = obb.normalize(flat)  # (B, P, 3)
        x = xyz
        if feat is not None:
            f = feat.reshape(n * t, p, -1).float()
            if self.rotate_features:
                f = obb.rotate(f)
            x = torch.cat([xyz, f], dim=-1)
        if self.view_features:
            x = torch.cat([x, obb.rotate(F.normalize(flat, dim=-1, eps=1e-6))], dim=-1)
        x = x.transpose(1, 2).contiguous()  # (B, C, P)
        groups = _Groups(xyz, self.npoints, self.radii, self.nsample)
        radius = self.vote_radius / obb.length  # metres -> OBB units
        joints_obb: list[Tensor] = []
        heats: list[Tensor] = []
        vecs: list[Tensor] = []
        inp = x
        feats = heat = vec = x  # placeholders, replaced by stage 1 before stage 2 reads them
        for s, stage in enumerate(self.stages):
            if s > 0:
                maps = torch.cat([heat, vec.permute(0, 1, 3, 2).reshape(n * t, -1, p)], 1)
                inp = torch.cat([x, feats.to(x.dtype), maps.to(x.dtype)], 1)
            feats, heat, vec = stage(inp, groups)
            joints_obb.append(vote_joints(xyz, heat, vec, radius, self.topk))
            heats.append(heat)
            vecs.append(vec)
        j = self.num_joints
        stacked = torch.stack(joints_obb)  # (S, B, J, 3)
        cam = obb.denormalize(stacked)  # the OBB's (B, ...) broadcasts over the stage axis
        return {
            "joints": cam[-1].view(n, t, j, 3),
            "joints_stages": cam.view(len(self.stages), n, t, j, 3),
            "joints_obb": joints_obb[-1].view(n, t, j, 3),
            "heat": heat.view(n, t, j, p),
            "heat_stages": torch.stack(heats).view(len(self.stages), n, t, j, p),
            "offset": vec.view(n, t, j, p, 3),
            # camera-frame vote directions of every stage (for losses on the votes themselves)
            "offset_cam_stages": obb.unrotate(torch.stack(vecs).flatten(2, 3)).view(len(self.stages), n, t, j, p, 3),
            "obb_rotation": obb.rotation.view(n, t, 3, 3),
            "obb_centre": obb.centre.view(n, t, 3),
            "obb_length": obb.length.view(n, t),
        }


_TINY: dict[str, Any] = dict(npoints=(128, 32), radii=(0.15, 0.3), nsample=(16, 16),
                             sa_mlps=((16, 16, 32), (32, 32, 64)), global_mlp=(64, 128),
                             fp_mlps=((64, 64), (64, 32), (32, 32)), head_dim=32, dropout=0.1, topk=16)


_POSE_OUT = '"joints" (N, T, J, 3), "heat" (N, T, J, P), "offset", OBB'


@register_model(tags=("pose", "points"), cfg=ModelCfg(
    inputs={"points": InputSpec((1, 2048, 3), "T P 3", values="points_m")}, kind="pose", clip_len=1,
    source="C3P / UniPose stage A: one frame of 2048 points", output=_POSE_OUT))
def unipose_pointnet(**kwargs: Any) -> nn.Module:
    """UniPose stage A, C3P sizes: 2048 points, SA 512/0.12/32 and 128/0.2/64, 2 stages, top-64 voting.
    (N, T, P, 3) camera metres -> joints (N, T, J, 3)."""
    return PointPoseNet(**kwargs)


@register_model(tags=("pose", "points", "test"), cfg=ModelCfg(
    inputs={"points": InputSpec((1, 256, 3), "T P 3", values="points_m")}, kind="pose", clip_len=1,
    source="ours: one frame of 256 points", output=_POSE_OUT))
def unipose_pointnet_tiny(**kwargs: Any) -> nn.Module:
    """Small stage A for CPU tests/demos: SA 128/0.15/16 and 32/0.3/16, widths /4, top-16; P >= 128."""
    return PointPoseNet(**{**_TINY, **kwargs})
