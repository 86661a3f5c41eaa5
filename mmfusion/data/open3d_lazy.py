"""open3d, imported on first use: ``import mmfusion`` and the data sets must not pay its 2.4 s import.

:func:`open3d` returns the module (cached) or raises :class:`~mmfusion.errors.ConfigError` saying
how to get it; :func:`have_open3d` says whether it imports (checked once).
"""

from __future__ import annotations

import functools
from types import ModuleType

from ..errors import ConfigError

__all__ = ["open3d", "have_open3d"]


@functools.cache
def _load() -> ModuleType | None:
    try:
        import open3d as o3d
    except ImportError:  # open3d needs libusb-1.0 and a supported Python; the numpy paths stay available
        return None
    return o3d


def have_open3d() -> bool:
    """Whether open3d imports here (the first call imports it)."""
    return _load() is not None


def open3d() -> ModuleType:
    """The open3d module.

    Raises:
        ConfigError: open3d is not importable.
    """
    o3d = _load()
    if o3d is None:
        raise ConfigError("open3d is not importable (pip install open3d==0.20.0; it needs libusb-1.0); "
                          "use the numpy backend instead")
    return o3d
