"""The result of an analysis: frozen per-layer rows and totals of exact integers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

from .conventions import Conventions
from .record import asdict, field, fields, record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    import pandas

    from .layers import Kind

# The version of the JSON contract (docs/cli.md): 2 added inputs, outputs, each row's inputs,
# input shapes, shares, live and saved bytes, and the memory totals; merges became kinds
# (add, mul, cat instead of residual, mul, concat).
FORMAT_VERSION = 2

# Numeric columns shared by rows and totals, in the order of the JSON contract.
COUNT_KEYS = ("units", "weights", "biases", "params", "connections", "macs", "flops",
              "activation_bytes")


def _number(x: int | Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


@record
class LayerStats:
    """One row: a layer (or the merge step of a container) with its exact counts."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    units: int
    weights: int
    biases: int
    params: int
    buffers: int
    connections: int
    macs: int
    flops: int
    activation_bytes: int
    receptive_field: tuple[int, ...] | None
    jump: tuple[int | Fraction, ...] | None
    depth: int
    neurons: bool
    kind: Kind | None = None   # the layer kind (None for the report's input pseudo-row)
    notes: tuple[str, ...] = ()
    # Its --explain lines (`explain`), or what makes them on first read: analyze gives a
    # callable, since most reports never show them (ResNet-152: a third of the analysis).
    _explain: tuple[str, ...] | Callable[[], tuple[str, ...]] = field(
        default=(), repr=False, compare=False)
    inputs: tuple[str, ...] = ()                    # the tensors it reads: rows or graph inputs
    input_shapes: tuple[tuple[int, ...], ...] = ()  # their shapes, per example
    shares: str | None = None  # the row whose module (and parameters) this row calls again
    buffer_bytes: int = 0      # bytes of its buffers (int64 ones at 8 B)
    live_bytes: int = 0        # bytes of every tensor alive while it runs (inference)
    saved_bytes: int = 0       # bytes it adds to what autograd keeps for backward (training)
    scope: tuple[str, ...] = ()  # the containers it was written in, outermost first
    trainable_params: int = 0  # its params, or 0 where they are frozen (trainable: false)
    # False: an op cnnsize has no formulas for (opaque): its connections, MACs, FLOPs and
    # memory (NOT_COUNTED) are 0 here, shown as "not counted", null in JSON
    counted: bool = True
    # True: computed from the model's own tensors alone, once per forward pass (a `state` and
    # the rows that read only such rows): its counts are not multiplied by the batch
    per_pass: bool = False

    @property
    def explain(self) -> tuple[str, ...]:
        """Every formula of the row with its numbers, as `cnnsize report --explain` prints them
        (made on first read, then kept)."""
        lines = self._explain
        if not isinstance(lines, tuple):
            lines = lines()
            object.__setattr__(self, "_explain", lines)
        return lines

    @property
    def args(self) -> tuple[tuple[str, Any], ...]:
        """The kind's arguments that differ from PyTorch's defaults, for display."""
        return tuple(self.kind.args().items()) if self.kind is not None else ()

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of its one input (None for a row with several: a merge)."""
        return self.input_shapes[0] if len(self.input_shapes) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "inputs": list(self.inputs),
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shape": list(self.output_shape),
            **{key: getattr(self, key) for key in COUNT_KEYS[:3]},
            "params": self.params,
            "buffers": self.buffers,
            **{key: getattr(self, key) for key in COUNT_KEYS[4:]},
            "buffer_bytes": self.buffer_bytes,
            "live_bytes": self.live_bytes,
            "saved_bytes": self.saved_bytes,
            "trainable_params": self.trainable_params,
            "scope": list(self.scope),
            "receptive_field": list(self.receptive_field) if self.receptive_field else None,
            "jump": [_number(j) for j in self.jump] if self.jump else None,
            "shares": self.shares,
            "notes": list(self.notes),
            # an op without formulas (opaque): null, never 0, for what it does not count
            **({} if self.counted else {**dict.fromkeys(NOT_COUNTED), "counted": False}),
            **({"per_pass": True} if self.per_pass else {}),  # once per forward pass
        }


# What a row of an op without formulas (opaque) does not count: null in JSON, "n/c" in tables.
NOT_COUNTED = ("connections", "macs", "flops", "activation_bytes", "saved_bytes")


# Counts a container adds up over the rows it holds (units: neuron rows only).
SUMMED = ("units", "weights", "biases", "params", "trainable_params", "buffers", "buffer_bytes",
          "connections", "macs", "flops", "activation_bytes", "saved_bytes")


@record
class ContainerStats:
    """A container as written (a sequential, residual, concat, block or imported module), with
    the subtotals of the rows it holds: `Report.layers[first:last + 1]`, one contiguous run."""

    name: str
    type: str
    parent: str | None
    depth: int                 # the containers around it (0: at the top, like its rows' depth)
    first: int
    last: int
    output_shape: tuple[int, ...]  # of the tensor it stands for
    receptive_field: tuple[int, ...] | None
    jump: tuple[int | Fraction, ...] | None
    flagged: int               # rows inside with a note (⚠)
    units: int
    weights: int
    biases: int
    params: int
    trainable_params: int
    buffers: int
    buffer_bytes: int
    connections: int
    macs: int
    flops: int
    activation_bytes: int
    saved_bytes: int
    live_bytes: int            # the most bytes alive while one of its rows runs (inference)

    @property
    def rows(self) -> int:
        return self.last - self.first + 1

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["output_shape"] = list(self.output_shape)
        out["receptive_field"] = list(self.receptive_field) if self.receptive_field else None
        out["jump"] = [_number(j) for j in self.jump] if self.jump else None
        return out


@record
class Totals:
    """Whole-network figures. `units` sums neuron layers only (conv, pool, linear)."""

    units: int
    weights: int
    biases: int
    params: int
    buffers: int
    connections: int
    macs: int
    flops: int
    activation_bytes: int  # the input plus every stored layer output, for the batch
    receptive_field: tuple[int, ...] | None
    input_bytes: int
    param_bytes: int
    buffer_bytes: int
    training_bytes_sgd: int   # saved for backward + buffers + params, gradients, momentum
    training_bytes_adam: int  # saved for backward + buffers + params, gradients, two moments
    peak_bytes: int = 0       # inference: the most bytes alive at once, the inputs included
    peak_at: str = ""         # the row running at that moment ("" before the first: the inputs)
    peak_live: tuple[tuple[str, int], ...] = ()  # the tensors alive then, with their bytes
    saved_bytes: int = 0      # training: tensors autograd keeps for backward (unique storages)
    uncalled_params: int = 0  # parameters of modules the forward never calls (imports)
    uncalled_buffers: int = 0
    trainable_params: int = 0  # params whose module trains (not frozen with trainable: false)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        out["receptive_field"] = list(self.receptive_field) if self.receptive_field else None
        out["peak_live"] = [{"name": n, "bytes": b} for n, b in self.peak_live]
        return out


@record
class View:
    """How a report shows itself by default (str(), Jupyter, render() without options): the
    rows (flat, or containers rolled up below `depth`, or a `tree`), the columns, and with
    `summary` the totals block that torchinfo users look for."""

    depth: int | None = None
    tree: bool = False
    columns: tuple[str, ...] | None = None
    summary: bool = False


@record
class Report:
    name: str
    input_shape: tuple[int, ...]
    conventions: Conventions
    layers: tuple[LayerStats, ...]
    totals: Totals
    source: str = "<dict>"
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()  # every input, by name
    outputs: tuple[str, ...] = ()                         # the rows (or inputs) it returns
    uncalled: tuple[tuple[str, int, int], ...] = ()  # (module path, params, buffers) never called
    notes: tuple[str, ...] = ()                      # about the network as a whole
    containers: tuple[ContainerStats, ...] = ()      # subtotals, parents before members
    view: View = View()                              # how it shows itself by default

    def with_view(self, *, depth: int | None = None, tree: bool = False,
                  columns: str | Sequence[str] | None = None, summary: bool = False) -> Report:
        """The same report, shown by default with these rows and columns (see render())."""
        from .render.rows import columns as column_keys
        from .render.rows import shown_rows

        keys = column_keys(columns) if columns is not None else None
        shown_rows(self, depth, tree)  # checks depth
        return replace(self, view=View(depth, tree, keys, summary))

    @property
    def batch(self) -> int:
        return self.conventions.batch

    @property
    def dtype(self) -> str:
        return self.conventions.dtype

    def __getitem__(self, name: str) -> LayerStats:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (docs/cli.md): exact integers, one entry per row."""
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "input": list(self.input_shape),
            "inputs": {name: list(shape) for name, shape in self.inputs},
            "outputs": list(self.outputs),
            "batch": self.batch,
            "dtype": self.dtype,
            "conventions": {f.name: getattr(self.conventions, f.name)
                            for f in fields(self.conventions)},
            "layers": [row.to_dict() for row in self.layers],
            "containers": [c.to_dict() for c in self.containers],
            "uncalled": [{"path": p, "params": n, "buffers": b} for p, n, b in self.uncalled],
            "notes": list(self.notes),
            "totals": self.totals.to_dict(),
            # rows whose costs are not counted (opaque ops): the totals leave them out
            "not_counted": [row.name for row in self.layers if not row.counted],
        }

    def to_frame(self) -> pandas.DataFrame:
        """One row per layer as a pandas DataFrame (pandas is imported only here)."""
        from .extras import require

        require("pandas", "Report.to_frame()")
        import pandas as pd

        records = [row.to_dict() for row in self.layers]
        for rec in records:
            rec["output_shape"] = tuple(rec["output_shape"])
            rec["receptive_field"] = tuple(rec["receptive_field"]) if rec["receptive_field"] else None
            rec["jump"] = tuple(rec["jump"]) if rec["jump"] else None
        return pd.DataFrame.from_records(records).set_index("name")

    def render(self, fmt: str = "text", **options: Any) -> str:
        from .render import render

        return render(self, fmt, **options)

    def to_text(self, **options: Any) -> str:
        return self.render("text", **options)

    def to_markdown(self, **options: Any) -> str:
        return self.render("markdown", **options)

    def to_csv(self) -> str:
        return self.render("csv")

    def to_json(self) -> str:
        return self.render("json")

    def to_latex(self) -> str:
        return self.render("latex")

    def to_html(self) -> str:
        return self.render("html")

    def _repr_html_(self) -> str:
        return self.render("html")

    def __str__(self) -> str:
        return self.render("text")
