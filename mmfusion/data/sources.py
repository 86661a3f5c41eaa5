"""Where a recipe's data comes from: a raw NTU tree, a packed store, or the synthetic world.

Every recipe takes ``--data-root``. :func:`resolve_ntu_source` turns it into the arguments
of :class:`~mmfusion.data.dataset.NTUDataset`:

* a folder with ``index.json`` is a packed store (``data_tools/prepare_ntu.py``);
* any other folder is a raw NTU tree (``nturgb+d_skeletons/`` ...);
* no data root means the embedded default: the synthetic NTU world, generated once into
  ``<cache_dir>/synth_ntu`` and packed once into ``<cache_dir>/synth_ntu_store`` so that
  training never parses text or decodes video.

Under ``accelerate launch`` with several processes, only the main process generates and
packs; the others wait for it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .synthetic import META_FILE, SynthConfig, generate, is_complete


def _main_process_first() -> Any:
    from ..distributed import process_state

    return process_state().main_process_first()


def synthetic_world(cache_dir: str | os.PathLike[str], cfg: SynthConfig | None = None,
                    modalities: tuple[str, ...] = ("skeleton", "depth", "rgb", "ir"),
                    pack: bool = True) -> dict[str, Any]:
    """Generate (once) and pack (once) the synthetic world; returns NTUDataset source kwargs."""
    cfg = cfg or SynthConfig()
    cache = Path(cache_dir)
    raw = cache / "synth_ntu"
    with _main_process_first():
        if not is_complete(raw, cfg):
            print(f"[mmfusion] generating the synthetic NTU world into {raw} (once) ...", flush=True)
            generate(raw, cfg)
        if not pack:
            return {"root": str(raw)}
        from .store import PackedStore, pack_ntu

        store = cache / "synth_ntu_store"
        # the store must come from *this* world: a regenerated world (other config or generator
        # version) changes its meta file, and a stale store would silently train on old samples
        stamp = store / "source.sha256"
        world = hashlib.sha256((raw / META_FILE).read_bytes()).hexdigest()
        ok = (store / "index.json").is_file() and stamp.is_file() and stamp.read_text().strip() == world
        want = set(modalities) | {"skeleton"}
        if ok:
            have = set(PackedStore(store).settings["modalities"])
            ok = want <= have
            want |= have  # re-packing keeps what other recipes packed before
        if not ok:
            print(f"[mmfusion] packing it into {store} (once) ...", flush=True)
            pack_ntu(raw, store, modalities=tuple(sorted(want)), size=None,
                     workers=max(1, min(2, os.cpu_count() or 1)), overwrite=True)
            stamp.write_text(world + "\n")
    return {"root": str(raw), "store": str(store)}


def resolve_ntu_source(data_root: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] = ".cache/mmfusion",
                       modalities: tuple[str, ...] = ("skeleton", "depth", "rgb", "ir"),
                       synth: SynthConfig | None = None) -> dict[str, Any]:
    """NTUDataset source kwargs (``root`` and/or ``store``) for ``--data-root`` (see module docstring)."""
    if data_root is None:
        return synthetic_world(cache_dir, synth, modalities)
    root = Path(data_root)
    if not root.is_dir():
        raise ConfigError(f"--data-root {root}: folder not found")
    if (root / "index.json").is_file():
        return {"store": str(root)}
    return {"root": str(root)}
