"""Model zoo: importing this package registers every model.

Registration is by discovery: every module under :mod:`mmfusion.encoders`,
:mod:`mmfusion.fusion`, :mod:`mmfusion.models` and :mod:`mmfusion.pose` is imported, so a
new model file only needs its ``@register_model`` decorator. A module whose optional
dependency is missing is skipped with a warning; the rest of the zoo still works.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings

_PACKAGES = ("mmfusion.encoders", "mmfusion.fusion", "mmfusion.models", "mmfusion.pose")


def _import_all() -> None:
    for pkg_name in _PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg_name}."):
            try:
                importlib.import_module(info.name)
            except ImportError as exc:  # pragma: no cover - depends on the environment
                warnings.warn(f"mmfusion: could not import {info.name}: {exc}", stacklevel=2)


_import_all()
