"""UniPose on the synthetic RGB-D pose world: stage A from noisy 2-D keypoints, stage B from its pseudo labels.

    python recipes/unipose_synth.py --threads 1            # default CPU config (docs/unipose.md: ~20 min, 1 core)
    python recipes/unipose_synth.py --ablation             # + stage A without ray guidance
    python recipes/unipose_synth.py --train-subjects 16 --clips-per-subject 24 --num-points 2048 \\
        --stage-a.model unipose_pointnet --stage-a.epochs 60 --stage-b.epochs 30   # bigger run

Steps (no 3-D label is used for training; held-out subjects' 3-D truth only for the table):

1. render train subjects and held-out test subjects (:class:`SyntheticPoseDataset`);
2. naive baseline: every detected 2-D keypoint back-projected with the depth image there
   (nearest valid pixel of a 5 x 5 window where the pixel is empty);
3. stage A: ``unipose_pointnet(_tiny)`` trained with the weak 2-D losses, saved to
   ``<save-dir>/stage_a`` (safetensors + config.json: ``mmfusion.create_model(name,
   checkpoint=dir)`` or :func:`mmfusion.pose.lift.load_lifter`); ``--load-stage-a DIR``
   skips training and uses a saved one; ``--ablation`` also trains it with ``guide=0``;
4. stage B: ``a2j_depth(_tiny)`` and ``a2j_rgb(_tiny)`` trained on stage A's train-set
   predictions (projected to pixels + depth) on person crops cut around the 2-D detections,
   saved to ``<save-dir>/stage_b_{depth,rgb}``;
5. print ``method | MPJPE mm | root-aligned MPJPE mm | AP@10cm | train s`` on the held-out subjects.

A plain loop is used instead of :mod:`mmfusion.engine`: the engine trains classifiers
(cross-entropy / ``loss(outputs, target_tensor)``, top-1 metrics), while stage A's loss reads
the whole batch (2-D keypoints, intrinsics, points) and stage B's targets are made in between.
The helpers below (``train_stage_a`` ...) are reused by ``recipes/unipose_itop.py``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate

import mmfusion
from mmfusion.data.layouts import SkeletonLayout, get_layout
from mmfusion.engine import parse_args
from mmfusion.errors import ConfigError
from mmfusion.pose.a2j import a2j_loss, crop_images, crop_intrinsics, crop_keypoints, keypoint_boxes
from mmfusion.pose.data import SyntheticPoseDataset, SynthPoseConfig, lift_with_depth
from mmfusion.pose.decode import backproject, project
from mmfusion.pose.lift import load_lifter, save_lifter
from mmfusion.pose.losses import WeakLossWeights, WeakPoseLoss
from mmfusion.pose.metrics import ap_at, mpjpe_mm, root_align


@dataclass
class StageAConfig:
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


@dataclass
class SynthRecipe:
    train_subjects: int = 8
    test_subjects: int = 3
    clips_per_subject: int = 24
    frames: int = 4
    num_points: int = 512
    image_size: tuple[int, int] = (120, 160)
    kp_noise_px: float = 2.0
    stage_a: StageAConfig = field(default_factory=StageAConfig)
    stage_b: StageBConfig = field(default_factory=StageBConfig)
    seed: int = 0
    threads: int = 0
    device: str = "auto"
    out: str = ""
    save_dir: str = "runs/unipose_synth"
    load_stage_a: str = ""
    ablation: bool = False
    skip_stage_b: bool = False


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


def _log(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- stage A
def stage_a_kwargs(cfg: StageAConfig, layout: str | SkeletonLayout, num_joints: int) -> dict[str, Any]:
    """The ``create_model`` keyword arguments of the stage-A network (JSON-able; saved in config.json)."""
    kw: dict[str, Any] = {"layout": layout, "num_joints": num_joints}
    if cfg.normals:
        kw.update(in_features=3, feature_key="normals", rotate_features=True)
    kw["view_features"] = cfg.view_features
    return kw


def build_stage_a(cfg: StageAConfig, layout: str | SkeletonLayout, num_joints: int) -> nn.Module:
    return mmfusion.create_model(cfg.model, **stage_a_kwargs(cfg, layout, num_joints))


def save_model(model: nn.Module, run_dir: str | Path, name: str, kwargs: dict[str, Any], **extra: Any) -> Path:
    """``<run_dir>/model.safetensors`` + ``config.json``, loadable with ``create_model(name, checkpoint=run_dir)``."""
    from mmfusion.engine.checkpoint import save_weights, write_model_config

    save_weights(model, Path(run_dir) / "model.safetensors", metadata={"model_name": name})
    write_model_config(run_dir, name, kwargs, modalities=(getattr(model, "modality", "points"),), extra=extra)
    _log(f"  saved {name} -> {run_dir}")
    return Path(run_dir)


def train_stage_a(model: nn.Module, train_set: Dataset, cfg: StageAConfig, layout: str | SkeletonLayout,
                  device: torch.device,
                  seed: int = 0) -> list[dict[str, float]]:
    """Adam + cosine schedule on :class:`WeakPoseLoss`; returns per-epoch mean loss terms."""
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(train_set, batch_size=cfg.batch, shuffle=True, generator=g, collate_fn=default_collate,
                        drop_last=len(train_set) > cfg.batch)
    loss_fn = WeakPoseLoss(layout, cfg.loss).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, cfg.epochs * len(loader))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    model.to(device).train()
    history = []
    for ep in range(cfg.epochs):
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(ep)
        t0, agg = time.time(), {}
        for batch in loader:
            batch = _to(batch, device)
            terms = loss_fn(model(batch), batch)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            sched.step()
            for k, v in terms.items():
                agg[k] = agg.get(k, 0.0) + float(v.detach()) / len(loader)
        history.append(agg)
        _log(f"  stage A epoch {ep + 1}/{cfg.epochs} ({time.time() - t0:.0f}s): "
             + " ".join(f"{k}={v:.4g}" for k, v in agg.items()))
    return history


@torch.no_grad()
def predict_stage_a(model: nn.Module, dataset: Dataset, device: torch.device, batch: int = 8
                    ) -> dict[str, Tensor]:
    """Stage A joints (C, T, J, 3) over a data set, with ground truth, validity and inputs for stage B."""
    model.to(device).eval()
    keep = ("joints3d", "joints_valid", "keypoints2d", "keypoint_scores", "intrinsics")
    out: dict[str, list[Tensor]] = {k: [] for k in ("pred", *keep)}
    for b in DataLoader(dataset, batch_size=batch, collate_fn=default_collate):
        out["pred"].append(model(_to(b, device))["joints"].cpu())
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
                  device: torch.device, seed: int = 0, name: str = "stage B",
                  layout: str | SkeletonLayout = "coco17") -> None:
    """Train an A2J net on :func:`make_crops` inputs of F frames against pseudo joints (F, J, 3)
    projected with the crop intrinsics: targets uv (F, J, 2) and depth Z (F, J). ``cfg.flip``
    mirrors half of every batch (left/right joints swapped with ``layout.flip``)."""
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
    model.to(device).train()
    for ep in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        t0, tot = time.time(), 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * cfg.batch:(s + 1) * cfg.batch]
            inp = {k: v[idx] for k, v in inputs.items()}
            u, zz, v = uv[idx], z[idx], ok[idx]
            if flip is not None:
                inp, u, zz, v = _flip_half(inp, u, zz, v, flip, key, g)
            out = model(_model_batch(model, inp, slice(None), device))
            terms = a2j_loss(out, u[:, None].to(device), zz[:, None].to(device), v[:, None].to(device),
                             model.depth_unit, model.relative_depth)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            sched.step()
            tot += float(terms["loss"].detach()) / steps_per_epoch
        _log(f"  {name} epoch {ep + 1}/{cfg.epochs} ({time.time() - t0:.0f}s): loss={tot:.4g}")


@torch.no_grad()
def predict_stage_b(model: nn.Module, inputs: dict[str, Tensor], device: torch.device, batch: int = 64) -> Tensor:
    """:func:`make_crops` inputs of F frames -> (F, J, 3) camera joints."""
    model.to(device).eval()
    n = len(inputs["intrinsics"])
    outs = [model(_model_batch(model, inputs, slice(i, i + batch), device))["joints"][:, 0].cpu()
            for i in range(0, n, batch)]
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


def root_joints(layout: str | SkeletonLayout) -> list[int]:
    """The hip joints (mid-hip root of root-relative MPJPE)."""
    lay = get_layout(layout)
    return [i for i, n in enumerate(lay.joints) if "hip" in n.lower()]


def row(name: str, pred: Tensor, gt: Tensor, valid: Tensor, layout: str | SkeletonLayout = "coco17"
        ) -> dict[str, Any]:
    return {"method": name, "mpjpe_mm": mpjpe_mm(pred, gt, valid), "ap10": ap_at(pred, gt, 0.10, valid),
            "root_rel_mpjpe_mm": mpjpe_mm(root_align(pred, gt, root_joints(layout)), gt, valid)}


def print_table(rows: list[dict[str, Any]], title: str) -> str:
    """Markdown table of the rows; ``seconds`` (training time) is shown where a row has it."""
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
                num_joints: int, device: torch.device, seed: int,
                variants: tuple[str, ...] | None = None, save_dir: str = "") -> list[dict[str, Any]]:
    """Train and evaluate one A2J net per variant; pseudo (C, T, J, 3) = stage A on the train set.

    A variant is a modality ("depth" | "rgb"), with ``_kp`` when the net also reads the 2-D
    detections as input maps (``keypoint_input=True``); default ``cfg.variants``. Row ``seconds``:
    training time (crops + optimisation). With ``save_dir`` every net is saved to
    ``<save_dir>/stage_b_<variant>``."""
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
        rows.append(row("reference: stage A joints at the RGB distance prior (no training)", ref, gt, valid, layout))
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
        model = mmfusion.create_model(name, **kw)
        t0 = time.time()
        inputs = make_crops(frame_tensors(train_set, mod), tr_kp, tr_sc, tr_intr, cfg, mod == "depth", mod)
        train_stage_b(model, inputs, flat(pseudo), cfg, device, seed, name=f"stage B {variant}", layout=layout)
        seconds = time.time() - t0
        del inputs
        if save_dir:
            save_model(model, Path(save_dir) / f"stage_b_{variant}", name, kw, crop=cfg.crop, margin=cfg.margin)
        pred = predict_stage_b(model, make_crops(frame_tensors(test_set, mod), te_kp, te_sc, te_intr, cfg,
                                                 mod == "depth", mod), device)
        what = f"{mod} + 2-D detection maps" if extra else mod
        r = row(f"UniPose stage B, {what} (A2J, {name}; pseudo labels from stage A)", pred, gt, valid, layout)
        r["seconds"] = seconds
        rows.append(r)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg = parse_args(SynthRecipe(), argv, description=__doc__.split("\n")[0])
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    t_start = time.time()
    common = dict(clips_per_subject=cfg.clips_per_subject, frames=cfg.frames, num_points=cfg.num_points,
                  image_size=tuple(cfg.image_size), kp_noise_px=cfg.kp_noise_px, seed=cfg.seed)
    train_set = SyntheticPoseDataset(SynthPoseConfig(subjects=tuple(range(cfg.train_subjects)), **common),
                                     resample_points=True)
    # held-out subjects: ids never used for training, their own clips and motions
    test_ids = tuple(range(1000, 1000 + cfg.test_subjects))
    test_set = SyntheticPoseDataset(SynthPoseConfig(subjects=test_ids, **common))
    _log(f"data: {len(train_set)} train clips ({cfg.train_subjects} subjects), {len(test_set)} test clips "
         f"({cfg.test_subjects} held-out subjects), T={cfg.frames}, P={cfg.num_points} "
         f"[{time.time() - t_start:.0f}s]")
    rows = []

    # naive baseline
    gt = torch.from_numpy(test_set.joints3d)
    valid = torch.ones(gt.shape[:3], dtype=torch.bool)
    naive = lift_with_depth(torch.from_numpy(test_set.kp2d), torch.from_numpy(test_set.depth),
                            torch.tensor(test_set.intr))
    rows.append(row("naive: 2-D detections lifted with the depth image", naive, gt, valid))

    # stage A (or a saved one)
    if cfg.load_stage_a:
        model_a, seconds = load_lifter(cfg.load_stage_a), None
        _log(f"  stage A loaded from {cfg.load_stage_a}")
    else:
        torch.manual_seed(cfg.seed)
        model_a = build_stage_a(cfg.stage_a, "coco17", 17)
        t0 = time.time()
        train_stage_a(model_a, train_set, cfg.stage_a, "coco17", device, cfg.seed)
        seconds = time.time() - t0
        if cfg.save_dir:
            save_lifter(model_a, Path(cfg.save_dir) / "stage_a", cfg.stage_a.model,
                        stage_a_kwargs(cfg.stage_a, "coco17", 17), cfg.num_points)
            _log(f"  saved stage A -> {Path(cfg.save_dir) / 'stage_a'}")
    train_set.resample_points = False
    test_pred = predict_stage_a(model_a, test_set, device)
    r = row(f"UniPose stage A: point cloud ({cfg.stage_a.model}), weak 2-D losses", test_pred["pred"], gt, valid)
    if seconds is not None:
        r["seconds"] = seconds
    rows.append(r)

    if cfg.ablation:  # the same stage A without the ray-guidance term (C3P's loss set only)
        torch.manual_seed(cfg.seed)
        abl = replace(cfg.stage_a, loss=replace(cfg.stage_a.loss, guide=0.0))
        model_n = build_stage_a(abl, "coco17", 17)
        train_set.resample_points = True
        t0 = time.time()
        train_stage_a(model_n, train_set, abl, "coco17", device, cfg.seed)
        seconds = time.time() - t0
        train_set.resample_points = False
        pred_n = predict_stage_a(model_n, test_set, device)["pred"]
        r = row("ablation: stage A without ray guidance (guide=0)", pred_n, gt, valid)
        r["seconds"] = seconds
        rows.append(r)

    if not cfg.skip_stage_b:
        train_pred = predict_stage_a(model_a, train_set, device)
        pseudo_err = mpjpe_mm(train_pred["pred"], train_pred["joints3d"])
        _log(f"  stage A pseudo labels on the train set: MPJPE {pseudo_err:.1f} mm (for information only)")
        rows += run_stage_b(cfg.stage_b, train_set, test_set, train_pred["pred"], train_pred, test_pred, "coco17", 17,
                            device, cfg.seed, save_dir=cfg.save_dir)
    total = time.time() - t_start
    text = print_table(rows, f"held-out subjects ({len(test_set)} clips x {cfg.frames} frames), {total:.0f}s total")
    result = {"config": asdict(cfg), "rows": rows, "seconds": total, "table": text}
    if cfg.out:
        Path(cfg.out).write_text(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
