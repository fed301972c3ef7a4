"""@record: a frozen, slotted dataclass whose __eq__, __hash__ and __repr__ are written once.

dataclass() compiles six methods for every frozen class it makes (__init__, __repr__, __eq__,
__hash__, __setattr__, __delattr__), and for the data classes `cnnsize report` imports that was
most of the time their modules took to load (report.py: 4.6 ms, 3.2 without these three), while
a report never compares or prints a row. These three are the same for every class, read from
its fields: equal when of the same class with equal compared fields, hashed on the fields that
dataclass() would hash, shown as dataclass() shows them. dataclasses.fields, replace and asdict
work as for any dataclass.
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import TYPE_CHECKING, Any, TypeVar

T = TypeVar("T")

# per class: the fields compared, hashed and shown
_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}


def _fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    known = _FIELDS.get(cls)
    if known is None:
        fields = dataclasses.fields(cls)
        known = _FIELDS[cls] = (
            tuple(f.name for f in fields if f.compare),
            tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)),
            tuple(f.name for f in fields if f.repr))
    return known


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]  # (mypy knows it in methods only)
    names = _fields(self.__class__)[0]
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in _fields(self.__class__)[1]))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _fields(self.__class__)[2])
    return f"{self.__class__.__qualname__}({shown})"


if TYPE_CHECKING:  # type checkers see what it is: a frozen dataclass
    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
    def record(cls: type[T]) -> type[T]: ...
else:
    def record(cls: type[T]) -> type[T]:
        """@dataclass(frozen=True, slots=True) with the shared __eq__, __hash__, __repr__."""
        cls.__eq__ = _eq
        cls.__hash__ = _hash
        cls.__repr__ = _repr
        made: type[T] = dataclasses.dataclass(frozen=True, slots=True, eq=False, repr=False)(cls)
        return made


__all__ = ["record"]
