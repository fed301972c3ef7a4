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
from fractions import Fraction
from functools import partial

from .conventions import Conventions
from .errors import CnnsizeError, ShapeError, SpecTypeError
from .graph import Graph, Op
from .layers import Cost, Kind, Shape
from .layers.base import Mixes, Saved, fmt_shape
from .pause import collector_paused
from .record import record, replace
from .report import SUMMED, ContainerStats, LayerStats, Report, Totals
from .shape import divisible_inputs, divisible_paddings, fmt
from .spec import channels_last, load

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    SpecLike = str | os.PathLike[str] | Mapping[str, Any] | Graph
else:  # (typing is not imported at run time)
    SpecLike = str | os.PathLike | Mapping | Graph
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
    original: Graph | None = None  # the spec as written, where input_shape changed its input
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
            original, network = network, with_inputs(network, input_shape)
            if original.inputs == network.inputs:
                original = None
    if conventions is not None and not isinstance(conventions, Conventions):
        raise SpecTypeError(f"conventions must be a cnnsize.Conventions, not "
                            f"{type(conventions).__name__}", field="conventions",
                            hint="e.g. cnnsize.Conventions(bias=False, dtype='float16')")
    if not isinstance(strict, bool):
        raise SpecTypeError(f"strict must be true or false, got {strict!r}", field="strict")
    conv = conventions or Conventions(bias=bias, dtype=dtype, batch=batch)
    reference = _reference(original, conv) if original is not None else None
    try:
        return _Pass(network, conv, strict, reference).run()
    except CnnsizeError as e:
        if isinstance(e, ShapeError) and strict and e.field and e.field.startswith("output") \
                and "not a whole number" in e.message:
            near = _exact_inputs(network, conv)
            if near:
                e.hint = (e.hint + "; " if e.hint else "") + (
                    "network inputs that make every layer exact: "
                    + ", ".join(fmt_shape(s) for s in near))
        else:
            _input_hints(e, network, original, conv, reference is not None)
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


@record(frozen=False, eq=False, repr=False)  # compared and shown nowhere
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
        sid = self.storage[tensor] = len(self.size)
        self.size.append(nbytes)
        self.owner.append(tensor)
        self.born.append(born)
        self.last.append(last)
        return sid

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
    def __init__(self, network: Graph, conv: Conventions, strict: bool,
                 reference: _Reference | None = None) -> None:
        self.network = network
        self.conv = conv
        self.strict = strict
        self.reference = reference  # the rows with the spec's own input, where it was replaced
        # per distinct cost (a network repeats its layers): its memory rules and row notes,
        # by id, with the cost itself so that the id stays its own while the pass runs
        self._rules: dict[int, tuple[Cost, tuple[bool, bool, tuple[Saved, ...],
                                                 tuple[str, ...]]]] = {}
        # per distinct cost and whether the row calls a module again: the counts of its row
        self._counts: dict[tuple[int, bool, bool], tuple[Cost, tuple[int, ...]]] = {}

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
        layouts: dict[str, Layout] = {}      # which spatial dims each tensor's axes carry
        strides: dict[str, Shape] = {}       # strides, batch dim first, in elements (views)
        grads: dict[str, bool] = {}
        infer, train = _Memory.empty(), _Memory.empty()
        frees: dict[int, set[int]] = {}
        live = input_bytes = 0
        extents: dict[int, Shape] = {}  # the inputs' spatial sizes (a field global in a dim)
        for name, shape in g.inputs:
            shapes[name] = shape
            spatial = len(shape) - 1
            fields[name] = (((1,) * spatial, (1,) * spatial),)
            layouts[name] = _standard(len(shape), spatial)
            strides[name] = contiguous_strides((batch, *shape))
            extents[spatial] = tuple(map(max, extents.get(spatial, shape[1:]), shape[1:]))
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
            if op.name in leads and not op.kind.stops_gradient:  # (quantize: no gradient)
                leads.update(op.inputs)
        made: dict[str, tuple[Cost, tuple[Shape, ...]]] = {}  # first calls of each module
        saved_storages: set[int] = set()
        saved_bytes = 0
        rows: list[LayerStats] = []
        # this pass's costs by kind (the graph holds its kinds, so an id stays theirs): a kind
        # is hashed by its arguments, which takes longer than looking it up by id
        costs: dict[tuple[int, tuple[Shape, ...]], Cost] = {}
        once = g.per_pass()
        for index, op in enumerate(g.ops):
            name, inputs = op.name, op.inputs
            # a row computed from the model's own tensors alone runs once per forward pass: its
            # counts and memory are those of one "example", whatever the batch
            per_pass = name in once
            examples = 1 if per_pass else batch
            in_shapes = tuple([shapes[n] for n in inputs])
            try:
                cost = costs.get((id(op.kind), in_shapes))
                if cost is None:
                    cost = costs[id(op.kind), in_shapes] = _cost(op.kind, in_shapes)
                if self.strict:
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
            shapes[name] = cost.output_shape
            # a tensor computed once per pass holds no part of the input: no field of its own,
            # and none that it adds where it meets the input's
            keep = [i for i, x in enumerate(inputs) if x not in once]
            in_fields = [fields[inputs[i]] for i in keep]
            field, layouts[name], rf_note = (None, None, None) if per_pass else _apply_rf(
                cost, in_fields, [layouts[inputs[i]] for i in keep],
                tuple(in_shapes[i] for i in keep), extents)
            if cost.spatial_last_note and not per_pass and _last_axis_spatial(layouts[inputs[0]]):
                cost = replace(cost, notes=(*cost.notes, cost.spatial_last_note))
            fields[name] = field
            units = cost.units
            nbytes = units * examples * size
            end = last_use.get(name, index)  # an output nobody reads is freed at once
            # inference: a storage of its own, or its first input's
            rules = self.rules(cost)
            shares_inference, shares_training, saves, _ = rules
            view = None
            if cost.storage in ("reshape", "contiguous"):  # a view if the strides allow
                view = _view(cost, examples, in_shapes[0], strides[inputs[0]])
                shares_inference = shares_training = view is not None
            strides[name] = _out_strides(cost, examples, in_shapes, [strides[x] for x in inputs],
                                         view, shares_inference)
            stored = not shares_inference
            if not inputs:  # a source (state): the model's own tensor, not an activation
                stored = False
                sid = infer.new(name, 0, index, end)
            elif stored:
                sid = infer.new(name, nbytes, index, end)
                live += nbytes
            else:
                sid = infer.share(name, inputs[0], end)
            freed_then = frees.get(infer.last[sid])
            if freed_then is None:
                frees[infer.last[sid]] = {sid}
            else:
                freed_then.add(sid)
            if live > peak:
                peak, peak_index = live, index
            op_live = live
            # training: what autograd saves for backward
            # (a second call of a module has its kind's parameters in `cost` too)
            trainable = cost.weights + cost.biases > 0 and op.trainable
            needs_grad = (trainable or any([grads[n] for n in inputs])) and name in leads
            grads[name] = needs_grad
            if not inputs:
                train.new(name, 0, index, end)
            elif shares_training:
                train.share(name, inputs[0], end)
            else:
                train.new(name, nbytes, index, end)
            row_saved = 0
            for item in saves if needs_grad else ():
                if (item.when_grad is not None and not grads[op.inputs[item.when_grad]]) \
                        or (item.for_weights and not trainable):
                    continue
                if item.what == "new":
                    per = examples if item.per_batch else 1
                    ssid = train.new(f"{op.name} (saved)", item.elements * per * self._itemsize(item),
                                     index, index)
                elif item.bmm is not None and _bmm_copies(
                        item.bmm, (examples, *in_shapes[item.index]), strides[op.inputs[item.index]]):
                    ssid = train.new(f"{op.name} (saved copy of input {item.index})",
                                     math.prod(in_shapes[item.index]) * examples
                                     * self._itemsize(item), index, index)
                else:
                    ssid = train.storage[op.inputs[item.index] if item.what == "input" else op.name]
                if ssid not in saved_storages:
                    saved_storages.add(ssid)
                    row_saved += train.size[ssid]
            saved_bytes += row_saved
            for freed in frees.pop(index, ()):
                if infer.last[freed] == index:
                    live -= infer.size[freed]
            rows.append(self._row(op, cost, units, rules[3], in_shapes, field, rf_note,
                                  nbytes if stored else 0, op_live, row_saved, in_fields, stored,
                                  per_pass))
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

    def _row(self, op: Op, cost: Cost, units: int, notes: tuple[str, ...],
             in_shapes: tuple[Shape, ...], field: Field, rf_note: str | None,
             activation_bytes: int, live_bytes: int, saved_bytes: int, in_fields: list[Field],
             stored: bool, per_pass: bool = False) -> LayerStats:
        conv = self.conv
        shared = op.shares is not None
        known = self._counts.get((id(cost), shared, per_pass))
        if known is None:
            known = self._counts[id(cost), shared, per_pass] = (
                cost, self._row_counts(cost, shared, 1 if per_pass else conv.batch))
        weights, biases, buffers, buffer_bytes, connections, macs, flops = known[1]
        if per_pass and op.inputs:
            notes += (PER_PASS_NOTE,)
        if shared:
            notes += (f"calls the module of {op.shares} again" + (
                f": its {cost.weights + cost.biases:,} parameters are counted there"
                if cost.weights + cost.biases else ""),)
        if rf_note:
            notes += (rf_note,)
        if self.reference is not None and not shared:
            notes += _reinferred(self.reference, op.name, cost, in_shapes)
        rf, jump = _field_summary(field)
        return LayerStats(
            name=op.name,
            type=op.kind.type_name,
            output_shape=cost.output_shape,
            units=units,
            weights=weights,
            biases=biases,
            params=weights + biases,
            buffers=buffers,
            buffer_bytes=buffer_bytes,
            connections=connections,
            macs=macs,
            flops=flops,
            # an op without formulas (opaque): its memory is not counted (its output is a new
            # tensor for the inference peak only)
            activation_bytes=activation_bytes if cost.counted else 0,
            counted=cost.counted,
            receptive_field=rf,
            jump=jump,
            depth=len(op.scope),
            scope=op.scope,
            trainable_params=weights + biases if op.trainable else 0,
            neurons=cost.neurons,
            kind=op.kind,
            notes=notes,
            _explain=partial(_explain_lines, cost, replace(conv, batch=1) if per_pass else conv,
                             op.inputs, op.shares, stored, in_fields, field, rf_note, per_pass),
            inputs=op.inputs,
            input_shapes=in_shapes,
            shares=op.shares,
            live_bytes=live_bytes,
            saved_bytes=saved_bytes,
            per_pass=per_pass,
        )

    def _row_counts(self, cost: Cost, shared: bool, batch: int) -> tuple[int, ...]:
        """(weights, biases, buffers, buffer bytes, connections, MACs, FLOPs) of a row, for
        the batch (1 for a row run once per pass), as the conventions count them; a module's
        second call counts no parameters or buffers."""
        conv = self.conv
        flops = conv.flops_per_mac * cost.macs
        if conv.elementwise_flops:
            flops += cost.elementwise_flops + (cost.bias_adds if conv.bias else 0)
        return (0 if shared else cost.weights,
                0 if shared or not conv.bias else cost.biases,
                0 if shared else cost.buffers,
                0 if shared else (cost.buffers - cost.long_buffers) * conv.bytes_per_element
                + 8 * cost.long_buffers,
                cost.connections + (cost.bias_connections
                                    if conv.bias and conv.bias_connections else 0),
                cost.macs * batch,
                flops * batch)

    def _totals(self, rows: list[LayerStats], input_bytes: int, peak: int, peak_at: str,
                peak_live: tuple[tuple[str, int], ...], saved: int,
                outputs: list[Field]) -> Totals:
        conv = self.conv
        size = conv.bytes_per_element
        columns = operator.attrgetter(*_TOTALLED)
        total = dict(zip(_TOTALLED, map(sum, zip(*map(columns, rows))))) if rows else \
            dict.fromkeys(_TOTALLED, 0)
        params = total["params"]
        buffers = total["buffers"]
        activations = input_bytes + total["activation_bytes"]
        param_bytes = params * size
        trainable = total["trainable_params"]
        buffer_bytes = total["buffer_bytes"]
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
            weights=total["weights"],
            biases=total["biases"],
            params=params,
            buffers=buffers,
            connections=total["connections"],
            macs=total["macs"],
            flops=total["flops"],
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


PER_PASS_NOTE = ("once per forward pass, not per example: computed from the model's buffers "
                 "alone, its MACs, FLOPs and memory are not multiplied by the batch")

# The row counts that the totals add up (units apart: neuron rows only).
_TOTALLED = ("weights", "biases", "params", "trainable_params", "buffers", "buffer_bytes",
             "connections", "macs", "flops", "activation_bytes")


def _containers(g: Graph, rows: list[LayerStats]) -> tuple[ContainerStats, ...]:
    """Every container's subtotals: each row adds its counts to the innermost container around
    it, and each container adds its own to its parent's (scopes come parents first)."""
    if not g.scopes:
        return ()
    width = len(SUMMED)
    sums: dict[str, list[int]] = {s.path: [0] * width for s in g.scopes}
    span: dict[str, list[int]] = {}
    flagged: dict[str, int] = dict.fromkeys(sums, 0)
    counts = operator.attrgetter(*SUMMED)
    members: dict[str, list[tuple[int, ...]]] = {}  # each container's own rows' counts
    for index, row in enumerate(rows):
        if not row.scope:
            continue
        path = row.scope[-1]
        values = counts(row)
        if not row.neurons:
            values = (0, *values[1:])  # units: neuron rows only, as in the totals
        own = members.get(path)
        if own is None:
            members[path] = [values]
            span[path] = [index, index]
        else:
            own.append(values)
            span[path][1] = index
        if row.notes:
            flagged[path] += 1
    for path, own in members.items():
        sums[path] = list(map(sum, zip(*own)))
    for s in reversed(g.scopes):  # members before their parents
        if s.parent is None:
            continue
        inner, outer = sums[s.path], sums[s.parent]
        for i in range(width):
            outer[i] += inner[i]
        flagged[s.parent] += flagged[s.path]
        first, last = span[s.path]
        known = span.get(s.parent)
        if known is None:
            span[s.parent] = [first, last]
        else:
            known[0], known[1] = min(known[0], first), max(known[1], last)
    by_name = {row.name: row for row in rows}
    live = [row.live_bytes for row in rows]
    depth = {s.path: 0 for s in g.scopes}
    out = []
    for s in g.scopes:
        if s.parent is not None:
            depth[s.path] = depth[s.parent] + 1
        first, last = span[s.path]
        made = by_name.get(s.output, rows[last])
        totals = dict(zip(SUMMED, sums[s.path]), live_bytes=max(live[first:last + 1]))
        out.append(ContainerStats(s.path, s.type, s.parent, depth[s.path], first, last,
                                  made.output_shape, made.receptive_field, made.jump,
                                  flagged[s.path], **totals))
    return tuple(out)


def _graph_notes(g: Graph) -> tuple[str, ...]:
    notes = tuple(f"{'the input' if len(g.inputs) == 1 else name} {fmt_shape(shape)} looks "
                  f"channels-last (H, W, C, as images and Keras store it): cnnsize, like PyTorch, "
                  f"reads it as {shape[0]} channels of {fmt_shape(shape[1:])}; did you mean "
                  f"{list(flipped)}?"
                  for name, shape in g.inputs if (flipped := channels_last(shape)) is not None)
    imported = g.meta.get("import_notes") if isinstance(g.meta, Mapping) else None
    if isinstance(imported, list):  # what an import decided (opaque rows, prepared weights)
        notes = (*notes, *map(str, imported))
    reads = g.meta.get("data_dependent") if isinstance(g.meta, Mapping) else None
    if not reads:
        return notes
    return (*notes, f"the imported forward reads tensor values ({'; '.join(map(str, reads))}): "
            "these are the counts of the path one random input took")


# ---------------------------------------------------------------- inputs written otherwise

@record
class _Reference:
    """What each row gets with the spec's own input, where another one replaced it: its
    weights, biases and input shapes."""

    inputs: str
    rows: dict[str, tuple[int, int, tuple[Shape, ...]]]


def _reference(original: Graph, conv: Conventions) -> _Reference | None:
    """The rows of the spec with its own input, or None where that does not work either."""
    try:
        rows = _Pass(original, conv, strict=False).run().layers
    except CnnsizeError:
        return None
    return _Reference(_inputs_text(original), {r.name: (r.weights, r.biases, r.input_shapes)
                                               for r in rows if r.shares is None})


def _explain_lines(cost: Cost, conv: Conventions, inputs: tuple[str, ...], shares: str | None,
                   stored: bool, in_fields: list[Field], field: Field, field_note: str | None,
                   per_pass: bool = False) -> tuple[str, ...]:
    """A row's --explain lines (LayerStats.explain), made when first read; a row run once per
    forward pass is explained at batch 1 (`conv` says so), with a line that says why."""
    from .explain import row_lines

    lines = row_lines(cost, conv, inputs=inputs, shares=shares, stored=stored,
                      in_fields=in_fields, field=field, summarize=_field_summary,
                      field_note=field_note)
    if not per_pass:
        return lines
    return (*lines, "once per forward pass: computed from the model's buffers alone, not from "
                    "the input (its field is none of the input's, shown as global); its counts "
                    "are those of one pass, whatever the batch")


def _reinferred(reference: _Reference, name: str, cost: Cost,
                shapes: tuple[Shape, ...]) -> tuple[str, ...]:
    """A note where a size the spec leaves to inference (in_features, in_channels) changed
    with the input, and with it the parameters: a PyTorch module is made for one of them."""
    known = reference.rows.get(name)
    if known is None or (known[0], known[1]) == (cost.weights, cost.biases):
        return ()
    def what(shapes: tuple[Shape, ...]) -> str:
        return " and ".join(f"{s[0]:,} features" if len(s) == 1 else f"{fmt_shape(s)} input"
                            for s in shapes)

    return (f"its size is inferred from its input, which changed with it: "
            f"{cost.weights + cost.biases:,} parameters for the {what(shapes)} it gets here, "
            f"{known[0] + known[1]:,} for the {what(known[2])} it gets with the spec's own input "
            f"{reference.inputs}; a PyTorch module is made for one of them and refuses the other "
            f"(write in_features or in_channels in the spec to make this an error)",)


def _input_hints(e: CnnsizeError, network: Graph, original: Graph | None, conv: Conventions,
                 original_works: bool) -> None:
    """Say which input would work: the spec's own, where another replaced it; the channels-
    first one, where the input looks channels-last (instead of, say, a padding hint)."""
    if original is not None and original_works:
        e.hint = (f"the spec is written for input {_inputs_text(original)}, with which this "
                  f"layer gets what it expects; the input {_inputs_text(network)} changes that, "
                  f"as it would for the PyTorch module" + (f"; {e.hint}" if e.hint else ""))
        return
    if len(network.inputs) != 1:
        return
    flipped = channels_last(network.input_shape)
    if flipped is None:
        return
    try:
        _Pass(network.with_input(flipped), conv, strict=False).run()
    except CnnsizeError:
        return
    e.hint = (f"the input {list(network.input_shape)} looks channels-last (H, W, C, as images "
              f"and Keras store it); cnnsize reads [C, H, W], as PyTorch does: did you mean "
              f"{list(flipped)}? (with it, the spec works)")


def _inputs_text(g: Graph) -> str:
    if len(g.inputs) == 1:
        return fmt_shape(g.input_shape)
    return ", ".join(f"{name} {fmt_shape(shape)}" for name, shape in g.inputs)


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


# ---------------------------------------------------------------- strides (views and copies)


def contiguous_strides(shape: Shape) -> Shape:
    """The strides, in elements, of a contiguous tensor of this (per-example) shape."""
    known = _CONTIGUOUS.get(shape)
    if known is not None:
        return known
    out, step = [], 1
    for size in reversed(shape):
        out.append(step)
        step *= size
    if len(_CONTIGUOUS) >= _COSTS_MAX:
        _CONTIGUOUS.clear()
    strides = _CONTIGUOUS[shape] = tuple(reversed(out))
    return strides


_CONTIGUOUS: dict[Shape, Shape] = {}  # by shape: a network makes the same few again and again


def is_contiguous(shape: Shape, strides: Shape) -> bool:
    """PyTorch's is_contiguous: strides are the contiguous ones, size-1 dims aside."""
    return all(st == c for size, st, c in zip(shape, strides, contiguous_strides(shape))
               if size != 1)


def view_strides(old: Shape, strides: Shape, new: Shape) -> Shape | None:
    """The strides of `old` viewed as `new`, or None where no view exists and reshape copies:
    PyTorch's computeStride (aten/src/ATen/TensorUtils.cpp). Shapes with the batch dim: a
    reshape never merges it, but whether a size-1 dim breaks a run depends on the batch."""
    if math.prod(old) == 0 or not old:
        return contiguous_strides(new)
    out = [0] * len(new)
    view_d = len(new) - 1
    base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(old) - 1, -1, -1):
        tensor_numel *= old[d]
        if d == 0 or (old[d - 1] != 1 and strides[d - 1] != tensor_numel * base):
            while view_d >= 0 and (view_numel < tensor_numel or new[view_d] == 1):
                out[view_d] = view_numel * base
                view_numel *= new[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                base, tensor_numel, view_numel = strides[d - 1], 1, 1
    return tuple(out) if view_d == -1 else None


def _bmm_copies(bmm: tuple[tuple[int, ...], tuple[int, int, int]], shape: Shape,
                strides: Shape) -> bool:
    """Whether bmm's operand is a copy: the tensor (batch dim first) permuted to bmm's order
    and merged into its three groups (Saved.bmm) is no view of it."""
    order, (a, b, _) = bmm
    dims = tuple(shape[d] for d in order)
    grouped = (math.prod(dims[:a]), math.prod(dims[a:a + b]), math.prod(dims[a + b:]))
    return view_strides(dims, tuple(strides[d] for d in order), grouped) is None


def _view(cost: Cost, batch: int, shape: Shape, strides: Shape) -> Shape | None:
    """The output's strides where a reshape (or contiguous) is a view of its input, else None
    (a copy). A piece of a batch (a slice of channels) is not contiguous unless the batch is 1."""
    if cost.storage == "contiguous":
        return strides if is_contiguous((batch, *shape), strides) else None
    return view_strides((batch, *shape), strides, (batch, *cost.output_shape))


def _out_strides(cost: Cost, batch: int, shapes: tuple[Shape, ...], strides: list[Shape],
                 view: Shape | None, shared: bool) -> Shape:
    """The strides of an op's output, batch dim first: a view's follow its input's
    (Cost.moves); any other output is contiguous (PyTorch's elementwise ops keep a permuted
    input's order; cnnsize does not follow that, docs/conventions.md)."""
    out = cost.output_shape
    if view is not None:
        return view
    if cost.storage == "view" and cost.moves is not None:
        steps = cost.moves.steps or (1,) * len(out)
        result = [strides[0][0]]  # the batch dim keeps its stride
        for size, src, step in zip(out, cost.moves.axes, steps):
            if len(src) != 1 or (shapes[0][src[0]] == 1 and size != 1):
                result.append(0)  # a new axis, or one that expand repeats
            else:
                result.append(strides[0][src[0] + 1] * step)
        return tuple(result)
    if shared and shapes and shapes[0] == out:
        return strides[0]
    return contiguous_strides((batch, *out))


# ---------------------------------------------------------------- receptive fields


# Which spatial dims of the input each axis of a tensor carries (per example): for each axis,
# the dims and whether it holds all of them in order (not a slice, a piece of a split or a
# regrouping); None where that is no longer known. A C×H×W map is ((), (0,), (1,)), all whole.
Axis = tuple[tuple[int, ...], bool]
Layout = tuple[Axis, ...] | None

LOST = ("the receptive field is not followed past this row: {why}; it is shown as global, an "
        "upper bound")


def _last_axis_spatial(layout: Layout) -> bool:
    """Whether a tensor's last axis holds (part of) a spatial dim of the input, or cannot be
    told; False where it holds channels (a channels-last tensor after a permute)."""
    return layout is None or bool(layout[-1][0])


def _standard(rank: int, n: int) -> Layout:
    """The layout of a channels-first tensor (C, *spatial) whose n spatial dims are the
    input's, in order; None for any other rank."""
    if rank != n + 1:
        return None
    layout = _STANDARD.get(n)
    if layout is None:
        layout = _STANDARD[n] = (((), True), *(((d,), True) for d in range(n)))
    return layout


_STANDARD: dict[int, Layout] = {}


def _apply_rf(cost: Cost, inputs: list[Field], layouts: list[Layout], shapes: tuple[Shape, ...],
              extents: Mapping[int, Shape]) -> tuple[Field, Layout, str | None]:
    """The output's field and layout from the inputs' and the op's effect, and a note when paths
    of different jumps meet or the field cannot be followed (then it is global)."""
    effect = cost.rf
    rank = len(cost.output_shape)
    if effect == "global":
        return None, None, None
    if (effect == "same" or effect == "gated") and len(inputs) == 1 and cost.moves is None:
        # one input, each output reading one position of it (the general case below, short)
        field = inputs[0]
        if field is None:
            return None, None, None
        layout = layouts[0]
        if len(shapes[0]) != rank:  # an op that changes the rank without saying how
            n = len(field[0][0])
            layout = _standard(rank, n) if layout == _standard(len(shapes[0]), n) else None
        return field, layout, None
    if isinstance(effect, tuple):  # windows over the spatial dims, channels first
        field = inputs[0]
        if field is None:
            return None, None, None
        n = len(field[0][0])
        if len(effect) != n or layouts[0] != _standard(len(shapes[0]), n):
            return None, None, LOST.format(
                why="it slides a window over axes that are not the input's spatial dims in "
                    "order (an earlier reshape, permute or slice moved them)")
        return tuple((tuple(r + (w.kernel - 1) * j for r, w, j in zip(rs, effect, js)),
                      tuple(j * w.stride for w, j in zip(effect, js))) for rs, js in field), \
            _standard(rank, n), None
    if isinstance(effect, Mixes):
        return _mixed(cost, effect, inputs[0], layouts[0], shapes[0], extents)
    use = list(zip(inputs, layouts, shapes))
    if effect == "gated":  # a global input only rescales the others (squeeze-excite)
        use = [u for u in use if u[0] is not None] or [(None, None, ())]
    if any(f is None for f, _, _ in use):
        return None, None, None
    note = None
    if len(use) == 1:
        merged = use[0][0]
    else:
        pairs = [p for f, _, _ in use if f is not None for p in f]
        if len({len(rs) for rs, _ in pairs}) > 1:
            return None, None, None
        merged = _pareto(pairs)
        if len({js for _, js in merged}) > 1:
            note = ("paths with different jumps meet here (" + ", ".join(
                _jump_text(js) for js in sorted({js for _, js in merged})) + "): the field is the "
                    "largest over all paths; the jump shown is that of the path with the largest "
                    "field")
    full = [lay for _, lay, s in use if s == cost.output_shape]
    if len(set(full)) > 1:
        return None, None, LOST.format(why="its inputs hold the spatial dims on different axes")
    layout = full[0] if full else use[0][1]
    if merged is None:
        return None, None, note
    if cost.moves is not None:
        return _moved(cost, merged, layout, shapes[0])
    if len(shapes[0]) != rank:  # an op that changes the rank without saying how
        n = len(merged[0][0]) if merged else 0
        layout = _standard(rank, n) if layout == _standard(len(shapes[0]), n) else None
    return merged, layout, note


def _mixed(cost: Cost, effect: Mixes, field: Field, layout: Layout, shape: Shape,
           extents: Mapping[int, Shape]) -> tuple[Field, Layout, str | None]:
    """A reduction or linear map along some axes: the spatial dims those axes carry become
    whole (the input's extent); channels change nothing."""
    if field is None:
        return None, None, None
    if layout is None:
        return None, None, LOST.format(why="it reads along axes whose spatial dims an earlier "
                                           "op made untraceable")
    axes = {a % len(shape) for a in effect.axes}
    dims = sorted({d for a in axes for d in layout[a][0]})
    part = any(layout[a][0] and not layout[a][1] for a in axes)
    note = LOST.format(why="it reads along an axis that holds only a part of a spatial dim "
                           "(a slice, or a piece of a split)") if part else None
    n = len(field[0][0])
    if part or (len(dims) == n and n):
        return None, None, note
    extent = extents.get(n, ())
    field = _pareto([(tuple(extent[d] if d in dims and d < len(extent) else r
                            for d, r in enumerate(rs)), js) for rs, js in field])
    layout = tuple(((), True) if i in axes else ax for i, ax in enumerate(layout))
    if cost.moves is not None:
        return _moved(cost, field, layout, shape)
    return field, layout, None


def _moved(cost: Cost, field: tuple[Pair, ...], layout: Layout, shape: Shape
           ) -> tuple[Field, Layout, str | None]:
    """A data-movement op: every output element is an input element, so its field is the
    same; the spatial dims move with their axes (a strided slice multiplies the jump)."""
    moves = cost.moves
    assert moves is not None
    if layout is None:
        return field, None, None
    out_shape = cost.output_shape
    steps = moves.steps or (1,) * len(moves.axes)
    axes: list[Axis] = []
    for size, src, step in zip(out_shape, moves.axes, steps):
        if not src:
            axes.append(((), True))
            continue
        dims = tuple(sorted({d for a in src for d in layout[a][0]}))
        held = math.prod(shape[a] for a in src)
        whole = not dims or (all(layout[a][1] for a in src) and -(-held // step) == size)
        if step != 1 and dims:
            if len(dims) != 1 or len(src) != 1:
                return None, None, LOST.format(why="it takes every few elements along an axis "
                                                   "that holds several spatial dims")
            d = dims[0]
            field = tuple((rs, tuple(j * step if i == d else j for i, j in enumerate(js)))
                          for rs, js in field)
        axes.append((dims, whole))
    return field, tuple(axes), None


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
        return tuple(map(math.ceil, rs)), js  # ints as they are
    best = max(field, key=lambda p: (sum(p[0]), p[1]))
    rf = tuple(math.ceil(max(rs[d] for rs, _ in field)) for d in range(len(best[0])))
    return rf, best[1]


def _jump_text(js: tuple[Number, ...]) -> str:
    parts = [str(j) for j in js]
    return parts[0] if len(set(parts)) == 1 else "×".join(parts)
