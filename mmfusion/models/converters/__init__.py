"""Converters of officially released checkpoints, one module per source, registered by source name.

``mmfusion convert SRC OUT --from SOURCE`` and ``create_model(name, pretrained="file.pth")`` look the
source up here (:func:`get_converter`, :func:`converter_for_model`); each source module describes the
official code it follows and registers one :class:`~.base.Converter` on import. Shapes: every
converter maps a flat ``{name: tensor}`` official state dict onto the registered model's own
``state_dict`` (same tensors, our names; see :mod:`.base` for what is tolerated).
"""

from __future__ import annotations

from ...errors import ConfigError
from .base import Conversion, Converter, fit_state, read_official, unwrap_state

__all__ = ["Conversion", "Converter", "converter_for_model", "fit_state", "get_converter", "list_sources",
           "read_official", "register_converter", "unwrap_state"]

_converters: dict[str, Converter] = {}


def register_converter(converter: Converter, *aliases: str) -> Converter:
    """Register ``converter`` under its source name (and ``aliases``); a name taken twice is a ConfigError."""
    for name in (converter.source, *aliases):
        if name in _converters and _converters[name] is not converter:
            raise ConfigError(f"checkpoint source {name!r} registered twice")
        _converters[name] = converter
    return converter


def list_sources() -> list[str]:
    """Sorted source names (``--from`` values)."""
    return sorted(_converters)


def get_converter(source: str) -> Converter:
    try:
        return _converters[source]
    except KeyError:
        raise ConfigError(f"unknown checkpoint source {source!r}; known: {list_sources()}") from None


def converter_for_model(model_name: str) -> Converter:
    """The converter whose official checkpoints fill ``model_name`` (its first registered source)."""
    for conv in _converters.values():
        if model_name in conv.models:
            return conv
    raise ConfigError(f"no converter of official checkpoints fills model {model_name!r}; sources: {list_sources()} "
                      f"(convert with `mmfusion convert SRC OUT --from SOURCE --model NAME` or pass a safetensors "
                      f"file / run folder)")


# every source module registers its converter on import; a new source needs its line here
from . import aimclr, ctrgcn, dstanet, epam, hypergcn, mamp, psumnet, pyskl, stgcn  # noqa: E402,F401  (registration side effects)
