"""DD4hep cell IDs: the bit-field encoding of a 64-bit ``cellID`` into named fields.

A DD4hep readout declares its ID encoding as a string such as
``"system:5,layer:9,x:32:-16,y:-16"`` (stored by key4hep in the file's metadata as
``<collection>__CellIDEncoding``). :class:`CellIDEncoding` parses and decodes it exactly as
DD4hep's ``BitFieldCoder`` does (DDCore/src/BitFieldCoder.cpp, ``BitFieldCoder::init`` and
``BitFieldElement::value``):

* descriptors are separated by ``,`` and their parts by ``:`` (empty parts are skipped);
* ``name:width`` starts at the running offset, which then grows by ``|width|``;
  ``name:offset:width`` starts at ``offset`` and sets the running offset to
  ``offset + |width|``;
* a negative width makes a signed (two's complement) field of ``|width|`` bits;
* a field must lie within the 64 bits (offset ≤ 63, offset + width ≤ 64), and no bit may
  belong to two fields.

So ``"system:5,layer:9,x:32:-16,y:-16"`` has system in bits 0–4, layer in bits 5–13, and the
signed x and y in bits 32–47 and 48–63. Where DD4hep is lenient calolab is strict: a field
name must be a non-empty word used once, numbers must be integers, and a width of 0 is an
error (DD4hep would make a field that reads 0).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from calolab.core.errors import ConfigError, DataError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT = re.compile(r"^[+-]?[0-9]+$")


@dataclass(frozen=True)
class BitField:
    """One field of a cell ID: ``width`` bits from bit ``offset``, two's complement if
    ``signed``."""

    name: str
    offset: int
    width: int
    signed: bool

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.offset

    @property
    def min_value(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_value(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """Field values of ``ids`` (uint64 array): int64 (uint64 for an unsigned 64-bit
        field)."""
        u = (np.asarray(ids, dtype=np.uint64) >> np.uint64(self.offset)) & np.uint64(
            (1 << self.width) - 1
        )
        if not self.signed:
            return u if self.width == 64 else u.astype(np.int64)
        if self.width == 64:
            return u.view(np.int64)
        v = u.astype(np.int64)
        negative = (u >> np.uint64(self.width - 1)) & np.uint64(1)
        return v - (negative.astype(np.int64) << self.width)

    def describe(self) -> str:
        return f"{self.name}:{self.offset}:{'-' if self.signed else ''}{self.width}"


@dataclass(frozen=True)
class CellIDEncoding:
    """A parsed DD4hep ID encoding (see the module docstring)."""

    text: str
    fields: tuple[BitField, ...]

    @classmethod
    def parse(cls, text: str, where: str = "cellID encoding") -> CellIDEncoding:
        """Parse an encoding string as DD4hep's ``BitFieldCoder::init``.

        Raises
        ------
        ConfigError
            Naming the descriptor and what is wrong with it.
        """
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(
                f"{where} {text!r} is empty; give e.g. 'system:5,layer:9,x:32:-16,y:-16'"
            )
        fields: list[BitField] = []
        offset = 0
        used = 0
        for desc in (d for d in text.split(",") if d):
            parts = [p.strip() for p in desc.split(":") if p]
            if len(parts) not in (2, 3):
                raise ConfigError(
                    f"{where} '{text}': descriptor '{desc}' must be name:width or "
                    "name:offset:width"
                )
            name = parts[0]
            if not _NAME.match(name):
                raise ConfigError(f"{where} '{text}': field name '{name}' must be a word")
            if any(f.name == name for f in fields):
                raise ConfigError(f"{where} '{text}': field '{name}' is declared twice")
            for p in parts[1:]:
                if not _INT.match(p):
                    raise ConfigError(
                        f"{where} '{text}': '{p}' in descriptor '{desc}' is not an integer"
                    )
            if len(parts) == 2:
                this, width = offset, int(parts[1])
                offset += abs(width)
            else:
                this, width = int(parts[1]), int(parts[2])
                offset = this + abs(width)
            if this < 0 or this > 63 or this + abs(width) > 64:
                raise ConfigError(
                    f"{where} '{text}': field '{name}' (offset {this}, width {abs(width)}) "
                    "does not fit in the 64 bits of a cell ID"
                )
            if width == 0:
                raise ConfigError(f"{where} '{text}': field '{name}' has width 0")
            f = BitField(name, this, abs(width), width < 0)
            if used & f.mask:
                raise ConfigError(
                    f"{where} '{text}': field '{name}' uses bits already used by another "
                    f"field (mask {f.mask:#018x})"
                )
            used |= f.mask
            fields.append(f)
        if not fields:
            raise ConfigError(f"{where} {text!r} declares no field")
        return cls(text=text, fields=tuple(fields))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> BitField:
        for f in self.fields:
            if f.name == name:
                return f
        raise ConfigError(
            f"cellID encoding '{self.text}' has no field '{name}'; its fields: "
            f"{', '.join(self.names)}"
        )

    def decode(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """All fields of ``ids`` (uint64 array)."""
        return {f.name: f.decode(ids) for f in self.fields}

    def encode(self, values: Mapping[str, np.ndarray | int]) -> np.ndarray:
        """Cell IDs (uint64) from field values (fields not given are 0), checking each value
        against its field's range as DD4hep's ``BitFieldElement::set``."""
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ConfigError(f"cellID encoding '{self.text}' has no field(s) {', '.join(unknown)}")
        arrays = {k: np.asarray(v, dtype=np.int64) for k, v in values.items()}
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values())) if arrays else ()
        out = np.zeros(shape, dtype=np.uint64)
        for f in self.fields:
            if f.name not in arrays:
                continue
            v = np.broadcast_to(arrays[f.name], shape)
            bad = (v < f.min_value) | (v > f.max_value)
            if np.any(bad):
                raise DataError(
                    f"cellID field '{f.name}' value {int(v[bad].flat[0])} is outside its "
                    f"range [{f.min_value}, {f.max_value}] ({f.describe()})"
                )
            u = v.astype(np.uint64) & np.uint64((1 << f.width) - 1)
            out |= u << np.uint64(f.offset)
        return out
