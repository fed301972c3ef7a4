"""Layer kinds, one module per family; importing this package registers them all."""

from . import activation, conv, lecun, linear, merge, norm, pool
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
           "lecun",
           "linear",
           "lookup",
           "merge",
           "norm",
           "pool",
           "register",
]
