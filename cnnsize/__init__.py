"""cnnsize: exact, symbolic size and cost of convolutional networks, layer by layer.

The core (spec parsing, shape propagation, counting) is pure Python; torch, fvcore, pandas and
matplotlib are imported only by the functions that need them.
"""

from __future__ import annotations

from .analyze import analyze
from .conventions import DTYPE_BYTES, Conventions
from .errors import CnnsizeError, ShapeError, SpecError
from .report import LayerStats, Report, Totals
from .spec import Network, load, loads, parse, zoo_names

__version__ = "0.1.0"

__all__ = ["DTYPE_BYTES", "CnnsizeError", "Conventions", "LayerStats", "Network", "Report",
           "ShapeError", "SpecError", "Totals", "analyze", "load", "loads", "parse", "zoo_names"]
