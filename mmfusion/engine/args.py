"""Command-line options for (nested) config dataclasses, through tyro.

Every field of a recipe dataclass becomes an option; nested dataclasses give dotted names,
underscores become hyphens (both spellings are accepted)::

    @dataclass
    class Recipe:
        model: str = "xshiftnet_rgb"  # registered model name (the help text of --model)
        train: TrainConfig = field(default_factory=TrainConfig)

    cfg = parse_args(Recipe(train=TrainConfig(lr=0.05)))   # defaults come from the instance
    # python recipe.py --train.lr 0.1 --train.epochs 2 --train.no-nesterov --train.milestones 20 30

The help text of an option is the field's docstring (a string under the field), its comment (on
the field's line) or its entry in the class's ``Attributes:`` section; ``Literal`` fields list
their choices. ``bool`` fields take ``--flag`` / ``--no-flag``; ``Optional`` fields take
``None``; tuples take several values (``--train.milestones`` alone = empty). A value that does
not parse, is not one of the choices, or that the dataclass's own validation (``__post_init__``
raising :class:`~mmfusion.errors.ConfigError`) rejects is a usage error: a message naming the
option on stderr and exit status 2, before the recipe builds any data.

``--config FILE.json`` loads a JSON of field values first (e.g. a run's ``train_config.json``);
options on the command line win. :func:`from_dict` / :func:`apply_overrides` do the same from
Python (JSON values or strings, converted to the fields' types).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from ..errors import ConfigError

T = TypeVar("T")
_NONE_WORDS = {"none", "null"}
_TRUE_WORDS = {"1", "true", "yes", "y", "on"}
_FALSE_WORDS = {"0", "false", "no", "n", "off"}


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


def _split_config_option(args: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--config FILE`` / ``--config=FILE`` out of ``args`` (tyro does not know it)."""
    path, rest, i = None, [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--config":
            if i + 1 >= len(args):
                raise ConfigError("--config needs a JSON file")
            path, i = args[i + 1], i + 2
            continue
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return path, rest


def _usage_error(prog: str, message: str) -> SystemExit:
    print(f"usage: {prog} [-h] [--config FILE.json] [OPTIONS]\n{prog}: error: {message}\n"
          f"For the options and their choices, run {prog} --help", file=sys.stderr)
    return SystemExit(2)


def parse_args(config: T | type[T], args: Sequence[str] | None = None, description: str | None = None,
               prog: str | None = None) -> T:
    """Return a copy of ``config`` (an instance, or a dataclass type for its defaults) with the
    command-line options in ``args`` (default ``sys.argv[1:]``) applied, parsed by tyro.

    Raises:
        SystemExit: 0 after ``--help``; 2 (usage message on stderr, no traceback) for an unknown
            option, a value of the wrong type, a value outside a ``Literal``'s choices, an
            unreadable ``--config`` file or a value the config's own validation rejects.
    """
    import tyro  # deferred: only scripts that parse a command line pay for importing it

    argv = list(sys.argv[1:] if args is None else args)
    prog = prog or Path(sys.argv[0]).name or "recipe"
    cls = config if isinstance(config, type) else type(config)
    if not _is_dataclass_type(cls):
        raise ConfigError(f"expected a dataclass, got {cls!r}")
    try:
        base = config() if isinstance(config, type) else copy.deepcopy(config)
        path, argv = _split_config_option(argv)
        if path is not None:
            try:
                data = json.loads(Path(path).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigError(f"{path}: cannot read config JSON ({exc})") from exc
            base = from_dict(cls, data, base=base)
    except ConfigError as exc:
        raise _usage_error(prog, str(exc)) from None
    text = description
    if text is None:  # a dataclass without a docstring gets "Name(field: type, ...)" as __doc__
        doc = (cls.__doc__ or "").strip()
        text = "" if doc.startswith(f"{cls.__name__}(") else doc.split("\n")[0]
    text = (text + "\n\n" if text else "") + "--config FILE.json: field values to start from (e.g. a run's " \
        "train_config.json); the options below win."
    try:
        return tyro.cli(cls, default=base, args=argv, prog=prog, description=text)
    except ConfigError as exc:  # raised by a __post_init__ outside tyro's own error handling
        raise _usage_error(prog, str(exc)) from None
    except SystemExit as exc:
        if exc.code == 2:  # tyro has printed what is wrong; add the usual one-line usage under it
            print(f"usage: {prog} [-h] [--config FILE.json] [OPTIONS]", file=sys.stderr)
        raise

