"""Architecture diagrams drawn from the symbolic analysis (matplotlib, imported here only).

Three styles, every number on them taken from the report:

- ``lenet``: feature maps as stacks of planes, kernel windows to scale, each transition labelled
  with its layer, as in LeCun et al. 1998 ("Gradient-based learning applied to document
  recognition", Fig. 2);
- ``alexnet``: 3-D boxes (height H, receding W, thickness C) with kernel cubes, as in
  Krizhevsky et al. 2012 ("ImageNet classification with deep convolutional neural networks",
  Fig. 2);
- ``graph``: a block diagram of any graph (branches, skips, merges) with the shape of each
  tensor under the box that makes it, containers rolled up to a depth (a ResNet stage as one box).

The layout is computed in inches from measured text extents, so that nothing overlaps at the
size it is drawn; the figure is then made to that size. Long diagrams wrap: a chain into rows,
a graph into columns cut where one box carries everything across.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .analyze import InputShape, SpecLike, analyze
from .conventions import Conventions
from .errors import CnnsizeError
from .extras import require
from .render import shape_text
from .render.rows import leaves
from .report import ContainerStats, LayerStats, Report

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

require("matplotlib", "drawing diagrams (cnnsize draw)")

Style = Literal["lenet", "alexnet", "graph"]
STYLES: tuple[Style, ...] = ("lenet", "alexnet", "graph")

# What a graph box can show under its caption (--costs), and the row attribute each reads.
COSTS = {"units": "units", "weights": "weights", "params": "params",
         "connections": "connections", "macs": "macs", "flops": "flops",
         "memory": "activation_bytes"}
COST_LABELS = {"units": "units", "weights": "weights", "params": "params",
               "connections": "connections", "macs": "MACs", "flops": "FLOPs",
               "memory": "memory"}

# Without --depth, a graph is rolled up at the deepest depth that keeps to this many boxes
# (GoogLeNet's inception modules open up: 62 boxes), a chain at the deepest depth that is a chain.
MAX_BOXES = 64
MAX_DRAWN = 300         # graph: more boxes than this are refused (--depth rolls them up)
MAX_STAGES = 48          # lenet / alexnet: more stages than this do not read, even wrapped
MAX_WIDTH = 16.0         # inches: a row (lenet, alexnet) wraps beyond this
MAX_COLUMN = 9.0         # inches: a graph's column wraps beyond this height
MAX_TALL = 2 * MAX_COLUMN  # inches: a graph drawn without --depth rolls up beyond this height
FONT = 8.0               # points: names and captions
SMALL = 7.0              # points: shapes, costs, dims

FILL = {"conv": "#dbe9f6", "pool": "#fde5c8", "linear": "#d9f0d3", "norm": "#eeeeee",
        "activation": "#f4f4f4", "dropout": "#f4f4f4", "reshape": "#f4f4f4",
        "merge": "#ffffff", "container": "#e8dff5", "input": "#ffffff"}
EDGE = "#333333"
MUTED = "#555555"


# ------------------------------------------------------------------ what is drawn: units

@dataclass(frozen=True, slots=True)
class Unit:
    """One thing on the picture: a graph input, a row, or a container rolled up."""

    name: str
    caption: str                 # what it computes, short ("3×3 conv, 64, /2")
    shape: tuple[int, ...]       # the tensor it produces, per example
    inputs: tuple[int, ...]      # the units it reads, by index
    family: str                  # "input", "container" or the kind's family
    stats: LayerStats | ContainerStats | None
    neurons: bool                # conv, pool, linear, or a container of some
    output: bool                 # the network returns it
    kernel: tuple[int, ...] | None = None  # the window of a conv or pool row


def units(report: Report, depth: int | None) -> list[Unit]:
    """The graph inputs, then every row, or the container rolled up at `depth` that holds it."""
    out: list[Unit] = []
    owner: dict[str, int] = {}
    outputs = set(report.outputs)
    for name, shape in report.inputs:
        owner[name] = len(out)
        out.append(Unit(name, "input", tuple(shape), (), "input", None, False, name in outputs))
    for shown in leaves(report, depth):
        here = len(out)
        stats = shown.stats
        rows = (report.layers[stats.first:stats.last + 1] if isinstance(stats, ContainerStats)
                else (stats,))
        reads: list[int] = []
        for row in rows:
            for tensor in row.inputs:
                source = owner[tensor]
                if source != here and source not in reads:
                    reads.append(source)
            owner[row.name] = here
        if isinstance(stats, ContainerStats):
            neurons = any(r.neurons for r in rows)
            out.append(Unit(stats.name, _container_caption(stats, rows), stats.output_shape,
                            tuple(reads), "container", stats, neurons,
                            any(r.name in outputs for r in rows)))
        else:
            kind = stats.kind
            out.append(Unit(stats.name, caption(stats), stats.output_shape, tuple(reads),
                            kind.family if kind is not None else "", stats, stats.neurons,
                            stats.name in outputs, _kernel(stats)))
    return out


def _dims(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    return tuple(value)


def _field(kind: Any, name: str) -> Any:
    """One of a kind's arguments (kinds differ in which they have)."""
    return getattr(kind, name)


def _kernel(row: LayerStats) -> tuple[int, ...] | None:
    size = getattr(row.kind, "kernel_size", None)
    if size is None:
        return None
    return _dims(size, max(len(row.output_shape) - 1, 1))


def _x(values: tuple[int, ...]) -> str:
    return "×".join(map(str, values)) if len(set(values)) > 1 else str(values[0])


def _window(values: tuple[int, ...]) -> str:
    """A kernel as papers write it: 3×3 (a 1-D kernel: 3)."""
    return "×".join(map(str, values))


def caption(row: LayerStats) -> str:
    """What a row computes, in the words of the papers' figures ("3×3 conv, 64, /2")."""
    kind = row.kind
    if kind is None:
        return row.type
    family, name = kind.family, kind.type_name
    ndim = max(len(row.output_shape) - 1, 1)
    if family == "conv":
        kernel = _dims(_field(kind, "kernel_size"), ndim)
        stride = _dims(_field(kind, "stride"), ndim)
        groups = int(getattr(kind, "groups", 1))
        channels = row.output_shape[0]
        word = "deconv" if name.startswith("convtranspose") else "conv"
        inputs = row.input_shape[0] if row.input_shape else None
        if groups > 1 and groups == channels == inputs:
            word = "dw " + word
        parts = [f"{_window(kernel)} {word}", str(channels)]
        if any(s != 1 for s in stride):
            parts.append(("×" if word.endswith("deconv") else "/") + _x(stride))
        dilation = _dims(getattr(kind, "dilation", 1), ndim)
        if any(d != 1 for d in dilation):
            parts.append(f"dilation {_x(dilation)}")
        if groups > 1 and not word.startswith("dw"):
            parts.append(f"groups {groups}")
        return ", ".join(parts)
    if name == "subsampling2d":
        return f"{_window(_dims(_field(kind, 'kernel_size'), 2))} subsampling"
    if name.startswith("adaptive"):
        how = "max" if "max" in name else "avg"
        spatial = row.output_shape[1:]
        if all(s == 1 for s in spatial):
            return f"global {how} pool"
        return f"{how} pool to {_window(tuple(spatial))}"
    if family == "pool":
        how = "max" if "max" in name else "avg"
        kernel = _dims(_field(kind, "kernel_size"), ndim)
        stride_value = getattr(kind, "stride", None)
        stride = _dims(stride_value, ndim) if stride_value is not None else kernel
        text = f"{_window(kernel)} {how} pool"
        return text + (f", /{_x(stride)}" if any(s != 1 for s in stride) else "")
    if name == "linear":
        return f"fc {row.output_shape[0]}"
    if name == "rbf":
        return f"RBF {row.output_shape[0]}"
    if family == "merge":
        return {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
                "cat": "concat", "stack": "stack", "matmul": "matmul"}.get(name, name)
    if family == "dropout":
        return f"{kind.torch_name or name} {getattr(kind, 'p', '')}".strip()
    if name.startswith("batchnorm"):
        return "batch norm"
    if name == "localresponsenorm":
        return "LRN"
    return kind.torch_name or name


def _container_caption(stats: ContainerStats, rows: Sequence[LayerStats]) -> str:
    layers = sum(1 for r in rows if r.neurons)
    return f"{stats.type.replace('_', ' ')}, {layers} layer{'s' if layers != 1 else ''}"


def is_chain(drawn: Sequence[Unit]) -> bool:
    """One input, and every unit reads the one before it only."""
    return (bool(drawn) and drawn[0].family == "input"
            and all(u.inputs == (i,) for i, u in enumerate(drawn[1:])))


def _deepest(report: Report) -> int:
    return 1 + max((c.depth for c in report.containers), default=0)


def fit_depth(report: Report, style: Style) -> int | None:
    """The depth a style draws without --depth: every row (None) where that fits, else the
    deepest depth that does (a graph: at most MAX_BOXES boxes; a chain: a chain of at most
    MAX_STAGES stages)."""
    candidates: list[int | None] = [None, *range(_deepest(report), 0, -1)] if report.containers \
        else [None]
    chain: int | Literal[False] | None = False  # the shallowest depth that is a chain
    for depth in candidates:
        drawn = units(report, depth)
        if style == "graph":
            if len(drawn) <= MAX_BOXES:
                return depth
        elif is_chain(drawn):
            if len(_stages(drawn)) <= MAX_STAGES:
                return depth
            chain = depth
    if style == "graph":
        return candidates[-1]
    if chain is not False:
        return chain  # too many stages even so: draw() says how many
    raise CnnsizeError(
        f"a {style}-style picture draws a chain of layers; {report.name} branches at every "
        "depth" + ("" if len(report.inputs) == 1 else f" (it has {len(report.inputs)} inputs)"),
        field="--style", hint="--style graph draws any graph")


# ------------------------------------------------------------------ measuring text

@functools.lru_cache(maxsize=4096)
def _text_width(text: str, size: float, bold: bool = False) -> float:
    """The width in inches of one line as matplotlib draws it (a little padded)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = _text_path(TextToPath).get_text_width_height_descent(text, prop, ismath=False)
    return float(width) * 1.06 / 72 + 1 / 72


@functools.lru_cache(maxsize=1)
def _text_path(cls: Any) -> Any:
    return cls()


def _line_height(size: float) -> float:
    return size * 1.25 / 72


def _block(lines: Sequence[tuple[str, float, bool]]) -> tuple[float, float]:
    """Width and height in inches of lines (text, size, bold) drawn one under another."""
    if not lines:
        return 0.0, 0.0
    return (max(_text_width(t, s, b) for t, s, b in lines),
            sum(_line_height(s) for _, s, _ in lines))


# ------------------------------------------------------------------ the canvas

@dataclass(slots=True)
class Canvas:
    """Everything to draw, in inches from the bottom left; turned into a figure at the end."""

    width: float = 0.0
    height: float = 0.0
    note: str = ""
    texts: list[tuple[float, float, str, dict[str, Any]]] = field(default_factory=list)
    shapes: list[tuple[str, Any, dict[str, Any]]] = field(default_factory=list)

    def text(self, x: float, y: float, text: str, size: float = FONT, *, ha: str = "center",
             va: str = "center", bold: bool = False, color: str = "black") -> None:
        self.texts.append((x, y, text, {"fontsize": size, "ha": ha, "va": va, "color": color,
                                        "fontweight": "bold" if bold else "normal"}))

    def polygon(self, points: Sequence[tuple[float, float]], face: str = "white",
                edge: str = EDGE, width: float = 0.8, z: float = 1) -> None:
        self.shapes.append(("polygon", list(points), {"facecolor": face, "edgecolor": edge,
                                                      "linewidth": width, "zorder": z}))

    def box(self, x: float, y: float, w: float, h: float, face: str, *, z: float = 2,
            round_: bool = True) -> None:
        self.shapes.append(("box", (x, y, w, h, round_), {"facecolor": face, "edgecolor": EDGE,
                                                          "linewidth": 0.8, "zorder": z}))

    def line(self, points: Sequence[tuple[float, float]], *, color: str = EDGE,
             width: float = 0.8, arrow: bool = False, dashed: bool = False, z: float = 1) -> None:
        self.shapes.append(("line", list(points), {"color": color, "linewidth": width,
                                                   "arrow": arrow, "dashed": dashed, "zorder": z}))

    def figure(self, title: str) -> Figure:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon

        note = self.note
        top = 0.55 + (0.2 if note else 0.0)
        wide = max(_text_width(title, 10, True), _text_width(note, SMALL) if note else 0.0)
        if wide > self.width:  # centre the drawing under a title wider than it
            pad = (wide - self.width) / 2
            self.texts = [(x + pad, y, t, k) for x, y, t, k in self.texts]
            self.shapes = [(w, _shifted(w, d, pad), k) for w, d, k in self.shapes]
            self.width = wide
        width, height = self.width + 0.4, self.height + top + 0.2
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(-0.2, self.width + 0.2)
        ax.set_ylim(-0.2, self.height + top)
        ax.set_axis_off()
        for what, data, style in self.shapes:
            if what == "polygon":
                ax.add_patch(Polygon(data, closed=True, **style))
            elif what == "box":
                x, y, w, h, round_ = data
                pad = min(0.06, h / 4, w / 4) if round_ else 0.0
                ax.add_patch(FancyBboxPatch((x + pad, y + pad), w - 2 * pad, h - 2 * pad,
                                            boxstyle=f"round,pad={pad}" if round_ else "square,pad=0",
                                            mutation_aspect=1, **style))
            else:
                xs, ys = zip(*data, strict=True)
                kw = {"color": style["color"], "linewidth": style["linewidth"],
                      "zorder": style["zorder"], "linestyle": "--" if style["dashed"] else "-",
                      "solid_capstyle": "butt"}
                if style["arrow"] and len(data) >= 2:
                    ax.plot(xs[:-1], ys[:-1], **kw)
                    ax.add_patch(FancyArrowPatch(data[-2], data[-1], arrowstyle="-|>",
                                                 mutation_scale=7, shrinkA=0, shrinkB=0,
                                                 color=style["color"], linewidth=style["linewidth"],
                                                 zorder=style["zorder"]))
                else:
                    ax.plot(xs, ys, **kw)
        for x, y, text, style in self.texts:
            ax.text(x, y, text, parse_math=False, **style)
        ax.text(self.width / 2, self.height + top - 0.12, title, parse_math=False, ha="center",
                va="top", fontsize=10, fontweight="bold")
        if note:
            ax.text(self.width / 2, self.height + top - 0.36, note, parse_math=False,
                    ha="center", va="top", fontsize=SMALL, color=MUTED)
        return fig


def _shifted(what: str, data: Any, dx: float) -> Any:
    if what == "box":
        x, y, w, h, round_ = data
        return (x + dx, y, w, h, round_)
    return [(x + dx, y) for x, y in data]


# ------------------------------------------------------------------ lenet and alexnet: a chain

@dataclass(frozen=True, slots=True)
class Stage:
    """A tensor drawn as a stack or a box, and the transition that made it from the one before."""

    unit: Unit
    steps: tuple[Unit, ...]   # the units of the transition into it, in order (it last)


def _stages(drawn: Sequence[Unit]) -> list[Stage]:
    """The input, then every unit with neurons; the units between (activations, norms,
    dropout, flatten) are part of the transition into the next; any after the last, of it."""
    stages = [Stage(drawn[0], ())]
    pending: list[Unit] = []
    for unit in drawn[1:]:
        pending.append(unit)
        if unit.neurons:
            stages.append(Stage(unit, tuple(pending)))
            pending = []
    if pending:
        if len(stages) == 1:
            stages.append(Stage(pending[-1], tuple(pending)))
        else:
            last = stages[-1]
            stages[-1] = Stage(last.unit, last.steps + tuple(pending))
    return stages


def _steps_text(stage: Stage) -> list[tuple[str, float, bool]]:
    """The transition's label: its layer, and in grey what runs before or after it in the same
    transition ("after ReLU": the activation of the layer before, which keeps the shape)."""
    steps = list(stage.steps)
    if not steps:
        return []
    main = next((k for k, u in enumerate(steps) if u.neurons), len(steps) - 1)
    lines = [(steps[main].caption, FONT, False)]
    for word, group in (("after", steps[:main]), ("then", steps[main + 1:])):
        if group:
            names = [u.caption for u in group]
            text = f"{word} {', '.join(names[:3])}" + (f" +{len(names) - 3}" if len(names) > 3
                                                       else "")
            lines.append((text, SMALL, False))
    return lines


def _name(unit: Unit) -> str:
    return unit.name


def _scale(values: Sequence[int], biggest: float, smallest: float) -> Callable[[int], float]:
    """Side lengths: linear where the sizes span at most a factor of 10 (LeNet: 32 to 5), else
    by the square root (AlexNet: 224 to 6), so that small maps stay visible."""
    top = max(values)
    bottom = min(values)
    if top <= 10 * bottom:
        return lambda n: max(smallest, biggest * n / top)
    return lambda n: max(smallest, biggest * math.sqrt(n / top))


def _maps(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 2 and math.prod(shape[1:]) > 1


@dataclass(slots=True)
class Glyph:
    """A stage as drawn: its size, how to draw it at (x, y) (bottom left), and the face that a
    kernel window sits on: drawn at (x, y), the point at fractions (u across, v up) of it."""

    width: float
    height: float
    draw: Callable[[Canvas, float, float], None]
    face: Callable[[float, float], Callable[[float, float], tuple[float, float]]]
    hang: float = 0.0  # the width of a label left of it (part of `width`)
    cube: float = 0.0  # how far a kernel window reaches into it as a cube (0: a flat window)
    top: list[tuple[str, float, bool]] = field(default_factory=list)
    below: list[tuple[str, float, bool]] = field(default_factory=list)


def _lenet_glyphs(stages: Sequence[Stage]) -> tuple[list[Glyph], str]:
    spatial = [max(s.unit.shape[1:]) for s in stages if _maps(s.unit.shape)] or [1]
    side = _scale(spatial, 1.6, 0.14)
    vectors = [math.prod(s.unit.shape) for s in stages if not _maps(s.unit.shape)] or [1]
    column = _scale(vectors, 2.0, 0.3)
    offset = 0.07
    glyphs = []
    for stage in stages:
        shape = stage.unit.shape
        name = _name(stage.unit)
        if _maps(shape):
            c = shape[0]
            h = side(shape[1])
            w = side(shape[2]) if len(shape) > 2 else 0.12
            planes = min(c, 8)
            gw, gh = w + (planes - 1) * offset, h + (planes - 1) * offset

            def draw(cv: Canvas, x: float, y: float, w: float = w, h: float = h,
                     planes: int = planes) -> None:
                for p in range(planes - 1, -1, -1):
                    px, py = x + p * offset, y + p * offset
                    cv.polygon([(px, py), (px + w, py), (px + w, py + h), (px, py + h)],
                               face="#ffffff" if p == 0 else "#f2f2f2", z=2 + planes - p)

            def front(x: float, y: float, w: float = w, h: float = h
                      ) -> Callable[[float, float], tuple[float, float]]:
                return lambda u, v: (x + u * w, y + v * h)

            label = f"{c}@{'×'.join(map(str, shape[1:]))}"
            if len(shape) > 3:
                label += " (drawn: the last two dims)"
            top = [(name, FONT, True), (label, SMALL, False)]
            if stage.unit.family != "input":
                top.insert(1, ("feature maps", SMALL, False))
            glyphs.append(Glyph(gw, gh, draw, front, top=top))
        else:
            n = math.prod(shape)
            h, w = column(n), 0.16
            cells = n if n <= 24 else 0

            def draw_column(cv: Canvas, x: float, y: float, w: float = w, h: float = h,
                            cells: int = cells) -> None:
                cv.polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], face="#ffffff", z=3)
                for k in range(1, cells):
                    yy = y + h * k / cells
                    cv.line([(x, yy), (x + w, yy)], width=0.4, z=4)

            def front_column(x: float, y: float, w: float = w, h: float = h
                             ) -> Callable[[float, float], tuple[float, float]]:
                return lambda u, v: (x + u * w, y + v * h)

            glyphs.append(Glyph(w, h, draw_column, front_column,
                                top=[(name, FONT, True), ("layer", SMALL, False),
                                     (f"{n:,}" if len(shape) == 1 else shape_text(shape), SMALL,
                                      False)]))
    how = ("planes to scale" if max(spatial) <= 10 * min(spatial)
           else "plane sides ∝ √(map size)")
    return glyphs, f"{how}; a stack draws at most 8 of its maps; kernel windows to scale"


def _alexnet_glyphs(stages: Sequence[Stage]) -> tuple[list[Glyph], str]:
    spatial = [max(s.unit.shape[1:]) for s in stages if _maps(s.unit.shape)] or [1]
    side = _scale(spatial, 2.0, 0.15)
    cos = math.cos(math.radians(40))
    sin = math.sin(math.radians(40))
    glyphs = []
    for stage in stages:
        shape = stage.unit.shape
        name = _name(stage.unit)
        if _maps(shape):
            c, hh = shape[0], shape[1]
            ww = shape[2] if len(shape) > 2 else 1
            h, d = side(hh), 0.5 * side(ww)
            t = _thickness(c)
            dims = (str(hh), str(ww), str(c))
        else:
            n = math.prod(shape)
            h, d, t = min(2.4, 0.25 + 0.18 * math.log2(max(n, 2))), 0.08, 0.06
            dims = ("", "", f"{n:,}")
        dx, dy = d * cos, d * sin

        def draw(cv: Canvas, x: float, y: float, h: float = h, t: float = t, dx: float = dx,
                 dy: float = dy, dims: tuple[str, str, str] = dims) -> None:
            front = [(x, y), (x + t, y), (x + t, y + h), (x, y + h)]
            cv.polygon([(x, y + h), (x + t, y + h), (x + t + dx, y + h + dy), (x + dx, y + h + dy)],
                       face="#eef3fa", z=2)
            cv.polygon([(x + t, y), (x + t + dx, y + dy), (x + t + dx, y + h + dy), (x + t, y + h)],
                       face="#c9d9ee", z=2)
            cv.polygon(front, face="#dbe9f6", z=2)
            if dims[0]:
                cv.text(x - 0.03, y + h / 2, dims[0], SMALL, ha="right")
                cv.text(x + t + dx / 2 + 0.04, y + dy / 2 - 0.03, dims[1], SMALL, ha="left",
                        va="top")
            cv.text(x + t / 2, y - 0.05, dims[2], SMALL, va="top")

        def front(x: float, y: float, h: float = h, t: float = t, dx: float = dx,
                  dy: float = dy) -> Callable[[float, float], tuple[float, float]]:
            return lambda u, v: (x + t + u * dx, y + u * dy + v * h)  # the right face

        hang = 0.03 + _text_width(dims[0], SMALL) if dims[0] else 0.0
        glyphs.append(Glyph(t + dx + hang, h + dy, draw, front, hang=hang, cube=t, top=[(name, FONT, True)],
                            below=[(dims[2], SMALL, False)]))
    return glyphs, ("box height ∝ H and depth ∝ W " + ("(to scale)" if max(spatial) <= 10 *
                                                       min(spatial) else "(by √size)")
                    + ", thickness ∝ log₂ C; kernel cubes to scale")


def _thickness(channels: int) -> float:
    """A box's thickness for its channels (log scale: 3 and 4,096 both read)."""
    return 0.05 + 0.07 * math.log2(max(channels, 1))


def _window_channels(stage: Stage, channels: int) -> int:
    """The input channels one output value reads: all of them over the groups for a conv, one
    for a pool."""
    main = next((u for u in reversed(stage.steps) if u.kernel), None)
    if main is None or main.family != "conv" or not isinstance(main.stats, LayerStats):
        return 1
    groups = int(getattr(main.stats.kind, "groups", 1))
    return max(1, channels // groups)


def _draw_chain(report: Report, stages: list[Stage], style: Style, depth: int | None) -> Canvas:
    glyphs, note = (_lenet_glyphs if style == "lenet" else _alexnet_glyphs)(stages)
    shift = [g.hang for g in glyphs]
    labels = [_steps_text(s) for s in stages]
    box = [g.width - shift[i] for i, g in enumerate(glyphs)]  # without a label hanging left
    # Each glyph takes [left, left + width]; the gap before it holds its transition's label.
    gaps = [0.0]
    for i in range(1, len(stages)):
        need = _block(labels[i])[0] + 0.25
        tops = (_block(glyphs[i - 1].top)[0] - box[i - 1]) / 2 + \
            (_block(glyphs[i].top)[0] - box[i]) / 2 + 0.2
        gaps.append(max(0.55, need, tops))
    stub = 0.35  # the arrow out of a row that the next row continues

    def overhang(i: int) -> float:  # how far its top label reaches left of its left edge
        return max(0.0, (_block(glyphs[i].top)[0] - box[i]) / 2 - shift[i])

    rows: list[list[int]] = [[0]]
    width = overhang(0) + glyphs[0].width
    for i in range(1, len(stages)):
        extra = gaps[i] + glyphs[i].width
        if width + extra + stub > MAX_WIDTH:
            rows.append([i])
            width = max(gaps[i], overhang(i)) + glyphs[i].width
        else:
            rows[-1].append(i)
            width += extra
    cv = Canvas()
    bands = []
    for row in rows:
        tall = max(glyphs[i].height for i in row)
        top_h = max(_block(glyphs[i].top)[1] for i in row)
        below_h = max(_block(glyphs[i].below)[1] for i in row) + \
            max([_block(labels[i])[1] for i in row] + [0.0])
        bands.append((tall, top_h, below_h))
    total = sum(t + a + b + 0.5 for t, a, b in bands)
    placed: dict[int, tuple[float, float, int]] = {}  # stage: (where it is drawn, row)
    y = total
    for r, row in enumerate(rows):
        tall, top_h, below_h = bands[r]
        top_y = y
        middle = y - top_h - 0.1 - tall / 2
        caption_y = middle - tall / 2 - 0.05 - max(_block(glyphs[i].below)[1] for i in row) - 0.05
        first = row[0]
        x = overhang(first) if r == 0 else max(gaps[first], overhang(first))
        for k, i in enumerate(row):
            if k:
                x += gaps[i]
            g = glyphs[i]
            gy = middle - g.height / 2
            placed[i] = (x + shift[i], gy, r)
            g.draw(cv, x + shift[i], gy)
            _lines(cv, x + shift[i] + box[i] / 2, top_y, g.top)
            if i:
                start = (placed[i - 1][0] + box[i - 1]) if k else 0.0
                _lines(cv, (start + x) / 2, caption_y, labels[i])
                if not k:  # the row goes on from the one above
                    cv.line([(0.0, middle), (x - 0.06, middle)], color=MUTED, arrow=True, z=6)
            x += g.width
            cv.width = max(cv.width, x - box[i] / 2 + _block(g.top)[0] / 2, x)
        if r + 1 < len(rows):
            cv.line([(x + 0.06, middle), (x + stub, middle)], color=MUTED, z=6)
            cv.width = max(cv.width, x + stub)
        y -= tall + top_h + below_h + 0.5
    for i in range(1, len(stages)):
        _connect(cv, glyphs, placed, stages, i)
    cv.height = total
    cv.width = max(cv.width, 3.0)
    cv.note = ("" if depth is None else f"containers rolled up at depth {depth}; ") + note
    return cv


def _lines(cv: Canvas, x: float, y: float, lines: Sequence[tuple[str, float, bool]]) -> None:
    """Lines of text centred at x, the first one's top at y."""
    for text, size, bold in lines:
        cv.text(x, y, text, size, va="top", bold=bold, color="black" if size >= FONT else MUTED)
        y -= _line_height(size)


def _connect(cv: Canvas, glyphs: Sequence[Glyph], placed: dict[int, tuple[float, float, int]],
             stages: Sequence[Stage], i: int) -> None:
    """The kernel window of the transition into stage i, on the stage before it, with lines to
    the one position of stage i it computes (not across rows); an arrow where the transition
    has no window."""
    (x0, y0, r0), (x1, y1, r1) = placed[i - 1], placed[i]
    a, b = glyphs[i - 1], glyphs[i]
    at, to = a.face(x0, y0), b.face(x1, y1)
    kernel = next((u.kernel for u in reversed(stages[i].steps) if u.kernel), None)
    source = stages[i - 1].unit.shape
    if kernel is None or not _maps(source):
        if r0 != r1:  # the rows' own arrows join them
            return
        ya = y0 + a.height / 2
        right = x0 + a.width - a.hang
        cv.line([(right + 0.06, ya), (x1 - 0.06 - b.hang, ya)],
                color=MUTED, arrow=True, z=6)
        return
    # The window to scale: the kernel's share of the map's height and width.
    fv = min(1.0, kernel[0] / source[1])
    fu = min(1.0, (kernel[1] if len(kernel) > 1 else 1) / (source[2] if len(source) > 2 else 1))
    u0, v0 = 0.55 * (1 - fu), 0.6 * (1 - fv)
    corners = [at(u0, v0), at(u0 + fu, v0), at(u0 + fu, v0 + fv), at(u0, v0 + fv)]
    if a.cube:  # a cube reaching into the box by the channels one window spans (log scale)
        k = min(a.cube, _thickness(_window_channels(stages[i], source[0])))
        near = [corners[0], corners[3]]
        front = [(near[0][0] - k, near[0][1]), near[0], near[1], (near[1][0] - k, near[1][1])]
        top = [front[3], corners[3], corners[2], (corners[2][0] - k, corners[2][1])]
        cv.polygon(top, face="#fbd7b0", width=0.5, z=12)
        cv.polygon(front, face="#f0b070", width=0.5, z=12)
    cv.polygon(corners, face="#f6c28b", width=0.5, z=12)
    if r0 != r1:  # the window, but no lines across rows
        return
    point = to(0.55, 0.6)
    for corner in (corners[1], corners[2]):
        cv.line([corner, point], color="#b35900", width=0.6, z=13)


# ------------------------------------------------------------------ graph: a block diagram

@dataclass(slots=True)
class _Node:
    unit: int | None            # None: a bend of a long edge
    rank: int
    lines: list[tuple[str, float, bool]]
    width: float
    height: float
    right: float                # room to its right for the shape under it
    x: float = 0.0
    y: float = 0.0
    column: int = 0


def _isotonic(targets: list[float]) -> list[float]:
    """The non-decreasing sequence nearest to `targets` in least squares (pool adjacent
    violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for t in targets:
        blocks.append([t, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, n2 = blocks.pop()
            m1, n1 = blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    out: list[float] = []
    for mean, count in blocks:
        out += [mean] * int(count)
    return out


def _place(rank: list[_Node], desired: list[float], gap: float) -> None:
    """Set the x of one rank's nodes, in their order, as near `desired` as their widths allow."""
    offsets = [0.0]
    for left, right in itertools.pairwise(rank):
        offsets.append(offsets[-1] + left.right + right.width / 2 + gap)
    fitted = _isotonic([d - o for d, o in zip(desired, offsets, strict=True)])
    for node, f, o in zip(rank, fitted, offsets, strict=True):
        node.x = f + o


def _crossings(ranks: list[list[_Node]], edges: list[tuple[int, int]],
               number: dict[int, int]) -> int:
    """Edge crossings between neighbouring ranks (every edge joins neighbouring ranks)."""
    where: dict[int, tuple[int, int]] = {}
    for r, rank in enumerate(ranks):
        for k, n in enumerate(rank):
            where[number[id(n)]] = (r, k)
    by_rank: dict[int, list[tuple[int, int]]] = {}
    for a, b in edges:
        (ra, ka), (_, kb) = where[a], where[b]
        by_rank.setdefault(ra, []).append((ka, kb))
    return sum(1 for pairs in by_rank.values() for (a1, b1) in pairs for (a2, b2) in pairs
               if a1 < a2 and b1 > b2)


def _pack(sizes: Sequence[float], cuts: set[int], capacity: float) -> list[list[int]]:
    """Ranks into columns of at most `capacity` inches, each column ending at a cut rank
    (one that a single box carries alone); a column with no cut to end at grows."""
    columns: list[list[int]] = [[]]
    used = 0.0
    last_cut = -1
    for r, need in enumerate(sizes):
        if columns[-1] and used + need > capacity and last_cut >= columns[-1][0] and \
                sum(sizes[q] for q in columns[-1] if q <= last_cut) >= 0.4 * capacity:
            moved = [q for q in columns[-1] if q > last_cut]
            columns[-1] = [q for q in columns[-1] if q <= last_cut]
            columns.append(moved)
            used = sum(sizes[q] for q in moved)
        columns[-1].append(r)
        used += need
        if r in cuts:
            last_cut = r
    return columns


def _graph_canvas(report: Report, depth: int | None, costs: Sequence[str]) -> Canvas:
    drawn = units(report, depth)
    nodes: list[_Node] = []
    for unit in drawn:
        lines = [(_name(unit), FONT, True)]
        if unit.family != "input" and unit.caption.lower() != _name(unit).lower():
            lines.append((unit.caption, FONT, False))
        stats = unit.stats
        for key in costs:
            if stats is None:
                continue
            value = getattr(stats, COSTS[key])
            text = f"{value:,} B" if key == "memory" else f"{value:,}"
            lines.append((f"{COST_LABELS[key]} {text}", SMALL, False))
        w, h = _block(lines)
        w, h = w + 0.16, h + 0.1
        shape = _shape_label(unit)
        nodes.append(_Node(len(nodes), 0, lines, w, h,
                           max(w / 2, 0.05 + _text_width(shape, SMALL))))
    # Ranks: the longest path from an input; edges longer than one rank bend through dummies.
    for i, unit in enumerate(drawn):
        nodes[i].rank = 1 + max((nodes[p].rank for p in unit.inputs), default=-1)
    edges: list[list[int]] = []   # each edge as the node indices it passes through
    for i, unit in enumerate(drawn):
        for p in unit.inputs:
            path = [p]
            for r in range(nodes[p].rank + 1, nodes[i].rank):
                nodes.append(_Node(None, r, [], 0.1, 0.0, 0.05))
                path.append(len(nodes) - 1)
            path.append(i)
            edges.append(path)
    ranks: list[list[_Node]] = [[] for _ in range(1 + max(n.rank for n in nodes))]
    for n in nodes:
        ranks[n.rank].append(n)
    number = {id(n): k for k, n in enumerate(nodes)}
    preds: dict[int, list[int]] = {k: [] for k in range(len(nodes))}
    succs: dict[int, list[int]] = {k: [] for k in range(len(nodes))}
    for path in edges:
        for a, b in itertools.pairwise(path):
            preds[b].append(a)
            succs[a].append(b)
    # Order within ranks: barycentre sweeps, keeping the order with the fewest crossings.
    pairs = [(a, b) for path in edges for a, b in itertools.pairwise(path)]

    def crossings() -> int:
        return _crossings(ranks, pairs, number)

    best = [list(r) for r in ranks]
    best_count = crossings() if len(nodes) < 400 else 0
    for sweep in range(8 if best_count else 0):
        down = sweep % 2 == 0
        order = range(1, len(ranks)) if down else range(len(ranks) - 2, -1, -1)
        for r in order:
            where = {number[id(n)]: k for k, n in enumerate(ranks[r - 1 if down else r + 1])}
            keyed = []
            for k, n in enumerate(ranks[r]):
                near = [where[m] for m in (preds if down else succs)[number[id(n)]] if m in where]
                keyed.append((sum(near) / len(near) if near else k, k, n))
            ranks[r] = [n for _, _, n in sorted(keyed, key=lambda t: (t[0], t[1]))]
        count = crossings()
        if count < best_count:
            best, best_count = [list(r) for r in ranks], count
    ranks = best
    # x: each node as near the mean of its neighbours as the widths allow, a few sweeps.
    gap = 0.22
    for rank in ranks:
        _place(rank, [0.0] * len(rank), gap)
        mean = sum(n.x for n in rank) / len(rank)
        for n in rank:
            n.x -= mean
    for sweep in range(12):
        down = sweep % 2 == 0
        for r in (range(len(ranks)) if down else range(len(ranks) - 1, -1, -1)):
            desired = []
            for n in ranks[r]:
                k = number[id(n)]
                xs = [nodes[m].x for m in (preds[k] if down else succs[k])]
                if sweep >= 2:
                    xs += [nodes[m].x for m in (succs[k] if down else preds[k])]
                desired.append(sum(xs) / len(xs) if xs else n.x)
            _place(ranks[r], desired, gap)
    # y: rank by rank; a column wraps at a rank that one box carries alone.
    space = _line_height(SMALL) + 0.24
    heights = [max([n.height for n in rank] + [0.12]) for rank in ranks]
    cuts = {r for r, rank in enumerate(ranks) if len(rank) == 1 and rank[0].unit is not None}
    sizes = [h + space for h in heights]
    columns = _pack(sizes, cuts, MAX_COLUMN)
    if len(columns) > 1:  # a short last column (GoogLeNet's fc alone) joins the one before
        tail = sum(sizes[r] for r in columns[-1])
        if tail < MAX_COLUMN / 4 and tail + sum(sizes[r] for r in columns[-2]) <= 1.12 * MAX_COLUMN:
            columns[-2:] = [columns[-2] + columns[-1]]
    cv = Canvas()
    left = 0.0
    tallest = 0.0
    for c, members in enumerate(columns):
        lo = min(n.x - n.width / 2 for r in members for n in ranks[r])
        hi = max(n.x + n.right for r in members for n in ranks[r])
        y = 0.0
        for r in members:
            for n in ranks[r]:
                n.x += left - lo
                n.y = y - heights[r] / 2
                n.column = c
            y -= heights[r] + space
        tallest = max(tallest, -y)
        left += hi - lo + 0.6
    cv.width = left - 0.6
    cv.height = tallest
    for n in nodes:
        n.y += tallest
    bottom = 0.05
    stub = _line_height(SMALL) + 0.04  # straight down past the shape label, then on
    for path in edges:
        points = [nodes[k] for k in path]
        first = points[0]
        line: list[tuple[float, float]] = [(first.x, first.y - first.height / 2),
                                           (first.x, first.y - first.height / 2 - stub)]
        for here, there in itertools.pairwise(points):
            end = (there.x, there.y + there.height / 2) if there.unit is not None \
                else (there.x, there.y)
            if here.column != there.column:  # under the column, up the gap, over the next one
                x_gap = min(n.x - n.width / 2 for n in nodes if n.column == there.column) - 0.3
                cv.line([*line, (line[-1][0], bottom), (x_gap, bottom),
                         (x_gap, tallest + 0.05), (end[0], tallest + 0.05)],
                        color=MUTED, width=0.7)
                line = [(end[0], tallest + 0.05)]
            if there.unit is not None:
                line.append((end[0], end[1] + 0.07))
            line.append(end)
        cv.line(line, arrow=True, color=MUTED, width=0.7)
    for n in nodes:
        if n.unit is None:
            continue
        unit = drawn[n.unit]
        x0, y0 = n.x - n.width / 2, n.y - n.height / 2
        cv.box(x0, y0, n.width, n.height, FILL.get(unit.family, "#f4f4f4"))
        y = n.y + n.height / 2 - 0.05
        for text, size, bold in n.lines:
            cv.text(n.x, y, text, size, va="top", bold=bold, color="black" if size >= FONT
                    else MUTED)
            y -= _line_height(size)
        cv.text(n.x + 0.05, y0 - 0.05, _shape_label(unit), SMALL, ha="left", va="top",
                color=MUTED)
    rolled = "every row" if depth is None else f"containers rolled up at depth {depth}"
    shown = f"{sum(1 for n in nodes if n.unit is not None)} boxes ({rolled}); under each box the " \
            "shape of the tensor it makes, per example"
    if len(columns) > 1:
        shown += f"; {len(columns)} columns, read top to bottom, left to right"
    cv.note = shown
    return cv


def _shape_label(unit: Unit) -> str:
    return shape_text(unit.shape) + ("  → output" if unit.output else "")


# ------------------------------------------------------------------ the entry point

def draw(net: SpecLike, style: Style = "graph", *, depth: int | None = None,
         costs: Sequence[str] = (), conventions: Conventions | None = None,
         input_shape: InputShape | None = None) -> Figure:
    """A diagram of a network in one of STYLES (see the module docstring); `depth` rolls
    containers up (default: the deepest depth that fits, see fit_depth); `costs` adds lines of
    COSTS to the graph's boxes."""
    if style not in STYLES:
        raise CnnsizeError(f"unknown style {style!r}", field="--style",
                           hint=f"choose one of {', '.join(STYLES)}")
    unknown = [c for c in costs if c not in COSTS]
    if unknown:
        raise CnnsizeError(f"unknown cost {unknown[0]!r}", field="--costs",
                           hint=f"choose from {', '.join(COSTS)}")
    if costs and style != "graph":
        raise CnnsizeError("--costs adds lines to the boxes of a graph diagram", field="--costs",
                           hint="use --style graph")
    report = analyze(net, conventions=conventions or Conventions(), input_shape=input_shape)
    if depth is not None:
        leaves(report, depth)  # checks it
    chosen = depth if depth is not None else fit_depth(report, style)
    if style == "graph":
        count = len(report.inputs) + len(leaves(report, chosen))
        if count > MAX_DRAWN:
            raise CnnsizeError(
                f"{count} boxes do not make a diagram anyone can read (at most {MAX_DRAWN})",
                field="--depth", hint="a smaller --depth rolls containers up into one box each"
                if report.containers else f"{report.name} has no containers to roll up; write "
                "its repeated parts as blocks or sequential containers")
        cv = _graph_canvas(report, chosen, costs)
        # without --depth, a graph that cannot wrap into columns (long skips cross every rank:
        # a U-Net) rolls up until it is at most MAX_TALL high, or as low as it gets
        while depth is None and cv.height > MAX_TALL and chosen != 1 and report.containers:
            chosen = _deepest(report) if chosen is None else chosen - 1
            shallower = _graph_canvas(report, chosen, costs)
            if shallower.height < cv.height:
                cv = shallower
    else:
        drawn = units(report, chosen)
        if not is_chain(drawn):
            raise CnnsizeError(f"a {style}-style picture draws a chain of layers; at depth "
                               f"{chosen} {report.name} branches", field="--depth",
                               hint="a smaller --depth rolls the branches up, or --style graph")
        stages = _stages(drawn)
        if len(stages) > MAX_STAGES:
            raise CnnsizeError(f"{len(stages)} stages do not read as a {style}-style picture "
                               f"(at most {MAX_STAGES})", field="--depth",
                               hint="a smaller --depth rolls containers up, or --style graph")
        cv = _draw_chain(report, stages, style, chosen)
    title = f"{report.name}" + (f" (input {shape_text(report.input_shape)})"
                                if input_shape is not None else "")
    return cv.figure(title)


__all__ = ["COSTS", "STYLES", "Unit", "caption", "draw", "fit_depth", "is_chain", "units"]
