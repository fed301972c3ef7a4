"""The `cnnsize` command line (also `python -m cnnsize`). Bad input: one message, exit status 2."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .analyze import analyze
from .conventions import DTYPE_BYTES, INPLACE_MODES, Conventions
from .errors import CnnsizeError
from .render import FORMATS, render, short_count, table
from .spec import load, parse_input, zoo_names

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, NoReturn


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse's formatter finds the width with shutil, whose import (zlib, bz2, lzma) cost
        # more than parsing a report's arguments; it is made for every add_argument
        make: Any = self.formatter_class
        return make(prog=self.prog, width=_help_width())  # type: ignore[no-any-return]


def _help_width() -> int:
    """The width argparse gives help text: shutil.get_terminal_size's columns ($COLUMNS, else
    the terminal of stdout, else 80), less 2."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_convention_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by every command that counts (report, and later compare and check)."""
    p.add_argument("--input", metavar="[NAME=]C,H,W", action="append",
                   help="override the spec's input shape, e.g. 3,227,227; NAME=C,H,W for one of "
                        "several inputs (repeat it)")
    p.add_argument("--batch", type=_positive, default=1, help="batch size for MACs, FLOPs, memory (1)")
    p.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32",
                   help="element type for memory (float32)")
    p.add_argument("--no-bias", action="store_true",
                   help="exclude biases from params, connections and FLOPs")
    p.add_argument("--bias-connections", action="store_true",
                   help="count each unit's bias input as a connection (LeCun et al. 1998)")
    p.add_argument("--flops-per-mac", type=int, choices=(1, 2), default=2,
                   help="FLOPs per multiply-accumulate (2)")
    p.add_argument("--no-elementwise-flops", action="store_true",
                   help="FLOPs = flops-per-mac × MACs only (torch.utils.flop_counter's count)")
    p.add_argument("--inplace", choices=INPLACE_MODES, default="all",
                   help="memory of activations PyTorch can run in place: all store nothing "
                        "(CS231n, default), spec: only those with inplace=true, none: all stored")


def _depth(text: str) -> int:
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a depth ≥ 1, got {text!r}") from None


def add_view_flags(p: argparse.ArgumentParser) -> None:
    """Which rows and columns a table shows (report; --depth also for compare and plot)."""
    p.add_argument("--depth", type=_depth, metavar="N",
                   help="show containers (blocks, stages) as rows with subtotals, rolling up "
                        "everything nested N levels or deeper (1: top-level items only)")
    p.add_argument("--tree", action="store_true",
                   help="containers as rows with subtotals, and names short under their parents")
    p.add_argument("--columns", metavar="COL,...",
                   help="the table's columns: a list replaces the defaults, +COL,... adds to "
                        "them; see docs/cli.md (e.g. +input,kernel,trainable,params%%)")


def conventions_from(args: argparse.Namespace) -> Conventions:
    return Conventions(bias=not args.no_bias, bias_connections=args.bias_connections,
                       flops_per_mac=args.flops_per_mac,
                       elementwise_flops=not args.no_elementwise_flops,
                       inplace_activations=args.inplace, dtype=args.dtype, batch=args.batch)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or, with `command`, of that one only: main() parses one
    command, and declaring all eleven took as long as analysing VGG-16 (argparse makes a parser
    and formatters for each, and looks up translations for their texts)."""
    parser = _Parser(prog="cnnsize", description="Exact size and cost of a CNN, layer by layer.")
    parser.add_argument("--debug", action="store_true",
                        help="show Python's traceback where cnnsize would report an internal error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # with one command, its name stands for all of them in usage lines, as when all are there
    names = "{" + ",".join(_DECLARE) + "}"
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                **({"metavar": names} if command in _DECLARE else {}))
    for name, declare in _DECLARE.items():
        if command in (None, name):
            declare(sub)
    return parser


def _declare_report(sub: Any) -> None:
    rep = sub.add_parser("report", help="per-layer table of a spec or built-in network",
                         description="Per-layer shapes, units, weights, connections, MACs, FLOPs, "
                                     "memory and receptive field.")
    rep.add_argument("spec", help="a spec file (.yaml/.yml/.json) or a built-in name (see `cnnsize zoo`)")
    add_convention_flags(rep)
    add_view_flags(rep)
    rep.add_argument("--summary", action="store_true",
                     help="add the totals block torchinfo prints (trainable params, sizes)")
    rep.add_argument("--explain", action="store_true", help="print every formula with its numbers")
    rep.add_argument("--strict", action="store_true",
                     help="a size formula that is not a whole number is an error")
    rep.add_argument("--format", choices=FORMATS, default="text")
    rep.add_argument("--si", action="store_true", help="memory in kB/MB (1000) instead of KiB/MiB (1024)")
    rep.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def _declare_crosscheck(sub: Any) -> None:
    chk = sub.add_parser("crosscheck", help="build the network in PyTorch, run it, compare per layer",
                         description="Build the spec as a torch model, run a forward pass, and "
                                     "compare shapes, params, buffers, MACs (fvcore), FLOPs "
                                     "(torch.utils.flop_counter), activation counts and memory "
                                     "with the symbolic report. Exit 0 when everything that can "
                                     "be compared matches, 1 otherwise.")
    chk.add_argument("spec", help="a spec file, a built-in name, or PKG.MOD:FACTORY or "
                                  "FILE.py:FACTORY (a torch model: imported, and the ORIGINAL "
                                  "module is run)")
    chk.add_argument("--kwargs", metavar="JSON", help="keyword arguments for the factory, as a "
                                                      "JSON object: '{\"num_classes\": 10}'")
    chk.add_argument("--input", metavar="[NAME=]C,H,W", action="append",
                     help="override the spec's input shape (required for a factory; repeat it "
                          "for several inputs, by name or in forward's order)")
    chk.add_argument("--allow-data-dependent", action="store_true",
                     help="a factory's forward may branch on tensor values: count the path "
                          "this random input takes")
    chk.add_argument("--submodule", metavar="PATH", help=_PART_HELP)
    chk.add_argument("--opaque", action="store_true", help=_OPAQUE_HELP)
    chk.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    chk.add_argument("--batch", type=_positive, default=1)
    chk.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "float64"],
                     default="float32")
    chk.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    chk.add_argument("-o", "--output", metavar="FILE")


def _declare_import(sub: Any) -> None:
    imp = sub.add_parser("import", help="turn a PyTorch model into a spec (YAML)",
                         description="Run a torch.nn.Module made by a factory once and write "
                                     "every op its forward runs as a cnnsize spec, checked "
                                     "against the module (every parameter counted once, every "
                                     "shape equal to the traced one).")
    imp.add_argument("factory", metavar="PKG.MOD:FACTORY|FILE.py:FACTORY",
                     help="e.g. torchvision.models:resnet50 or models/mynet.py:build (called "
                          "with --kwargs, or without arguments)")
    imp.add_argument("--kwargs", metavar="JSON", help="keyword arguments for the factory, as a "
                                                      "JSON object: '{\"num_classes\": 10}'")
    imp.add_argument("--batch", type=_positive, default=1,
                     help="batch size of the traced forward pass (1); the written spec has none")
    imp.add_argument("--input", metavar="[NAME=]C,H,W", required=True, action="append",
                     help="input shape, e.g. 3,224,224; repeat it for a model with several "
                          "inputs, by name (image=3,224,224 --input mask=1,224,224) or in "
                          "forward's order")
    imp.add_argument("--submodule", metavar="PATH", help=_PART_HELP)
    imp.add_argument("--opaque", action="store_true", help=_OPAQUE_HELP)
    imp.add_argument("--name", help="the spec's name (default: the module's class name)")
    imp.add_argument("--allow-data-dependent", action="store_true",
                     help="forward may branch on tensor values: write the path this random "
                          "input takes (refused otherwise)")
    imp.add_argument("-o", "--output", metavar="FILE", help="write the YAML to FILE")


def _declare_check(sub: Any) -> None:
    chk2 = sub.add_parser("check", help="check hand-calculated sizes, cell by cell; grade a class",
                          description="Check a claims file (YAML, or a CSV/Markdown table with a "
                                      "'layer' column) against the computed report. Exit 0 when "
                                      "every claim holds, 1 when some do not or a cell is left "
                                      "blank, 2 on bad input. With --grade, grade every "
                                      "student's claims file against one spec or answer file "
                                      "and write a gradebook (exit 0 when grading completed).")
    chk2.add_argument("claims", nargs="?", help="claims file (.yaml/.yml, .csv, .md)")
    chk2.add_argument("--spec", metavar="SPEC", help="the network the claims are about "
                                                     "(overrides the file's 'spec'; needed for "
                                                     "CSV/Markdown tables); with --grade, a spec "
                                                     "or an answer file")
    chk2.add_argument("--convention", metavar="NAME|FILE",
                      help="fix the counting conventions, inferring nothing: pytorch, cs231n, "
                           "lecun1998, fvcore, flop_counter, or a YAML file of convention fields "
                           "(with --grade: pytorch unless the answer file says)")
    chk2.add_argument("--grade", metavar="DIR|GLOB",
                      help="grade every claims file in DIR, or matching GLOB (quoted), against "
                           "--spec: a gradebook per student and per question")
    chk2.add_argument("--format", choices=["text", "markdown", "json", "csv"],
                      help="text (default), markdown or json; with --grade also csv (default: "
                           "from -o's suffix)")
    chk2.add_argument("-o", "--output", metavar="FILE")


def _declare_worksheet(sub: Any) -> None:
    wks = sub.add_parser("worksheet", help="write a table for students to fill in, or its key",
                         description="Write the table a student fills in for SPEC, one row per "
                                     "neuron layer: Markdown, CSV or YAML (the file `cnnsize "
                                     "check` reads back) or a LaTeX tabular; with --answers, "
                                     "the key with every value and its worked formula.")
    wks.add_argument("spec", help="a spec file or a built-in name")
    wks.add_argument("--ask", metavar="Q,...", default="units,weights,connections",
                     help="the quantities to ask, a column each (units,weights,connections): "
                          "output_shape, units, weights, biases, params, connections, macs, "
                          "flops, activation_bytes, receptive_field")
    wks.add_argument("--layers", metavar="NAME,...|all",
                     help="the rows (default: the neuron layers: convolutions, pools, fully "
                          "connected layers)")
    wks.add_argument("--totals", action="store_true", help="add a row for the whole network")
    wks.add_argument("--convention", metavar="NAME|FILE", default="pytorch",
                     help="how the answers count: pytorch (default), cs231n, lecun1998, fvcore, "
                          "flop_counter, or a YAML file of convention fields")
    wks.add_argument("--answers", action="store_true",
                     help="write the key: every value, with its worked formula")
    wks.add_argument("--format", choices=["md", "csv", "yaml", "latex"],
                     help="default: from -o's suffix (.md, .csv, .yaml, .tex), else md")
    wks.add_argument("-o", "--output", metavar="FILE")


def _declare_compare(sub: Any) -> None:
    cmp = sub.add_parser("compare", help="compare networks side by side",
                         description="One column per network: sizes, costs, memory, the largest "
                                     "layers, and where parameters and connections live.")
    cmp.add_argument("specs", nargs="+", metavar="SPEC", help="spec files or built-in names")
    add_convention_flags(cmp)
    cmp.add_argument("--depth", type=_depth, metavar="N",
                     help="'largest layer' rows choose among containers rolled up at depth N "
                          "(1: the top-level stages and layers)")
    cmp.add_argument("--format", choices=FORMATS, default="text")
    cmp.add_argument("--si", action="store_true", help="memory in kB/MB instead of KiB/MiB")
    cmp.add_argument("-o", "--output", metavar="FILE")


def _declare_plot(sub: Any) -> None:
    plt = sub.add_parser("plot", help="draw a chart (PNG, SVG or PDF)",
                         description="layers: per-layer units, weights and connections of one "
                                     "network; totals: totals of several; scatter: MACs vs "
                                     "params (the whole zoo when no SPEC); memory: activation "
                                     "memory per layer, inference vs training; resolution: MACs "
                                     "and memory as the input grows.")
    plt.add_argument("specs", nargs="*", metavar="SPEC", help="spec files or built-in names")
    plt.add_argument("-o", "--output", metavar="FILE", required=True,
                     help="FILE.png, FILE.svg or FILE.pdf")
    plt.add_argument("--kind", choices=["layers", "totals", "scatter", "memory", "resolution"],
                     help="default: layers for one SPEC, totals for several, scatter for none")
    scale = plt.add_mutually_exclusive_group()
    scale.add_argument("--log", action="store_const", const=True, dest="log", default=None,
                       help="log scale for the layers chart (default: where its bars span more "
                            "than two decades)")
    scale.add_argument("--linear", action="store_const", const=False, dest="log",
                       help="linear scale for the layers chart")
    plt.add_argument("--sizes", metavar="N,N,...", help="input sizes for --kind resolution")
    plt.add_argument("--depth", type=_depth, metavar="N",
                     help="layers and memory charts: one bar per container rolled up at depth N "
                          "(1: the top-level stages and layers)")
    add_convention_flags(plt)


def _declare_draw(sub: Any) -> None:
    drw = sub.add_parser("draw", help="draw an architecture diagram (SVG, PDF or PNG)",
                         description="lenet: feature maps as stacks of planes with kernel windows "
                                     "(LeCun et al. 1998); alexnet: 3-D boxes with kernel cubes "
                                     "(Krizhevsky et al. 2012); graph: a block diagram of any "
                                     "graph with the shape of every tensor. Every number is "
                                     "the analysis's.")
    drw.add_argument("spec", metavar="SPEC", help="a spec file or a built-in name")
    drw.add_argument("-o", "--output", metavar="FILE", required=True,
                     help="FILE.svg, FILE.pdf or FILE.png")
    drw.add_argument("--style", choices=["lenet", "alexnet", "graph"], default="graph",
                     help="graph (default), lenet or alexnet (these two draw a chain of layers)")
    drw.add_argument("--depth", type=_depth, metavar="N",
                     help="one box (stack) per container rolled up at depth N (default: every "
                          "layer where that fits, else the deepest depth that does)")
    drw.add_argument("--costs", metavar="COST,...",
                     help="graph: lines of units, weights, params, connections, macs, flops, "
                          "memory in each box")
    add_convention_flags(drw)


def _declare_time(sub: Any) -> None:
    tim = sub.add_parser("time", help="measure per-layer latency (GPU or CPU) against a roofline",
                         description="Time every layer and the whole network (CUDA events on "
                                     "GPU, perf_counter on CPU), compare each layer with its "
                                     "roofline floor from a device microbenchmark, or sweep "
                                     "batch and input sizes.")
    tim.add_argument("spec", help="a spec file or a built-in name")
    tim.add_argument("--device", default="cpu", help="cuda or cpu (default cpu)")
    tim.add_argument("--batch", type=_positive, default=1)
    tim.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "float64"],
                     default="float32")
    tim.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    tim.add_argument("--warmup", type=int, default=3, help="untimed rounds first (3)")
    tim.add_argument("--repeat", type=_positive, default=10,
                     help="timed rounds (10; more while the times spread)")
    tim.add_argument("--backward", action="store_true", help="also time the backward pass")
    tim.add_argument("--threads", type=_positive, metavar="N",
                     help="torch's intra-op threads while timing (default on CPU: the CPUs "
                          "other programs leave free, as /proc/stat shows them; on CUDA: "
                          "torch's); 1 keeps small CPU ops from waiting for the thread pool")
    tim.add_argument("--no-cudnn-benchmark", action="store_true",
                     help="turn cuDNN autotuning off (on by default)")
    tim.add_argument("--sweep", metavar="batch=1,8,32[;size=112,224]",
                     help="latency and images/s over batch (and input) sizes instead")
    tim.add_argument("--format", choices=["text", "markdown", "csv", "json"], default="text")
    tim.add_argument("-o", "--output", metavar="FILE")
    tim.add_argument("--chart", metavar="FILE.png|svg|pdf",
                     help="share of time vs share of FLOPs per layer, or throughput vs batch")


def _declare_reports(sub: Any) -> None:
    reps = sub.add_parser("reports", help="regenerate the reports/ folder",
                          description="Regenerate the committed reports: one Markdown page (table "
                                      "and SVG charts) per built-in network and the comparison "
                                      "pages, with the default conventions.")
    reps.add_argument("-o", "--output", metavar="DIR", default="reports",
                      help="folder to write (default reports/)")
    reps.add_argument("--no-charts", action="store_true", help="Markdown only")


def _declare_zoo(sub: Any) -> None:
    zoo = sub.add_parser("zoo", help="list the built-in networks")
    zoo.add_argument("--format", choices=("text", "markdown"), default="text")

def _write(text: str, output: str | None, inputs: Sequence[str | None] = ()) -> None:
    """The command's result, to stdout or atomically to FILE, never over one of its inputs."""
    from .files import write_text

    write_text(text, output, [i for i in inputs if i])


# Every command's declaration, in the order --help lists them.
_DECLARE: dict[str, Callable[[Any], None]] = {
    "report": _declare_report, "crosscheck": _declare_crosscheck, "import": _declare_import,
    "check": _declare_check, "worksheet": _declare_worksheet, "compare": _declare_compare,
    "plot": _declare_plot, "draw": _declare_draw, "time": _declare_time,
    "reports": _declare_reports, "zoo": _declare_zoo}


def _report(args: argparse.Namespace) -> int:
    input_shape = _input_shapes(args.input) if args.input else None
    report = analyze(args.spec, input_shape=input_shape, strict=args.strict,
                     conventions=conventions_from(args))
    text = render(report, args.format, explain=args.explain, si=args.si, depth=args.depth,
                  tree=args.tree, columns=args.columns, summary=args.summary)
    _write(text, args.output, [args.spec])
    return 0


def _zoo(args: argparse.Namespace) -> int:
    rows = []
    for name in zoo_names():
        net = load(name)
        report = analyze(net)
        rows.append([name, net.name, "×".join(map(str, net.input_shape)),
                     f"{report.totals.params:,}", short_count(report.totals.macs)])
    fmt = "pipe" if args.format == "markdown" else "simple"
    sys.stdout.write(table(rows, ["name", "network", "input", "params", "MACs"], fmt) + "\n")
    return 0


def _input_shapes(values: list[str]) -> Any:
    """--input values: one shape, or NAME=shape for each of several inputs."""
    named = [v.partition("=") for v in values]
    if len(values) == 1 and not named[0][1]:
        return parse_input(values[0])
    names = [name for name, _, _ in named]
    if len(set(names)) != len(names):
        raise CnnsizeError("an input is given twice", field="--input")
    if not all(sep for _, sep, _ in named):
        raise CnnsizeError("with several --input, name each: --input image=3,224,224 --input "
                           "mask=1,224,224", field="--input")
    return {name: parse_input(shape) for name, _, shape in named}


_PART_HELP = ("import model.get_submodule(PATH) instead of the whole model (a detection model's "
              "backbone: --submodule backbone)")
_OPAQUE_HELP = ("keep an op cnnsize has no formulas for as an 'opaque' row: its output shape "
                "traced, its MACs, FLOPs, connections and memory 'not counted' (n/c) in every "
                "table; without it the import stops, naming the op")


def _factory_shapes(values: list[str]) -> Any:
    """--input values for a torch model: as _input_shapes, or several unnamed ones, bound to
    forward's inputs in order."""
    if len(values) > 1 and not any("=" in v for v in values):
        return [parse_input(v) for v in values]
    return _input_shapes(values)


def _kwargs(text: str | None) -> dict[str, Any]:
    """--kwargs: a JSON object (duplicate keys and NaN refused, as in specs)."""
    if text is None:
        return {}
    from .files import read_json

    value = read_json(text, "--kwargs")
    if not isinstance(value, dict):
        raise CnnsizeError(f"must be a JSON object, got {type(value).__name__}", field="--kwargs",
                           hint='e.g. --kwargs \'{"num_classes": 10}\'')
    return value


def _factory_module(reference: str, kwargs_text: str | None = None,
                    submodule: str | None = None) -> Any:
    from .verify.importer import load_factory, submodule_of

    kwargs = _kwargs(kwargs_text)
    factory = load_factory(reference)
    call = f"{reference}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
    try:
        module = factory(**kwargs)
    except Exception as e:
        raise CnnsizeError(f"{call[:300]} failed: {type(e).__name__}: {e}") from None
    import torch

    if not isinstance(module, torch.nn.Module):
        raise CnnsizeError(f"{call[:300]} returned {type(module).__name__}, not a "
                           "torch.nn.Module")
    return submodule_of(module, submodule) if submodule else module


def _is_factory(spec: str) -> bool:
    import os

    return ":" in spec and not os.path.exists(spec) and not spec.lower().endswith(
        (".yaml", ".yml", ".json"))


def _crosscheck(args: argparse.Namespace) -> int:
    from .verify.crosscheck import crosscheck

    factory = _is_factory(args.spec)
    shapes = (_factory_shapes if factory else _input_shapes)(args.input) if args.input else None
    if factory:
        if shapes is None:
            raise CnnsizeError("a torch model needs --input (channels first, no batch dim)",
                               field="--input")
        net: Any = _factory_module(args.spec, args.kwargs, args.submodule)
    else:
        for flag, given in (("--kwargs", args.kwargs is not None),
                            ("--submodule", args.submodule is not None), ("--opaque", args.opaque)):
            if given:
                raise CnnsizeError(f"{flag} is for a factory (PKG.MOD:FACTORY or "
                                   "FILE.py:FACTORY), not a spec", field=flag)
        net = args.spec
    result = crosscheck(net, device=args.device, batch=args.batch, dtype=args.dtype,
                        input_shape=shapes, progress=sys.stderr.isatty(),
                        allow_data_dependent=args.allow_data_dependent, opaque=args.opaque)
    _write(result.render(args.format), args.output, [args.spec])
    if args.output:
        sys.stderr.write(result.summary() + "\n")
    return 0 if result.ok else 1


def _import(args: argparse.Namespace) -> int:
    from .spec import dump_yaml
    from .verify.importer import example_inputs, module_to_spec

    module = _factory_module(args.factory, args.kwargs, args.submodule)
    shapes = _factory_shapes(args.input)
    example = example_inputs(module, shapes, args.batch)
    spec, _, method = module_to_spec(module, shapes, args.name,
                                     allow_data_dependent=args.allow_data_dependent,
                                     example=example, opaque=args.opaque)
    report = analyze(spec)
    _write(dump_yaml(spec), args.output, [_module_file(args.factory)])
    uncalled = (f" (+ {report.totals.uncalled_params:,} in modules forward never calls: "
                + ", ".join(p for p, _, _ in report.uncalled) + ")") if report.uncalled else ""
    traced = f" (batch {args.batch})" if args.batch > 1 else ""
    opaque = [row.name for row in report.layers if not row.counted]
    kept = (f"; {len(opaque)} opaque row{'s' if len(opaque) != 1 else ''} not counted "
            f"({', '.join(opaque[:4])}{', …' if len(opaque) > 4 else ''}): the MACs are a lower "
            "bound") if opaque else ""
    part = f" (its {args.submodule})" if args.submodule else ""
    sys.stderr.write(f"imported {args.factory}{part} with {method}{traced}: "
                     f"{len(report.layers)} rows, {report.totals.params:,} params{uncalled}, "
                     f"{report.totals.macs:,} MACs{kept}\n")
    return 0


def _check(args: argparse.Namespace) -> int:
    import os

    from .claims import check

    if args.grade is not None:  # grading: a gradebook, exit 0 once every file is graded
        from .grade import grade, load_rubric

        if args.claims is not None:
            raise CnnsizeError("give a claims file or --grade DIR, not both", field="--grade")
        if args.spec is None:
            raise CnnsizeError("--grade needs --spec: the spec or answer file to grade against",
                               field="--spec", hint="e.g. --spec lenet5, or --spec answers.yaml "
                                                    "(cnnsize worksheet SPEC --answers --format "
                                                    "yaml -o answers.yaml)")
        suffix = os.path.splitext(args.output or "")[1].lower()
        fmt = args.format or {".csv": "csv", ".json": "json", ".md": "markdown",
                              ".markdown": "markdown"}.get(suffix, "text")
        rubric = load_rubric(args.spec, args.convention)
        book = grade(args.grade, rubric, progress=sys.stderr.isatty())
        _write(book.render(fmt), args.output,
               [*rubric.files, *(s.source for s in book.students), args.convention])
        if args.output:
            sys.stderr.write(f"wrote {args.output}: {len(book.graded)} graded"
                             + (f", {len(book.unreadable)} could not be read"
                                if book.unreadable else "") + "\n")
        return 0
    if args.claims is None:
        raise CnnsizeError("give a claims file, or --grade DIR --spec SPEC", field="claims")
    if args.format == "csv":
        raise CnnsizeError("csv is a gradebook format: use it with --grade", field="--format",
                           hint="a check prints text, markdown or json")
    result = check(args.claims, spec=args.spec, conventions=args.convention)
    _write(result.render(args.format or "text"), args.output,
           [args.claims, args.spec, args.convention])
    return 0 if result.ok else 1


def _worksheet(args: argparse.Namespace) -> int:
    import os

    from .worksheet import make_worksheet

    suffix = os.path.splitext(args.output or "")[1].lower()
    fmt = args.format or {".csv": "csv", ".yaml": "yaml", ".yml": "yaml", ".tex": "latex",
                          ".latex": "latex"}.get(suffix, "md")
    name = args.spec  # as the worksheet names it: a spec file relative to where it is written
    if args.output and os.path.isfile(args.spec):
        name = os.path.relpath(args.spec, os.path.dirname(os.path.abspath(args.output)))
    layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    sheet = make_worksheet(args.spec, args.ask, conventions=args.convention, layers=layers,
                           totals=args.totals, spec_name=name)
    text = sheet.render(fmt, answers=args.answers,
                        filename=os.path.basename(args.output) if args.output else None)
    _write(text, args.output, [args.spec, args.convention])
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .comparison import compare

    input_shape = _input_shapes(args.input) if args.input else None
    comparison = compare(args.specs, input_shape=input_shape, conventions=conventions_from(args),
                         depth=args.depth)
    _write(comparison.render(args.format, si=args.si), args.output, args.specs)
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .plot import plot, save

    if args.kind is None:  # the chart that fits what was given
        args.kind = "layers" if len(args.specs) == 1 else "totals" if args.specs else "scatter"
    if not args.specs and args.kind != "scatter":
        raise CnnsizeError(f"a '{args.kind}' chart needs at least one SPEC", field="specs")
    sizes: list[int] = []
    if args.sizes:
        try:
            sizes = [int(s) for s in args.sizes.split(",")]
        except ValueError:
            raise CnnsizeError(f"cannot read sizes {args.sizes!r}", field="--sizes",
                               hint="e.g. --sizes 32,64,128,224") from None
    input_shape = _input_shapes(args.input) if args.input else None
    if args.depth is not None and args.kind not in ("layers", "memory"):
        raise CnnsizeError(f"--depth picks the bars of a layers or memory chart, not of "
                           f"'{args.kind}'", field="--depth")
    figure = plot(args.specs, args.kind, log=args.log, sizes=sizes,
                  conventions=conventions_from(args), input_shape=input_shape, depth=args.depth)
    save(figure, args.output, inputs=args.specs)
    sys.stderr.write(f"wrote {args.output}\n")
    return 0


def _draw(args: argparse.Namespace) -> int:
    from .draw import draw
    from .plot import save

    costs = [c.strip() for c in args.costs.split(",") if c.strip()] if args.costs else []
    input_shape = _input_shapes(args.input) if args.input else None
    figure = draw(args.spec, args.style, depth=args.depth, costs=costs,
                  conventions=conventions_from(args), input_shape=input_shape)
    save(figure, args.output, inputs=[args.spec])
    sys.stderr.write(f"wrote {args.output}\n")
    return 0


def _time(args: argparse.Namespace) -> int:
    from .verify.timing import parse_sweep, sweep, time_layers

    if args.chart and not args.chart.lower().endswith((".png", ".svg", ".pdf")):
        raise CnnsizeError(f"charts are written as .png, .svg or .pdf, not {args.chart!r}",
                           field="--chart")

    common = {"device": args.device, "dtype": args.dtype, "channels_last": args.channels_last}
    if args.sweep:
        grid = parse_sweep(args.sweep)
        from .render.timing import render_sweep, sweep_chart

        if args.backward:
            raise CnnsizeError("--sweep times forward passes; drop --backward", field="--sweep")
        result = sweep(args.spec, batches=grid.get("batch", [args.batch]),
                       sizes=grid.get("size", []), warmup=args.warmup, repeat=args.repeat,
                       progress=sys.stderr.isatty(), cudnn_benchmark=not args.no_cudnn_benchmark,
                       threads=args.threads, **common)
        _write(render_sweep(result, args.format), args.output, [args.spec, args.chart])
        chart = sweep_chart(result) if args.chart else None
    else:
        from .render.timing import timing_chart

        timing = time_layers(args.spec, batch=args.batch, warmup=args.warmup, repeat=args.repeat,
                             backward=args.backward, cudnn_benchmark=not args.no_cudnn_benchmark,
                             threads=args.threads, progress=sys.stderr.isatty(), **common)
        if args.output or args.format in ("csv", "json"):  # text and markdown say them too
            for warning in timing.warnings:
                sys.stderr.write(f"warning: {warning}\n")
        _write(timing.render(args.format), args.output, [args.spec, args.chart])
        chart = timing_chart(timing) if args.chart else None
    if chart is not None:
        from .plot import save

        save(chart, args.chart, inputs=[args.spec, args.output or ""])
    return 0


def _reports(args: argparse.Namespace) -> int:
    from .reports import write_reports

    written = write_reports(args.output, charts=not args.no_charts, progress=sys.stderr.isatty())
    pictures = [p for p in written if p.suffix == ".svg"]
    diagrams = len([p for p in pictures if p.stem.endswith("_diagram")])
    sys.stderr.write(f"wrote {len(written) - len(pictures)} Markdown files, {diagrams} diagrams "
                     f"and {len(pictures) - diagrams} charts to {args.output}\n")
    return 0


def _module_file(reference: str) -> str | None:
    """The source file of a factory's module, which an output must not replace."""
    name = reference.rpartition(":")[0]
    if name.lower().endswith(".py"):
        return name
    module = sys.modules.get(name)
    return getattr(module, "__file__", None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"report": _report, "zoo": _zoo, "crosscheck": _crosscheck, "import": _import,
                "check": _check, "worksheet": _worksheet, "compare": _compare, "plot": _plot,
                "draw": _draw, "reports": _reports, "time": _time}
    # the command: the first word that is no option (the top-level options take no values)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in commands else None).parse_args(argv)
    try:
        return commands[args.command](args)
    except CnnsizeError as e:
        _say(f"cnnsize: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        _say("cnnsize: interrupted\n")
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (RecursionError, MemoryError) as e:
        _say(f"cnnsize: error: the input is too large to handle ({type(e).__name__})\n")
        return 2
    except Exception as e:
        if args.debug:
            raise
        _say(f"cnnsize: internal error: {type(e).__name__}: {e}\n"
             "  this is a bug in cnnsize; --debug shows where it happened\n")
        return 2


def run() -> NoReturn:
    """The program (`cnnsize`, `python -m cnnsize`): main() on the process's arguments, then
    exit with its status. What is left is not collected on the way out (gc.freeze): the process
    ends anyway, and the collections Python makes over every object at exit took an eighth of
    the CPU of a small report. (A __del__ of an object in a cycle may not run then; nothing in
    cnnsize has one, and Python does not promise them at exit.)"""
    status = main()
    gc.freeze()
    sys.exit(status)


def _say(text: str) -> None:
    try:
        sys.stderr.write(text)
    except (OSError, ValueError, AttributeError):
        pass  # no stderr to say it on


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at devnull so that Python's exit flush stays quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    run()
