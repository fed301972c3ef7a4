"""Layer kinds, one module per family (base.FAMILIES), each imported the first time a spec
needs one of its kinds; `REGISTRY` and `FUNCTIONS` read from this package hold every kind
(reading them imports every family)."""

from __future__ import annotations

from .base import (
    FAMILIES,
    Cost,
    Kind,
    Shape,
    Window,
    is_kind,
    kind_names,
    load_families,
    lookup,
    register,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:  # what __getattr__ gives, for type checkers
    from typing import Any

    from . import (
        activation,
        attention,
        conv,
        learned,
        lecun,
        linear,
        merge,
        norm,
        pad,
        pool,
        reduce,
        resample,
        shape_ops,
        stochastic,
    )
    from .base import FUNCTIONS, REGISTRY


def __getattr__(name: str) -> Any:
    """REGISTRY and FUNCTIONS with every family's kinds; a family's module, imported."""
    import importlib

    if name in ("REGISTRY", "FUNCTIONS"):
        load_families()
        from . import base

        value = globals()[name] = getattr(base, name)
        return value
    if name in FAMILIES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FAMILIES",
    "FUNCTIONS",
    "REGISTRY",
    "Cost",
    "Kind",
    "Shape",
    "Window",
    "activation",
    "attention",
    "conv",
    "is_kind",
    "kind_names",
    "learned",
    "lecun",
    "linear",
    "load_families",
    "lookup",
    "merge",
    "norm",
    "pad",
    "pool",
    "reduce",
    "register",
    "resample",
    "shape_ops",
    "stochastic",
]
