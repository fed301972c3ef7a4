"""Layer kinds, one module per family; importing this package registers them all."""

from . import (
           activation,
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
from .base import FUNCTIONS, REGISTRY, Cost, Kind, Shape, Window, lookup, register

__all__ = [
           "FUNCTIONS",
           "REGISTRY",
           "Cost",
           "Kind",
           "Shape",
           "Window",
           "activation",
           "conv",
           "learned",
           "lecun",
           "linear",
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
