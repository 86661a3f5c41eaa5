"""UniPose training: stage A (weak 2-D losses on point clouds) and stage B (A2J on pseudo labels).

The two stages of UniPose's recipe as library functions, shared by ``recipes/unipose_synth.py``
and ``recipes/unipose_itop.py``::

    acc = pose_accelerator(seed=0)                                   # Accelerate: device, AMP
    model = build_stage_a(StageAConfig(), "coco17", 17)
    train_stage_a(model, train_set, StageAConfig(), "coco17", acc)  # no 3-D label used
    pred = predict_stage_a(model, test_set, acc)                     # {"pred": (C, T, J, 3), ...}
    rows = run_stage_b(StageBConfig(), train_set, test_set, train_pred["pred"], train_pred, pred,
                       "coco17", 17, acc)
    print_table([evaluate_row("stage A", pred["pred"], pred["joints3d"], pred["joints_valid"]), *rows], "...")

Data sets are those of :mod:`.data` (items with "points", "normals", "keypoints2d",
"keypoint_scores", "intrinsics", "joints3d", "joints_valid" and the "depth" / "rgb" frames).

Why not :func:`mmfusion.engine.train`: the engine's loop trains classifiers (``"logits"`` vs a
``"label"``, top-1 metrics), while stage A's loss reads the whole batch (2-D keypoints,
intrinsics, points) and stage B's targets are made between the stages. The loops here use the
engine's accelerator (:func:`~mmfusion.engine.trainer.make_accelerator`: device choice, mixed
precision, seeding) and its checkpoint writing, single process. This module sits on the
engine, so (unlike the rest of :mod:`mmfusion.pose`) it imports :mod:`mmfusion.engine`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate

from ..data.layouts import SkeletonLayout, get_layout
from ..engine.config import TrainConfig
from ..engine.trainer import make_accelerator
from ..errors import ConfigError
from ..registry import create_model
from ..runs import save_weights, write_model_config
from .a2j import a2j_loss, crop_images, crop_intrinsics, crop_keypoints, keypoint_boxes
from .decode import backproject, project
from .losses import WeakLossWeights, WeakPoseLoss
from .metrics import ap_at, mpjpe_mm, root_align

__all__ = [
    "StageAConfig", "StageBConfig", "build_stage_a", "evaluate_row", "frame_tensors", "make_crops", "pose_accelerator",
    "predict_stage_a", "predict_stage_b", "print_table", "root_joints", "run_stage_b", "save_model",
    "stage_a_kwargs", "train_stage_a", "train_stage_b", "with_rgb_distance",
]


@dataclass
class StageAConfig:
    """Stage A: network name, optimisation (Adam, one-cycle), inputs and weak-loss weights."""

    model: str = "unipose_pointnet_tiny"
    epochs: int = 24
    batch: int = 8
    lr: float = 5e-3
    weight_decay: float = 0.0
    normals: bool = True
    view_features: bool = True
    loss: WeakLossWeights = field(default_factory=lambda: WeakLossWeights(guide=1.0, guide_depth="prior"))


@dataclass
class StageBConfig:
    """Stage B: A2J networks per modality, optimisation, crops around the 2-D detections, variants."""

    depth_model: str = "a2j_depth_tiny"
    rgb_model: str = "a2j_rgb_tiny"
    epochs: int = 20
    batch: int = 32
    lr: float = 2e-3
    crop: int = 64
    margin: float = 1.3
    flip: bool = True
    rgb_relative_depth: bool = True
    keypoint_sigma: float = 2.0
    variants: tuple[str, ...] = ("depth", "rgb", "rgb_kp")


def pose_accelerator(cpu: bool = False, mixed_precision: str = "no", seed: int = 0,
                     output_dir: str = "runs/unipose") -> Any:
    """The engine's ``Accelerator`` for the pose loops (its device: CUDA when present unless ``cpu``)."""
    return make_accelerator(TrainConfig(cpu=cpu, mixed_precision=mixed_precision, seed=seed, output_dir=output_dir))


def _log(msg: str) -> None:
    print(msg, flush=True)


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


# ----------------------------------------------------------------------------- stage A
def stage_a_kwargs(cfg: StageAConfig, layout: str | SkeletonLayout, num_joints: int) -> dict[str, Any]:
    """The ``create_model`` keyword arguments of the stage-A network (JSON-able; saved in config.json)."""
    kw: dict[str, Any] = {"layout": layout, "num_joints": num_joints}
    if cfg.normals:
        kw.update(in_features=3, feature_key="normals", rotate_features=True)
    kw["view_features"] = cfg.view_features
    return kw


def build_stage_a(cfg: StageAConfig, layout: str | SkeletonLayout, num_joints: int) -> nn.Module:
    return create_model(cfg.model, **stage_a_kwargs(cfg, layout, num_joints))


def save_model(model: nn.Module, run_dir: str | Path, name: str, kwargs: dict[str, Any], **extra: Any) -> Path:
    """``<run_dir>/model.safetensors`` + ``config.json``, loadable with ``create_model(name, checkpoint=run_dir)``."""
    save_weights(model, Path(run_dir) / "model.safetensors", metadata={"model_name": name})
    write_model_config(run_dir, name, kwargs, modalities=(getattr(model, "modality", "points"),), extra=extra)
    _log(f"  saved {name} -> {run_dir}")
    return Path(run_dir)


def train_stage_a(model: nn.Module, train_set: Dataset, cfg: StageAConfig, layout: str | SkeletonLayout,
                  accelerator: Any, seed: int = 0) -> list[dict[str, float]]:
    """Adam + one-cycle schedule on :class:`~.losses.WeakPoseLoss` (trains ``model`` in place);
    returns per-epoch mean loss terms. ``train_set.set_epoch`` is called when present."""
    device = accelerator.device
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_set, batch_size=cfg.batch, shuffle=True, generator=g, collate_fn=default_collate,
                        drop_last=len(train_set) > cfg.batch)
    loss_fn = WeakPoseLoss(layout, cfg.loss).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, cfg.epochs * len(loader))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    net, opt, sched = accelerator.prepare(model.to(device), opt, sched)
    net.train()
    history = []
    for ep in range(cfg.epochs):
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(ep)
        t0, agg = time.time(), {}
        for batch in loader:
            batch = _to(batch, device)
            with accelerator.autocast():
                terms = loss_fn(net(batch), batch)
            opt.zero_grad(set_to_none=True)
            accelerator.backward(terms["loss"])
            opt.step()
            sched.step()
            for k, v in terms.items():
                agg[k] = agg.get(k, 0.0) + float(v.detach()) / len(loader)
        history.append(agg)
        _log(f"  stage A epoch {ep + 1}/{cfg.epochs} ({time.time() - t0:.0f}s): "
             + " ".join(f"{k}={v:.4g}" for k, v in agg.items()))
    return history


@torch.no_grad()
def predict_stage_a(model: nn.Module, dataset: Dataset, accelerator: Any, batch: int = 8) -> dict[str, Tensor]:
    """Stage A over a data set: "pred" joints (C, T, J, 3) on the CPU, with the items'
    "joints3d", "joints_valid", "keypoints2d", "keypoint_scores" and "intrinsics" (stage B's inputs)."""
    device = accelerator.device
    model.to(device).eval()
    keep = ("joints3d", "joints_valid", "keypoints2d", "keypoint_scores", "intrinsics")
    out: dict[str, list[Tensor]] = {k: [] for k in ("pred", *keep)}
    for b in DataLoader(dataset, batch_size=batch, collate_fn=default_collate):
        with accelerator.autocast():
            out["pred"].append(model(_to(b, device))["joints"].float().cpu())
        for k in keep:
            out[k].append(b[k])
    return {k: torch.cat(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- stage B
def frame_tensors(dataset: Dataset, key: str) -> Tensor:
    """Every clip's ``key`` modality stacked per frame: (C*T, ch, H, W)."""
    frames = [dataset[i][key].transpose(0, 1) for i in range(len(dataset))]  # (T, ch, H, W) each
    return torch.cat(frames)


def make_crops(images: Tensor, kp: Tensor, scores: Tensor, intr: Tensor, cfg: StageBConfig, nearest: bool,
               key: str) -> dict[str, Tensor]:
    """Stage-B inputs of F frames from the 2-D detections: person crops ``key`` (F, ch, S, S) and, in
    crop pixels, "intrinsics" (F, 4), "keypoints2d" (F, J, 2) and "keypoint_scores" (F, J)."""
    boxes = keypoint_boxes(kp, scores, margin=cfg.margin)
    crops = torch.cat([crop_images(images[i:i + 256], boxes[i:i + 256], cfg.crop, "nearest" if nearest else "bilinear")
                       for i in range(0, len(images), 256)])
    return {key: crops, "intrinsics": crop_intrinsics(intr, boxes, cfg.crop),
            "keypoints2d": crop_keypoints(kp, boxes, cfg.crop), "keypoint_scores": scores.float()}


def _flip_half(inp: dict[str, Tensor], uv: Tensor, z: Tensor, ok: Tensor, flip: Tensor, key: str,
               g: torch.Generator) -> tuple[dict[str, Tensor], Tensor, Tensor, Tensor]:
    """Mirror a random half of a batch: image, u, joint order, principal point, detections."""
    f = torch.rand(len(uv), generator=g) < 0.5
    size = inp[key].shape[-1]

    def mirror_u(p: Tensor) -> Tensor:  # (B, J, 2) pixels -> mirrored, joints swapped
        return torch.stack([size - 1 - p[..., 0], p[..., 1]], -1)[:, flip]

    out = dict(inp)
    out[key] = torch.where(f.view(-1, 1, 1, 1), inp[key].flip(-1), inp[key])
    k = inp["intrinsics"]
    out["intrinsics"] = torch.where(f.view(-1, 1), torch.stack([k[:, 0], k[:, 1], size - 1 - k[:, 2], k[:, 3]], -1), k)
    out["keypoints2d"] = torch.where(f.view(-1, 1, 1), mirror_u(inp["keypoints2d"]), inp["keypoints2d"])
    out["keypoint_scores"] = torch.where(f.view(-1, 1), inp["keypoint_scores"][:, flip], inp["keypoint_scores"])
    return (out, torch.where(f.view(-1, 1, 1), mirror_u(uv), uv), torch.where(f.view(-1, 1), z[:, flip], z),
            torch.where(f.view(-1, 1), ok[:, flip], ok))


def _model_batch(model: nn.Module, inp: dict[str, Tensor], idx: Tensor | slice, device: torch.device
                 ) -> dict[str, Tensor]:
    keys = (model.modality, "intrinsics") + (("keypoints2d", "keypoint_scores")
                                            if getattr(model, "keypoint_input", False) else ())
    return {k: inp[k][idx].to(device) for k in keys}


def train_stage_b(model: nn.Module, inputs: dict[str, Tensor], joints: Tensor, cfg: StageBConfig,
                  accelerator: Any, seed: int = 0, name: str = "stage B",
                  layout: str | SkeletonLayout = "coco17") -> None:
    """Train an A2J net on :func:`make_crops` inputs of F frames against pseudo joints (F, J, 3)
    projected with the crop intrinsics: targets uv (F, J, 2) and depth Z (F, J). ``cfg.flip``
    mirrors half of every batch (left/right joints swapped with ``layout.flip``)."""
    device = accelerator.device
    key = model.modality
    uv = project(joints, inputs["intrinsics"].unsqueeze(1))
    z = joints[..., 2]
    ok = torch.isfinite(uv).all(-1) & torch.isfinite(z)
    g = torch.Generator().manual_seed(seed)
    flip = torch.tensor(get_layout(layout).flip) if cfg.flip else None
    n = len(inputs[key])
    steps_per_epoch = max(1, n // cfg.batch)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.1)
    net, opt, sched = accelerator.prepare(model.to(device), opt, sched)
    net.train()
    for ep in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        t0, tot = time.time(), 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * cfg.batch:(s + 1) * cfg.batch]
            inp = {k: v[idx] for k, v in inputs.items()}
            u, zz, v = uv[idx], z[idx], ok[idx]
            if flip is not None:
                inp, u, zz, v = _flip_half(inp, u, zz, v, flip, key, g)
            with accelerator.autocast():
                out = net(_model_batch(model, inp, slice(None), device))
                terms = a2j_loss(out, u[:, None].to(device), zz[:, None].to(device), v[:, None].to(device),
                                 model.depth_unit, model.relative_depth)
            opt.zero_grad(set_to_none=True)
            accelerator.backward(terms["loss"])
            opt.step()
            sched.step()
            tot += float(terms["loss"].detach()) / steps_per_epoch
        _log(f"  {name} epoch {ep + 1}/{cfg.epochs} ({time.time() - t0:.0f}s): loss={tot:.4g}")


@torch.no_grad()
def predict_stage_b(model: nn.Module, inputs: dict[str, Tensor], accelerator: Any, batch: int = 64) -> Tensor:
    """:func:`make_crops` inputs of F frames -> (F, J, 3) camera joints (CPU)."""
    device = accelerator.device
    model.to(device).eval()
    n = len(inputs["intrinsics"])
    outs = []
    for i in range(0, n, batch):
        with accelerator.autocast():
            outs.append(model(_model_batch(model, inputs, slice(i, i + batch), device))["joints"][:, 0].float().cpu())
    return torch.cat(outs)


def with_rgb_distance(joints: Tensor, kp: Tensor, scores: Tensor, intr: Tensor, margin: float,
                      ref_size: float = 2.0) -> Tensor:
    """Joints (F, J, 3) kept in the image but moved along their rays so that their mean depth is the
    RGB nets' apparent-size prior ``fx * ref_size / box side`` (box from the detections (F, J, 2)):
    what a monocular RGB network trained on these joints could reach if it learned them exactly."""
    ref = intr[..., 0].float() * ref_size / keypoint_boxes(kp, scores, margin=margin)[:, 2]
    z = joints[..., 2]
    return backproject(project(joints, intr.unsqueeze(1)), z - z.mean(-1, keepdim=True) + ref[:, None],
                       intr.unsqueeze(1))


# ----------------------------------------------------------------------------- evaluation
def root_joints(layout: str | SkeletonLayout) -> list[int]:
    """The hip joints (mid-hip root of root-relative MPJPE)."""
    lay = get_layout(layout)
    return [i for i, n in enumerate(lay.joints) if "hip" in n.lower()]


def evaluate_row(name: str, pred: Tensor, gt: Tensor, valid: Tensor, layout: str | SkeletonLayout = "coco17"
                 ) -> dict[str, Any]:
    """A table row: "method", "mpjpe_mm", "ap10" (AP@10cm) and "root_rel_mpjpe_mm" of pred vs gt (..., J, 3)."""
    return {"method": name, "mpjpe_mm": mpjpe_mm(pred, gt, valid), "ap10": ap_at(pred, gt, 0.10, valid),
            "root_rel_mpjpe_mm": mpjpe_mm(root_align(pred, gt, root_joints(layout)), gt, valid)}


def print_table(rows: list[dict[str, Any]], title: str) -> str:
    """Print and return the markdown table of the rows; ``seconds`` (training time) where a row has it."""
    lines = [f"### {title}", "", "| method | MPJPE mm | root-aligned MPJPE mm | AP@10cm | train s |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['method']} | {r['mpjpe_mm']:.1f} | {r['root_rel_mpjpe_mm']:.1f} | {r['ap10']:.3f} | "
              f"{r['seconds']:.0f} |" if "seconds" in r else
              f"| {r['method']} | {r['mpjpe_mm']:.1f} | {r['root_rel_mpjpe_mm']:.1f} | {r['ap10']:.3f} | - |"
              for r in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def run_stage_b(cfg: StageBConfig, train_set: Dataset, test_set: Dataset, pseudo: Tensor,
                train_pred: dict[str, Tensor], test_pred: dict[str, Tensor], layout: str | SkeletonLayout,
                num_joints: int, accelerator: Any, seed: int = 0,
                variants: tuple[str, ...] | None = None, save_dir: str = "") -> list[dict[str, Any]]:
    """Train and evaluate one A2J net per variant; pseudo (C, T, J, 3) = stage A on the train set.

    A variant is a modality ("depth" | "rgb"), with ``_kp`` when the net also reads the 2-D
    detections as input maps (``keypoint_input=True``); default ``cfg.variants``. Row ``seconds``:
    training time (crops + optimisation). With ``save_dir`` every net is saved to
    ``<save_dir>/stage_b_<variant>``. With an RGB variant, a reference row (stage A's joints
    at the RGB networks' distance prior) comes first."""
    rows = []

    def flat(x: Tensor) -> Tensor:
        return x.flatten(0, 1)

    tr_kp, tr_sc = flat(train_pred["keypoints2d"][:, 0]), flat(train_pred["keypoint_scores"][:, 0])
    te_kp, te_sc = flat(test_pred["keypoints2d"][:, 0]), flat(test_pred["keypoint_scores"][:, 0])
    t = train_pred["joints3d"].shape[1]
    tr_intr = train_pred["intrinsics"].repeat_interleave(t, 0)
    te_intr = test_pred["intrinsics"].repeat_interleave(test_pred["joints3d"].shape[1], 0)
    gt, valid = flat(test_pred["joints3d"]), flat(test_pred["joints_valid"])
    if any(v.startswith("rgb") for v in variants or cfg.variants):
        ref = with_rgb_distance(flat(test_pred["pred"]), te_kp, te_sc, te_intr, cfg.margin)
        rows.append(evaluate_row("reference: stage A joints at the RGB distance prior (no training)", ref, gt, valid,
                                 layout))
    for variant in variants or cfg.variants:
        mod, _, extra = variant.partition("_")
        if mod not in ("depth", "rgb") or extra not in ("", "kp"):
            raise ConfigError(f"stage B variant {variant!r}: expected depth, rgb, depth_kp or rgb_kp")
        name = cfg.depth_model if mod == "depth" else cfg.rgb_model
        kw: dict[str, Any] = {"layout": layout, "num_joints": num_joints}
        if mod == "rgb":
            kw.update(depth_ref="focal", relative_depth=cfg.rgb_relative_depth)
        if extra == "kp":
            kw.update(keypoint_input=True, keypoint_sigma=cfg.keypoint_sigma)
        torch.manual_seed(seed)
        model = create_model(name, **kw)
        t0 = time.time()
        inputs = make_crops(frame_tensors(train_set, mod), tr_kp, tr_sc, tr_intr, cfg, mod == "depth", mod)
        train_stage_b(model, inputs, flat(pseudo), cfg, accelerator, seed, name=f"stage B {variant}", layout=layout)
        seconds = time.time() - t0
        del inputs
        if save_dir:
            save_model(model, Path(save_dir) / f"stage_b_{variant}", name, kw, crop=cfg.crop, margin=cfg.margin)
        pred = predict_stage_b(model, make_crops(frame_tensors(test_set, mod), te_kp, te_sc, te_intr, cfg,
                                                 mod == "depth", mod), accelerator)
        what = f"{mod} + 2-D detection maps" if extra else mod
        r = evaluate_row(f"UniPose stage B, {what} (A2J, {name}; pseudo labels from stage A)", pred, gt, valid,
                         layout)
        r["seconds"] = seconds
        rows.append(r)
    return rows
