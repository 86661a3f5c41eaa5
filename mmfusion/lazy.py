"""Lazy public names of a package: ``from mmfusion.encoders import XShiftNet`` imports only that module.

A package lists ``{public name: submodule}`` and installs the hooks this module builds::

    __getattr__, __dir__ = lazy_exports(__name__, {"MCU": "mcu", "CFEM": "cfem"})

The first look-up imports the submodule and caches the value in the package's namespace, so
later look-ups skip the hook; ``dir(package)`` lists the names before they are loaded.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``(__getattr__, __dir__)`` pair of module-level hooks for ``package``'s ``exports``."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            setattr(sys.modules[package], name, value)  # later look-ups skip this hook
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
