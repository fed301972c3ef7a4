"""Charts with matplotlib (imported here only): per-layer bars, totals across networks,
MACs vs params, where the memory goes, and cost vs input resolution.

Every chart has a title, axes labelled with their units, K/M/G tick labels, a legend, and one
colour per quantity across all charts.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .analyze import InputShape, SpecLike, analyze
from .comparison import compare
from .conventions import Conventions
from .errors import CnnsizeError
from .extras import require
from .render import human_bytes, shape_text
from .render.rows import leaves
from .report import ContainerStats, Report
from .spec import load, zoo_names

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

require("matplotlib", "drawing charts (cnnsize plot, reports with charts)")

KINDS = ("layers", "totals", "scatter", "memory", "resolution")
COLORS = {"units": "#1f77b4", "weights": "#d62728", "params": "#d62728",
          "connections": "#2ca02c", "macs": "#ff7f0e", "activation_bytes": "#9467bd",
          "training": "#8c564b"}
LABELS = {"units": "units", "weights": "weights", "params": "parameters",
          "connections": "connections", "macs": "MACs", "activation_bytes": "activation memory"}


def _si(value: float, _pos: Any = None) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _byte_unit(largest: float) -> tuple[int, str]:
    """The binary unit that keeps byte axes readable: plot values / scale, label the unit."""
    for scale, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if largest >= scale:
            return scale, suffix
    return 1, "B"


def _figure(width: float = 9, height: float = 5) -> tuple[Figure, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _unclash(fig: Figure, ax: Any) -> None:
    """Tick labels of the x axis turned upright where, measured as drawn, neighbours would
    overlap (AlexNet's 'features.10', 'features.12', 'avgpool' at slide size)."""
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    if len(labels) < 2:
        return
    fig.draw_without_rendering()  # the layout, so that the extents are those drawn
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    pad = 2.0  # pixels between neighbours
    if any(a.x1 + pad > b.x0 for a, b in itertools.pairwise(boxes)):
        for tick in labels:
            tick.set_rotation(90)


def _legend_outside(ax: Any, columns: int) -> None:
    """The legend in one row above the axes, where it covers no bar."""
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.06), ncols=columns, frameon=False,
              borderaxespad=0.0)


def _ticks(ax: Any, axis: str, formatter: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(formatter))


_CONTROL = dict.fromkeys(range(32), None) | {0x7F: None}


def label(text: str) -> str:
    """User text (a network's or layer's name) as matplotlib shows it literally: no mathtext
    from a '$', no control characters (they would make an SVG invalid XML)."""
    return str(text).translate(_CONTROL).replace("$", r"\$")


# More bars than this do not read on a slide: a per-layer chart of a deeper network is rolled up,
# unless a depth is given, at the deepest depth that keeps to this many (and says so).
MAX_BARS = 40


def _neuron_bars(report: Report, depth: int | None) -> list[Any]:
    """The bars: neuron layers (conv, pool, linear); with `depth`, containers rolled up at that
    depth stand for their members."""
    if depth is None:
        return [r for r in report.layers if r.neurons]
    return [s.stats for s in leaves(report, depth)
            if s.container or getattr(s.stats, "neurons", False)]


def _fitting_depth(report: Report, bars: Callable[[Report, int | None], list[Any]],
                   max_bars: int | None) -> int | None:
    """None where every row fits in `max_bars` bars (or no limit); else the deepest --depth
    whose bars do, or None where even the top level has more."""
    if max_bars is None or len(bars(report, None)) <= max_bars or not report.containers:
        return None
    deepest = 1 + max(c.depth for c in report.containers)
    for depth in range(deepest, 0, -1):
        if len(bars(report, depth)) <= max_bars:
            return depth
    return None


def plot_layers(net: SpecLike, *, log: bool | None = None,
                conventions: Conventions | None = None, input_shape: InputShape | None = None,
                depth: int | None = None, max_bars: int | None = MAX_BARS) -> Figure:
    """Per-layer bars of units, weights and connections (the lecture's rule of thumb); with
    `depth`, per container rolled up at that depth (without, at the deepest depth that keeps
    to `max_bars` bars, where the layers are more). `log`: None (default) is a log axis where
    the bars span more than two decades (small bars would vanish on a linear one)."""
    report = analyze(net, conventions=conventions or Conventions(), input_shape=input_shape)
    fitted = _fitting_depth(report, _neuron_bars, max_bars) if depth is None else None
    name, rows = report.name, _neuron_bars(report, depth or fitted)
    fig, ax = _figure(max(7.0, 0.35 * len(rows) + 3), 5)
    quantities = ("units", "weights", "connections")
    values = [getattr(r, q) for r in rows for q in quantities]
    if log is None:
        shown = [v for v in values if v > 0]
        log = bool(shown) and max(shown) > 100 * min(shown)
    width = 0.27
    for i, q in enumerate(quantities):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        ax.bar(xs, [getattr(r, q) for r in rows], width, label=LABELS[q], color=COLORS[q])
    ax.set_xticks(range(len(rows)), [label(r.name) for r in rows],
                  fontsize=7 if len(rows) > 30 else 9)
    _unclash(fig, ax)
    ax.set_xlabel("layer (convolution, pooling and fully connected layers)" if not depth or fitted
                  else f"layer, or block rolled up at depth {depth} (its layers summed)")
    if fitted:
        ax.set_xlabel(f"layer, or block rolled up at depth {fitted} (its layers summed)\n"
                      f"to keep to {max_bars} bars; --depth chooses another")
    ax.set_ylabel("count per example" + (" (log scale)" if log else ""))
    if log:
        ax.set_yscale("log")
    _ticks(ax, "y", _si)
    ax.set_title(f"{label(name)}: units, weights and connections per layer"
                 + _input_note(input_shape))
    _legend_outside(ax, 3)
    return fig


def plot_totals(nets: Sequence[SpecLike], *, log: bool = True,
                conventions: Conventions | None = None,
                input_shape: InputShape | None = None) -> Figure:
    """Totals of several networks side by side (log scale by default)."""
    comparison = compare(nets, conventions=conventions, input_shape=input_shape)
    batch = comparison.conventions.batch
    quantities = ("units", "params", "connections", "macs")
    fig, ax = _figure(max(7.0, 1.6 * len(comparison.names) + 2), 5)
    width = 0.8 / len(quantities)
    for i, q in enumerate(quantities):
        values = comparison.row(q).values
        xs = [j + (i - 1.5) * width for j in range(len(values))]
        ax.bar(xs, values, width, label=LABELS[q], color=COLORS[q])
    ax.set_xticks(range(len(comparison.names)), [label(n) for n in comparison.names])
    ax.set_xlabel("network")
    ax.set_ylabel(("count per example" if batch == 1 else f"count per example (MACs: batch {batch})")
                  + (" (log scale)" if log else ""))
    if log:
        ax.set_yscale("log")
    _ticks(ax, "y", _si)
    ax.set_title("Network totals compared" + _input_note(input_shape))
    ax.legend()
    return fig


def plot_scatter(nets: Sequence[SpecLike] | None = None, *,
                 conventions: Conventions | None = None) -> Figure:
    """MACs against parameters, one labelled point per network (the whole zoo by default)."""
    comparison = compare(list(nets) if nets else zoo_names(), conventions=conventions)
    params, macs = comparison.row("params").values, comparison.row("macs").values
    batch = comparison.conventions.batch
    fig, ax = _figure(10, 7)
    ax.scatter(params, macs, color=COLORS["macs"], label="one network at its spec's input size")
    # Labels alternate sides in order of size, so that neighbours do not print over each other.
    order = sorted(range(len(params)), key=lambda i: (macs[i], params[i]))
    for rank, i in enumerate(order):
        dx, dy, ha = ((5, 2, "left") if rank % 2 == 0 else (-5, -9, "right"))
        ax.annotate(label(comparison.names[i]), (params[i], macs[i]), textcoords="offset points",
                    xytext=(dx, dy), ha=ha, fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _ticks(ax, "x", _si)
    _ticks(ax, "y", _si)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel(f"MACs{' per example' if batch == 1 else f', batch {batch}'} (log scale)")
    ax.set_title("Compute vs size")
    ax.legend()
    return fig


def plot_memory(net: SpecLike, *, conventions: Conventions | None = None,
                input_shape: InputShape | None = None, depth: int | None = None,
                max_bars: int | None = MAX_BARS) -> Figure:
    """Activation memory per layer: the output each stores at inference, what training keeps
    for backward, and the bytes alive while it runs (the inference peak marked). With
    `depth`, per container rolled up at that depth (stored and saved summed, alive: the most)."""
    conv = conventions or Conventions()
    report = analyze(net, conventions=conv, input_shape=input_shape)
    if depth is None:
        depth = _fitting_depth(report, lambda r, d: leaves(r, d), max_bars)
        fitted = depth
    else:
        fitted = None
    shown = leaves(report, depth)
    rows = [s.stats for s in shown]
    names = [label(r.name) for r in rows]
    fig, ax = _figure(max(7.0, 0.25 * len(names) + 3), 5)
    xs = list(range(len(names)))
    scale, unit = _byte_unit(max([r.live_bytes for r in rows] + [r.saved_bytes for r in rows]
                                 + [1]))
    ax.bar([x - 0.2 for x in xs], [r.activation_bytes / scale for r in rows], 0.4,
           label="output stored (inference; in-place activations share)",
           color=COLORS["activation_bytes"])
    ax.bar([x + 0.2 for x in xs], [r.saved_bytes / scale for r in rows], 0.4,
           label="kept for backward (training)", color=COLORS["training"])
    ax.step(xs, [r.live_bytes / scale for r in rows], where="mid", color="#444444", linewidth=1,
            label="alive while the layer runs (inference)" if depth is None
            else "the most alive while its layers run (inference)")
    t = report.totals
    if t.peak_at:
        at = next(i for i, r in enumerate(report.layers) if r.name == t.peak_at)
        peak = next(i for i, s in enumerate(shown) if _holds(s.stats, at, t.peak_at))
        ax.annotate(f"inference peak {human_bytes(t.peak_bytes)}", (peak, t.peak_bytes / scale),
                    textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(xs, names, rotation=90, fontsize=7 if len(names) > 30 else 8)
    ax.set_xlabel("layer" if depth is None else f"layer, or block rolled up at depth {depth}"
                  + (f"\nto keep to {max_bars} bars; --depth chooses another" if fitted else ""))
    ax.set_ylabel(f"activation memory ({unit}), batch {conv.batch}, {conv.dtype}")
    ax.set_title(f"{label(report.name)}: where the activation memory goes"
                 + _input_note(input_shape))
    _legend_outside(ax, 2)
    return fig


def _holds(stats: Any, index: int, name: str) -> bool:
    """Whether a bar stands for the row at `index` named `name`: it, or a container of it."""
    if isinstance(stats, ContainerStats):
        return stats.first <= index <= stats.last
    return bool(stats.name == name)


def plot_resolution(nets: Sequence[SpecLike], sizes: Sequence[int] = (), *,
                    conventions: Conventions | None = None) -> Figure:
    """MACs (left) and activation memory (right) as the square input grows; sizes that do not
    fit a network are skipped, and its legend entry names them."""
    conv = conventions or Conventions()
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    series = []
    for net in nets:
        network = load(net)
        if len(network.inputs) != 1:
            raise CnnsizeError(f"a resolution chart scales one input; {network.name} has "
                               f"{len(network.inputs)} ({', '.join(network.input_names)})",
                               field="--kind")
        channels, *spatial = network.input_shape
        base = spatial[0] if spatial else 1
        grid = list(sizes) or sorted({max(8, base * f // 4) for f in range(1, 9)})
        xs, macs, mem, skipped = [], [], [], []
        for s in grid:
            try:
                report = analyze(network, conventions=conv, input_shape=(channels, *[s] * len(spatial)))
            except CnnsizeError:
                skipped.append(s)
                continue
            xs.append(s)
            macs.append(report.totals.macs)
            mem.append(report.totals.activation_bytes)
        if not xs:
            raise CnnsizeError(f"none of the input sizes {grid} fits {network.name}",
                               field="--sizes", hint="give sizes near the spec's own input")
        name = label(network.name)
        if skipped:
            shown = ", ".join(map(str, skipped[:6])) + (", …" if len(skipped) > 6 else "")
            name += f" (does not run at {shown} px)"
        series.append((name, xs, macs, mem))
    scale, unit = _byte_unit(max(m for *_, mem in series for m in mem))
    for name, xs, macs, mem in series:
        ax.plot(xs, macs, marker="o", label=name)
        ax2.plot(xs, [m / scale for m in mem], marker="s", label=name)
    for axis in (ax, ax2):
        axis.set_xlabel("input height = width (pixels)")
        axis.set_yscale("log")
        axis.legend(fontsize=8)
    _ticks(ax, "y", _si)
    _ticks(ax2, "y", _si)  # one tick style on both axes (0.1, 1, 10; not 10⁻¹, 10⁰, 10¹)
    ax.set_ylabel(f"MACs, batch {conv.batch} (log scale)")
    ax2.set_ylabel(f"activation memory ({unit}), batch {conv.batch}, {conv.dtype} (log scale)")
    ax.set_title("MACs vs input resolution")
    ax2.set_title("Activation memory vs input resolution")
    return fig


def _input_note(input_shape: InputShape | None) -> str:
    """What the title says when --input replaced the spec's input shape."""
    if input_shape is None:
        return ""
    if isinstance(input_shape, Mapping):
        shapes = ", ".join(f"{label(str(k))} {shape_text(tuple(v))}" for k, v in input_shape.items())
    else:
        shapes = shape_text(tuple(input_shape))
    return f" (input {shapes})"


def plot(nets: Sequence[SpecLike], kind: str = "layers", *, log: bool | None = None,
         sizes: Sequence[int] = (), conventions: Conventions | None = None,
         input_shape: InputShape | None = None, depth: int | None = None) -> Figure:
    """One chart of `kind` (see KINDS) for the given networks; `depth` rolls the bars of the
    per-layer charts up into containers."""
    if kind not in KINDS:
        raise CnnsizeError(f"unknown chart kind {kind!r}", field="kind",
                           hint=f"choose one of {', '.join(KINDS)}")
    if input_shape is not None and kind in ("scatter", "resolution"):
        raise CnnsizeError(f"a '{kind}' chart takes no input shape: "
                           + ("it places each network at its own input" if kind == "scatter"
                              else "it varies the input; give the sizes with --sizes"),
                           field="--input")
    single = {"layers": lambda n: plot_layers(n, log=log, conventions=conventions,
                                              input_shape=input_shape, depth=depth),
              "memory": lambda n: plot_memory(n, conventions=conventions, input_shape=input_shape,
                                              depth=depth)}
    if kind in single:
        if len(nets) != 1:
            raise CnnsizeError(f"a '{kind}' chart shows one network; got {len(nets)}", field="kind")
        return single[kind](nets[0])
    if kind == "totals":
        return plot_totals(nets, log=True, conventions=conventions, input_shape=input_shape)
    if kind == "scatter":
        return plot_scatter(nets, conventions=conventions)
    return plot_resolution(nets, sizes, conventions=conventions)


CHART_FORMATS = (".png", ".svg", ".pdf")


def save(fig: Figure, path: str | os.PathLike[str],
         inputs: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Write PNG, SVG or PDF (by extension), without timestamps so that files are reproducible,
    atomically and never over one of `inputs`."""
    from .files import atomic_path

    target = os.fspath(path)
    ext = os.path.splitext(target)[1].lower()
    if ext not in CHART_FORMATS:
        raise CnnsizeError(f"charts are written as .png, .svg or .pdf, not "
                           f"{ext or 'no extension'!r}", field="--output")
    import matplotlib

    by_format: dict[str, dict[str, Any]] = {
        ".svg": {"Date": None, "Creator": "cnnsize"}, ".png": {"Software": None},
        ".pdf": {"CreationDate": None, "Creator": "cnnsize", "Producer": None}}
    metadata = by_format[ext]
    with matplotlib.rc_context({"svg.hashsalt": "cnnsize", "svg.fonttype": "none",
                                "pdf.fonttype": 42}), \
            atomic_path(target, [i for i in inputs if i]) as temp:
        try:
            fig.savefig(temp, format=ext[1:], metadata=metadata)
        except OSError as e:
            raise CnnsizeError(f"cannot write {target}: {e.strerror}", field="--output") from None
