"""Old name of :mod:`mmfusion.data.roots` (kept for ``engine/recipe.py``; use ``resolve_data_root``)."""

from __future__ import annotations

from .roots import resolve_data_root, synthetic_world

#: old name of :func:`~mmfusion.data.roots.resolve_data_root` (positional arguments are the same)
resolve_ntu_source = resolve_data_root

__all__ = ["resolve_ntu_source", "resolve_data_root", "synthetic_world"]
