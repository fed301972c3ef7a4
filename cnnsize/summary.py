"""summary(): the call torchinfo users know, answered by cnnsize's Report.

`summary(model, input_size=(1, 3, 224, 224))` takes torchinfo's argument names where they mean
the same thing (docs/coming-from.md maps them, and their numbers, to cnnsize's): the input size
with its batch dim first, `depth`, `col_names`, `batch_dim`, `dtypes`, `verbose`. It returns the
same Report that analyze() does, set to show itself as a tree rolled up at `depth`, with the
trainable / non-trainable split and the size block.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from .analyze import SpecLike, analyze
from .conventions import DTYPE_BYTES, Conventions
from .errors import SpecTypeError
from .record import replace
from .report import Report

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any

# torchinfo's defaults are ("output_size", "num_params"); the type says what each row is.
DEFAULT_COLUMNS = ("type", "output", "params")


def summary(model: SpecLike | Any, input_size: Sequence[Any] | None = None, *,
            batch_dim: int | None = None, depth: int | None = 3,
            col_names: Sequence[str] | None = None, dtypes: Sequence[Any] | None = None,
            verbose: int | None = None, conventions: Conventions | None = None,
            allow_data_dependent: bool = False) -> Report:
    """The Report of an nn.Module (imported through one traced forward pass and checked against
    it), a spec, a file or a zoo name, shown like torchinfo.summary.

    input_size: the input's size with the batch dim first, (1, 3, 224, 224), or a list of them
        for several inputs; with `batch_dim=0` (torchinfo's way), without it: (3, 224, 224).
        Optional for a spec, which has its own.
    depth: containers nested this deep are rolled up into one row (None: every row).
    col_names: columns, by torchinfo's names ("input_size", "output_size", "num_params",
        "params_percent", "kernel_size", "mult_adds", "trainable") or cnnsize's.
    dtypes: the input's torch dtype (or its name); cnnsize counts one element size for
        inputs, activations and parameters, so several must agree.
    verbose: 0 prints nothing, 1 prints the summary, 2 prints every row; by default 1, or 0 in
        Jupyter, where the returned Report shows itself.
    """
    batch, shapes = _input_sizes(input_size, batch_dim)
    conv = conventions or Conventions()
    if not isinstance(conv, Conventions):
        raise SpecTypeError(f"conventions must be a cnnsize.Conventions, not "
                            f"{type(conv).__name__}", field="conventions")
    if input_size is not None:
        conv = replace(conv, batch=batch)
    if dtypes is not None:
        conv = replace(conv, dtype=_dtype(dtypes))
    if verbose is None:
        verbose = 0 if "ipykernel" in sys.modules else 1
    if verbose not in (0, 1, 2):
        raise SpecTypeError(f"verbose must be 0, 1 or 2, got {verbose!r}", field="verbose")
    report = analyze(model, input_shape=shapes, conventions=conv,
                     allow_data_dependent=allow_data_dependent)
    columns = list(col_names) if col_names is not None else list(DEFAULT_COLUMNS)
    report = report.with_view(depth=None if verbose == 2 else depth, tree=True,
                              columns=columns, summary=True)
    if verbose:
        from .render import render

        sys.stdout.write(render(report))
    return report


def _input_sizes(input_size: Sequence[Any] | None, batch_dim: int | None
                 ) -> tuple[int, Any]:
    """(batch, shapes without the batch dim) from torchinfo's input_size."""
    if input_size is None:
        return 1, None
    if batch_dim not in (None, 0):
        raise SpecTypeError(f"cnnsize puts the batch first: batch_dim must be 0 or None, got "
                            f"{batch_dim!r}", field="batch_dim")
    sizes: dict[str, list[Any]] | None
    if isinstance(input_size, Mapping):
        sizes = {str(k): list(v) for k, v in input_size.items()}
        many: list[list[Any]] = list(sizes.values())
    elif isinstance(input_size, (list, tuple)) and input_size and all(
            isinstance(s, (list, tuple)) for s in input_size):
        sizes, many = None, [list(s) for s in input_size]
    elif isinstance(input_size, (list, tuple)):
        sizes, many = None, [list(input_size)]
    else:
        raise SpecTypeError(f"input_size is a shape such as (1, 3, 224, 224), or one per input, "
                            f"not {type(input_size).__name__}", field="input_size")
    if batch_dim == 0:  # torchinfo: the sizes leave the batch out, it is 1
        batch, shapes = 1, many
    else:
        short = [s for s in many if len(s) < 2]
        if short:
            raise SpecTypeError(f"input_size {tuple(short[0])} has no batch dim: give "
                                f"(1, {', '.join(map(str, short[0]))}) or batch_dim=0",
                                field="input_size")
        batches = {s[0] for s in many}
        if len(batches) != 1:
            raise SpecTypeError(f"the inputs have different batch sizes {sorted(batches)}",
                                field="input_size")
        batch, shapes = batches.pop(), [s[1:] for s in many]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecTypeError(f"the batch size must be a positive integer, got {batch!r}",
                            field="input_size")
    if sizes is not None:
        return batch, dict(zip(sizes, shapes))
    return batch, shapes[0] if len(shapes) == 1 else shapes


def _dtype(dtypes: Sequence[Any]) -> str:
    names = {str(d).removeprefix("torch.") for d in dtypes}
    if len(names) != 1 or not names <= set(DTYPE_BYTES):
        raise SpecTypeError(f"dtypes {sorted(names)}: cnnsize counts one element type for the "
                            f"whole network, one of {', '.join(DTYPE_BYTES)}", field="dtypes",
                            hint="pass conventions=cnnsize.Conventions(dtype=...) instead")
    return names.pop()


__all__ = ["summary"]
