"""Charts with matplotlib (imported here only): per-layer bars, totals across networks,
MACs vs params, where the memory goes, and cost vs input resolution.

Every chart has a title, axes labelled with their units, K/M/G tick labels, a legend, and one
colour per quantity across all charts.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
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


# The largest figure a chart takes (inches): it fits a 16:9 or 4:3 slide at 100 dpi, and a page.
SLIDE = (16.0, 12.0)
# Tick labels of a horizontal per-layer chart: the largest and the smallest font size (points).
ROW_FONT = (9.0, 6.0)
_PAD = 2.0  # pixels between neighbouring tick labels


def _clashes(boxes: Sequence[Any], axis: str) -> bool:
    """Whether any two of the boxes, neighbours along `axis` ("x" or "y"), overlap (or come
    closer than _PAD pixels)."""
    lo, hi = ("x0", "x1") if axis == "x" else ("y0", "y1")
    ordered = sorted(boxes, key=lambda b: getattr(b, lo))
    return any(getattr(a, hi) + _PAD > getattr(b, lo) for a, b in itertools.pairwise(ordered))


def _tick_boxes(fig: Figure, ax: Any, axis: str) -> list[Any]:
    """The drawn extents of the axis's labelled ticks (after laying the figure out)."""
    fig.draw_without_rendering()  # the layout, so that the extents are those drawn
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_window_extent() for t in ticks if t.get_text() and t.get_visible()]


def _pitch(boxes: Sequence[Any], axis: str) -> float:
    """The least distance between neighbouring labels' centres along `axis`, in pixels."""
    centres = sorted((b.x0 + b.x1) / 2 if axis == "x" else (b.y0 + b.y1) / 2 for b in boxes)
    return float(min(b - a for a, b in itertools.pairwise(centres)))


def _thin(fig: Figure, ax: Any, axis: str, names: Sequence[str], extent: float,
          pitch: float, fontsize: float | None = None) -> int:
    """Every k-th row named, where labels `extent` pixels long along `axis` (measured) at
    `pitch` pixels apart overlap: the k they need, raised until, measured again as drawn, no
    two overlap; every row keeps a minor tick. Returns k."""
    k = max(2, math.ceil((extent + _PAD) / max(pitch, 1e-9)))
    set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
    first = (ax.get_xticklabels() if axis == "x" else ax.get_yticklabels())[0]
    style = {"fontsize": fontsize or first.get_fontsize(), "rotation": first.get_rotation()}
    while True:
        set_ticks(range(0, len(names), k), names[::k], **style)
        if k >= len(names) or not _clashes(_tick_boxes(fig, ax, axis), axis):
            break
        k += 1
    set_ticks(range(len(names)), minor=True)
    return k


def _unclash(fig: Figure, ax: Any, names: Sequence[str]) -> int:
    """Tick labels of the x axis turned upright where, measured as drawn, neighbours would
    overlap (AlexNet's 'features.10', 'features.12', 'avgpool' at slide size); where even
    upright ones would, thinned (see _thin). Returns k, one name every k bars."""
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    if len(labels) < 2 or not _clashes(_tick_boxes(fig, ax, "x"), "x"):
        return 1
    for tick in labels:
        tick.set_rotation(90)
    boxes = _tick_boxes(fig, ax, "x")
    if not _clashes(boxes, "x"):
        return 1
    return _thin(fig, ax, "x", names, max(b.width for b in boxes), _pitch(boxes, "x"))


def _fit_rows(fig: Figure, ax: Any, names: Sequence[str]) -> int:
    """The y tick labels of a horizontal chart at the largest font of ROW_FONT at which,
    measured as drawn, no label overlaps its neighbour; where even the smallest would, every
    k-th row named (see _thin). Returns k."""
    largest, smallest = ROW_FONT
    if len(names) < 2:
        ax.set_yticks(range(len(names)), names, fontsize=largest)
        return 1
    # One label drawn first (the others blank: quick), for its height and the rows' pitch; a
    # label's height is in proportion to its font size. Every choice is then measured again.
    ax.set_yticks(range(len(names)), [names[0]] + [""] * (len(names) - 1), fontsize=largest)
    tall = _tick_boxes(fig, ax, "y")[0].height
    x = ax.get_xlim()[0]
    pitch = abs(float(ax.transData.transform((x, 1))[1] - ax.transData.transform((x, 0))[1]))
    size = min(largest, int(2 * largest * (pitch - _PAD) / tall) / 2)  # in steps of 0.5 pt
    while size >= smallest:
        ax.set_yticks(range(len(names)), names, fontsize=size)
        if not _clashes(_tick_boxes(fig, ax, "y"), "y"):
            return 1
        size -= 0.5  # taller glyphs than the first label's, or the layout moved: smaller
    return _thin(fig, ax, "y", names, tall * smallest / largest, pitch, smallest)


def _bar_figure(rows: int, per_row: float) -> tuple[Figure, Any, bool]:
    """A figure for `rows` groups of bars, and whether they run across: up to MAX_BARS rows
    upright bars, `per_row` inches each, as wide as that needs up to the slide's width; more
    rows as horizontal bars, top to bottom, as tall as they need up to the slide's height."""
    if rows > MAX_BARS:
        return (*_figure(10, min(SLIDE[1], max(5.0, 0.18 * rows + 2.5))), True)
    return (*_figure(min(SLIDE[0], max(7.0, per_row * rows + 3)), 5), False)


def _grouped_bars(ax: Any, across: bool, width: float,
                  series: Sequence[tuple[Sequence[float], str, str]]) -> None:
    """One bar per row for each (values, legend label, colour), side by side in each row, in
    the legend's order (left to right; top to bottom when `across`)."""
    draw = ax.barh if across else ax.bar
    for i, (values, name, color) in enumerate(series):
        at = [j + (i - (len(series) - 1) / 2) * width for j in range(len(values))]
        draw(at, values, width, label=name, color=color)


def _row_axis(fig: Figure, ax: Any, across: bool, names: Sequence[str], text: str,
              fontsize: float) -> None:
    """The rows' names along the x axis (turned upright where they would overlap), or, for
    horizontal bars, down the y axis in network order (shrunk, then thinned, to fit)."""
    if across:
        ax.set_ylim(len(names) - 0.5, -0.5)  # the first row on top
        k = _fit_rows(fig, ax, names)
        ax.set_ylabel(text + (f"\n(one name every {k} rows)" if k > 1 else ""))
    else:
        ax.set_xticks(range(len(names)), names, fontsize=fontsize)
        k = _unclash(fig, ax, names)
        ax.set_xlabel(text + (f"\n(one name every {k} bars)" if k > 1 else ""))


def _value_axis(ax: Any, across: bool, text: str, *, log: bool = False,
                formatter: Callable[[float, Any], str] | None = None) -> None:
    """The axis of the values: y for upright bars, x for horizontal ones."""
    (ax.set_xlabel if across else ax.set_ylabel)(text)
    if log:
        (ax.set_xscale if across else ax.set_yscale)("log")
    if formatter is not None:
        _ticks(ax, "x" if across else "y", formatter)


def _legend_outside(fig: Figure, ax: Any, columns: int) -> None:
    """The legend in a row (or rows) just above the axes, where it covers no bar, and the
    title above the legend: moved up by the legend's height as drawn."""
    legend = ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=columns,
                       frameon=False, borderaxespad=0.3)
    fig.draw_without_rendering()
    height = legend.get_window_extent().height * 72 / fig.dpi  # points
    ax.set_title(ax.get_title(), pad=height + 0.3 * legend.get_texts()[0].get_fontsize() + 4)


def _ticks(ax: Any, axis: str, formatter: Any) -> None:
    """One tick style on the axis: `formatter`'s (K/M/G), and on a log axis for the minor
    ticks that matplotlib labels where the axis spans little (20G, not 2×10¹⁰)."""
    from matplotlib.ticker import FuncFormatter, LogFormatter

    class Minor(LogFormatter):  # matplotlib's choice of which minor ticks to label
        def __call__(self, x: float, pos: Any = None) -> str:
            return formatter(x, pos) if super().__call__(x, pos) else ""

    which = ax.yaxis if axis == "y" else ax.xaxis
    which.set_major_formatter(FuncFormatter(formatter))
    if which.get_scale() == "log":
        which.set_minor_formatter(Minor(labelOnlyBase=False))


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
    fig, ax, across = _bar_figure(len(rows), 0.35)
    quantities = ("units", "weights", "connections")
    values = [getattr(r, q) for r in rows for q in quantities]
    if log is None:
        shown = [v for v in values if v > 0]
        log = bool(shown) and max(shown) > 100 * min(shown)
    _grouped_bars(ax, across, 0.27,
                  [([getattr(r, q) for r in rows], LABELS[q], COLORS[q]) for q in quantities])
    _value_axis(ax, across, "count per example" + (" (log scale)" if log else ""), log=log,
                formatter=_si)
    ax.set_title(f"{label(name)}: units, weights and connections per layer"
                 + _input_note(input_shape))
    _legend_outside(fig, ax, 3)
    what = ("layer (convolution, pooling and fully connected layers)" if not (depth or fitted)
            else f"layer, or block rolled up at depth {depth or fitted} (its layers summed)")
    if fitted:
        what += f"\nto keep to {max_bars} bars; --depth chooses another"
    _row_axis(fig, ax, across, [label(r.name) for r in rows], what,
              7 if len(rows) > 30 else 9)
    return fig


def plot_totals(nets: Sequence[SpecLike], *, log: bool = True,
                conventions: Conventions | None = None,
                input_shape: InputShape | None = None) -> Figure:
    """Totals of several networks side by side (log scale by default)."""
    comparison = compare(nets, conventions=conventions, input_shape=input_shape)
    batch = comparison.conventions.batch
    quantities = ("units", "params", "connections", "macs")
    fig, ax, across = _bar_figure(len(comparison.names), 1.6)
    _grouped_bars(ax, across, 0.8 / len(quantities),
                  [(comparison.row(q).values, LABELS[q], COLORS[q]) for q in quantities])
    _value_axis(ax, across, ("count per example" if batch == 1
                             else f"count per example (MACs: batch {batch})")
                + (" (log scale)" if log else ""), log=log, formatter=_si)
    ax.set_title("Network totals compared" + _input_note(input_shape))
    _legend_outside(fig, ax, 4)
    _row_axis(fig, ax, across, [label(n) for n in comparison.names], "network", 9)
    return fig


def plot_scatter(nets: Sequence[SpecLike] | None = None, *,
                 conventions: Conventions | None = None) -> Figure:
    """MACs against parameters, one labelled point per network (the whole zoo by default)."""
    comparison = compare(list(nets) if nets else zoo_names(), conventions=conventions)
    params, macs = comparison.row("params").values, comparison.row("macs").values
    batch = comparison.conventions.batch
    fig, ax = _figure(10, 7)
    points = ax.scatter(params, macs, color=COLORS["macs"],
                        label="one network at its spec's input size")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _ticks(ax, "x", _si)
    _ticks(ax, "y", _si)
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel(f"MACs{' per example' if batch == 1 else f', batch {batch}'} (log scale)")
    ax.set_title("Compute vs size")
    ax.margins(x=0.1, y=0.06)  # room for the names of the points at the edges
    legend = ax.legend(loc="upper left")
    fig.draw_without_rendering()  # the layout and the axes' limits, fixed before the labels
    marker = (points.get_sizes()[0] ** 0.5 / 2 + 1) * fig.dpi / 72  # radius in pixels, and 1 pt
    _place_labels(ax, list(zip(params, macs, strict=True)),
                  [label(n) for n in comparison.names], marker, [legend.get_window_extent()])
    return fig


# Where a point's label goes, in order of preference: right, left, above, below, then the corners.
_AROUND = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))


def _place_labels(ax: Any, xy: Sequence[tuple[float, float]], names: Sequence[str],
                  marker: float, avoid: Sequence[Any], fontsize: float = 8) -> None:
    """Each name next to its point where, measured as drawn, it overlaps no other name, no
    marker (`marker`: their radius in pixels) and nothing in `avoid`, inside the axes: the first
    free one of the 8 places around the point; else the first free one farther out, one line
    height at a time in 16 directions, with a thin leader line to the point. The most crowded
    points are placed first, then from the top down: the same chart gives the same picture."""
    from matplotlib.transforms import Bbox

    fig = ax.get_figure()
    frame = ax.get_window_extent()
    at = [tuple(ax.transData.transform(p)) for p in xy]
    markers = [Bbox.from_extents(x - marker, y - marker, x + marker, y + marker) for x, y in at]
    taken: list[Any] = [*markers, *avoid]
    to_points = 72 / fig.dpi
    sizes = []
    for name, p in zip(names, xy, strict=True):  # each name's extent, as drawn at this font
        probe = ax.annotate(name, p, fontsize=fontsize, ha="center", va="center")
        box = probe.get_window_extent()
        sizes.append((box.width, box.height))
        probe.remove()
    # Neighbours within about a long name's width and three lines' height of each point.
    crowd = [sum(abs(x - u) < 120 and abs(y - v) < 40 for u, v in at) for x, y in at]
    places: dict[int, tuple[float, float, int]] = {}
    leaders: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for i in sorted(range(len(names)), key=lambda j: (-crowd[j], -at[j][1], at[j][0])):
        (x, y), (w, h) = at[i], sizes[i]
        # Leader lines that cross nothing if there is such a place; else any free place.
        for strict, (ring, (dx, dy)) in itertools.product((True, False), _candidates()):
            gap = marker + 4 + ring * h
            cx, cy = x + dx * (w / 2 + gap), y + dy * (h / 2 + gap)
            box = Bbox.from_bounds(cx - w / 2, cy - h / 2, w, h)
            if not _inside(box, frame) or any(_meet(box, other) for other in taken):
                continue
            if strict and any(_crosses(a, b, box) for a, b in leaders):
                continue  # it would cover a leader line
            if strict and ring and any(_crosses((cx, cy), (x, y), other) for other in taken
                                       if not _meet(other, markers[i], 0)):
                continue  # its leader would cross a name or a point (not its own, or on it)
            break
        else:  # nowhere free: right of the point, over whatever is there
            cx, cy, ring = x + w / 2 + marker + 4, y, 0
            box = Bbox.from_bounds(cx - w / 2, cy - h / 2, w, h)
        taken.append(box)
        if ring:
            leaders.append(((cx, cy), (x, y)))
        places[i] = (cx - x, cy - y, ring)
    for i, name in enumerate(names):  # in the order given, so that ax.texts keeps it
        dx, dy, ring = places[i]
        leader = {"arrowprops": {"arrowstyle": "-", "color": "0.55", "linewidth": 0.6,
                                 "shrinkA": 1, "shrinkB": marker * to_points}} if ring else {}
        text = ax.annotate(name, xy[i], textcoords="offset points",
                           xytext=(dx * to_points, dy * to_points), ha="center", va="center",
                           fontsize=fontsize, **leader)
        text.set_in_layout(False)


def _candidates() -> Iterator[tuple[int, tuple[float, float]]]:
    """(ring, direction) pairs: the 8 places around a point, then rings farther out, each
    in 16 directions (22.5° apart), nearest first."""
    yield from ((0, d) for d in _AROUND)
    for ring in range(1, 40):
        for k in (0, 8, 4, 12, 2, 6, 10, 14, 1, 7, 9, 15, 3, 5, 11, 13):
            angle = k * math.pi / 8
            yield ring, (math.cos(angle), math.sin(angle))


def _inside(box: Any, frame: Any) -> bool:
    return bool(box.x0 >= frame.x0 + _PAD and box.x1 <= frame.x1 - _PAD
                and box.y0 >= frame.y0 + _PAD and box.y1 <= frame.y1 - _PAD)


def _meet(a: Any, b: Any, pad: float = 2.0) -> bool:
    """Whether two boxes overlap or come within `pad` pixels of each other."""
    return bool(a.x0 < b.x1 + pad and b.x0 < a.x1 + pad and a.y0 < b.y1 + pad
                and b.y0 < a.y1 + pad)


def _crosses(start: tuple[float, float], end: tuple[float, float], box: Any) -> bool:
    """Whether the segment from `start` to `end` passes through `box` (Liang-Barsky clipping)."""
    (x0, y0), (x1, y1) = start, end
    lo, hi = 0.0, 1.0
    for p, q in ((x0 - x1, x0 - box.x0), (x1 - x0, box.x1 - x0),
                 (y0 - y1, y0 - box.y0), (y1 - y0, box.y1 - y0)):
        if p == 0:
            if q < 0:
                return False  # parallel to this edge and outside it
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


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
    fig, ax, across = _bar_figure(len(rows), 0.25)
    scale, unit = _byte_unit(max([r.live_bytes for r in rows] + [r.saved_bytes for r in rows]
                                 + [1]))
    _grouped_bars(ax, across, 0.4, [
        ([r.activation_bytes / scale for r in rows],
         "output stored (inference; in-place activations share)", COLORS["activation_bytes"]),
        ([r.saved_bytes / scale for r in rows], "kept for backward (training)", COLORS["training"])])
    live = [r.live_bytes / scale for r in rows]
    alive = ("alive while the layer runs (inference)" if depth is None
             else "the most alive while its layers run (inference)")
    if across:  # a step down the rows, as ax.step(where="mid") draws one along them
        at = [0.0] + [y for i in range(1, len(rows)) for y in (i - 0.5, i - 0.5)] + [len(rows) - 1]
        ax.plot([v for v in live for _ in (0, 1)], at, color="#444444", linewidth=1, label=alive)
    else:
        ax.step(range(len(rows)), live, where="mid", color="#444444", linewidth=1, label=alive)
    t = report.totals
    peak_note = None
    if t.peak_at:
        at_row = next(i for i, r in enumerate(report.layers) if r.name == t.peak_at)
        peak = next(i for i, s in enumerate(shown) if _holds(s.stats, at_row, t.peak_at))
        peak_note = (f"inference peak {human_bytes(t.peak_bytes)}",
                     (t.peak_bytes / scale, peak) if across else (peak, t.peak_bytes / scale))
    _value_axis(ax, across, f"activation memory ({unit}), batch {conv.batch}, {conv.dtype}")
    ax.set_title(f"{label(report.name)}: where the activation memory goes"
                 + _input_note(input_shape))
    _legend_outside(fig, ax, 2)
    _row_axis(fig, ax, across, [label(r.name) for r in rows],
              "layer" if depth is None else f"layer, or block rolled up at depth {depth}"
              + (f"\nto keep to {max_bars} bars; --depth chooses another" if fitted else ""),
              7 if len(rows) > 30 else 8)
    if peak_note:
        _note_past_bars(fig, ax, *peak_note, "x" if across else "y")
    return fig


def _note_past_bars(fig: Figure, ax: Any, text: str, xy: tuple[float, float], axis: str) -> None:
    """A note just past a point along the value axis (`axis`: right of it, or above), or, where
    it would cover a bar there as drawn, past those bars with a thin line back to the point; the
    linear value axis lengthened so that it ends inside."""
    across = axis == "x"
    style: dict[str, Any] = {"ha": "left", "va": "center"} if across else {"ha": "center"}
    offset = 6.0  # points
    note = ax.annotate(text, xy, textcoords="offset points",
                       xytext=(offset, 0) if across else (0, offset), fontsize=8, **style)
    note.set_in_layout(False)
    fig.draw_without_rendering()
    box = note.get_window_extent()
    # The bars across the note's breadth, and how far along the value axis they reach.
    reach = [b.x1 if across else b.y1 for b in (p.get_window_extent() for p in ax.patches)
             if (b.y0 < box.y1 and box.y0 < b.y1 if across else b.x0 < box.x1 and box.x0 < b.x1)
             and (b.x1 > box.x0 if across else b.y1 > box.y0)]
    if reach:  # past the bars it would cover, with a line back to the point
        note.remove()
        shift = (max(reach) + 2 * _PAD - (box.x0 if across else box.y0)) * 72 / fig.dpi
        offset += shift
        note = ax.annotate(text, xy, textcoords="offset points",
                           xytext=(offset, 0) if across else (0, offset), fontsize=8,
                           arrowprops={"arrowstyle": "-", "color": "0.55", "linewidth": 0.6,
                                       "shrinkA": 1, "shrinkB": 0}, **style)
        note.set_in_layout(False)
    _widen_to_fit(fig, ax, note, axis)


def _widen_to_fit(fig: Figure, ax: Any, note: Any, axis: str) -> None:
    """The linear value axis (`axis`: "x" or "y") lengthened, where the note (anchored at a
    data point, offset in points) would run past its far end as drawn, so that it ends inside."""
    fig.draw_without_rendering()
    frame, box = ax.get_window_extent(), note.get_window_extent()
    lo, length, end, start = ((frame.x0, frame.width, box.x1, ax.get_xlim()[0]) if axis == "x"
                              else (frame.y0, frame.height, box.y1, ax.get_ylim()[0]))
    far = (ax.get_xlim() if axis == "x" else ax.get_ylim())[1]
    value = note.xy[0 if axis == "x" else 1]
    if end + _PAD <= lo + length or value <= start:
        return
    anchor = (value - start) / (far - start) * length  # pixels from the axis's start
    room = length - (end + _PAD - lo - anchor)  # the pixels the anchor may be at, at most
    (ax.set_xlim if axis == "x" else ax.set_ylim)(
        start, start + (value - start) * length / max(room, 1.0))


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
