"""Layer kinds, one module per family; importing this package registers them all."""

from . import activation, conv, lecun, linear, norm, pool
from .base import REGISTRY, Cost, Kind, Shape, Window, lookup, register

__all__ = [
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
           "norm",
           "pool",
           "register",
]
