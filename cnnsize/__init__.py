"""cnnsize: exact, symbolic size and cost of convolutional networks, layer by layer.

The core (spec parsing, shape propagation, counting) is pure Python; torch, fvcore, pandas and
matplotlib are imported only by the functions that need them.
"""

from __future__ import annotations

import gc

# The cyclic collector is paused while the package imports (and left as it was): the classes
# and kinds the import makes are all kept, so its passes over them find nothing to free.
_COLLECTING = gc.isenabled()
gc.disable()
try:
    from .analyze import analyze
    from .conventions import DTYPE_BYTES, Conventions
    from .errors import CnnsizeError, ShapeError, SpecError
    from .report import LayerStats, Report, Totals
    from .spec import Network, load, loads, parse, zoo_names
    from .summary import summary  # eager: its module has its name, and would shadow it
finally:
    if _COLLECTING:
        gc.enable()

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:  # what __getattr__ loads on first use, for type checkers
    from .claims import check
    from .comparison import compare
    from .verify.build import build
    from .verify.crosscheck import crosscheck
    from .verify.importer import from_module
    from .verify.timing import time_layers

__version__ = "0.1.0"

# Loaded on first use, so that `import cnnsize` (and `cnnsize report`) stays light: the parts
# that need torch, and those the report does not use.
_LAZY = {"build": "cnnsize.verify.build", "crosscheck": "cnnsize.verify.crosscheck",
         "from_module": "cnnsize.verify.importer", "time_layers": "cnnsize.verify.timing",
         "check": "cnnsize.claims", "compare": "cnnsize.comparison"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cnnsize' has no attribute {name!r}")

__all__ = ["DTYPE_BYTES", "CnnsizeError", "Conventions", "LayerStats", "Network", "Report",
           "ShapeError", "SpecError", "Totals", "analyze", "build", "check", "compare", "crosscheck",
           "from_module", "load", "loads", "parse", "summary", "time_layers", "zoo_names"]
