"""Generic machinery for typed configs: dict/YAML → frozen dataclasses, ``--set`` overrides, YAML out.

Works on *any* tree of frozen dataclasses, so a stage can add its own sections by subclassing the root
(see :mod:`agcl.config.schema` and docs/training.md, "Extending the config"). Supported field types:
``int``, ``float``, ``bool``, ``str``, ``typing.Literal[...]`` (string-enum choices, "did you mean"
errors), ``X | None``, ``tuple[X, ...]`` / ``list[X]`` and nested dataclasses.

Errors are :class:`agcl.errors.ConfigError` with a one-line message naming the dotted key (and the file).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agcl.errors import ConfigError, did_you_mean, short_repr
from agcl.io import write_text_atomic

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def check_choice(value: str, choices: Sequence[str], key: str) -> str:
    """Validate a string-enum value; unknown → ``ConfigError`` listing the choices with a suggestion."""
    if value in choices:
        return value
    raise ConfigError(
        f"invalid value {short_repr(value)} for {key} (choices: {', '.join(map(str, choices))})"
        f"{did_you_mean(value, choices)}"
    )


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce ``value`` (from YAML or a ``--set`` string) to the annotated type ``tp``.

    Strings are parsed for non-string types (``"3"`` → 3, ``"off"`` → False, ``"[1,2]"`` → (1, 2)).
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in {"none", "null", "~"} and type(None) in args):
            if type(None) in args:
                return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for arg in non_none:
            try:
                return coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"invalid value {short_repr(value)} for {key}")
    if origin is typing.Literal:
        choices = [str(a) for a in args]
        if isinstance(value, bool) and {"on", "off"} <= set(choices):  # YAML 1.1 reads on/off as booleans
            value = "on" if value else "off"
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(f"invalid value {short_repr(value)} for {key} (choices: {', '.join(choices)})")
        return check_choice(str(value), choices, key)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {short_repr(value)}")
        return from_dict(tp, value, prefix=key)
    if origin in (tuple, list):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip() else []
            if not isinstance(value, list):
                value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, got {short_repr(value)}")
        item_tp = args[0] if args else Any
        items = [coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{key} must be true or false, got {short_repr(value)}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be an integer, got {short_repr(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key} must be an integer, got {short_repr(value)}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be a number, got {short_repr(value)}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a number, got {short_repr(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key} must be a string, got {short_repr(value)}")
    raise ConfigError(f"{key}: unsupported config field type {tp!r}")  # programming error, still one line


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (nested) mapping; missing keys take defaults, unknown keys fail.

    Each value is coerced to its field type and the dataclass's ``__post_init__`` validation runs.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = _field_types(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        name = _current_name(cls, name, prefix)
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            raise ConfigError(f"unknown config key {short_repr(key)}{did_you_mean(str(name), list(fields))}")
        kwargs[name] = coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field without default
        raise ConfigError(f"{prefix or cls.__name__}: {exc}") from None


def _current_name(cls: Any, name: Any, prefix: str) -> Any:
    """A key a section renamed (its ``RENAMED`` class attribute: old -> new) is read under its new name."""
    new = getattr(cls, "RENAMED", {}).get(name)
    if new is None:
        return name
    log.warning("config key %r is now %r", f"{prefix}.{name}" if prefix else name, f"{prefix}.{new}" if prefix else new)
    return new


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict (tuples become lists) of a dataclass config, ready for YAML/JSON."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    return plain(cfg)


def parse_override(item: str) -> tuple[list[str], str]:
    """Split ``"a.b=value"`` into (["a", "b"], "value"); a missing ``=`` is a ``ConfigError``."""
    if "=" not in item:
        raise ConfigError(f"invalid override {item!r}: expected KEY=VALUE, e.g. optim.lr=0.01")
    key, value = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"invalid override {item!r}: empty key")
    return parts, value


def apply_overrides(cfg: T, overrides: Sequence[str]) -> T:
    """Return a new config with ``--set a.b=value`` overrides applied, each coerced to the field type."""
    for item in overrides:
        parts, raw = parse_override(item)
        cfg = _replace_path(cfg, parts, raw, parts)
    return cfg


def _replace_path(node: Any, parts: list[str], raw: str, full: list[str]) -> Any:
    done = ".".join(full[: len(full) - len(parts)])
    name = _current_name(type(node), parts[0], done)
    key = f"{done}.{name}" if done else name
    if not (dataclasses.is_dataclass(node) and not isinstance(node, type)):
        raise ConfigError(f"unknown config key {'.'.join(full)!r}: {done!r} is not a section")
    names = [f.name for f in dataclasses.fields(node)]
    if name not in names:
        raise ConfigError(f"unknown config key {key!r}{did_you_mean(name, names)}")
    current = getattr(node, name)
    if len(parts) == 1:
        new = coerce(raw, _field_types(type(node))[name], key)
    else:
        new = _replace_path(current, parts[1:], raw, full)
    return dataclasses.replace(node, **{name: new})  # __post_init__ errors already name the key


def load_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = (), *, schema: type[T]) -> T:
    """Read a YAML file (or nothing: all defaults) into ``schema`` and apply ``overrides``.

    Raises:
        ConfigError: unreadable/invalid YAML, unknown keys, bad values — naming the file and key.
    """
    data: Mapping[str, Any] = {}
    if path is not None:
        p = Path(path)
        loaded = read_yaml(p, "config")
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"config {p} must be a mapping at top level")
        data = loaded
    try:
        cfg = from_dict(schema, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None
    return apply_overrides(cfg, overrides)


def read_yaml(path: Path, what: str = "config") -> Any:
    """``yaml.safe_load`` of a UTF-8 file; every problem is one ConfigError naming the file (syntax errors
    with their line and column; never the content, so an alias-expanded value cannot flood the terminal)."""
    from agcl.errors import InputError
    from agcl.paths import file_problem, read_text

    problem = file_problem(path)
    if problem is not None:
        raise ConfigError(f"cannot read {what} {path}: {problem}")
    try:
        text = read_text(path, what)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or type(exc).__name__
        raise ConfigError(f"invalid YAML in {what} {path}{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in {what} {path}: {str(exc).splitlines()[0][:200]}") from None
    except RecursionError:
        raise ConfigError(f"invalid YAML in {what} {path}: nested too deeply") from None


def dump_config(cfg: Any) -> str:
    """The resolved config as YAML text (section order kept)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False)


def save_config(cfg: Any, path: str | os.PathLike[str]) -> None:
    """Write the resolved config as YAML atomically (e.g. ``RUN/config.yaml``)."""
    write_text_atomic(path, dump_config(cfg))
