"""Configuration tables (TOML, JSON, dicts) into validated, frozen dataclasses.

One way for every configuration calolab reads — detector files, training configs, campaign
and design-space files, model options — to become typed objects:

* :func:`from_table` builds a dataclass from a mapping using its type hints: unknown keys and
  missing required keys are errors, each value is checked and converted (``int``, ``float``,
  ``str``, ``bool``, ``tuple[...]``, ``X | None``, ``Literal[...]``, nested dataclasses,
  ``dict[str, X]``), and the dataclass's own ``__post_init__`` checks run last;
* :func:`to_table` is the inverse (plain JSON/TOML values);
* :func:`read_toml` and :func:`read_json` read files with bounded size and nesting, so a
  hostile file is an error, not a hang;
* the ``check_*`` validators give the project's error messages for single values:
  ``where: name value must be ...``, and :func:`check_keys` for the keys of a table read key
  by key.

Every failure is a :class:`~calolab.core.errors.ConfigError` naming where, the field, the
offending value and what is expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import numpy as np

from calolab.core.errors import ConfigError

T = TypeVar("T")

#: Largest configuration file read (bytes): configs are small; a larger file is refused.
MAX_CONFIG_BYTES = 4 << 20
#: Deepest nesting of tables/arrays accepted in a configuration file.
MAX_NESTING = 32


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------- validators
def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    where: str = "",
    hint: str = "",
) -> int:
    """``value`` as an ``int`` within ``[minimum, maximum]`` (booleans and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
            value = int(value)
        else:
            raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be an integer{hint}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ConfigError(f"{_prefix(where)}{name} {v} must be >= {minimum}{hint}")
    if maximum is not None and v > maximum:
        raise ConfigError(f"{_prefix(where)}{name} {v:,} must be <= {maximum:,}{hint}")
    return v


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    where: str = "",
    unit: str = "",
    hint: str = "",
) -> float:
    """``value`` as a finite ``float`` within the bounds (NaN, ±inf and booleans refused)."""
    u = f" {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be a number{u}{hint}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{_prefix(where)}{name} {v} must be a finite number{u}{hint}")
    if exclusive_minimum is not None and not v > exclusive_minimum:
        raise ConfigError(f"{_prefix(where)}{name} {v:g}{u} must be > {exclusive_minimum:g}{hint}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{_prefix(where)}{name} {v:g}{u} must be >= {minimum:g}{hint}")
    if maximum is not None and v > maximum:
        raise ConfigError(f"{_prefix(where)}{name} {v:g}{u} must be <= {maximum:g}{hint}")
    return v


def check_choice(name: str, value: Any, choices: Iterable[str], *, where: str = "") -> str:
    """``value`` if it is one of ``choices`` (strings)."""
    options = list(choices)
    if not isinstance(value, str) or value not in options:
        raise ConfigError(
            f"{_prefix(where)}{name} {_short(value)} must be one of {', '.join(options)}"
        )
    return value


def check_name(name: str, value: Any, *, where: str = "", max_length: int = 200) -> str:
    """A printable, non-empty name (no control characters, bounded length)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be a non-empty string")
    if len(value) > max_length:
        raise ConfigError(
            f"{_prefix(where)}{name} has {len(value):,} characters; at most {max_length} allowed"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(
            f"{_prefix(where)}{name} {_short(value)} contains control characters; "
            "use printable characters only"
        )
    return value


def check_keys(
    where: str,
    table: Any,
    allowed: Iterable[str],
    *,
    error: type[ConfigError] = ConfigError,
) -> Mapping[str, Any]:
    """``table`` if it is a mapping whose keys are all in ``allowed``; otherwise ``error``
    naming the first unknown key and the allowed ones (for tables read key by key, where
    :func:`from_table` does not fit)."""
    if not isinstance(table, Mapping):
        raise error(f"{where} must be a table, got {table!r}")
    known = set(allowed)
    unknown = sorted(set(table) - known)
    if unknown:
        raise error(
            f"{where}: unknown key '{unknown[0]}'; allowed keys: {', '.join(sorted(known))}"
        )
    return table


# ----------------------------------------------------------- tables <-> dataclasses
def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (tuple, list, Sequence):
        return "a list"
    if origin in (dict, Mapping):
        return "a table"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(tp: Any, value: Any, where: str, name: str) -> Any:
    """``value`` converted to the type ``tp`` (raises ConfigError)."""
    if tp is Any or tp is object:
        return value
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where, name)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be {_type_name(tp)}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(
                f"{_prefix(where)}{name} {_short(value)} must be one of "
                + ", ".join(str(a) for a in args)
            )
        return value
    if origin in (tuple, list, Sequence) or tp in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be a list")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(
                    f"{_prefix(where)}{name} {_short(value)} must be a list of {len(args)} values"
                )
            return tuple(
                _convert(a, v, where, f"{name}[{i}]") for i, (a, v) in enumerate(zip(args, value))
            )
        item = args[0] if args else Any
        out = [_convert(item, v, where, f"{name}[{i}]") for i, v in enumerate(value)]
        return out if origin is list else tuple(out)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be a table")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(vt, v, where, f"{name}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_table(tp, value, f"{where}.{name}" if where else name)
    if tp is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be true or false")
        return bool(value)
    if tp is int:
        return check_int(name, value, where=where)
    if tp is float:
        return check_float(name, value, where=where)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be a string")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{_prefix(where)}{name} {_short(value)} must be {_type_name(tp)}")
    return value


def from_table(cls: type[T], table: Any, where: str, **overrides: Any) -> T:
    """Build the dataclass ``cls`` from the mapping ``table``.

    Parameters
    ----------
    cls:
        A dataclass whose fields have type hints.
    table:
        The mapping (a TOML table, a JSON object, a dict).
    where:
        Where the table comes from, for messages (``"detector 'x.toml' [ecal]"``).
    overrides:
        Field values given directly (not converted), e.g. nested objects built elsewhere.

    Raises
    ------
    ConfigError
        Not a table, unknown keys (listing the known ones), missing required keys, values of
        the wrong type, or the dataclass's own validation failing.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table of keys and values, got {_short(table)}")
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in table if k not in fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in overrides:
            kwargs[name] = overrides[name]
        elif name in table:
            kwargs[name] = _convert(hints.get(name, Any), table[name], where, name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: '{name}' is missing")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def to_table(value: Any) -> Any:
    """Plain JSON/TOML values of a dataclass (tuples become lists, nested dataclasses tables)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_table(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
        }
    if isinstance(value, (tuple, list)):
        return [to_table(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_table(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def table_hash(table: Any) -> str:
    """SHA-256 of the canonical JSON of a table (or of a dataclass through :func:`to_table`)."""
    blob = json.dumps(to_table(table), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


# ---------------------------------------------------------------------------- files
def check_nesting(data: Any, where: str, limit: int = MAX_NESTING) -> None:
    """Refuse tables or arrays nested deeper than ``limit`` (iteratively, no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        obj, depth = stack.pop()
        if depth > limit:
            raise ConfigError(f"{where}: tables or arrays are nested deeper than {limit} levels")
        if isinstance(obj, Mapping):
            stack.extend((v, depth + 1) for v in obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend((v, depth + 1) for v in obj)


def _read_config_text(path: str | os.PathLike[str], what: str) -> str:
    p = Path(path)
    try:
        if not p.is_file():
            raise ConfigError(
                f"{what} '{p}' " + ("is not a regular file" if p.exists() else "does not exist")
            )
        size = p.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{what} '{p}' is {size / 2**20:,.1f} MiB; configuration files are limited to "
                f"{MAX_CONFIG_BYTES >> 20} MiB"
            )
        with open(p, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what} '{p}' cannot be read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} '{p}' is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def _guard_depth(text: str, what: str) -> None:
    """Refuse text with more open brackets in a row than any sane config (parsers recurse)."""
    depth = best = 0
    for c in text:
        if c in "[{":
            depth += 1
            best = max(best, depth)
            if best > 4 * MAX_NESTING:
                raise ConfigError(f"{what}: brackets nested deeper than {MAX_NESTING} levels")
        elif c in "]}":
            depth = max(0, depth - 1)


def loads_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML text into a dict (errors name ``where`` and the parser's line/column)."""
    import tomllib

    _guard_depth(text, where)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: malformed TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: tables or arrays are nested too deeply") from None
    check_nesting(data, where)
    return data


def read_toml(path: str | os.PathLike[str], what: str = "file") -> dict[str, Any]:
    """Read a TOML file (bounded size and nesting) into a dict."""
    return loads_toml(_read_config_text(path, what), f"{what} '{path}'")


def loads_json_config(text: str, where: str) -> Any:
    """Parse JSON text of a configuration (bounded nesting; NaN and ±inf refused)."""

    def refuse(const: str) -> Any:
        raise ConfigError(f"{where}: {const} is not allowed in JSON; use a finite number")

    _guard_depth(text, where)
    try:
        data = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: tables or arrays are nested too deeply") from None
    check_nesting(data, where)
    return data


def read_json(path: str | os.PathLike[str], what: str = "file") -> Any:
    """Read a JSON configuration or result file (bounded size and nesting)."""
    return loads_json_config(_read_config_text(path, what), f"{what} '{path}'")
