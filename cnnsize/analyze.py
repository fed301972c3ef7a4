"""One pass over the graph: shapes, costs, receptive fields and tensor lifetimes → a Report.

Pure: no I/O, no torch. Every feature (report, explain, check, compare, plot, build, crosscheck,
timing) reads the Report this loop makes, or walks the same Graph.

Receptive field and jump per spatial dim (Araujo et al., "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019): r_out = r_in + (F_eff − 1)·j_in, j_out = j_in·S.
On a graph every path from the input has its own (r, j); both grow monotonically along a path,
so the pairs that no other pair beats in every dim (a Pareto set) give the exact largest field
over all paths.

Memory (docs/conventions.md): the inference peak runs the ops in order, frees each tensor after
its last reader (graph inputs and outputs stay alive), and lets views and in-place ops share
their input's storage; training memory adds up the tensors autograd saves for backward.
"""

from __future__ import annotations

import math
import operator
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .conventions import Conventions
from .errors import CnnsizeError, ShapeError, SpecTypeError
from .graph import Graph, Op
from .layers import Cost, Kind, Shape
from .layers.base import Saved, Window, fmt_shape
from .pause import collector_paused
from .report import SUMMED, ContainerStats, LayerStats, Report, Totals
from .shape import divisible_inputs, divisible_paddings, fmt
from .spec import load

SpecLike = str | os.PathLike[str] | Mapping[str, Any] | Graph
InputShape = Shape | Mapping[str, Shape]  # one input's shape, or shapes of inputs by name

# A receptive field: the Pareto set of (field, jump) pairs per path, or None once global. Ints
# while they are whole (fast), Fractions after a transposed convolution.
Number = int | Fraction
Pair = tuple[tuple[Number, ...], tuple[Number, ...]]
Field = tuple[Pair, ...] | None


def analyze(
    net: SpecLike | Any,
    batch: int = 1,
    dtype: str = "float32",
    bias: bool = True,
    *,
    input_shape: InputShape | None = None,
    strict: bool = False,
    conventions: Conventions | None = None,
    allow_data_dependent: bool = False,
) -> Report:
    """Propagate shapes through a spec and count everything; see docs/conventions.md.
    `input_shape` replaces the (first) input's shape, or, a mapping, those of inputs by name.
    `net` may be a torch.nn.Module with `input_shape` (channels first, no batch dim): it is
    imported first (cnnsize.from_module), with `allow_data_dependent` as there."""
    if is_module(net):
        if input_shape is None:
            raise SpecTypeError(
                f"{type(net).__name__} is a torch module: cnnsize needs its input shape to "
                "follow it", field="input_shape",
                hint="analyze(model, input_shape=(3, 224, 224)) (channels first, no batch dim), "
                     "or cnnsize.summary(model, input_size=(1, 3, 224, 224)) as in torchinfo")
        from .verify.importer import from_module

        network = from_module(net, input_shape, allow_data_dependent=allow_data_dependent)  # type: ignore[arg-type]
    else:
        network = load(net)
        if input_shape is not None:
            network = with_inputs(network, input_shape)
    if conventions is not None and not isinstance(conventions, Conventions):
        raise SpecTypeError(f"conventions must be a cnnsize.Conventions, not "
                            f"{type(conventions).__name__}", field="conventions",
                            hint="e.g. cnnsize.Conventions(bias=False, dtype='float16')")
    if not isinstance(strict, bool):
        raise SpecTypeError(f"strict must be true or false, got {strict!r}", field="strict")
    conv = conventions or Conventions(bias=bias, dtype=dtype, batch=batch)
    try:
        return _Pass(network, conv, strict).run()
    except CnnsizeError as e:
        if isinstance(e, ShapeError) and strict and e.field and e.field.startswith("output") \
                and "not a whole number" in e.message:
            near = _exact_inputs(network, conv)
            if near:
                e.hint = (e.hint + "; " if e.hint else "") + (
                    "network inputs that make every layer exact: "
                    + ", ".join(fmt_shape(s) for s in near))
        raise e.located(source=network.source) from None


def is_module(value: Any) -> bool:
    """A torch.nn.Module, known without importing torch (torch is loaded if it is one)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def with_inputs(network: Graph, shapes: InputShape) -> Graph:
    """The network with other input shapes, checked (a CnnsizeError naming the spec)."""
    from .spec import parse_input

    try:
        if isinstance(shapes, Mapping):
            return network.with_inputs({str(k): parse_input(list(v)) for k, v in shapes.items()})
        return network.with_input(parse_input(list(shapes)))
    except CnnsizeError as e:
        raise e.located(source=network.source) from None


def _exact_inputs(network: Graph, conv: Conventions, span: int = 16) -> list[Shape]:
    """Nearby input sizes (all spatial dims shifted together) for which no size is rounded."""
    c, *spatial = network.input_shape
    found: list[Shape] = []
    for delta in sorted(range(-span, span + 1), key=lambda d: (abs(d), d)):
        if delta == 0 or min(spatial, default=1) + delta < 1:
            continue
        shape = (c, *(w + delta for w in spatial))
        try:
            _Pass(network.with_input(shape), conv, strict=True).run()
        except CnnsizeError:
            continue
        found.append(shape)
        if len(found) == 2:
            break
    return found


@dataclass(slots=True)
class _Memory:
    """Tensor storages while the ops run: who shares whose, how big, when each is made and
    when the last op that reads it runs (after which it is freed)."""

    storage: dict[str, int]          # tensor → storage id
    size: list[int]                  # storage id → bytes
    owner: list[str]                 # storage id → the tensor that made it
    born: list[int]                  # storage id → index of the op that made it (-1: an input)
    last: list[int]                  # storage id → index of the last op that reads it

    @classmethod
    def empty(cls) -> _Memory:
        return cls({}, [], [], [], [])

    def new(self, tensor: str, nbytes: int, born: int, last: int) -> int:
        self.storage[tensor] = len(self.size)
        self.size.append(nbytes)
        self.owner.append(tensor)
        self.born.append(born)
        self.last.append(last)
        return len(self.size) - 1

    def share(self, tensor: str, of: str, last: int) -> int:
        sid = self.storage[of]
        self.storage[tensor] = sid
        self.last[sid] = max(self.last[sid], last)
        return sid

    def alive_at(self, index: int) -> tuple[tuple[str, int], ...]:
        """The storages alive while op `index` runs, each named by the tensor that made it."""
        return tuple((self.owner[sid], self.size[sid]) for sid in range(len(self.size))
                     if self.born[sid] <= index <= self.last[sid])


# What each (kind, input shapes) costs, shared by every analysis in the process: a network
# repeats its blocks (ResNet-152: 515 rows, 33 different ones), and kinds and costs are frozen.
_COSTS: dict[tuple[Kind, tuple[Shape, ...]], Cost] = {}
_COSTS_MAX = 8192


def _cost(kind: Kind, shapes: tuple[Shape, ...]) -> Cost:
    key = (kind, shapes)
    try:
        cost = _COSTS.get(key)
    except TypeError:  # a kind with an unhashable argument: computed each time
        return kind.analyze(shapes)
    if cost is None:
        cost = kind.analyze(shapes)
        if len(_COSTS) >= _COSTS_MAX:
            _COSTS.clear()
        _COSTS[key] = cost
    return cost


class _Pass:
    def __init__(self, network: Graph, conv: Conventions, strict: bool) -> None:
        self.network = network
        self.conv = conv
        self.strict = strict
        # per distinct cost (a network repeats its layers): its memory rules and row notes,
        # by id, with the cost itself so that the id stays its own while the pass runs
        self._rules: dict[int, tuple[Cost, tuple[bool, bool, tuple[Saved, ...],
                                                 tuple[str, ...]]]] = {}

    def rules(self, cost: Cost) -> tuple[bool, bool, tuple[Saved, ...], tuple[str, ...]]:
        """(shares its input's storage at inference, in training, what it saves, its notes)."""
        known = self._rules.get(id(cost))
        if known is not None:
            return known[1]
        rules = (self._shares_inference(cost), self._shares_training(cost), self._saved(cost),
                 _inexact_notes(cost) + cost.notes)
        self._rules[id(cost)] = (cost, rules)
        return rules

    @collector_paused
    def run(self) -> Report:
        g, conv = self.network, self.conv
        batch, size = conv.batch, conv.bytes_per_element
        n_ops = len(g.ops)
        last_use = g.last_uses()
        shapes: dict[str, Shape] = {}
        fields: dict[str, Field] = {}
        grads: dict[str, bool] = {}
        infer, train = _Memory.empty(), _Memory.empty()
        frees: dict[int, set[int]] = {}
        live = input_bytes = 0
        for name, shape in g.inputs:
            shapes[name] = shape
            spatial = len(shape) - 1
            fields[name] = (((1,) * spatial, (1,) * spatial),)
            grads[name] = False
            nbytes = math.prod(shape) * batch * size
            input_bytes += nbytes
            live += nbytes
            infer.new(name, nbytes, -1, n_ops)  # the caller holds the inputs
            train.new(name, nbytes, -1, n_ops)
        peak, peak_index = live, -1
        # Autograd keeps what an op saves only while the op leads to an output.
        leads: set[str] = set(g.outputs)
        for op in reversed(g.ops):
            if op.name in leads:
                leads.update(op.inputs)
        made: dict[str, tuple[Cost, tuple[Shape, ...]]] = {}  # first calls of each module
        saved_storages: set[int] = set()
        saved_bytes = 0
        rows: list[LayerStats] = []
        for index, op in enumerate(g.ops):
            in_shapes = tuple(shapes[n] for n in op.inputs)
            try:
                cost = _cost(op.kind, in_shapes)
                self._check_exact(cost)
                if op.shares is None:
                    made[op.name] = (cost, in_shapes)
                else:
                    _check_shared(cost, in_shapes, op.shares, *made[op.shares])
            except CnnsizeError as e:
                if len(op.inputs) > 1 and e.detail is None:
                    e.detail = "inputs: " + ", ".join(
                        f"{n} gives {fmt_shape(s)}" for n, s in zip(op.inputs, in_shapes))
                if op.shares is not None and e.field != "shares":
                    e.detail = (f"{e.detail}; " if e.detail else "") + \
                        f"it calls the module of {op.shares} again"
                raise e.located(path=op.name, kind=op.kind.type_name) from None
            shapes[op.name] = cost.output_shape
            field, rf_note = _apply_rf(cost.rf, [fields[n] for n in op.inputs])
            fields[op.name] = field
            nbytes = cost.units * batch * size
            end = last_use.get(op.name, index)  # an output nobody reads is freed at once
            # inference: a storage of its own, or its first input's
            shares_inference, shares_training, saves, _ = self.rules(cost)
            stored = not shares_inference
            if stored:
                sid = infer.new(op.name, nbytes, index, end)
                live += nbytes
            else:
                sid = infer.share(op.name, op.inputs[0], end)
            frees.setdefault(infer.last[sid], set()).add(sid)
            if live > peak:
                peak, peak_index = live, index
            op_live = live
            # training: what autograd saves for backward
            # (a second call of a module has its kind's parameters in `cost` too)
            trainable = cost.weights + cost.biases > 0 and op.trainable
            needs_grad = (trainable or any(grads[n] for n in op.inputs)) and op.name in leads
            grads[op.name] = needs_grad
            if shares_training:
                train.share(op.name, op.inputs[0], end)
            else:
                train.new(op.name, nbytes, index, end)
            row_saved = 0
            for item in saves if needs_grad else ():
                if (item.when_grad is not None and not grads[op.inputs[item.when_grad]]) \
                        or (item.for_weights and not trainable):
                    continue
                if item.what == "new":
                    per = batch if item.per_batch else 1
                    ssid = train.new(f"{op.name} (saved)", item.elements * per * self._itemsize(item),
                                     index, index)
                else:
                    ssid = train.storage[op.inputs[item.index] if item.what == "input" else op.name]
                if ssid not in saved_storages:
                    saved_storages.add(ssid)
                    row_saved += train.size[ssid]
            saved_bytes += row_saved
            for freed in frees.pop(index, ()):
                if infer.last[freed] == index:
                    live -= infer.size[freed]
            rows.append(self._row(op, cost, in_shapes, field, rf_note, nbytes if stored else 0,
                                  op_live, row_saved))
        peak_at = g.ops[peak_index].name if peak_index >= 0 else ""
        return Report(g.name, g.input_shape, conv, tuple(rows),
                      self._totals(rows, input_bytes, peak, peak_at, infer.alive_at(peak_index),
                                   saved_bytes, [fields[n] for n in g.outputs]),
                      g.source, g.inputs, g.outputs,
                      tuple((u.path, u.params, u.buffers) for u in g.uncalled), _graph_notes(g),
                      _containers(g, rows))

    # -- memory rules (docs/conventions.md, "Activation memory")
    def _shares_inference(self, cost: Cost) -> bool:
        if cost.storage in ("view", "eval_noop", "inplace"):
            return True
        if cost.storage == "activation":
            mode = self.conv.inplace_activations
            return mode == "all" or (mode == "spec" and cost.inplace)
        return False

    def _shares_training(self, cost: Cost) -> bool:
        if cost.storage == "eval_noop":  # dropout draws a new tensor in training
            return cost.inplace
        return self._shares_inference(cost)

    def _saved(self, cost: Cost) -> tuple[Saved, ...]:
        if cost.saved_inplace is not None and cost.storage == "activation" \
                and self._shares_inference(cost):
            return cost.saved_inplace
        return cost.saved

    def _itemsize(self, item: Saved) -> int:
        if item.itemsize == "dtype":
            return self.conv.bytes_per_element
        if item.itemsize == "acc":
            return max(4, self.conv.bytes_per_element)
        if item.itemsize == "mask":
            return self.conv.mask_bytes
        return item.itemsize

    # -- one row
    def _check_exact(self, cost: Cost) -> None:
        if not (self.strict and cost.inexact):
            return
        field, dim = cost.inexact[0]
        hint = None
        if dim.window:
            w1, f, s, pad, d = dim.window
            inputs = divisible_inputs(w1, f, s, pad, d)
            pads = divisible_paddings(w1, f, s, d, limit=max(pad[0], (d * (f - 1)) // 2 + s))
            parts = []
            if inputs:
                parts.append(f"layer inputs that divide exactly: {', '.join(map(str, inputs))}")
            parts.append(f"paddings that divide exactly: {', '.join(map(str, pads))}" if pads
                         else f"no padding divides exactly with stride {s}")
            hint = "; ".join(parts)
        raise ShapeError(f"{fmt(dim.exact)} is not a whole number (--strict)", field=field,
                         formula=dim.formula, hint=hint)

    def _row(self, op: Op, cost: Cost, in_shapes: tuple[Shape, ...], field: Field,
             rf_note: str | None, activation_bytes: int, live_bytes: int,
             saved_bytes: int) -> LayerStats:
        conv = self.conv
        shared = op.shares is not None
        weights = 0 if shared else cost.weights
        biases = 0 if shared or not conv.bias else cost.biases
        flops = conv.flops_per_mac * cost.macs
        if conv.elementwise_flops:
            flops += cost.elementwise_flops + (cost.bias_adds if conv.bias else 0)
        notes = self.rules(cost)[3]
        if shared:
            notes += (f"calls the module of {op.shares} again" + (
                f": its {cost.weights + cost.biases:,} parameters are counted there"
                if cost.weights + cost.biases else ""),)
        if rf_note:
            notes += (rf_note,)
        rf, jump = _field_summary(field)
        return LayerStats(
            name=op.name,
            type=op.kind.type_name,
            output_shape=cost.output_shape,
            units=cost.units,
            weights=weights,
            biases=biases,
            params=weights + biases,
            buffers=0 if shared else cost.buffers,
            buffer_bytes=0 if shared else (cost.buffers - cost.long_buffers) * conv.bytes_per_element
            + 8 * cost.long_buffers,
            connections=cost.connections + (cost.bias_connections
                                            if conv.bias and conv.bias_connections else 0),
            macs=cost.macs * conv.batch,
            flops=flops * conv.batch,
            activation_bytes=activation_bytes,
            receptive_field=rf,
            jump=jump,
            depth=op.depth,
            scope=op.scope,
            trainable_params=weights + biases if op.trainable else 0,
            neurons=cost.neurons,
            kind=op.kind,
            notes=notes,
            explain=((f"calls the module of {op.shares} again: its weights and biases below are "
                      "counted there",) if shared and cost.weights + cost.biases else ())
            + cost.explain + (("biases not counted (--no-bias)",)
                              if cost.biases and not conv.bias else ()),
            inputs=op.inputs,
            input_shapes=in_shapes,
            shares=op.shares,
            live_bytes=live_bytes,
            saved_bytes=saved_bytes,
        )

    def _totals(self, rows: list[LayerStats], input_bytes: int, peak: int, peak_at: str,
                peak_live: tuple[tuple[str, int], ...], saved: int,
                outputs: list[Field]) -> Totals:
        conv = self.conv
        size = conv.bytes_per_element
        params = sum(r.params for r in rows)
        buffers = sum(r.buffers for r in rows)
        activations = input_bytes + sum(r.activation_bytes for r in rows)
        param_bytes = params * size
        trainable = sum(r.trainable_params for r in rows)
        buffer_bytes = sum(r.buffer_bytes for r in rows)
        state = saved + buffer_bytes
        rf: tuple[int, ...] | None = None
        for field in outputs:
            this, _ = _field_summary(field)
            if this is None:
                this = tuple(self.network.input_shape[1:]) or None
            if this is not None:
                rf = this if rf is None or len(rf) != len(this) else tuple(map(max, rf, this))
        uncalled = self.network.uncalled
        return Totals(
            units=sum(r.units for r in rows if r.neurons),
            weights=sum(r.weights for r in rows),
            biases=sum(r.biases for r in rows),
            params=params,
            buffers=buffers,
            connections=sum(r.connections for r in rows),
            macs=sum(r.macs for r in rows),
            flops=sum(r.flops for r in rows),
            activation_bytes=activations,
            receptive_field=rf,
            input_bytes=input_bytes,
            param_bytes=param_bytes,
            buffer_bytes=buffer_bytes,
            training_bytes_sgd=state + param_bytes + 2 * trainable * size,
            training_bytes_adam=state + param_bytes + 3 * trainable * size,
            trainable_params=trainable,
            peak_bytes=peak,
            peak_at=peak_at,
            peak_live=peak_live,
            saved_bytes=saved,
            uncalled_params=sum(u.params for u in uncalled),
            uncalled_buffers=sum(u.buffers for u in uncalled),
        )


def _containers(g: Graph, rows: list[LayerStats]) -> tuple[ContainerStats, ...]:
    """Every container's subtotals: each row adds its counts to all the containers around it."""
    if not g.scopes:
        return ()
    sums = {s.path: [0] * len(SUMMED) for s in g.scopes}
    span: dict[str, list[int]] = {}
    flagged: dict[str, int] = dict.fromkeys(sums, 0)
    counts = operator.attrgetter(*SUMMED)
    for index, row in enumerate(rows):
        if not row.scope:
            continue
        values = counts(row)
        if not row.neurons:
            values = (0, *values[1:])  # units: neuron rows only, as in the totals
        for path in row.scope:
            sums[path] = list(map(operator.add, sums[path], values))
            span.setdefault(path, [index, index])[1] = index
            flagged[path] += bool(row.notes)
    by_name = {row.name: row for row in rows}
    depth = {s.path: 0 for s in g.scopes}
    out = []
    for s in g.scopes:
        if s.parent is not None:
            depth[s.path] = depth[s.parent] + 1
        first, last = span[s.path]
        made = by_name.get(s.output, rows[last])
        out.append(ContainerStats(s.path, s.type, s.parent, depth[s.path], first, last,
                                  made.output_shape, made.receptive_field, made.jump,
                                  flagged[s.path], **dict(zip(SUMMED, sums[s.path])),
                                  live_bytes=max(r.live_bytes for r in rows[first:last + 1])))
    return tuple(out)


def _graph_notes(g: Graph) -> tuple[str, ...]:
    reads = g.meta.get("data_dependent") if isinstance(g.meta, Mapping) else None
    if not reads:
        return ()
    return (f"the imported forward reads tensor values ({'; '.join(map(str, reads))}): these are "
            "the counts of the path one random input took",)


def _check_shared(cost: Cost, shapes: tuple[Shape, ...], target: str, made: Cost,
                  made_for: tuple[Shape, ...]) -> None:
    """A module called again must be the module it is: the same parameters and buffers."""
    if (cost.weights, cost.biases, cost.buffers) != (made.weights, made.biases, made.buffers):
        raise ShapeError(
            f"calls the module of {target} again on a {' and '.join(map(fmt_shape, shapes))} "
            f"input, but that module was made for {' and '.join(map(fmt_shape, made_for))}: it "
            f"would need {cost.weights + cost.biases:,} parameters, it has "
            f"{made.weights + made.biases:,}", field="shares",
            hint="a shared module takes inputs with the channels (features) of its first call")


def _inexact_notes(cost: Cost) -> tuple[str, ...]:
    """One note per distinct rounded formula, naming every dim it applies to."""
    groups: dict[str, list[str]] = {}
    for field, dim in cost.inexact:
        numbers = dim.formula.split(" = ", 2)[2]
        groups.setdefault(numbers, []).append(field.removeprefix("output "))
    notes = []
    for numbers, fields in groups.items():
        value, _, rounded = numbers.partition(" → ")
        notes.append(f"output {', '.join(fields)} = {value} is not a whole number; PyTorch's rule "
                     f"gives {rounded} (--strict makes this an error)")
    return tuple(notes)


# ---------------------------------------------------------------- receptive fields


def _apply_rf(effect: tuple[Window, ...] | str, inputs: list[Field]) -> tuple[Field, str | None]:
    """The output's field from the inputs' fields and the op's effect, and a note when paths of
    different jumps meet."""
    if effect == "global":
        return None, None
    if isinstance(effect, tuple):
        field = inputs[0]
        if field is None or len(effect) != len(field[0][0]):
            return None, None
        return tuple((tuple(r + (w.kernel - 1) * j for r, w, j in zip(rs, effect, js)),
                      tuple(j * w.stride for w, j in zip(effect, js))) for rs, js in field), None
    if effect == "gated":  # a global input only rescales the others (squeeze-excite)
        inputs = [f for f in inputs if f is not None] or [None]
    if any(f is None for f in inputs):
        return None, None
    if len(inputs) == 1:
        return inputs[0], None
    pairs = [p for f in inputs if f is not None for p in f]
    if len({len(rs) for rs, _ in pairs}) > 1:
        return None, None
    merged = _pareto(pairs)
    note = None
    if len({js for _, js in merged}) > 1:
        note = ("paths with different jumps meet here (" + ", ".join(
            _jump_text(js) for js in sorted({js for _, js in merged})) + "): the field is the "
                "largest over all paths; the jump shown is that of the path with the largest field")
    return merged, note


def _pareto(pairs: list[Pair]) -> tuple[Pair, ...]:
    """The pairs that no other pair matches or beats in every field and jump."""
    unique = sorted(set(pairs), key=lambda p: (p[0], p[1]), reverse=True)
    kept: list[Pair] = []
    for rs, js in unique:
        if not any(all(a >= b for a, b in zip(kr, rs)) and all(a >= b for a, b in zip(kj, js))
                   for kr, kj in kept):
            kept.append((rs, js))
    return tuple(kept)


def _field_summary(field: Field) -> tuple[tuple[int, ...] | None, tuple[Number, ...] | None]:
    """The largest field per dim (rounded up) and the jump of the path that has it."""
    if field is None:
        return None, None
    if len(field) == 1:
        rs, js = field[0]
        return tuple(r if isinstance(r, int) else math.ceil(r) for r in rs), js
    best = max(field, key=lambda p: (sum(p[0]), p[1]))
    rf = tuple(math.ceil(max(rs[d] for rs, _ in field)) for d in range(len(best[0])))
    return rf, best[1]


def _jump_text(js: tuple[Number, ...]) -> str:
    parts = [str(j) for j in js]
    return parts[0] if len(set(parts)) == 1 else "×".join(parts)
