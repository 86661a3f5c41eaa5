"""Pretrained weights: official checkpoints converted, and Hugging Face Hub-style folders.

* :func:`convert_checkpoint` -- an official ``.pth`` (see :mod:`.converters`) -> a run folder
  (``model.safetensors`` + ``config.json``) that ``create_model(name, checkpoint=OUT)`` loads;
  the CLI is ``mmfusion convert SRC OUT --from SOURCE [--model NAME]``.
* ``create_model(name, pretrained=...)`` (hooked into :mod:`mmfusion.registry` by this module on
  import): a run folder, a ``.safetensors`` file, an official ``.pth`` (converted in memory by the
  model's converter) or a Hub id.
* :func:`save_pretrained` / :func:`from_pretrained` / :func:`push_to_hub`: the Hugging Face Hub
  layout, which is mmfusion's run-folder layout (``model.safetensors`` + ``config.json`` naming
  ``model_name`` and ``model_kwargs``). Local folders work offline; a Hub id needs
  ``huggingface_hub`` and the network (or its cache), else a :class:`CheckpointError` says so.

Shapes: weights are the model's own ``state_dict`` (CPU, contiguous); inputs / outputs are those of
the registered entry (e.g. ``"skeleton"`` (N, 3, T, 25, M) -> ``"logits"`` (N, K)).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import CheckpointError, ConfigError
from ..registry import create_model, register_pretrained_loader
from ..runs import MODEL_CONFIG, WEIGHTS, read_run_config, save_run
from .converters import Conversion, converter_for_model, fit_state, get_converter, list_sources, read_official

__all__ = ["add_arguments", "convert_checkpoint", "from_pretrained", "load_official", "push_to_hub", "run",
           "save_pretrained"]

#: the attribute ``create_model`` sets on every model it builds: ``{"model_name", "model_kwargs"}``
CREATION_ATTR = "mmfusion_cfg"


def load_official(path: str | Path, source: str | None = None, model_name: str | None = None,
                  **kwargs: Any) -> tuple[nn.Module, Conversion]:
    """Build the registered model an official checkpoint fills and load it strictly.

    ``source`` defaults to the converter of ``model_name``; ``kwargs`` override the inferred model
    arguments (``num_classes`` comes from the classifier's shape). A pre-training file (no key
    outside the backbone, e.g. MAMP's released pre-trained models, AimCLR's pretext runs) fills the
    backbone strictly and leaves the head as initialised (``Conversion.fresh`` names its keys).

    Raises:
        CheckpointError: unreadable file, or weights that do not map completely (first missing /
            unexpected keys with shapes).
        ConfigError: unknown source, or a model the source does not fill.
    """
    if source is None:
        if model_name is None:
            raise ConfigError(f"{path}: give the checkpoint's source (one of {list_sources()}) or the model name")
        converter = converter_for_model(model_name)
    else:
        converter = get_converter(source)
    conv = converter.convert(read_official(path), model_name)
    conv.model_kwargs = {**conv.model_kwargs, **{k: v for k, v in kwargs.items() if v is not None}}
    model = create_model(conv.model_name, **conv.model_kwargs)
    what = f"{conv.model_name} ({converter.source} converter)"
    if conv.backbone_only:  # pre-training file: the backbone strictly, the head stays as initialised
        prefix = converter.backbone
        target = model.get_submodule(prefix.rstrip("."))
        state = fit_state(target, {k[len(prefix):]: v for k, v in conv.state.items()}, path, f"the backbone of {what}")
        target.load_state_dict(state, strict=True)
        conv.fresh = [k for k in model.state_dict() if not k.startswith(prefix)]
    else:
        model.load_state_dict(fit_state(model, conv.state, path, what), strict=True)
    return model, conv


def convert_checkpoint(src: str | Path, out: str | Path, source: str, model_name: str | None = None,
                       **kwargs: Any) -> Path:
    """Convert an official checkpoint into a run folder ``out``; returns ``out``.

    ``config.json`` records the model, its arguments and where the weights came from
    (``converted_from``: source, file, dropped training-only keys).
    """
    model, conv = load_official(src, source, model_name, **kwargs)
    return save_run(out, model, conv.model_name, conv.model_kwargs,
                    extra={"converted_from": {"source": conv.source, "file": str(src),
                                              "dropped_keys": conv.dropped, "initialised_keys": conv.fresh}})


def _load_pretrained(name: str, pretrained: str | Path, **kwargs: Any) -> nn.Module:
    """``create_model(name, pretrained=...)``: folder / safetensors, official ``.pth``, or a Hub id."""
    path = Path(pretrained)
    if path.is_dir() or path.suffix == ".safetensors":
        return create_model(name, checkpoint=path, **kwargs)
    if path.is_file():
        return load_official(path, model_name=name, **kwargs)[0]
    if _looks_like_hub_id(str(pretrained)):
        return create_model(name, checkpoint=_download(str(pretrained)), **kwargs)
    raise CheckpointError(f"{pretrained}: pretrained weights not found (a run folder, a .safetensors file, an "
                          f"official checkpoint or a Hugging Face Hub id 'owner/name')")


register_pretrained_loader(_load_pretrained)


# -- Hugging Face Hub layout ------------------------------------------------------------------------------

def save_pretrained(model: nn.Module, save_directory: str | Path, model_name: str | None = None,
                    model_kwargs: Mapping[str, Any] | None = None, **settings: Any) -> Path:
    """Write ``model`` as ``model.safetensors`` + ``config.json`` (the Hub layout); returns the folder.

    ``model_name`` / ``model_kwargs`` default to what ``create_model`` recorded on the model;
    ``settings`` are further ``config.json`` fields (``classes``, ``class_names``, ``modalities``,
    ``extra``), as :func:`mmfusion.runs.save_run`.
    """
    made = getattr(model, CREATION_ATTR, None) or {}
    name = model_name or made.get("model_name")
    if name is None:
        raise ConfigError("save_pretrained: the model was not built by mmfusion.create_model; pass model_name= "
                          "(and model_kwargs=)")
    kwargs = dict(made.get("model_kwargs") or {}) if model_kwargs is None else dict(model_kwargs)
    return save_run(save_directory, model, name, kwargs, **settings)


def from_pretrained(name_or_path: str | Path, **kwargs: Any) -> nn.Module:
    """The model saved by :func:`save_pretrained` in a local folder or a Hub repository.

    ``kwargs`` override the saved ``model_kwargs``. A Hub id (``owner/name``) is downloaded with
    ``huggingface_hub`` (its cache is used offline).

    Raises:
        CheckpointError: missing folder / files, or a Hub id that cannot be fetched (offline, unknown).
    """
    path = Path(name_or_path)
    if not path.is_dir():
        if path.exists() or not _looks_like_hub_id(str(name_or_path)):
            raise CheckpointError(f"{name_or_path}: not a folder with {MODEL_CONFIG} + {WEIGHTS} nor a Hub id "
                                  f"'owner/name'")
        path = _download(str(name_or_path))
    cfg = read_run_config(path)
    name = cfg.get("model_name")
    if not isinstance(name, str):
        raise CheckpointError(f"{path / MODEL_CONFIG}: no 'model_name'")
    return create_model(name, checkpoint=path, **kwargs)


def push_to_hub(model: nn.Module, repo_id: str, private: bool = False, token: str | None = None,
                commit_message: str = "mmfusion model", **save_kwargs: Any) -> str:
    """Upload ``model`` (via :func:`save_pretrained`) to the Hub repository ``repo_id``; returns its URL.

    Needs ``huggingface_hub``, the network and a write token (``token`` or ``huggingface-cli login``).
    """
    try:
        from huggingface_hub import HfApi  # optional dependency, imported only when uploading
    except ImportError as exc:
        raise ConfigError("push_to_hub needs huggingface_hub (pip install huggingface_hub)") from exc
    api = HfApi(token=token)
    url = api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(model, tmp, **save_kwargs)
        api.upload_folder(repo_id=repo_id, folder_path=tmp, commit_message=commit_message)
    return str(url)


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~")) and "\\" not in text


def _download(repo_id: str) -> Path:
    """Local folder with the Hub repository's config and weights (from the cache when offline)."""
    try:
        from huggingface_hub import snapshot_download  # optional dependency, only for Hub ids
    except ImportError as exc:
        raise CheckpointError(f"{repo_id}: looks like a Hub id, but huggingface_hub is not installed "
                              f"(pip install huggingface_hub), and no such local folder exists") from exc
    try:
        return Path(snapshot_download(repo_id, allow_patterns=[MODEL_CONFIG, WEIGHTS]))
    except Exception as exc:  # offline, unknown repository, no access: many types, one message
        raise CheckpointError(f"{repo_id}: no local folder of that name, and the Hugging Face Hub repository could "
                              f"not be fetched ({type(exc).__name__}: {exc}); without network only cached "
                              f"repositories and local folders work") from exc


# -- mmfusion convert ----------------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="the official checkpoint (.pth / .pt)")
    p.add_argument("out", help="run folder to write (model.safetensors + config.json)")
    p.add_argument("--from", dest="source", required=True, choices=list_sources(), help="the checkpoint's code base")
    p.add_argument("--model", help="registered model to fill (default: the source's model, or the one its shapes "
                                   "name, e.g. the PSUMNet stream)")


def run(args: argparse.Namespace) -> int:
    out = convert_checkpoint(args.src, args.out, args.source, args.model)
    cfg = read_run_config(out)
    dropped, fresh = cfg["converted_from"]["dropped_keys"], cfg["converted_from"]["initialised_keys"]
    print(f"{args.src} -> {out}: {cfg['model_name']} {json.dumps(cfg['model_kwargs'])}"
          + (f"; dropped {len(dropped)} training-only keys ({', '.join(dropped[:3])}...)" if dropped else "")
          + (f"; pre-training file: head initialised ({', '.join(fresh[:3])}...)" if fresh else ""))
    print(f"load with mmfusion.create_model({cfg['model_name']!r}, checkpoint={str(out)!r})")
    return 0
