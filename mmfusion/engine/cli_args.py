"""Command-line overrides for (nested) config dataclasses, with nothing but argparse.

Every leaf field of a dataclass becomes an option; nested dataclasses give dotted names, and
a leaf whose name is unique in the whole tree also gets a flat alias::

    @dataclass
    class Recipe:
        model: str = "xshiftnet_rgb"
        train: TrainConfig = field(default_factory=TrainConfig)

    cfg = parse_args(Recipe(train=TrainConfig(lr=0.05)))   # defaults come from the instance
    # python recipe.py --train.lr 0.1 --epochs 2 --no-nesterov --milestones 20 30 --resume none

Rules: ``--x.y`` and ``--x.y-z`` / ``--x.y_z`` are the same option; ``bool`` fields take
``--flag``, ``--flag false`` and ``--no-flag``; ``Optional`` fields take ``none``/``null``;
``Literal`` fields list their choices in ``--help``; ``tuple``/``list`` fields take several
values or one comma-separated value (``--milestones 20,30``; ``--milestones`` alone = empty);
dicts take JSON. ``--config FILE.json`` loads a JSON of field values first (e.g. a run's
``train_config.json``); options on the command line win. Values are validated by the
dataclasses' own ``__post_init__``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from ..errors import ConfigError

T = TypeVar("T")
_NONE_WORDS = {"none", "null"}
_TRUE_WORDS = {"1", "true", "yes", "y", "on"}
_FALSE_WORDS = {"0", "false", "no", "n", "off"}


@dataclass
class _Leaf:
    path: tuple[str, ...]  # ("train", "lr")
    tp: Any  # resolved type hint
    default: Any

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def dest(self) -> str:
        return "__".join(self.path)


# ------------------------------------------------------------------------------------------ types


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); other types unchanged."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        if len(args) == 1:
            return args[0], optional
        return Union[tuple(args)], optional  # noqa: UP007  (a runtime-built union)
    return tp, False


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _parse_bool(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"not a boolean: {text!r} (use true/false)")


def convert(value: Any, tp: Any, name: str = "value") -> Any:
    """Coerce ``value`` (a CLI string, or a JSON value) to the type hint ``tp``.

    Raises:
        ConfigError: the value does not fit the type; the message names the field.
    """
    try:
        return _convert(value, tp)
    except ConfigError:
        raise
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read {value!r} as {_type_name(tp)} ({exc})") from None


def _convert(value: Any, tp: Any) -> Any:
    inner, optional = _strip_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in _NONE_WORDS):
        if optional or tp is Any:
            return None
        raise ValueError("None is not allowed")
    tp = inner
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        choices = get_args(tp)
        for c in choices:
            if value == c or (isinstance(value, str) and str(c) == value):
                return c
        raise ValueError(f"choose from {list(choices)}")
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(tp):
            try:
                return _convert(value, option)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if tp is bool:
        return _parse_bool(value)
    if tp in (int, float):
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValueError("not an integer")
        if tp is int and isinstance(value, str):
            return int(value.strip())
        return tp(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError("not a string")
        return value
    if tp is Path:
        return Path(value)
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        items = _split_sequence(value)
        args = get_args(tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} values, got {len(items)}")
            return tuple(_convert(v, a) for v, a in zip(items, args))
        elem = args[0] if args else Any
        out = [_convert(v, elem) for v in items]
        return out if origin is list or tp is list else tuple(out)
    if origin in (dict, Mapping) or tp is dict:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, Mapping):
            raise ValueError("not a mapping")
        kt, vt = (get_args(tp) or (Any, Any))
        return {_convert(k, kt): _convert(v, vt) for k, v in value.items()}
    if _is_dataclass_type(tp):
        if isinstance(value, str):
            value = json.loads(value)
        return from_dict(tp, value)
    if callable(tp):
        return tp(value)
    raise TypeError(f"unsupported type {tp!r}")


def _split_sequence(value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return list(json.loads(text))
        return [t.strip() for t in text.split(",") if t.strip()]
    if isinstance(value, (list, tuple)):
        out: list[Any] = []
        for v in value:  # "--x 1,2 3" mixes both styles
            out.extend(_split_sequence(v) if isinstance(v, str) and "," in v else [v])
        return out
    raise ValueError("not a sequence")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


# ------------------------------------------------------------------------------ dataclass <-> dict


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:  # an unresolvable annotation is a programming error in the recipe
        raise ConfigError(f"cannot resolve type hints of {cls.__name__}: {exc}") from exc


def from_dict(cls: type[T], data: Mapping[str, Any], base: T | None = None) -> T:
    """Build ``cls`` from a (nested) mapping; missing keys keep ``base``'s (or default) values.

    Raises:
        ConfigError: unknown keys (listed) or values of the wrong type.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(fields)}")
    base = base if base is not None else _default_instance(cls)
    values: dict[str, Any] = {}
    for name, value in data.items():
        tp = hints[name]
        inner, _ = _strip_optional(tp)
        if _is_dataclass_type(inner) and isinstance(value, Mapping):
            current = getattr(base, name) if base is not None else None
            values[name] = from_dict(inner, value, current if dataclasses.is_dataclass(current) else None)
        else:
            values[name] = convert(value, tp, f"{cls.__name__}.{name}")
    if base is None:
        return cls(**values)
    return dataclasses.replace(base, **values)


def _default_instance(cls: type[T]) -> T | None:
    try:
        return cls()
    except TypeError:  # required fields without defaults
        return None


def apply_overrides(config: T, overrides: Mapping[str, Any]) -> T:
    """A copy of ``config`` with dotted-key overrides (``{"train.lr": 0.1}``) applied and validated."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        node = nested
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return from_dict(type(config), nested, base=copy.deepcopy(config))


# ------------------------------------------------------------------------------------------ parser


def _leaves(cls: type, instance: Any, prefix: tuple[str, ...] = ()) -> list[_Leaf]:
    hints = _hints(cls)
    out: list[_Leaf] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        value = getattr(instance, f.name) if instance is not None else _field_default(f)
        if _is_dataclass_type(tp):
            out.extend(_leaves(tp, value, (*prefix, f.name)))
        else:
            out.append(_Leaf((*prefix, f.name), tp, value))
    return out


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _option_names(dotted: str) -> list[str]:
    names = [f"--{dotted}"]
    if "_" in dotted:
        names.append(f"--{dotted.replace('_', '-')}")
    return names


def _help(leaf: _Leaf) -> str:
    inner, optional = _strip_optional(leaf.tp)
    kind = _type_name(inner)
    if get_origin(inner) is Literal:
        kind = "{" + ",".join(str(c) for c in get_args(inner)) + "}"
    if optional:
        kind += " | none"
    default = leaf.default
    if isinstance(default, tuple):
        default = ",".join(str(v) for v in default) or "(empty)"
    return f"{kind} (default: {default})"


def build_parser(config: Any, parser: argparse.ArgumentParser | None = None,
                 description: str | None = None) -> tuple[argparse.ArgumentParser, list[_Leaf]]:
    """An argparse parser with one option per leaf of ``config`` (a dataclass or its type)."""
    cls = config if isinstance(config, type) else type(config)
    instance = None if isinstance(config, type) else config
    if not _is_dataclass_type(cls):
        raise ConfigError(f"expected a dataclass, got {cls!r}")
    parser = parser or argparse.ArgumentParser(description=description)
    leaves = _leaves(cls, instance)
    counts: dict[str, int] = {}
    for leaf in leaves:
        counts[leaf.path[-1]] = counts.get(leaf.path[-1], 0) + 1
    parser.add_argument("--config", metavar="FILE.json", default=argparse.SUPPRESS, dest="__config__",
                        help="JSON file of field values (e.g. a run's train_config.json), applied first")
    groups: dict[tuple[str, ...], Any] = {}
    for leaf in leaves:
        group_key = leaf.path[:-1]
        if group_key not in groups:
            groups[group_key] = parser.add_argument_group(".".join(group_key)) if group_key else parser
        group = groups[group_key]
        names = _option_names(leaf.dotted)
        flat = leaf.path[-1]
        if len(leaf.path) > 1 and counts[flat] == 1 and flat != "config":
            names += [n for n in _option_names(flat) if n not in names]
        inner, _ = _strip_optional(leaf.tp)
        help_text = _help(leaf)
        if inner is bool:
            group.add_argument(*names, dest=leaf.dest, nargs="?", const="true", default=argparse.SUPPRESS,
                               metavar="BOOL", help=help_text)
            no_names = [n.replace("--", "--no-", 1) for n in names]
            group.add_argument(*no_names, dest=leaf.dest, action="store_const", const="false",
                               default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        elif get_origin(inner) in (tuple, list) or inner in (tuple, list):
            group.add_argument(*names, dest=leaf.dest, nargs="*", default=argparse.SUPPRESS,
                               metavar="V", help=help_text)
        else:
            group.add_argument(*names, dest=leaf.dest, default=argparse.SUPPRESS, metavar="V", help=help_text)
    return parser, leaves


def parse_args(config: T | type[T], args: Sequence[str] | None = None, description: str | None = None,
               parser: argparse.ArgumentParser | None = None) -> T:
    """Return a copy of ``config`` (an instance, or a dataclass type for its defaults) with the
    command-line overrides in ``args`` (default ``sys.argv[1:]``) applied.

    Raises:
        SystemExit: argparse's usual exit on ``--help`` or an unknown option.
        ConfigError: a value that does not fit its field (the message names the field).
    """
    parser, leaves = build_parser(config, parser, description)
    ns = vars(parser.parse_args(args))
    base = config() if isinstance(config, type) else copy.deepcopy(config)
    if "__config__" in ns:
        path = Path(ns.pop("__config__"))
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config JSON ({exc})") from exc
        base = from_dict(type(base), data, base=base)
    overrides: dict[str, Any] = {}
    for leaf in leaves:
        if leaf.dest not in ns:
            continue
        raw = ns[leaf.dest]
        if isinstance(raw, list) and not raw:  # "--milestones" with no values = empty
            raw = ""
        overrides[leaf.dotted] = convert(raw, leaf.tp, f"--{leaf.dotted}")
    return apply_overrides(base, overrides) if overrides else base
