"""Where a recipe's data lives: a raw NTU tree, a packed store, or the synthetic world.

Every recipe takes ``--data-root``. :func:`resolve_data_root` turns it into the data
keywords of :class:`~mmfusion.data.dataset.NTUDataset` (``root=`` and/or ``store=``):

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

from ..distributed import process_state
from ..errors import ConfigError
from .packed import PackedStore
from .store import pack_ntu
from .synthetic import META_FILE, SynthConfig, generate, is_complete

__all__ = ["resolve_data_root", "synthetic_world"]


def _main_process_first() -> Any:
    return process_state().main_process_first()


def synthetic_world(cache_dir: str | os.PathLike[str], cfg: SynthConfig | None = None,
                    kinds: tuple[str, ...] = ("skeleton", "depth", "rgb", "ir"),
                    pack: bool = True) -> dict[str, Any]:
    """Generate (once) and pack (once) the synthetic world with at least ``kinds`` packed (store
    modalities: file kinds and "points"); returns NTUDataset's root / store keywords."""
    cfg = cfg or SynthConfig()
    cache = Path(cache_dir)
    raw = cache / "synth_ntu"
    with _main_process_first():
        if not is_complete(raw, cfg):
            print(f"[mmfusion] generating the synthetic NTU world into {raw} (once) ...", flush=True)
            generate(raw, cfg)
        if not pack:
            return {"root": str(raw)}
        store = cache / "synth_ntu_store"
        # the store must come from *this* world: a regenerated world (other config or generator
        # version) changes its meta file, and a stale store would silently train on old samples
        stamp = store / "source.sha256"
        world = hashlib.sha256((raw / META_FILE).read_bytes()).hexdigest()
        ok = (store / "index.json").is_file() and stamp.is_file() and stamp.read_text().strip() == world
        want = set(kinds) | {"skeleton"}
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


def resolve_data_root(data_root: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] = ".cache/mmfusion",
                      kinds: tuple[str, ...] = ("skeleton", "depth", "rgb", "ir"),
                      synth: SynthConfig | None = None) -> dict[str, Any]:
    """NTUDataset's data keywords (``root`` and/or ``store``) for ``--data-root`` (see the module
    docstring); ``kinds``: what the synthetic world's store must hold."""
    if data_root is None:
        return synthetic_world(cache_dir, synth, kinds)
    root = Path(data_root)
    if not root.is_dir():
        raise ConfigError(f"--data-root {root}: folder not found")
    if (root / "index.json").is_file():
        return {"store": str(root)}
    return {"root": str(root)}
