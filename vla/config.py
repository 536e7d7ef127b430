"""One config system: frozen dataclasses, validated on creation, filled from YAML and ``key=value`` overrides.

A recipe YAML maps onto a tree of dataclasses; ``training.lr=1e-4`` on the command line overrides one leaf.
Unknown keys and bad values fail at load time with a message that names the field and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vla.errors import UserError


class ConfigError(ValueError, UserError):
    """A config value or key is invalid; the message names the field and what is allowed."""


def check(condition: bool, field: str, value: Any, allowed: str) -> None:
    """Raise a :class:`ConfigError` naming ``field``, its bad ``value`` and what is ``allowed``."""
    if not condition:
        raise ConfigError(f"{field}={value!r} is invalid: {allowed}")


#: Free space an output folder must have before long work starts (a checkpoint or a dataset needs more, but
#: below this the first write of any stage would fail).
MIN_FREE_MB = 200


def check_output_folder(field: str, path: str | Path, min_free_mb: int = MIN_FREE_MB) -> Path:
    """Create ``path`` and refuse it before any work when it cannot be written (read-only, a file in the
    way) or its disk has less than ``min_free_mb`` free: a fit or a recording must not be lost at its end."""
    import shutil
    import tempfile

    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".vla-write-check-"):
            pass
    except OSError as err:
        raise ConfigError(
            f"{field}={str(path)!r} cannot be written ({err.strerror}); choose another folder"
        ) from None
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < min_free_mb:
        raise ConfigError(
            f"{field}={str(path)!r} has {free_mb:.0f} MB free on its disk, under the {min_free_mb} MB this needs; "
            "free some space or choose another folder"
        )
    return folder


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
    choices = tuple(choices)
    check(value in choices, field, value, f"expected one of {', '.join(map(repr, choices))}")


def _resolve_type(tp: Any) -> Any:
    """Strip Optional/Union-with-None so nested dataclasses can be built from dicts."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def from_dict[T](cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (nested) mapping, rejecting unknown keys by name."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or cls.__name__} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    moved = getattr(cls, "MOVED_KEYS", {})  # old key -> the key that replaced it
    for key in unknown:
        if key in moved:
            raise ConfigError(f"{prefix}{key} is no longer a config key: set {moved[key]} instead")
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; "
            f"allowed under {prefix or 'the top level'}: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        tp = _resolve_type(hints[name])
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            value = from_dict(tp, value, prefix=f"{prefix}{name}.")
        elif typing.get_origin(tp) is tuple and isinstance(value, list):
            value = tuple(value)
        elif tp is float and isinstance(value, (int, str)) and not isinstance(value, bool):
            value = _as_float(value, prefix + name)
        _check_type(hints[name], value, prefix + name)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as err:  # e.g. a required field missing
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from None


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _check_type(tp: Any, value: Any, field: str) -> None:
    """Reject a value of the wrong type by name, e.g. ``training.batch_size=2.5`` or
    ``training.gradient_checkpointing='maybe'`` (Python would take both and fail later, or worse, not)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return
        for arg in args:
            if arg is not type(None):
                try:
                    _check_type(arg, value, field)
                    return
                except ConfigError:
                    continue
        allowed = " or ".join(
            _TYPE_NAMES.get(a, getattr(a, "__name__", str(a))) for a in args if a is not type(None)
        )
        raise ConfigError(
            f"{field}={value!r} is invalid: expected {allowed}" + (" or null" if type(None) in args else "")
        )
    if tp in (bool, int, float, str):
        ok = isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
        if tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        check(ok, field, value, f"expected {_TYPE_NAMES[tp]}")
    elif origin is tuple:
        check(isinstance(value, tuple), field, value, "expected a list, e.g. [a, b]")
        args = typing.get_args(tp)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is not None:
            for element in value:
                _check_type(item, element, f"{field}[]")
    elif origin is dict or tp is dict:
        check(isinstance(value, Mapping), field, value, "expected a mapping, e.g. {key: value}")


def _as_float(value: Any, field: str) -> Any:
    # YAML 1.1 reads "1e-4" (no dot) as a string; a float field accepts it.
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{field}={value!r} is invalid: expected a number") from None


def to_dict(config: Any) -> dict[str, Any]:
    """Plain, YAML/JSON-safe dict of a dataclass tree (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Mapping):  # a copy: editing the result must never reach a frozen config
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def read_yaml(text: str) -> Any:
    """YAML as recipes mean it: only ``true`` / ``false`` are booleans (as in YAML 1.2; everything else
    follows PyYAML's YAML 1.1). In YAML 1.1 ``no``, ``off`` and ``yes`` are booleans too, so
    ``mixed_precision: no`` (accelerate's own spelling) would arrive as ``False``."""
    import yaml

    return yaml.load(text, Loader=_recipe_loader())  # noqa: S506 (a SafeLoader subclass)


@functools.cache
def _recipe_loader() -> type:
    import re

    import yaml

    class RecipeLoader(yaml.SafeLoader):
        pass

    bool_tag = "tag:yaml.org,2002:bool"
    RecipeLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != bool_tag]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    true_or_false = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    RecipeLoader.add_implicit_resolver(bool_tag, true_or_false, list("tTfF"))
    return RecipeLoader


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """``["training.lr=1e-4", "data.suites=[libero_object]"]`` -> nested dict with YAML-typed values."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        key, raw = item.split("=", 1)
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = read_yaml(raw) if raw != "" else ""
    return nested


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``, key by key. A section whose ``type`` changes (``tokenizer.type=fast`` over a
    binning recipe) replaces the base's section whole: one type's options never reach another type."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            changed = "type" in value and value["type"] != out[key].get("type")
            out[key] = dict(value) if changed else merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config[T](cls: type[T], path: str | Path | None = None, overrides: Iterable[str] = ()) -> T:
    """Read a YAML recipe (optional), apply ``key=value`` overrides, and build a validated ``cls``."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        data = read_yaml(path.read_text()) or {}
    return from_dict(cls, merge(data, parse_overrides(overrides)))


def config_keys(cls: type, prefix: str = "") -> list[str]:
    """Every ``key.path`` of a config tree with its type and default, one per line (for ``--help``):
    ``training.lr: float = 0.0001``; a required field shows ``(required)``."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = _resolve_type(hints[f.name])
        key = prefix + f.name
        if dataclasses.is_dataclass(tp):
            lines += config_keys(tp, key + ".")
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        hint = hints[f.name]
        name = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
        lines.append(f"{key}: {name} = {default}" if default != "(required)" else f"{key}: {name} (required)")
    return lines
