"""@record: cnnsize's data classes, made without importing the dataclasses module.

Importing dataclasses imports inspect, and with it ast, dis, tokenize and linecache: about 10 ms
of CPU, a sixth of what all of `cnnsize report vgg16` takes, for nothing a report uses. A record
is what @dataclass(frozen=True, slots=True) makes, built here from the class's annotations
(`record(frozen=False, slots=False, eq=False, repr=False)` for the other flavours, and
`kind_fields` for the layer kinds, which define their methods once, in Kind):

- the fields: every annotation that is not a ClassVar, in order, bases' first; a default is the
  class attribute or a `field(...)`; a mutable default is refused, as dataclass() refuses it;
- __init__, compiled the first time it is looked up (by the first call, or by
  inspect.signature): a report makes instances of a third of the classes;
- __eq__, __hash__ (frozen and compared), __repr__, __replace__ and frozen's __setattr__ and
  __delattr__, written once here for every class, read from the fields;
- with slots, the class is made again with __slots__ and copy and pickle still work;
- the errors dataclass() raises when it makes a class (a mutable default, a field without a
  default after one with, a field() without an annotation, frozen and non-frozen classes
  mixed, __slots__ given twice); InitVar and keyword-only fields are refused: no record uses
  them.

To the rest of Python a record is a dataclass: `dataclasses.fields`, `replace`, `asdict`,
`is_dataclass` and a @dataclass subclass read `__dataclass_fields__` and
`__dataclass_params__`, which are made (importing dataclasses) the first time they are read.
cnnsize's own code calls this module's `fields`, `replace` and `asdict`, which do not import it
and which read a subclass's own fields (a @dataclass subclass's from dataclasses).

Where they differ from a dataclass: annotations name typing's names, which cnnsize's modules
import for type checkers only (`TYPE_CHECKING = False` in each, which mypy reads as true), so
typing.get_type_hints needs `localns=vars(typing)`; pprint shows a record on one line; and on
Python 3.13, where a dataclass compares fields one by one, a record compares them as a tuple
(a NaN field equals itself), as a dataclass does up to 3.12. Where a field is declared again
in a diamond of record classes, the one nearest in the MRO wins.
"""

from __future__ import annotations

import reprlib
import sys
from types import MappingProxyType, SimpleNamespace

TYPE_CHECKING = False  # typing is not imported at run time (a report does not need it)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, overload

    from typing_extensions import dataclass_transform

    T = TypeVar("T")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # a field without a default (dataclasses.MISSING's role)


class Field:
    """One field of a record: what dataclasses.Field holds, for the options records use."""

    __slots__ = ("compare", "default", "default_factory", "hash", "init", "metadata", "name",
                 "repr", "type")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
                 repr: bool = True, hash: bool | None = None, compare: bool = True,
                 metadata: Any = None) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.hash = hash
        self.compare = compare
        self.metadata = MappingProxyType(dict(metadata) if metadata else {})

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r}, default={self.default!r}, "
                f"default_factory={self.default_factory!r}, init={self.init}, repr={self.repr}, "
                f"hash={self.hash}, compare={self.compare}, metadata={dict(self.metadata)!r})")


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True,
          repr: bool = True, hash: bool | None = None, compare: bool = True,
          metadata: Any = None) -> Any:
    """A field's options, as dataclasses.field takes them (without kw_only)."""
    return Field(default, default_factory, init, repr, hash, compare, metadata)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record (class or instance), in order; of a subclass, its own (a
    @dataclass subclass: the ones dataclasses made for it)."""
    found = _fields_of(obj if isinstance(obj, type) else type(obj))
    if found is None:
        raise TypeError(f"{obj!r} is not a record")
    return found


def is_record(obj: Any) -> bool:
    """Whether obj is a record class or instance (or of a class made from one)."""
    return _fields_of(obj if isinstance(obj, type) else type(obj)) is not None


def _fields_of(cls: type) -> tuple[Field, ...] | None:
    found: tuple[Field, ...] | None = cls.__dict__.get("_record_fields")
    if found is not None:
        return found
    for base in cls.__mro__:  # a subclass that is not a record
        own = base.__dict__
        if "_record_fields" in own:
            made: tuple[Field, ...] = own["_record_fields"]
            return made
        if isinstance(own.get("__dataclass_fields__"), dict):  # a @dataclass made from a record
            return tuple(_from_dataclass(f) for f in sys.modules["dataclasses"].fields(base))
    return None


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of a record with some fields changed (dataclasses.replace, for records)."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be "
                                 "specified with replace()")
            continue
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    made: T = obj.__class__(**changes)
    return made


def asdict(obj: Any, *, dict_factory: Callable[[list[tuple[str, Any]]], Any] = dict) -> Any:
    """A record as a dict of its fields, recursively (dataclasses.asdict, for records)."""
    if _fields_of(type(obj)) is None:
        raise TypeError("asdict() should be called on record instances")
    return _asdict(obj, dict_factory)


_ATOMIC = frozenset({type(None), bool, int, float, complex, str, bytes})


def _asdict(obj: Any, dict_factory: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    cls = type(obj)
    if cls in _ATOMIC:
        return obj
    record_fields = _fields_of(cls)
    if record_fields is not None:
        return dict_factory([(f.name, _asdict(getattr(obj, f.name), dict_factory))
                             for f in record_fields])
    if hasattr(cls, "__dataclass_fields__"):  # a dataclass that is not a record
        import dataclasses

        return dataclasses.asdict(obj, dict_factory=dict_factory)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return cls(*[_asdict(v, dict_factory) for v in obj])
    if isinstance(obj, (list, tuple)):
        return cls(_asdict(v, dict_factory) for v in obj)
    if isinstance(obj, dict):
        return cls((_asdict(k, dict_factory), _asdict(v, dict_factory)) for k, v in obj.items())
    import copy

    return copy.deepcopy(obj)


# ---------------------------------------------------------------- the shared methods

def _eq(self: Any, other: object) -> bool:
    names: tuple[str, ...] = self._record_compared
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]  # (mypy knows it in methods only)
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in self._record_hashed))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._record_shown)
    return f"{self.__class__.__qualname__}({shown})"


def frozen_error(name: str, verb: str = "assign to") -> Exception:
    """The error assigning to a frozen record's field raises: dataclasses.FrozenInstanceError
    (an AttributeError), imported only then."""
    import dataclasses

    return dataclasses.FrozenInstanceError(f"cannot {verb} field {name!r}")


def _refuses(self: Any, name: str) -> bool:
    """As dataclass() writes frozen's __setattr__: a record's own instance refuses every name,
    a subclass's its fields."""
    return "_record_fields" in type(self).__dict__ or name in self._record_names


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    if _refuses(self, name):
        raise frozen_error(name)
    object.__setattr__(self, name, value)


def _frozen_delattr(self: Any, name: str) -> None:
    if _refuses(self, name):
        raise frozen_error(name, "delete")
    object.__delattr__(self, name)


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for f, value in zip(fields(self), state):
        object.__setattr__(self, f.name, value)  # a frozen record's own __setattr__ refuses


def _replace_self(self: Any, /, **changes: Any) -> Any:
    """copy.replace(record, ...) (Python 3.13): replace()."""
    return replace(self, **changes)


# ---------------------------------------------------------------- dataclasses' view of a record

class _DataclassFields:
    """__dataclass_fields__ of a record and its subclasses: dataclasses.Field objects made from
    its fields the first time it is read (what dataclasses.fields, replace and asdict read)."""

    def __get__(self, obj: object, owner: type) -> dict[str, Any]:
        made: dict[str, Any] | None = owner.__dict__.get("_record_dataclass_fields")
        if made is None:
            import dataclasses

            made = {}
            for f in owner._record_fields:  # type: ignore[attr-defined]
                options: dict[str, Any] = dict(init=f.init, repr=f.repr, hash=f.hash,
                                               compare=f.compare, metadata=f.metadata)
                if f.default is not MISSING:
                    options["default"] = f.default
                if f.default_factory is not MISSING:
                    options["default_factory"] = f.default_factory
                made[f.name] = made_field = dataclasses.field(**options)
                made_field.name, made_field.type = f.name, f.type
                made_field._field_type = dataclasses._FIELD  # type: ignore[attr-defined]
                made_field.kw_only = False  # (what dataclass() sets in a field it makes)
            type.__setattr__(owner, "_record_dataclass_fields", made)
        return made


class _DataclassParams:
    """__dataclass_params__: the flags a @dataclass subclass reads from its bases."""

    def __get__(self, obj: object, owner: type) -> SimpleNamespace:
        flags: dict[str, bool] = owner._record_flags  # type: ignore[attr-defined]
        return SimpleNamespace(order=False, unsafe_hash=False, match_args=True, kw_only=False,
                               weakref_slot=False, **flags)


_DATACLASS_FIELDS = _DataclassFields()
_DATACLASS_PARAMS = _DataclassParams()


# ---------------------------------------------------------------- making a record

def _is_typing(annotation: Any, name: str) -> bool:
    """Whether an annotation is typing's ClassVar or dataclasses' InitVar (`name`), bare or
    subscripted, as text (`from __future__ import annotations`) or as the object."""
    if isinstance(annotation, str):
        head = annotation.strip().split("[", 1)[0].strip()
        return head == name or head.endswith(f".{name}")
    for module in ("typing", "dataclasses"):  # an object: one of them made it
        made = getattr(sys.modules.get(module), name, None)
        if made is not None and (annotation is made or type(annotation) is made
                                 or getattr(annotation, "__origin__", None) is made):
            return True
    return False


def _from_dataclass(value: Any) -> Field:
    """A dataclasses.Field (given in a record, or made by dataclasses for a subclass) as a
    Field."""
    unset = sys.modules["dataclasses"].MISSING
    if getattr(value, "kw_only", False) is True:
        raise TypeError(f"field {value.name!r}: a record has no keyword-only fields")
    made = Field(MISSING if value.default is unset else value.default,
                 MISSING if value.default_factory is unset else value.default_factory,
                 value.init, value.repr, value.hash, value.compare, value.metadata)
    made.name, made.type = value.name, value.type
    return made


def _own_fields(cls: type) -> list[Field]:
    annotations = cls.__dict__.get("__annotations__")  # noqa: RUF063 - (inspect's import)
    if annotations is None and "__annotate__" in cls.__dict__:  # Python 3.14's lazy ones
        annotations = cls.__annotations__
    annotations = annotations or {}
    for name, value in cls.__dict__.items():
        if isinstance(value, Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    own = []
    for name, annotation in annotations.items():
        if _is_typing(annotation, "ClassVar"):
            continue
        if _is_typing(annotation, "InitVar"):
            raise TypeError(f"{cls.__name__}.{name}: a record has no InitVar fields")
        value = cls.__dict__.get(name, MISSING)
        if isinstance(value, Field):
            f = value
        elif type(value).__name__ == "Field" and type(value).__module__ == "dataclasses":
            value.name = name
            f = _from_dataclass(value)
        else:
            f = Field(value)
        if f.default is not MISSING and f.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not "
                             "allowed: use default_factory")
        f.name, f.type = name, annotation
        if f.default is MISSING:
            if name in cls.__dict__:
                type.__delattr__(cls, name)
        else:
            type.__setattr__(cls, name, f.default)
        own.append(f)
    return own


def _all_fields(cls: type) -> tuple[Field, ...]:
    merged: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:
        if isinstance(base.__dict__.get("__dataclass_fields__"), dict):
            raise TypeError(f"record {cls.__name__} cannot subclass the dataclass "
                            f"{base.__name__}: make it a record")
        merged.update((f.name, f) for f in base.__dict__.get("_record_own", ()))
    own = _own_fields(cls)
    type.__setattr__(cls, "_record_own", tuple(own))
    merged.update((f.name, f) for f in own)
    return tuple(merged.values())


def _check_init(cls: type, all_fields: tuple[Field, ...]) -> None:
    """What the __init__ made for these fields would refuse, refused now (it is compiled when
    the class is first called)."""
    defaulted = ""
    for f in all_fields:
        if f.name == "self":
            raise TypeError(f"record {cls.__name__}: a field may not be named 'self'")
        if not f.init:
            continue
        if f.default is MISSING and f.default_factory is MISSING:
            if defaulted:
                raise TypeError(f"non-default argument {f.name!r} follows default argument "
                                f"{defaulted!r}")
        else:
            defaulted = defaulted or f.name


def _init_code(cls: type, frozen: bool) -> Callable[..., None]:
    """The class's __init__, compiled from its fields, as dataclass() writes it."""
    # the function's own names begin with __record_, which no field's does
    names: dict[str, Any] = {"__record_set": object.__setattr__, "__record_missing": MISSING}
    params, body = [], []
    for i, f in enumerate(cls._record_fields):  # type: ignore[attr-defined]
        if f.name.startswith("__record_"):
            raise TypeError(f"record {cls.__name__}: a field may not be named {f.name!r}")
        value = f.name
        if f.default_factory is not MISSING:
            names[f"__record_factory{i}"] = f.default_factory
            value = (f"__record_factory{i}() if {f.name} is __record_missing else {f.name}"
                     if f.init else f"__record_factory{i}()")
            default = "__record_missing"
        elif f.default is not MISSING:
            names[f"__record_default{i}"] = f.default
            default, value = f"__record_default{i}", (f.name if f.init else
                                                      f"__record_default{i}")
        elif f.init:
            default = ""
        else:
            continue  # init=False without a default: not set
        if f.init:
            params.append(f"{f.name}={default}" if default else f.name)
        body.append(f"    __record_set(self, {f.name!r}, {value})" if frozen
                    else f"    self.{f.name} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass")
    made: dict[str, Any] = {}
    exec(source, names, made)  # the source is made here, from the class's field names
    init: Callable[..., None] = made["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = {**{f.name: f.type for f in cls._record_fields  # type: ignore[attr-defined]
                               if f.init}, "return": None}
    return init


class _InitOnFirstUse:
    """A record's __init__ until it is first looked up (calling the class looks it up; so do
    inspect.signature, help and a wrapper that replaces it): then it compiles the real one,
    puts it in the class in its place, and gives that."""

    __slots__ = ("cls", "frozen")

    def __init__(self, cls: type, frozen: bool) -> None:
        self.cls, self.frozen = cls, frozen

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        init = self.cls.__dict__["__init__"]
        if init is self:  # (not replaced meanwhile, by another thread or anyone else)
            init = _init_code(self.cls, self.frozen)
            type.__setattr__(self.cls, "__init__", init)
        return init.__get__(obj, owner)


def _make(cls: type, *, init: bool, repr: bool, eq: bool, frozen: bool, slots: bool,
          methods: bool = True) -> type:
    """The record made of cls; `methods`: False where the class's bases define them all
    (Kind), and only the fields are recorded."""
    all_fields = _all_fields(cls)
    _check_frozen(cls, frozen)
    if init and "__init__" not in cls.__dict__:
        _check_init(cls, all_fields)
    if slots:
        if "__slots__" in cls.__dict__:
            raise TypeError(f"{cls.__name__} already specifies __slots__")
        cls = _with_slots(cls, all_fields)
    own = cls.__dict__

    def put(name: str, value: Any) -> None:
        type.__setattr__(cls, name, value)

    put("_record_fields", all_fields)
    put("_record_flags", dict(init=init, repr=repr, eq=eq, frozen=frozen, slots=slots))
    put("_record_compared", tuple(f.name for f in all_fields if f.compare))
    put("_record_hashed", tuple(f.name for f in all_fields
                                if (f.compare if f.hash is None else f.hash)))
    put("_record_shown", tuple(f.name for f in all_fields if f.repr))
    put("_record_names", frozenset(f.name for f in all_fields))
    put("__dataclass_fields__", _DATACLASS_FIELDS)
    put("__dataclass_params__", _DATACLASS_PARAMS)
    if "__match_args__" not in own:
        put("__match_args__", tuple(f.name for f in all_fields if f.init))
    if not own.get("__doc__"):
        put("__doc__", f"{cls.__name__}({', '.join(_parameter(f) for f in all_fields if f.init)})")
    if "__replace__" not in own:
        put("__replace__", _replace_self)
    if not methods:
        return cls
    if init and "__init__" not in own:
        put("__init__", _InitOnFirstUse(cls, frozen))
    if repr and "__repr__" not in own:
        put("__repr__", _repr)
    explicit_hash = own.get("__hash__", MISSING) is not MISSING and not (
        own["__hash__"] is None and "__eq__" in own)
    if eq:
        if "__eq__" not in own:
            put("__eq__", _eq)
        if not explicit_hash:
            put("__hash__", _hash if frozen else None)
    if frozen:
        for name, method in (("__setattr__", _frozen_setattr), ("__delattr__", _frozen_delattr)):
            if name in own:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            put(name, method)
        if slots:
            if "__getstate__" not in own:
                put("__getstate__", _getstate)
            if "__setstate__" not in own:
                put("__setstate__", _setstate)
    return cls


def _check_frozen(cls: type, frozen: bool) -> None:
    """dataclass()'s rule: a frozen class has only frozen record bases, and the reverse."""
    bases = [flags["frozen"] for base in cls.__mro__[1:]
             if (flags := base.__dict__.get("_record_flags")) is not None]
    if bases and any(bases) and not frozen:
        raise TypeError("cannot inherit non-frozen dataclass from a frozen one")
    if bases and not any(bases) and frozen:
        raise TypeError("cannot inherit frozen dataclass from a non-frozen one")


def _parameter(f: Field) -> str:
    """A field as the parameter of __init__ that dataclass()'s docstring shows."""
    shown = f"{f.name}: {f.type!r}" if isinstance(f.type, str) else \
        f"{f.name}: {getattr(f.type, '__qualname__', f.type)}"
    if f.default_factory is not MISSING:
        return f"{shown} = <factory>"
    return shown if f.default is MISSING else f"{shown} = {f.default!r}"


def _with_slots(cls: type, all_fields: tuple[Field, ...]) -> type:
    """The class made again with __slots__ for its fields (as dataclass(slots=True) does)."""
    inherited = {name for base in cls.__mro__[1:-1]
                 for name in _slot_names(base)}
    namespace = dict(cls.__dict__)
    namespace["__slots__"] = tuple(f.name for f in all_fields if f.name not in inherited)
    for f in all_fields:
        namespace.pop(f.name, None)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    made = type(cls)(cls.__name__, cls.__bases__, namespace)
    made.__qualname__ = cls.__qualname__
    return made


def _slot_names(cls: type) -> tuple[str, ...]:
    slots = cls.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)


if TYPE_CHECKING:  # type checkers see what it is: a dataclass, frozen unless told
    @overload
    @dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
    def record(cls: type[T], /) -> type[T]: ...

    @overload
    def record(*, frozen: bool = True, slots: bool = True, eq: bool = True,
               repr: bool = True, init: bool = True) -> Callable[[type[T]], type[T]]: ...

    def record(cls: Any = None, /, *, frozen: bool = True, slots: bool = True, eq: bool = True,
               repr: bool = True, init: bool = True) -> Any: ...
else:
    def record(cls=None, /, *, frozen=True, slots=True, eq=True, repr=True, init=True):
        """@dataclass(frozen=True, slots=True), or with the flags given, as a record."""
        def make(cls):
            return _make(cls, init=init, repr=repr, eq=eq, frozen=frozen, slots=slots)

        return make if cls is None else make(cls)


def kind_fields(cls: type[T]) -> type[T]:
    """A layer kind's fields, as a frozen record's, without any of the methods (Kind defines
    __init__, __eq__, __hash__, __repr__ and frozen's __setattr__ for every kind)."""
    made: type[T] = _make(cls, init=False, repr=False, eq=False, frozen=True, slots=False,
                          methods=False)
    return made


__all__ = ["MISSING", "Field", "asdict", "field", "fields", "frozen_error", "is_record",
           "kind_fields", "record", "replace"]
