"""Side-by-side comparison of networks: one column per network, one row per quantity.

Training compute follows the lecture's rule of thumb (CSC421/2516 Lecture 10): about three
multiply-adds per connection per training example — one in the forward pass, two in the backward
pass — so total operations ≈ 3 · connections · training examples · epochs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .analyze import InputShape, SpecLike, analyze
from .conventions import Conventions
from .layers import REGISTRY
from .report import LayerStats, Report
from .spec import load

if TYPE_CHECKING:  # pragma: no cover
    import pandas

META_FIELDS = (("task", "task"), ("categories", "categories"), ("dataset", "dataset"),
               ("training_examples", "training examples"), ("epochs", "epochs"),
               ("year", "year"), ("paper", "paper"))
OPS_PER_CONNECTION = 3  # 1 forward + 2 backward multiply-adds per connection per example


@dataclass(frozen=True, slots=True)
class Row:
    """One compared quantity: its label, how to show it, and one value per network."""

    key: str
    label: str
    values: tuple[Any, ...]
    kind: str = "count"  # count, bytes, share, text, layer


@dataclass(frozen=True, slots=True)
class Comparison:
    names: tuple[str, ...]
    rows: tuple[Row, ...]
    reports: tuple[Report, ...]
    conventions: Conventions

    def row(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {"networks": list(self.names),
                "conventions": self.reports[0].to_dict()["conventions"] if self.reports else {},
                "rows": [{"key": r.key, "label": r.label, "kind": r.kind,
                          "values": [_plain(v) for v in r.values]} for r in self.rows]}

    def to_frame(self) -> pandas.DataFrame:
        from .extras import require

        require("pandas", "Comparison.to_frame()")
        import pandas as pd

        return pd.DataFrame([[_plain(v) for v in r.values] for r in self.rows],
                            index=[r.key for r in self.rows], columns=list(self.names))

    def render(self, fmt: str = "text", *, si: bool = False) -> str:
        from .render.compare import render_comparison

        text: str = render_comparison(self, fmt, si=si)
        return text


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def _family(row: LayerStats) -> str:
    cls = REGISTRY.get(row.type)
    return cls.family if cls else row.type


def _largest(report: Report, key: str, depth: int | None) -> tuple[str, int]:
    """The row with the most of `key`; with `depth`, among the rows that view shows (a
    container rolled up at that depth stands for its members)."""
    from .render.rows import leaves

    rows = [s.stats for s in leaves(report, depth)] if depth else report.layers
    best = max(rows, key=lambda r: getattr(r, key))
    return best.name, int(getattr(best, key))


def weighted_depth(report: Report) -> int:
    """The depth papers give: the most conv and linear layers on one path from an input to an
    output (ResNet-50: 50; its projection shortcuts run beside the body, not after it)."""
    longest: dict[str, int] = {}
    for row in report.layers:
        before = max((longest.get(name, 0) for name in row.inputs), default=0)
        longest[row.name] = before + (_family(row) in ("conv", "linear"))
    return max((longest.get(name, 0) for name in report.outputs), default=0)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def compare(nets: Sequence[SpecLike], *, input_shape: InputShape | None = None,
            conventions: Conventions | None = None, depth: int | None = None) -> Comparison:
    """Compare networks (zoo names, files, dicts) under one set of counting conventions.
    `depth`: the "largest layer" rows choose among containers rolled up at that depth."""
    conv = conventions or Conventions()
    networks = [load(n) for n in nets]
    reports = tuple(analyze(n, conventions=conv, input_shape=input_shape) for n in networks)
    rows: list[Row] = []

    def add(key: str, label: str, values: Sequence[Any], kind: str = "count") -> None:
        rows.append(Row(key, label, tuple(values), kind))

    metas: list[Mapping[str, Any]] = [n.meta for n in networks]
    for key, label in META_FIELDS:
        values = [m.get(key) for m in metas]
        if any(v is not None for v in values):
            add(key, label, values, "text" if key in ("task", "dataset", "paper", "year") else "count")
    add("input", "input size", [r.input_shape for r in reports], "shape")
    add("depth", "depth: conv + linear layers on the longest path",
        [weighted_depth(r) for r in reports])
    add("weighted_layers", "conv + linear layers in all (shortcuts, branches)",
        [sum(1 for row in r.layers if _family(row) in ("conv", "linear")) for r in reports])
    for key, label in (("units", "units"), ("weights", "weights"), ("params", "parameters"),
                       ("connections", "connections"), ("macs", "MACs"), ("flops", "FLOPs")):
        add(key, label, [getattr(r.totals, key) for r in reports])
    add("activation_bytes", f"activation memory, every layer's output (batch {conv.batch})",
        [r.totals.activation_bytes for r in reports], "bytes")
    add("peak_bytes", f"inference peak memory (batch {conv.batch})",
        [r.totals.peak_bytes for r in reports], "bytes")
    add("saved_bytes", f"saved for backward in training (batch {conv.batch})",
        [r.totals.saved_bytes for r in reports], "bytes")
    add("training_bytes_sgd", "training memory (SGD-momentum)",
        [r.totals.training_bytes_sgd for r in reports], "bytes")
    add("training_bytes_adam", "training memory (Adam)",
        [r.totals.training_bytes_adam for r in reports], "bytes")
    add("param_bytes", f"parameter memory ({conv.dtype})", [r.totals.param_bytes for r in reports],
        "bytes")
    for key, label in (("params", "largest layer by parameters"), ("macs", "largest layer by MACs"),
                       ("activation_bytes", "largest layer by activation memory"),
                       ("connections", "largest layer by connections")):
        if depth:
            label = label.replace("layer", f"row at --depth {depth}", 1)
        add(f"largest_{key}", label, [_largest(r, key, depth) for r in reports],
            "layer_bytes" if key == "activation_bytes" else "layer")
    add("fc_param_share", "share of parameters in fully connected layers",
        [_share(sum(row.params for row in r.layers if _family(row) == "linear"), r.totals.params)
         for r in reports], "share")
    add("conv_connection_share", "share of connections in convolution layers",
        [_share(sum(row.connections for row in r.layers if _family(row) == "conv"),
                r.totals.connections) for r in reports], "share")
    add("conv_unit_share", "share of units in convolution layers",
        [_share(sum(row.units for row in r.layers if row.neurons and _family(row) == "conv"),
                r.totals.units) for r in reports], "share")
    examples = [m.get("training_examples") for m in metas]
    epochs = [m.get("epochs") for m in metas]
    if any(e is not None for e in examples):
        add("training_ops", "training operations (≈ 3 · connections · examples · epochs)",
            [OPS_PER_CONNECTION * r.totals.connections * int(x) * int(e)
             if isinstance(x, int) and isinstance(e, int) else None
             for r, x, e in zip(reports, examples, epochs)])
    sources = [m.get("source") for m in metas]
    add("source", "source", sources, "text")
    return Comparison(tuple(r.name for r in reports), tuple(rows), reports, conv)
