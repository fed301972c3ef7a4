"""`--explain` states every quantity of every row with its numbers, and each number is the
table's: an oracle that parses every line's final `= N` and compares it with the row's value."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

import pytest

import cnnsize
from cnnsize import Conventions
from cnnsize.layers import REGISTRY
from cnnsize.layers.base import SPATIAL_SYMBOLS
from cnnsize.report import ContainerStats, LayerStats
from cnnsize.spec import zoo_names

# A statement's name → the LayerStats field it states.
NAMES = {"units": "units", "weights": "weights", "biases": "biases", "params": "params",
         "connections": "connections", "MACs": "macs", "FLOPs": "flops",
         "memory": "activation_bytes", "receptive field": "receptive_field", "jump": "jump",
         "output": "output_shape", "channels": "channels", "C2": "channels"}


def _without_parenthesis(text: str) -> str:
    """'memory = 0 B (a view of x)' → 'memory = 0 B'; only a trailing, balanced one."""
    text = text.rstrip()
    while text.endswith(")"):
        depth = 0
        for i in range(len(text) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[i], 0)
            if depth == 0:
                break
        if i == 0 or text[i - 1] != " ":
            break  # '(…)' is part of the value, not a remark about it
        text = text[:i].rstrip()
    return text


def _parts(line: str) -> list[str]:
    """A line split at '; ' outside parentheses: one statement each."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(line):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0 and line.startswith("; ", i):
            parts.append(line[start:i])
            start = i + 2
    return [*parts, line[start:]]


def _value(text: str) -> Any:
    text = text.split("→")[-1].replace("floor", "").replace("ceil", "").strip()
    text = text.removesuffix(" B").strip()
    if text == "global":
        return None
    parts = [p.replace(",", "") for p in text.split("×")]
    numbers = tuple(Fraction(p) for p in parts)
    return numbers if len(numbers) > 1 else numbers[0]


def _quantity(name: str, ndim: int) -> tuple[str, int | None] | None:
    """('receptive_field', 1) for 'receptive field W'; ('output_shape', 2) for 'W2'."""
    symbols = SPATIAL_SYMBOLS.get(ndim, ())
    if name in NAMES:
        return NAMES[name], None
    if name.endswith("2") and name[:-1] in symbols:
        return "output_shape", symbols.index(name[:-1]) + 1
    for prefix in ("receptive field ", "jump "):
        if name.startswith(prefix) and name[len(prefix):] in symbols:
            return NAMES[prefix.strip()], symbols.index(name[len(prefix):])
    return None


def statements(lines: tuple[str, ...] | list[str], ndim: int
               ) -> list[tuple[str, int | None, Any, str]]:
    """(field, dim or None, value, line) for every statement `name [= name …] = … = N`."""
    out = []
    for line in lines:
        for part in _parts(line):
            pieces = _without_parenthesis(part).split(" = ")
            if len(pieces) < 2:
                continue
            for name in pieces[:-1]:
                quantity = _quantity(name.strip(), ndim)
                if quantity is None:
                    break
                out.append((*quantity, _value(pieces[-1]), line))
    return out


def expected(row: LayerStats | ContainerStats, field: str, dim: int | None) -> Any:
    if field == "channels":
        return row.output_shape[0]
    value = getattr(row, field)
    if field == "output_shape" and dim is None:
        return tuple(value) if len(value) > 1 else value[0]
    if value is None or dim is None:
        return value
    return value[dim]


def matches(row: LayerStats | ContainerStats, field: str, dim: int | None, value: Any) -> bool:
    want = expected(row, field, dim)
    if field in ("receptive_field", "jump") and dim is None and isinstance(want, tuple):
        # one value for all dims, or one per dim
        return want == value or (not isinstance(value, tuple) and set(want) == {value})
    return bool(want == value)


def check_rows(report: cnnsize.Report, every_line: bool) -> int:
    """Each row states all its quantities; the last statement of each is the table's value
    (with `every_line`, every statement is). Returns the number of statements checked."""
    checked = 0
    for row in report.layers:
        ndim = len(row.output_shape) - 1
        said = statements(row.explain, ndim)
        last: dict[tuple[str, int | None], tuple[Any, str]] = {}
        for field, dim, value, line in said:
            last[field, dim] = (value, line)
            if every_line and row.shares is None:  # a second call restates its counts
                assert matches(row, field, dim, value), (report.name, row.name, line,
                                                         expected(row, field, dim))
        for (field, dim), (value, line) in last.items():
            assert matches(row, field, dim, value), (report.name, row.name, line,
                                                     expected(row, field, dim))
        checked += len(said)
        fields = {f for f, _ in last}
        needed = {"flops", "activation_bytes", "receptive_field"}
        if row.params:
            needed.add("params")
        if row.weights:
            needed.add("weights")
        if row.biases:
            needed.add("biases")
        if row.neurons:
            needed.add("units")
        if row.connections:
            needed.add("connections")
        if row.macs:
            needed.add("macs")
        if row.receptive_field == ():  # no spatial dims: no field to follow
            needed.discard("receptive_field")
        elif row.jump is not None and row.receptive_field is not None:
            needed.add("jump")
        if not row.counted:  # an opaque op: its explain says what is not counted, no formulas
            assert any("not counted" in line for line in row.explain), row.explain
            continue
        assert needed <= fields, (report.name, row.name, needed - fields, row.explain)
    return checked


@pytest.mark.parametrize("name", zoo_names())
def test_every_explain_line_of_every_zoo_row_is_the_tables_number(name):
    report = cnnsize.analyze(name)
    assert check_rows(report, every_line=True) >= 4 * len(report.layers)


VARIANTS = [Conventions(bias=False), Conventions(flops_per_mac=1),
            Conventions(elementwise_flops=False), Conventions(bias_connections=True),
            Conventions(dtype="float16", batch=3), Conventions(inplace_activations="none"),
            Conventions(inplace_activations="spec", bias=False, flops_per_mac=1, batch=2)]


@pytest.mark.parametrize("conventions", VARIANTS, ids=lambda c: c.describe()[:60])
@pytest.mark.parametrize("name", ["lenet5", "lenet5_1998", "resnet18", "googlenet",
                                  "mobilenet_v2", "efficientnet_b0", "densenet121"])
def test_the_last_statement_of_each_quantity_follows_the_conventions(name, conventions):
    check_rows(cnnsize.analyze(name, conventions=conventions), every_line=False)


def test_a_module_called_again_and_unusual_kinds_explain_their_numbers():
    spec = {"input": [3, 16, 16], "layers": [
        {"name": "a", "type": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"name": "b", "shares": "a"},
        {"name": "d", "type": "conv2d", "out_channels": 4, "kernel_size": [3, 5],
         "dilation": [1, 2], "stride": [1, 2]},
        {"name": "up", "type": "convtranspose2d", "out_channels": 2, "kernel_size": 3,
         "stride": 2},
        {"name": "p", "type": "maxpool2d", "kernel_size": 2, "dilation": 2},
        {"name": "cat", "type": "cat", "inputs": ["p", "p"]},
        {"type": "flatten"},
        {"type": "dropout"},
        {"name": "fc", "type": "linear", "out_features": 5}]}
    for conventions in (Conventions(), *VARIANTS):
        report = cnnsize.analyze(spec, conventions=conventions)
        check_rows(report, every_line=conventions == Conventions())
    report = cnnsize.analyze(spec)
    assert "params = 0 (its module's 84 are counted at a)" in report["b"].explain
    # r = r_in + (F − 1)·D·j_in with the dilation: H 1 + (3 − 1)·1·1, W 1 + (5 − 1)·2·1
    assert report["d"].explain[-4:] == (
        "receptive field H = r_in + (F − 1)·D·j_in = 5 + (3 − 1)·1·1 = 7",
        "receptive field W = r_in + (F − 1)·D·j_in = 5 + (5 − 1)·2·1 = 13",
        "jump H = j_in·S = 1·1 = 1", "jump W = j_in·S = 1·2 = 2")
    # a transposed convolution: each output reads ⌈3/2⌉ = 2 input positions, the jump halves
    assert report["up"].explain[-4:] == (
        "receptive field H = r_in + (k − 1)·j_in = 7 + (2 − 1)·1 = 8 (k: the input positions "
        "each output reads)",
        "receptive field W = r_in + (k − 1)·j_in = 13 + (2 − 1)·2 = 15 (k: the input positions "
        "each output reads)",
        "jump H = j_in/S = 1/2 = 1/2", "jump W = j_in/S = 2/2 = 1")


def test_the_lines_change_with_the_conventions():
    def lines(**kw: Any) -> tuple[str, ...]:
        return cnnsize.analyze("lenet5", conventions=Conventions(**kw))["C1"].explain

    # 2·117,600 + 4,704 = 239,904 (MACs 6·28·28·5·5·1 = 117,600; a bias add per unit, 4,704)
    assert "FLOPs = 2·MACs + bias adds = 2·117,600 + 4,704 = 239,904" in lines()
    assert "FLOPs = MACs + bias adds = 117,600 + 4,704 = 122,304" in lines(flops_per_mac=1)
    assert "FLOPs = 2·MACs = 2·117,600 = 235,200 (per-element FLOPs not counted: " \
           "--no-elementwise-flops)" in lines(elementwise_flops=False)
    no_bias = lines(bias=False)
    assert "biases = 0 (--no-bias: its 6 are not counted)" in no_bias
    assert "params = weights + biases = 150 + 0 = 150" in no_bias
    assert "FLOPs = 2·MACs = 2·117,600 = 235,200 (bias adds not counted: --no-bias)" in no_bias
    # memory = 4,704 units · 2 B · batch 3 = 28,224 B
    assert "memory = units·bytes/element·batch = 4,704·2·3 = 28,224 B" in lines(
        dtype="float16", batch=3)
    assert "MACs = batch·MACs per example = 3·117,600 = 352,800" in lines(batch=3)
    relu = cnnsize.analyze("lenet5")["1"].explain
    assert any(line.startswith("memory = 0 B (it can run in place, in C1's storage") for line in relu)
    stored = cnnsize.analyze("lenet5", conventions=Conventions(inplace_activations="none"))
    assert "memory = units·bytes/element·batch = 4,704·4·1 = 18,816 B" in stored["1"].explain


def test_merges_take_the_largest_field_over_their_inputs():
    report = cnnsize.analyze("resnet18")
    add = report["layer2.0"]
    # body: conv 3x3/2 then 3x3 after layer1 (field 43, jump 4): 43 + 2·4 = 51, + 2·8 = 67;
    # shortcut: a 1x1/2 conv keeps 43
    assert "receptive field = max over the inputs = max(67, 43) = 67" in add.explain
    assert add.explain[-1] == "jump = 8"


def test_the_kinds_per_element_flops_line_is_their_elementwise_flops():
    """The protocol explain.py relies on: a kind's `FLOPs = …` line is Cost.elementwise_flops."""
    for cls in REGISTRY.values():
        for example in cls.examples:
            cost = cls.from_args(example[0]).analyze(cls.example_inputs(example))
            flops = [line for line in cost.explain if line.startswith("FLOPs =")]
            if cost.elementwise_flops:
                assert flops, (cls.type_name, cost.explain)
            for line in flops:
                assert _value(_without_parenthesis(line).split(" = ")[-1]) == \
                    cost.elementwise_flops, (cls.type_name, line)


ROLLED = re.compile(r"^(\S+) \(.*rows rolled up")


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "densenet121", "efficientnet_b0"])
def test_rolled_up_containers_add_up_to_their_subtotals(name):
    report = cnnsize.analyze(name)
    by_name = {c.name: c for c in report.containers}
    text = report.render("text", explain=True, depth=2)
    formulas = text.split("\nFormulas:\n", 1)[1].split("\nMemory:\n", 1)[0].splitlines()
    seen = 0
    for i, line in enumerate(formulas):
        m = ROLLED.match(line)
        if not m:
            continue
        container = by_name[m.group(1)]
        body = []
        for follow in formulas[i + 1:]:
            if not follow.startswith("  "):
                break
            body.append(follow.strip())
        said = statements(body, len(container.output_shape) - 1)
        assert {"params", "flops", "activation_bytes", "receptive_field"} <= {f for f, *_ in said}
        for field, dim, value, line in said:
            assert matches(container, field, dim, value), (container.name, line)
        seen += 1
    assert seen >= 3


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_kinds_examples_explain_the_tables_numbers(name):
    cls = REGISTRY[name]
    for args, shapes in cls.examples:
        inputs = cls.example_inputs((args, shapes))
        names = [f"x{i}" for i in range(len(inputs))]
        spec = {"input": {n: list(s) for n, s in zip(names, inputs)},
                "layers": [{"name": "op", "type": name, **args, "inputs": names}]} if inputs \
            else {"input": [1], "layers": [{"name": "op", "type": name, **args}]}  # a source
        check_rows(cnnsize.analyze(spec), every_line=True)
