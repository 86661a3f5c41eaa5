"""RGB + pose transformer with 3D deformable cross-modal attention (Kim et al., ICCV 2023).

Pipeline (shapes for ``deform3d``; every number is a config field, see docs/models.md)::

    batch["rgb"] (N, 3, T, H, W) --backbone--> (N, C_b, T', H', W') --1x1x1 proj + conv pos-enc-->
        Z (N, T'*H'*W', C)                      RGB tokens
    batch["skeleton"] (N, 3, T, V, M) --person select, resample to pose_frames, Linear(3->C)
        + joint embedding + time embedding--> P (N, T_p, V, C)     pose tokens
    c = 2 learned cross-modal tokens (N, 2, C)  (0: RGB token, 1: pose token)

    L x block:
        Z, c += DeformableAttention3D(LN Z, LN c)     (3D token search over the RGB volume)
        Z    += MLP(LN Z)
        P, c += JointStrideAttention(LN P, LN c)      (per frame, strided joint groups)
        P, c += TemporalStrideAttention(LN P, LN c)   (frame groups {t, t+s, ...})
        P    += MLP(LN P);  c += MLP(LN c)
    (the last block has no RGB / pose MLP: only c is read after it)
    logits = Linear(LN(concat(c_rgb, c_pose)))  (N, num_classes)

The paper's backbone, dims, strides and sample counts were not retrievable; the values below
are our choices (documented as such). Temporal stride attention runs on the pose tokens: the
RGB tokens already mix over time in the 3D deformable attention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..encoders.layers import DropPath, Mlp
from ..errors import ConfigError, DataFormatError, MissingModalityError
from ..fusion.deformable3d import DeformableAttention3D
from ..fusion.stride_attention import JointStrideAttention, TemporalStrideAttention
from ..model_cfg import InputSpec, ModelCfg, frames_input
from ..registry import create_model, is_model, register_model

__all__ = ["Deform3DNet", "Deform3DBlock", "ConvStem3D"]


class ConvStem3D(nn.Module):
    """A light 3D conv stem: (N, in_chans, T, H, W) -> (N, out_dim, T / prod st, H / prod sh, W / prod sw).

    One Conv3d + BN + ReLU per entry of ``widths``; the first has a (3, 7, 7) kernel, the rest
    (3, 3, 3). ``strides[i]`` is the (t, h, w) stride of conv ``i``.
    """

    def __init__(self, in_chans: int = 3, widths: Sequence[int] = (32, 64, 128, 256),
                 strides: Sequence[Sequence[int]] = ((1, 2, 2), (2, 2, 2), (1, 2, 2), (1, 2, 2))) -> None:
        super().__init__()
        widths, strides = tuple(widths), tuple(tuple(s) for s in strides)
        if not widths or len(widths) != len(strides) or any(len(s) != 3 for s in strides):
            raise ConfigError(f"ConvStem3D: widths {widths} and (t, h, w) strides {strides} must have equal length")
        layers: list[nn.Module] = []
        cin = in_chans
        for i, (w, s) in enumerate(zip(widths, strides)):
            k = (3, 7, 7) if i == 0 else (3, 3, 3)
            layers += [nn.Conv3d(cin, w, k, s, tuple(x // 2 for x in k), bias=False), nn.BatchNorm3d(w),
                       nn.ReLU(inplace=True)]
            cin = w
        self.layers = nn.Sequential(*layers)
        self.in_chans, self.out_dim = in_chans, widths[-1]
        self.stride = tuple(math.prod(s[a] for s in strides) for a in range(3))
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class Deform3DBlock(nn.Module):
    """One block: 3D deformable attention (RGB), joint-stride + temporal-stride attention (pose), MLPs.

    Shapes: z (N, T*H*W, C) RGB tokens of a (T, H, W) volume; p (N, T_p, V, C) pose tokens;
    c (N, K, C) cross-modal tokens. Returns (z, p, c, offsets or None). ``final`` drops the
    stream MLPs (nothing reads z, p after the last block).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, offset_groups: int = 1, offset_kernel: int = 3,
                 offset_range: Sequence[float] = (1.0, 2.0, 2.0), sample_size: Sequence[int] | None = None,
                 joint_stride: int = 4, joint_grouping: str = "local", temporal_stride: int = 2,
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0, final: bool = False) -> None:
        super().__init__()
        self.final = final
        self.norm_z, self.norm_c1 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.deform = DeformableAttention3D(dim, heads, offset_groups, offset_kernel, offset_range, sample_size,
                                            attn_drop=attn_drop, proj_drop=drop)
        # the last block's streams only feed the cross-modal tokens through attention: stream MLPs
        # after that would be dead weights
        self.norm_z2, self.mlp_z = (nn.Identity(), nn.Identity()) if final else (nn.LayerNorm(dim),
                                                                               Mlp(dim, mlp_ratio, drop))
        self.norm_p1, self.norm_c2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.joint = JointStrideAttention(dim, heads, joint_stride, joint_grouping, attn_drop=attn_drop, proj_drop=drop)
        self.norm_p2, self.norm_c3 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.temporal = TemporalStrideAttention(dim, heads, temporal_stride, attn_drop=attn_drop, proj_drop=drop)
        self.norm_p3, self.mlp_p = (nn.Identity(), nn.Identity()) if final else (nn.LayerNorm(dim),
                                                                               Mlp(dim, mlp_ratio, drop))
        self.norm_c4, self.mlp_c = nn.LayerNorm(dim), Mlp(dim, mlp_ratio, drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, z: Tensor, size: tuple[int, int, int], p: Tensor, c: Tensor, return_offsets: bool = False,
                ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        dp = self.drop_path
        dz, dc, extras = self.deform.forward_tokens(self.norm_z(z), size, self.norm_c1(c), return_offsets)
        z, c = z + dp(dz), c + dp(dc)
        if not self.final:
            z = z + dp(self.mlp_z(self.norm_z2(z)))
        dpp, dc = self.joint(self.norm_p1(p), self.norm_c2(c))
        p, c = p + dp(dpp), c + dp(dc)
        dpp, dc = self.temporal(self.norm_p2(p), self.norm_c3(c))
        p, c = p + dp(dpp), c + dp(dc)
        if not self.final:
            p = p + dp(self.mlp_p(self.norm_p3(p)))
        c = c + dp(self.mlp_c(self.norm_c4(c)))
        return z, p, c, extras.get("offsets")


def _select_person(x: Tensor, person_dim: int, coord_dims: tuple[int, ...], mode: str) -> Tensor:
    """Pick the first person or average the persons that appear (non-zero) anywhere in the clip."""
    if mode == "first":
        return x.select(person_dim, 0)
    present = (x.abs().amax(dim=coord_dims, keepdim=True) > 0).to(x.dtype)
    weight = present / present.sum(dim=person_dim, keepdim=True).clamp(min=1.0)
    return (x * weight).sum(dim=person_dim)


def _normalise_keypoints(kp: Tensor) -> Tensor:
    """Pixels -> clip-normalised coordinates: centre of the detected joints, divided by their extent.

    kp: (N, T, V, 2); a joint at (0, 0) is undetected and stays 0.
    """
    valid = (kp.abs().sum(-1, keepdim=True) > 0).to(kp.dtype)  # (N, T, V, 1)
    count = valid.sum(dim=(1, 2), keepdim=True).clamp(min=1.0)
    centre = (kp * valid).sum(dim=(1, 2), keepdim=True) / count
    extent = ((kp - centre).abs() * valid).amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6)
    return (kp - centre) / extent * valid


class Deform3DNet(nn.Module):
    """3D-deformable cross-modal transformer for RGB + pose action recognition.

    Inputs (batch dict): ``"rgb"`` (N, 3, T, H, W) and ``pose_key``: ``"skeleton"`` (N, 3, T, V, M)
    or ``"keypoints2d"`` (N, M, T, V, 2) pixels. Output: ``{"logits": (N, num_classes),
    "features": (N, 2*dim)}`` plus ``"offsets"`` (N, depth, G, Ts, Hs, Ws, 3) (voxels, (t, y, x))
    when ``return_offsets``.

    Classifier contract: ``forward_features(batch)`` -> the two cross-modal tokens (N, 2, dim)
    after the last block; ``forward_head(c, pre_logits=False)`` -> LN -> dropout -> Linear
    (``pre_logits``: LN(concat(c_rgb, c_pose)) (N, 2*dim)); ``num_classes=0`` makes the head
    Identity; ``reset_classifier(K)``.

    Args:
        num_classes: classes of the linear head.
        dim, depth, heads, mlp_ratio: transformer width C, blocks L, heads, MLP ratio.
        backbone: ``"stem"`` (private :class:`ConvStem3D`) or the name of a registered RGB model
            whose ``forward_features`` (or plain output) is (N, C_b, T', H', W') with ``out_dim``
            (e.g. ``"xshiftnet_rgb"``, built with its default ``num_classes=0``).
        backbone_kwargs: kwargs of that encoder. stem_widths / stem_strides: :class:`ConvStem3D`.
        rgb_temporal_pool: average-pool the backbone output over time by this factor.
        pose_key: ``"skeleton"`` or ``"keypoints2d"``. layout: skeleton layout (gives V).
        pose_frames: pose frames used (the sequence is resampled uniformly to this length).
        person: ``"first"`` or ``"mean"`` (mean of the persons present in the clip).
        offset_groups, offset_kernel, offset_range, sample_size: :class:`DeformableAttention3D`.
        joint_stride, joint_grouping: :class:`JointStrideAttention`.
        temporal_stride: :class:`TemporalStrideAttention`.
        drop, attn_drop, drop_path, head_dropout: regularisation.
        return_offsets: also return the offsets of every block.
    """

    def __init__(self, num_classes: int = 60, dim: int = 256, depth: int = 4, heads: int = 8, mlp_ratio: float = 4.0,
                 backbone: str = "stem", backbone_kwargs: dict[str, Any] | None = None,
                 stem_widths: Sequence[int] = (32, 64, 128, 256),
                 stem_strides: Sequence[Sequence[int]] = ((1, 2, 2), (2, 2, 2), (1, 2, 2), (1, 2, 2)),
                 rgb_temporal_pool: int = 1, pose_key: str = "skeleton", layout: str = "ntu25", pose_frames: int = 32,
                 person: str = "first", offset_groups: int = 4, offset_kernel: int = 3,
                 offset_range: Sequence[float] = (2.0, 2.0, 2.0), sample_size: Sequence[int] | None = (4, 7, 7),
                 joint_stride: int = 4, joint_grouping: str = "local", temporal_stride: int = 4, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.1, head_dropout: float = 0.5,
                 return_offsets: bool = False) -> None:
        super().__init__()
        if num_classes < 0:
            raise ConfigError(f"deform3d needs num_classes >= 0 (0: pooled features), got {num_classes}")
        if pose_key not in ("skeleton", "keypoints2d"):
            raise ConfigError(f"pose_key must be 'skeleton' or 'keypoints2d', got {pose_key!r}")
        if person not in ("first", "mean"):
            raise ConfigError(f"person must be 'first' or 'mean', got {person!r}")
        if pose_frames < 1 or rgb_temporal_pool < 1 or depth < 1:
            raise ConfigError("pose_frames, rgb_temporal_pool and depth must be >= 1")
        self.num_classes, self.dim, self.depth = num_classes, dim, depth
        self.pose_key, self.person, self.pose_frames = pose_key, person, pose_frames
        self.num_joints = get_layout(layout).num_joints
        self.return_offsets = return_offsets

        self._backbone_has_features = False
        if backbone == "stem":
            self.backbone: nn.Module = ConvStem3D(3, stem_widths, stem_strides)
        else:
            if not is_model(backbone):
                raise ConfigError(f"deform3d backbone {backbone!r} is not a registered model")
            self.backbone = create_model(backbone, **(backbone_kwargs or {}))
        # registered classifiers give their unpooled maps through forward_features
        self._backbone_has_features = hasattr(self.backbone, "forward_features")
        b_dim = int(getattr(self.backbone, "out_dim", 0))
        if b_dim < 1:
            raise ConfigError(f"backbone {backbone!r} exposes no positive out_dim")
        self.rgb_pool = nn.AvgPool3d((rgb_temporal_pool, 1, 1)) if rgb_temporal_pool > 1 else nn.Identity()
        self.rgb_proj = nn.Conv3d(b_dim, dim, 1)
        # conditional position encoding: shape-agnostic, so any clip size works
        self.rgb_pos = nn.Conv3d(dim, dim, 3, padding=1, groups=dim)

        self.pose_embed = nn.Linear(3 if pose_key == "skeleton" else 2, dim)
        self.joint_embed = nn.Parameter(torch.zeros(self.num_joints, dim))
        self.time_embed = nn.Parameter(torch.zeros(pose_frames, dim))
        self.cross_tokens = nn.Parameter(torch.zeros(2, dim))

        rates = torch.linspace(0, drop_path, depth).tolist()
        self.blocks = nn.ModuleList(
            Deform3DBlock(dim, heads, mlp_ratio, offset_groups, offset_kernel, offset_range, sample_size,
                          joint_stride, joint_grouping, temporal_stride, drop, attn_drop, r, final=i == depth - 1)
            for i, r in enumerate(rates))
        self.head_norm = nn.LayerNorm(2 * dim)
        self.head_drop = nn.Dropout(head_dropout)
        self.num_features = 2 * dim
        self.head: nn.Module = nn.Linear(2 * dim, num_classes) if num_classes else nn.Identity()
        self._init_weights()

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh final layer with ``num_classes`` outputs (0: Identity), initialised like the original."""
        if num_classes < 0:
            raise ConfigError(f"reset_classifier: num_classes must be >= 0, got {num_classes}")
        self.num_classes = num_classes
        if num_classes == 0:
            self.head = nn.Identity()
            return
        head = nn.Linear(self.num_features, num_classes).to(self.cross_tokens.device)
        nn.init.trunc_normal_(head.weight, std=0.02)
        nn.init.zeros_(head.bias)
        self.head = head

    def _init_weights(self) -> None:
        for p in (self.joint_embed, self.time_embed, self.cross_tokens):
            nn.init.trunc_normal_(p, std=0.02)
        for name, m in self.named_modules():
            if name.startswith("backbone"):
                continue  # the backbone has its own init
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # -- inputs ---------------------------------------------------------------------------------
    def _rgb(self, batch: dict[str, Tensor]) -> Tensor:
        if "rgb" not in batch:
            raise MissingModalityError("rgb", f"deform3d fuses RGB and pose; batch has {sorted(batch)}")
        x = batch["rgb"]
        if x.dim() != 5 or x.shape[1] != 3:
            raise DataFormatError(None, f"batch['rgb'] must be (N, 3, T, H, W), got {tuple(x.shape)}")
        return x

    def _pose(self, batch: dict[str, Tensor]) -> Tensor:
        key = self.pose_key
        if key not in batch:
            other = "keypoints2d" if key == "skeleton" else "skeleton"
            hint = f" (batch has {other!r}: build the model with pose_key={other!r})" if other in batch else ""
            raise MissingModalityError(key, f"deform3d fuses RGB and pose{hint}")
        x = batch[key]
        v = self.num_joints
        if key == "skeleton":
            if x.dim() != 5 or x.shape[1] != 3 or x.shape[3] != v:
                raise DataFormatError(None, f"batch['skeleton'] must be (N, 3, T, V={v}, M), got {tuple(x.shape)}")
            pose = _select_person(x, 4, (1, 2, 3), self.person).permute(0, 2, 3, 1)  # (N, T, V, 3)
        else:
            if x.dim() != 5 or x.shape[4] != 2 or x.shape[3] != v:
                raise DataFormatError(None, f"batch['keypoints2d'] must be (N, M, T, V={v}, 2), got {tuple(x.shape)}")
            pose = _normalise_keypoints(_select_person(x, 1, (2, 3, 4), self.person))
        t = pose.shape[1]
        if t != self.pose_frames:
            idx = torch.linspace(0, t - 1, self.pose_frames, device=pose.device).round().long()
            pose = pose.index_select(1, idx)
        return pose

    # -- forward --------------------------------------------------------------------------------
    def forward_features(self, batch: dict[str, Tensor]) -> Tensor:
        """The cross-modal tokens (N, 2, dim) after the last block (0: RGB token, 1: pose token)."""
        return self._run(batch, False)[0]

    def forward_head(self, c: Tensor, pre_logits: bool = False) -> Tensor:
        """Tokens (N, 2, dim) or their concatenation (N, 2*dim) -> logits (N, K) (``pre_logits``: normed (N, 2*dim))."""
        x = self.head_norm(c.flatten(1))
        return x if pre_logits else self.head(self.head_drop(x))

    def forward(self, batch: dict[str, Tensor], return_offsets: bool | None = None) -> dict[str, Tensor]:
        want_offsets = self.return_offsets if return_offsets is None else return_offsets
        c, offsets = self._run(batch, want_offsets)
        features = c.flatten(1)  # (N, 2C): [c_rgb ; c_pose]
        out = {"logits": self.forward_head(c), "features": features}
        if want_offsets:
            out["offsets"] = torch.stack(offsets, dim=1)
        return out

    def _run(self, batch: dict[str, Tensor], want_offsets: bool) -> tuple[Tensor, list[Tensor]]:
        rgb, pose = self._rgb(batch), self._pose(batch)
        n = rgb.shape[0]
        if pose.shape[0] != n:
            raise DataFormatError(None, f"batch size differs: rgb {n}, {self.pose_key} {pose.shape[0]}")

        maps = self.backbone.forward_features(rgb) if self._backbone_has_features else self.backbone(rgb)
        feat = self.rgb_proj(self.rgb_pool(maps))
        feat = feat + self.rgb_pos(feat)
        size = (feat.shape[2], feat.shape[3], feat.shape[4])
        z = feat.flatten(2).transpose(1, 2)  # (N, T'H'W', C)

        p = self.pose_embed(pose) + self.joint_embed[None, None] + self.time_embed[None, :, None]
        c = self.cross_tokens[None].expand(n, -1, -1).to(p.dtype)

        offsets = []
        for block in self.blocks:
            z, p, c, off = block(z, size, p, c, want_offsets)
            if off is not None:
                offsets.append(off)
        return c, offsets


_TINY = dict(dim=32, depth=2, heads=4, mlp_ratio=2.0, backbone="stem", stem_widths=(16, 32, 32),
             stem_strides=((1, 2, 2), (2, 2, 2), (1, 2, 2)), pose_frames=8, offset_groups=2,
             offset_range=(1.0, 1.0, 1.0), sample_size=(2, 2, 2), joint_stride=4, temporal_stride=2,
             drop_path=0.0, head_dropout=0.0)

_PAPER_LIKE = dict(dim=256, depth=4, heads=8, mlp_ratio=4.0, backbone="xshiftnet_rgb", rgb_temporal_pool=2,
                   pose_frames=32, offset_groups=4, offset_kernel=3, offset_range=(2.0, 2.0, 2.0),
                   sample_size=(4, 7, 7), joint_stride=4, temporal_stride=4, drop_path=0.1, head_dropout=0.5)


_SKELETON = "C T V M"


@register_model(tags=("model", "fusion", "rgb", "skeleton"), cfg=ModelCfg(
    inputs={"rgb": frames_input("rgb", 16, 224), "skeleton": InputSpec((3, 64, 25, 2), _SKELETON, values="skeleton_m")},
    num_classes=60, clip_len=16,
    source="Kim et al., ICCV 2023; sizes ours (paper's not retrievable): 16x224^2 RGB (tokens 8x7x7) + 64-frame "
           "skeleton resampled to 32", output='"logits" (N, K), "features" (N, 512)'))
def deform3d(num_classes: int = 60, **kwargs: Any) -> nn.Module:
    """3D-deformable RGB+pose transformer, paper-like dims (ours: C=256, L=4, 8 heads, X-ShiftNet RGB backbone).

    Expects rgb (N, 3, 16, 224, 224) -> tokens (8, 7, 7) and skeleton (N, 3, T, 25, M).
    """
    return Deform3DNet(num_classes=num_classes, **{**_PAPER_LIKE, **kwargs})


@register_model(tags=("model", "fusion", "rgb", "skeleton", "test"), cfg=ModelCfg(
    inputs={"rgb": frames_input("rgb", 8, 32), "skeleton": InputSpec((3, 8, 25, 2), _SKELETON, values="skeleton_m")},
    num_classes=60, clip_len=8, source="ours: CPU-sized variant", output='"logits" (N, K), "features" (N, 64)'))
def deform3d_tiny(num_classes: int = 60, **kwargs: Any) -> nn.Module:
    """CPU-sized variant: C=32, L=2; rgb (N, 3, 8, 32, 32) -> tokens (4, 4, 4); skeleton 8 frames x 25 joints."""
    return Deform3DNet(num_classes=num_classes, **{**_TINY, **kwargs})
