"""The optional libraries: which extra installs each, a clear error where one is missing, and
progress bars that are there when tqdm is.

The base install (PyYAML, tabulate) is what the symbolic path needs. `[torch]` adds torch,
fvcore and tqdm (crosscheck, import, build, time), `[plot]` matplotlib and tqdm (plot, reports
with charts), `[pandas]` pandas (Report.to_frame), `[all]` all of them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any, TypeVar

from .errors import MissingExtra

EXTRA = {"torch": "torch", "fvcore": "torch", "matplotlib": "plot", "pandas": "pandas"}
_found: dict[str, bool] = {}

T = TypeVar("T")


def available(module: str) -> bool:
    if module not in _found:
        try:
            _found[module] = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            _found[module] = False
    return _found[module]


def require(module: str, what: str) -> None:
    """MissingExtra naming the extra that installs `module`, unless it can be imported."""
    if available(module):
        return
    extra = EXTRA[module]
    hint = f"pip install 'cnnsize[{extra}]' (or 'cnnsize[all]')"
    if extra == "torch":
        hint += ("; a CPU-only torch: pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu (README, 'Installing')")
    raise MissingExtra(f"{what} needs {module}, which is not installed", hint=hint)


def progress(items: Iterable[T], show: bool, desc: str, total: int | None = None,
             **options: Any) -> Iterable[T]:
    """A tqdm bar over `items` when `show` and tqdm is installed; else the items as they are."""
    if not show or not available("tqdm"):
        return items
    from tqdm import tqdm

    bar: Iterable[T] = tqdm(items, desc=desc, total=total, **options)
    return bar


__all__ = ["EXTRA", "MissingExtra", "available", "progress", "require"]
