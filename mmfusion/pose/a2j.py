"""UniPose stage B: anchor-to-joint (A2J) 3-D pose networks for depth and RGB frames.

A timm backbone (``features_only``, ``pretrained=False``) gives its last two feature maps at
the same stride (``output_stride`` dilates the last stage, as A2J's ResNet-50 with layer4 at
stride 16). Anchors sit on a regular grid: every stride-s cell holds ``n x n`` anchors at
in-cell offsets ``(k + 0.5) * s / n`` ({2, 6, 10, 14} for s = 16, n = 4); for small inputs a
stride-8 backbone gives {1, 3, 5, 7}. Three heads (``head_convs`` x [Conv3x3 + BN + ReLU] +
Conv3x3):

* anchor proposal logits (A, J) on the second-to-last map;
* in-plane offsets (A, J, 2) pixels and depths (A, J) on the last map.

Per joint a softmax over all A anchors gives weights w; ``uv = sum w (anchor + offset)``,
``d = d_ref + sum w depth``. ``depth_ref`` picks ``d_ref``: ``"median"`` the frame's median
valid depth (depth network default; its input becomes ``depth - d_ref``, 0 where invalid, as
A2J centres depth on the crop centre), ``"focal"`` the apparent-size prior
``fx * ref_size / W`` (needs "intrinsics"; for RGB crops around a person, whose side in
pixels shrinks with distance), ``"none"`` 0 (absolute depth).

Person crops (:func:`keypoint_boxes`, :func:`crop_images`, :func:`crop_intrinsics`) cut a
square around the 2-D detections and adapt the intrinsics, so the network works on a fixed
small input and its (u, v, d) back-project directly with the crop intrinsics.

Input batch: "depth" (N, 1, T, H, W) / (N, 1, H, W) metres (0 = no reading), or "rgb"
(N, 3, T, H, W) / (N, 3, H, W) ImageNet-normalised; optional "intrinsics" (N, 4) of that
image; with ``keypoint_input=True`` also "keypoints2d" (N, T, J, 2) / (N, J, 2) pixels of that
image and optional "keypoint_scores" (N, T, J) / (N, J): each joint becomes one more input
channel, a Gaussian of ``keypoint_sigma`` pixels at the detection, scaled by its score.
Output: "uv" (N, T, J, 2) pixels, "depth_joints" (N, T, J) metres, "anchor_uv"
(N, T, J, 2) (sum w anchor, for the anchor loss), "anchor_logits" (N*T, A, J), and
"joints" (N, T, J, 3) camera metres when intrinsics are given.

Loss (:func:`a2j_loss`, A2J): ``L_anchor + 3 * (0.5 * L_xy + L_depth)``, smooth-L1 on pixels
for the anchor and xy terms, L1 for depth (in units of ``depth_unit`` metres).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.layouts import get_layout
from ..errors import ConfigError, MissingModalityError
from ..model_cfg import ModelCfg, frames_input
from ..registry import register_model
from .decode import backproject

__all__ = ["A2JNet", "anchor_grid", "a2j_loss", "keypoint_boxes", "crop_images", "crop_intrinsics", "crop_keypoints",
           "keypoint_maps", "a2j_depth",
           "a2j_depth_tiny", "a2j_rgb", "a2j_rgb_tiny"]


def anchor_grid(height: int, width: int, stride: int, per_side: int = 4, device: Any = None) -> Tensor:
    """(height * width * per_side**2, 2) anchor pixels (u, v) for a (height, width) feature map.

    Order: cell row, cell column, then anchor row, anchor column inside the cell.
    """
    off = (torch.arange(per_side, device=device, dtype=torch.float32) + 0.5) * stride / per_side
    cy = torch.arange(height, device=device, dtype=torch.float32) * stride
    cx = torch.arange(width, device=device, dtype=torch.float32) * stride
    v = cy.view(-1, 1, 1, 1) + off.view(1, 1, -1, 1)  # (h, 1, n, 1)
    u = cx.view(1, -1, 1, 1) + off.view(1, 1, 1, -1)  # (1, w, 1, n)
    v, u = torch.broadcast_tensors(v, u)
    return torch.stack([u, v], dim=-1).reshape(-1, 2)


def keypoint_boxes(kp: Tensor, scores: Tensor | None = None, margin: float = 1.3, min_size: float = 16.0,
                   min_score: float = 0.2) -> Tensor:
    """Square person boxes around 2-D keypoints.

    Args:
        kp: (F, J, 2) pixels; scores: (F, J) or None; joints scoring below ``min_score`` are
            ignored (all used where too few remain).
        margin: side = margin * the larger extent of the kept keypoints (at least ``min_size``).

    Returns:
        (F, 3) ``[x0, y0, side]`` in pixels (top-left corner of the square).
    """
    keep = torch.ones_like(kp[..., 0], dtype=torch.bool) if scores is None else scores >= min_score
    keep = torch.where(keep.sum(-1, keepdim=True) >= 2, keep, torch.ones_like(keep))
    big = torch.finfo(kp.dtype).max
    lo = torch.where(keep.unsqueeze(-1), kp, torch.full_like(kp, big)).amin(1)
    hi = torch.where(keep.unsqueeze(-1), kp, torch.full_like(kp, -big)).amax(1)
    side = ((hi - lo).amax(-1) * margin).clamp_min(min_size)
    centre = (lo + hi) / 2
    return torch.cat([centre - side.unsqueeze(-1) / 2, side.unsqueeze(-1)], -1)


def crop_images(images: Tensor, boxes: Tensor, size: int, mode: str = "bilinear") -> Tensor:
    """Resample square boxes of (F, C, H, W) images to (F, C, size, size); outside the image = 0.

    Output pixel u' samples image pixel ``x0 + (u' + 0.5) side / size - 0.5`` (pixel centres at
    integers). Use ``mode="nearest"`` for depth, so that no value mixes a surface with the 0
    of a missing reading.
    """
    f, _, h, w = images.shape
    lin = (torch.arange(size, device=images.device, dtype=torch.float32) + 0.5) / size
    b = boxes.float()
    u = b[:, 0:1] + lin.unsqueeze(0) * b[:, 2:3] - 0.5  # (F, size)
    v = b[:, 1:2] + lin.unsqueeze(0) * b[:, 2:3] - 0.5
    gx = (2 * u + 1) / w - 1
    gy = (2 * v + 1) / h - 1
    grid = torch.stack(torch.broadcast_tensors(gx.unsqueeze(1), gy.unsqueeze(2)), -1)  # (F, size, size, 2)
    return F.grid_sample(images.float(), grid, mode=mode, padding_mode="zeros", align_corners=False)


def crop_intrinsics(intr: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Intrinsics (F, 4) or (4,) of the full image -> (F, 4) of the :func:`crop_images` crops."""
    k = intr.float().expand(boxes.shape[0], 4)
    s = size / boxes[:, 2].float()
    return torch.stack([k[:, 0] * s, k[:, 1] * s, (k[:, 2] + 0.5 - boxes[:, 0]) * s - 0.5,
                        (k[:, 3] + 0.5 - boxes[:, 1]) * s - 0.5], -1)


def crop_keypoints(kp: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Image pixels (F, J, 2) -> pixels of the :func:`crop_images` crops (F, J, 2) (boxes (F, 3))."""
    s = (size / boxes[:, 2].float()).view(-1, 1, 1)
    return (kp.float() + 0.5 - boxes[:, None, :2].float()) * s - 0.5


def keypoint_maps(kp: Tensor, height: int, width: int, sigma: float, scores: Tensor | None = None) -> Tensor:
    """Gaussian maps (B, J, height, width) of keypoints (B, J, 2) pixels, peak = score (or 1)."""
    ys = torch.arange(height, device=kp.device, dtype=torch.float32).view(1, 1, -1, 1)
    xs = torch.arange(width, device=kp.device, dtype=torch.float32).view(1, 1, 1, -1)
    k = kp.float()
    d2 = (xs - k[..., 0, None, None]).square() + (ys - k[..., 1, None, None]).square()
    maps = torch.exp(-d2 / (2 * sigma * sigma))
    return maps if scores is None else maps * scores.float().clamp(0, 1)[..., None, None]


def _head(cin: int, width: int, convs: int, cout: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(convs):
        layers += [nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        cin = width
    out = nn.Conv2d(cin, cout, 3, padding=1)
    # small init: uniform anchor weights, zero offsets/depths at the start (as A2J's normal(0, 0.01))
    nn.init.normal_(out.weight, std=0.01)
    nn.init.zeros_(out.bias)
    return nn.Sequential(*layers, out)


class A2JNet(nn.Module):
    """A2J heads on a timm backbone.

    Args:
        modality: "depth" or "rgb" (batch key and input channels 1 / 3).
        num_joints: J (defaults to the layout's).
        layout: skeleton layout name.
        backbone: timm model name (``resnet50`` as A2J; ``test_resnet`` for CPU tests).
        output_stride: backbone stride (16 as A2J; 8 for small inputs).
        anchors_per_side: n (n^2 anchors per cell).
        head_width, head_convs: head size (A2J: 256, 4).
        depth_unit: metres per loss unit of the depth term (used by :meth:`loss`).
        depth_ref: "median" | "focal" | "none" (see the module docstring); default "median"
            for depth, "none" for RGB.
        ref_size: metres of the "focal" prior (about the person-box side).
        relative_depth: centre the predicted joint depths on ``d_ref`` (their mean over joints
            is ``d_ref``): only the depths of the joints relative to each other are learned
            (pair with ``a2j_loss(relative_depth=True)``). For RGB, whose absolute distance
            is ambiguous (unknown body size), so the loss does not chase it.
        keypoint_input: J more input channels, Gaussian maps of the 2-D detections (batch
            "keypoints2d" in pixels of the input image, "keypoint_scores" optional): the
            network refines the detector's 2-D pose and reads the depth order from the image
            and the 2-D pose configuration (an mmfusion option, not A2J's).
        keypoint_sigma: their width in input pixels.

    Shapes: see the module docstring.
    """

    def __init__(self, modality: str = "depth", num_joints: int | None = None, layout: str = "coco17",
                 backbone: str = "resnet50", output_stride: int = 16, anchors_per_side: int = 4,
                 head_width: int = 256, head_convs: int = 4, depth_unit: float = 0.02,
                 depth_ref: str | None = None, ref_size: float = 2.0, relative_depth: bool = False,
                 keypoint_input: bool = False, keypoint_sigma: float = 2.0,
                 backbone_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        import timm  # imported here: keeps `import mmfusion` light

        if modality not in ("depth", "rgb"):
            raise ConfigError(f"A2JNet: modality must be 'depth' or 'rgb', got {modality!r}")
        self.modality = modality
        self.depth_ref = depth_ref or ("median" if modality == "depth" else "none")
        if self.depth_ref not in ("median", "focal", "none"):
            raise ConfigError(f"A2JNet: depth_ref must be 'median', 'focal' or 'none', got {depth_ref!r}")
        if self.depth_ref == "median" and modality != "depth":
            raise ConfigError("A2JNet: depth_ref='median' needs the depth modality")
        self.ref_size, self.relative_depth = ref_size, relative_depth
        self.keypoint_input, self.keypoint_sigma = keypoint_input, keypoint_sigma
        self.num_joints = num_joints or get_layout(layout).num_joints
        self.layout = get_layout(layout).name
        self.per_side, self.depth_unit = anchors_per_side, depth_unit
        self.backbone = timm.create_model(backbone, pretrained=False, features_only=True, out_indices=(-2, -1),
                                          output_stride=output_stride,
                                          in_chans=(1 if modality == "depth" else 3)
                                          + (get_layout(layout).num_joints if num_joints is None else num_joints)
                                          * keypoint_input,
                                          **(backbone_kwargs or {}))
        red: Sequence[int] = self.backbone.feature_info.reduction()
        if red[0] != red[1]:
            raise ConfigError(f"A2JNet: backbone {backbone} gives its last two maps at strides {list(red)}; "
                              f"pick an output_stride that dilates the last stage")
        self.stride = int(red[-1])
        c_cls, c_reg = self.backbone.feature_info.channels()
        a, j = anchors_per_side ** 2, self.num_joints
        self.cls_head = _head(c_cls, head_width, head_convs, a * j)
        self.offset_head = _head(c_reg, head_width, head_convs, a * j * 2)
        self.depth_head = _head(c_reg, head_width, head_convs, a * j)

    def _flat(self, y: Tensor, c: int) -> Tensor:
        """(B, n2*J*c, h, w) -> (B, h*w*n2, J, c) in :func:`anchor_grid` order."""
        b, _, h, w = y.shape
        y = y.float().view(b, self.per_side ** 2, self.num_joints, c, h, w)
        return y.permute(0, 4, 5, 1, 2, 3).reshape(b, h * w * self.per_side ** 2, self.num_joints, c)

    def _input(self, batch: dict[str, Tensor]) -> tuple[Tensor, int, int, Tensor]:
        key = self.modality
        if key not in batch:
            raise MissingModalityError(key, f"A2JNet({key}) needs batch[{key!r}]")
        x = batch[key]
        cin = 1 if key == "depth" else 3
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.ndim != 5 or x.shape[1] != cin:
            raise ConfigError(f"A2JNet: {key} must be (N, {cin}, T, H, W) or (N, {cin}, H, W), got {tuple(x.shape)}")
        n, _, t, h, w = x.shape
        x = x.transpose(1, 2).reshape(n * t, cin, h, w).float()
        ref = torch.zeros(n * t, device=x.device)
        if self.depth_ref == "median":
            valid = x > 0
            vals = torch.where(valid, x, torch.full_like(x, float("nan"))).flatten(1)
            ref = torch.nan_to_num(vals.nanmedian(dim=1).values, nan=0.0)
        elif self.depth_ref == "focal":
            if "intrinsics" not in batch:
                raise MissingModalityError("intrinsics", "A2JNet(depth_ref='focal') needs batch['intrinsics'] (N, 4)")
            fx = batch["intrinsics"].to(x.device).float().view(n, 1, 4)[..., 0].expand(n, t).reshape(-1)
            ref = fx * self.ref_size / w
        if key == "depth":
            x = torch.where(x > 0, x - ref.view(-1, 1, 1, 1), torch.zeros_like(x))
        if self.keypoint_input:
            x = torch.cat([x, self._keypoint_maps(batch, n, t, h, w).to(x)], 1)
        return x, n, t, ref

    def _keypoint_maps(self, batch: dict[str, Tensor], n: int, t: int, h: int, w: int) -> Tensor:
        if "keypoints2d" not in batch:
            raise MissingModalityError("keypoints2d", "A2JNet(keypoint_input=True) needs batch['keypoints2d'] "
                                       "(N, T, J, 2) pixels of the input image")
        kp, j = batch["keypoints2d"], self.num_joints
        if kp.shape[-2:] != (j, 2) or kp.numel() != n * t * j * 2:
            raise ConfigError(f"A2JNet: keypoints2d must be (N={n}, T={t}, J={j}, 2), got {tuple(kp.shape)}")
        sc = batch.get("keypoint_scores")
        if sc is not None and sc.numel() != n * t * j:
            raise ConfigError(f"A2JNet: keypoint_scores must be (N={n}, T={t}, J={j}), got {tuple(sc.shape)}")
        return keypoint_maps(kp.reshape(n * t, j, 2), h, w, self.keypoint_sigma,
                             None if sc is None else sc.reshape(n * t, j))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x, n, t, ref = self._input(batch)
        f_cls, f_reg = self.backbone(x)
        if f_cls.shape[-2:] != f_reg.shape[-2:]:
            raise ConfigError("A2JNet: backbone maps differ in size; check output_stride")
        logits = self._flat(self.cls_head(f_cls), 1)[..., 0]  # (B, A, J)
        offset = self._flat(self.offset_head(f_reg), 2)  # (B, A, J, 2)
        depth = self._flat(self.depth_head(f_reg), 1)[..., 0]  # (B, A, J)
        anchors = anchor_grid(f_reg.shape[-2], f_reg.shape[-1], self.stride, self.per_side, device=x.device)
        wts = logits.softmax(dim=1)  # over anchors
        anchor_uv = torch.einsum("baj,ac->bjc", wts, anchors)
        uv = anchor_uv + torch.einsum("baj,bajc->bjc", wts, offset)
        rel = (wts * depth).sum(1)  # (B, J)
        if self.relative_depth:
            rel = rel - rel.mean(-1, keepdim=True)
        d = ref.view(-1, 1) + rel
        j = self.num_joints
        out = {"uv": uv.view(n, t, j, 2), "depth_joints": d.view(n, t, j), "anchor_uv": anchor_uv.view(n, t, j, 2),
               "anchor_logits": logits}
        if "intrinsics" in batch:
            intr = batch["intrinsics"].to(uv.device).float().view(n, 1, 1, 4)
            out["joints"] = backproject(out["uv"], out["depth_joints"], intr)
        return out

    def loss(self, outputs: dict[str, Tensor], target: dict[str, Tensor]) -> Tensor:
        """:func:`a2j_loss` with this network's ``depth_unit``; ``target`` holds "uv" and "depth"."""
        return a2j_loss(outputs, target["uv"], target["depth"], target.get("valid"), self.depth_unit,
                        self.relative_depth)["loss"]


def a2j_loss(outputs: dict[str, Tensor], uv: Tensor, depth: Tensor, valid: Tensor | None = None,
             depth_unit: float = 0.02, relative_depth: bool = False) -> dict[str, Tensor]:
    """A2J loss: ``anchor + 3 * (0.5 * xy + depth)``.

    Args:
        outputs: :class:`A2JNet` outputs ("uv", "anchor_uv", "depth_joints").
        uv: (N, T, J, 2) target pixels; depth: (N, T, J) target depth Z (metres).
        valid: optional (N, T, J) mask of joints with a target.
        depth_unit: metres per unit of the depth L1 (so it is comparable to pixels).
        relative_depth: compare depths after subtracting each frame's mean over the (valid)
            joints, for networks built with ``relative_depth=True``.

    Returns dict with "loss" and the detached terms "anchor", "xy", "depth".
    """
    if outputs["uv"].shape != uv.shape or outputs["depth_joints"].shape != depth.shape:
        raise ConfigError(f"a2j_loss: targets uv {tuple(uv.shape)} / depth {tuple(depth.shape)} do not match "
                          f"predictions {tuple(outputs['uv'].shape)} / {tuple(outputs['depth_joints'].shape)}")
    m = torch.ones_like(depth) if valid is None else valid.float()
    denom = m.sum().clamp_min(1.0)
    uv_t = uv.float()

    def sl1(a: Tensor) -> Tensor:
        return (F.smooth_l1_loss(a, uv_t, reduction="none").mean(-1) * m).sum() / denom

    anchor = sl1(outputs["anchor_uv"])
    xy = sl1(outputs["uv"])
    pred_d, tgt_d = outputs["depth_joints"].float(), depth.float()
    if relative_depth:
        cnt = m.sum(-1, keepdim=True).clamp_min(1.0)
        pred_d = pred_d - (pred_d * m).sum(-1, keepdim=True) / cnt
        tgt_d = tgt_d - (tgt_d * m).sum(-1, keepdim=True) / cnt
    dep = (((pred_d - tgt_d).abs() / depth_unit) * m).sum() / denom
    loss = anchor + 3.0 * (0.5 * xy + dep)
    return {"loss": loss, "anchor": anchor.detach(), "xy": xy.detach(), "depth": dep.detach()}


_TINY: dict[str, Any] = dict(backbone="test_resnet", output_stride=8, head_width=32, head_convs=2)

_A2J_OUT = '"uv" (N, T, J, 2) px, "depth_joints" (N, T, J), "joints" (N, T, J, 3) with "intrinsics"'
_A2J_DEPTH_CFG = ModelCfg(inputs={"depth": frames_input("depth", 1, 288)}, kind="pose", clip_len=1,
                          source="A2J (ICCV 2019): 288^2 depth crop", output=_A2J_OUT)
_A2J_DEPTH_TINY_CFG = ModelCfg(inputs={"depth": frames_input("depth", 1, 64)}, kind="pose", clip_len=1,
                               source="ours: 64^2 depth crop", output=_A2J_OUT)
_A2J_RGB_CFG = ModelCfg(inputs={"rgb": frames_input("rgb", 1, 256)}, kind="pose", clip_len=1,
                        source="A2J-Transformer (CVPR 2023): 256^2 RGB crop", output=_A2J_OUT)
_A2J_RGB_TINY_CFG = ModelCfg(inputs={"rgb": frames_input("rgb", 1, 64)}, kind="pose", clip_len=1,
                             source="ours: 64^2 RGB crop", output=_A2J_OUT)


@register_model(tags=("pose", "depth"), cfg=_A2J_DEPTH_CFG)
def a2j_depth(**kwargs: Any) -> nn.Module:
    """A2J on depth: ResNet-50 (stride 16, dilated layer4), 16 anchors per cell, 256-wide heads.
    (N, 1, T, H, W) metres -> uv (N, T, J, 2), depth (N, T, J), joints with intrinsics."""
    return A2JNet(modality="depth", **kwargs)


@register_model(tags=("pose", "depth", "test"), cfg=_A2J_DEPTH_TINY_CFG)
def a2j_depth_tiny(**kwargs: Any) -> nn.Module:
    """Tiny A2J on depth for CPU: timm ``test_resnet`` at stride 8, 32-wide 2-conv heads."""
    return A2JNet(modality="depth", **{**_TINY, **kwargs})


@register_model(tags=("pose", "rgb"), cfg=_A2J_RGB_CFG)
def a2j_rgb(**kwargs: Any) -> nn.Module:
    """A2J on RGB: ResNet-50 (stride 16), 16 anchors per cell; absolute depth regressed from the image."""
    return A2JNet(modality="rgb", **kwargs)


@register_model(tags=("pose", "rgb", "test"), cfg=_A2J_RGB_TINY_CFG)
def a2j_rgb_tiny(**kwargs: Any) -> nn.Module:
    """Tiny A2J on RGB for CPU: timm ``test_resnet`` at stride 8, 32-wide 2-conv heads."""
    return A2JNet(modality="rgb", **{**_TINY, **kwargs})
