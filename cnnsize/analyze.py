"""Propagation: a Network and an input shape → a Report. Pure: no I/O, no torch.

Receptive field and jump per spatial dim (Araujo et al., "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019): r_out = r_in + (F_eff − 1)·j_in, j_out = j_in·S.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .conventions import Conventions
from .errors import CnnsizeError, ShapeError
from .layers import REGISTRY, Cost, Shape
from .layers.base import Window, fmt_shape
from .report import LayerStats, Report, Totals
from .shape import divisible_inputs, divisible_paddings, fmt
from .spec import Concat, Layer, Network, Node, Residual, Sequential, load

SpecLike = str | os.PathLike[str] | Mapping[str, Any] | Network


@dataclass(frozen=True, slots=True)
class _State:
    shape: Shape
    rf: tuple[Fraction, ...] | None  # None once a layer has mixed every position ("global")
    jump: tuple[Fraction, ...] | None


def analyze(
    net: SpecLike,
    batch: int = 1,
    dtype: str = "float32",
    bias: bool = True,
    *,
    input_shape: Shape | None = None,
    strict: bool = False,
    conventions: Conventions | None = None,
) -> Report:
    """Propagate shapes through a spec and count everything; see docs/conventions.md."""
    network = load(net)
    if input_shape is not None:
        from .spec import parse_input

        try:
            network = network.with_input(parse_input(list(input_shape)))
        except CnnsizeError as e:
            raise e.located(source=network.source) from None
    conv = conventions or Conventions(bias=bias, dtype=dtype, batch=batch)
    try:
        return _Walker(network, conv, strict).run()
    except ShapeError as e:
        if strict and e.field and e.field.startswith("output") and "not a whole number" in e.message:
            near = _exact_inputs(network, conv)
            if near:
                e.hint = (e.hint + "; " if e.hint else "") + (
                    "network inputs that make every layer exact: "
                    + ", ".join(fmt_shape(s) for s in near))
        raise e.located(source=network.source) from None


def _exact_inputs(network: Network, conv: Conventions, span: int = 16) -> list[Shape]:
    """Nearby input sizes (all spatial dims shifted together) for which no size is rounded."""
    c, *spatial = network.input_shape
    found: list[Shape] = []
    for delta in sorted(range(-span, span + 1), key=lambda d: (abs(d), d)):
        if delta == 0 or min(spatial, default=1) + delta < 1:
            continue
        shape = (c, *(w + delta for w in spatial))
        try:
            _Walker(network.with_input(shape), conv, strict=True).run()
        except CnnsizeError:
            continue
        found.append(shape)
        if len(found) == 2:
            break
    return found


class _Walker:
    def __init__(self, network: Network, conv: Conventions, strict: bool) -> None:
        self.network = network
        self.conv = conv
        self.strict = strict
        self.rows: list[LayerStats] = []

    def run(self) -> Report:
        shape = self.network.input_shape
        spatial = len(shape) - 1
        state = _State(shape, (Fraction(1),) * spatial, (Fraction(1),) * spatial)
        self._nodes(self.network.layers, state, 0)
        return Report(self.network.name, shape, self.conv, tuple(self.rows), self._totals(),
                      self.network.source)

    # -- traversal
    def _nodes(self, nodes: tuple[Node, ...], state: _State, depth: int) -> _State:
        for node in nodes:
            state = self._node(node, state, depth)
        return state

    def _node(self, node: Node, state: _State, depth: int) -> _State:
        if isinstance(node, Layer):
            try:
                cost = node.kind.analyze(state.shape)
                self._check_exact(cost)
            except CnnsizeError as e:
                raise e.located(path=node.path, kind=node.kind.type_name) from None
            return self._add(node.path, node.kind.type_name, cost, state, depth,
                             tuple(node.kind.args().items()))
        if isinstance(node, Sequential):
            return self._nodes(node.children, state, depth)
        if isinstance(node, Residual):
            return self._residual(node, state, depth)
        return self._concat(node, state, depth)

    def _residual(self, node: Residual, state: _State, depth: int) -> _State:
        body = self._nodes(node.body, state, depth + 1)
        short = self._nodes(node.shortcut.children, state, depth + 1)
        if node.merge == "add":
            shape = body.shape if body.shape == short.shape else None
            hint = "add a projection to the shortcut (1x1 conv with the body's stride and out_channels)"
        else:
            shape = _broadcast(body.shape, short.shape)
            hint = "a multiplying body must give the same shape, or 1 where it broadcasts (C×1×1)"
        if shape is None:
            raise ShapeError(
                f"the body gives {fmt_shape(body.shape)} but the shortcut gives "
                f"{fmt_shape(short.shape)}; a residual {'sum' if node.merge == 'add' else 'product'}"
                f" needs {'equal' if node.merge == 'add' else 'broadcastable'} shapes",
                path=node.path, kind="residual", field="shortcut", hint=hint)
        units = math.prod(shape)
        op = "sum" if node.merge == "add" else "product"
        cost = Cost(output_shape=shape, elementwise_flops=units,
                    explain=(f"{op} of body and shortcut: FLOPs = units = {units:,}",))
        if node.merge == "mul" and (body.rf is None) != (short.rf is None):
            # A gate from global statistics (squeeze-excite) rescales channels; the receptive
            # field reported follows the feature path (docs/conventions.md).
            feature = short if body.rf is None else body
            rf, jump = feature.rf, feature.jump
        else:
            rf = _max_rf(body.rf, short.rf)
            jump = None if rf is None else body.jump
        merged = _State(shape, rf, jump)
        state = self._add(node.path, "residual" if node.merge == "add" else "mul", cost, merged,
                          depth, ())
        return self._nodes(node.post, state, depth + 1)

    def _concat(self, node: Concat, state: _State, depth: int) -> _State:
        state = self._nodes(node.pre, state, depth + 1)
        outs = [self._nodes(b.children, state, depth + 1) for b in node.branches]
        first = outs[0].shape
        for branch, out in zip(node.branches, outs):
            if len(out.shape) != len(first) or out.shape[1:] != first[1:]:
                raise ShapeError(
                    "branches must agree in every dim but channels: "
                    + ", ".join(f"{b.path} gives {fmt_shape(o.shape)}"
                                for b, o in zip(node.branches, outs)),
                    path=node.path, kind="concat", field="branches")
            del branch
        shape = (sum(o.shape[0] for o in outs), *first[1:])
        rf = outs[0].rf
        for o in outs[1:]:
            rf = _max_rf(rf, o.rf)
        cost = Cost(output_shape=shape, explain=(
            "channels = " + " + ".join(str(o.shape[0]) for o in outs) + f" = {shape[0]:,}",))
        return self._add(node.path, "concat", cost, _State(shape, rf, outs[0].jump), depth, ())

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

    def _add(self, path: str, type_name: str, cost: Cost, state: _State, depth: int,
             args: tuple[tuple[str, Any], ...]) -> _State:
        conv = self.conv
        rf, jump = _apply_rf(cost.rf, state)
        out = _State(cost.output_shape, rf, jump)
        counted_bias = cost.biases if conv.bias else 0
        mode = conv.inplace_activations
        shared = cost.may_alias and (mode == "all" or (mode == "spec" and cost.inplace))
        stored = cost.new_tensor and not shared
        flops = conv.flops_per_mac * cost.macs
        if conv.elementwise_flops:
            flops += cost.elementwise_flops + (cost.bias_adds if conv.bias else 0)
        notes = _inexact_notes(cost)
        self.rows.append(LayerStats(
            name=path,
            type=type_name,
            output_shape=cost.output_shape,
            units=cost.units,
            weights=cost.weights,
            biases=counted_bias,
            params=cost.weights + counted_bias,
            buffers=cost.buffers,
            connections=cost.connections + (cost.bias_connections
                                            if conv.bias and conv.bias_connections else 0),
            macs=cost.macs * conv.batch,
            flops=flops * conv.batch,
            activation_bytes=cost.units * conv.batch * conv.bytes_per_element if stored else 0,
            receptive_field=tuple(math.ceil(r) for r in rf) if rf is not None else None,
            jump=jump,
            depth=depth,
            neurons=cost.neurons,
            args=args,
            notes=notes + cost.notes,
            input_shape=state.shape if type_name in REGISTRY else None,
            explain=cost.explain + (("biases not counted (--no-bias)",)
                                    if cost.biases and not conv.bias else ()),
        ))
        return out

    def _totals(self) -> Totals:
        conv = self.conv
        rows = self.rows
        size = conv.bytes_per_element
        input_bytes = math.prod(self.network.input_shape) * conv.batch * size
        params = sum(r.params for r in rows)
        activations = input_bytes + sum(r.activation_bytes for r in rows)
        param_bytes = params * size
        last_rf = rows[-1].receptive_field if rows else None
        if last_rf is None and rows:
            last_rf = tuple(self.network.input_shape[1:]) or None
        return Totals(
            units=sum(r.units for r in rows if r.neurons),
            weights=sum(r.weights for r in rows),
            biases=sum(r.biases for r in rows),
            params=params,
            buffers=sum(r.buffers for r in rows),
            connections=sum(r.connections for r in rows),
            macs=sum(r.macs for r in rows),
            flops=sum(r.flops for r in rows),
            activation_bytes=activations,
            receptive_field=last_rf,
            input_bytes=input_bytes,
            param_bytes=param_bytes,
            buffer_bytes=sum(r.buffers for r in rows) * size,
            training_bytes_sgd=activations + 3 * param_bytes,
            training_bytes_adam=activations + 4 * param_bytes,
        )


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


def _apply_rf(effect: tuple[Window, ...] | str, state: _State
              ) -> tuple[tuple[Fraction, ...] | None, tuple[Fraction, ...] | None]:
    if effect == "same":
        return state.rf, state.jump
    if effect == "global" or state.rf is None or state.jump is None:
        return None, None
    assert isinstance(effect, tuple)
    if len(effect) != len(state.rf):
        return None, None
    rf = tuple(r + (w.kernel - 1) * j for r, w, j in zip(state.rf, effect, state.jump))
    jump = tuple(j * w.stride for w, j in zip(effect, state.jump))
    return rf, jump


def _broadcast(a: Shape, b: Shape) -> Shape | None:
    """PyTorch's broadcast of two shapes of equal rank, or None where they do not broadcast."""
    if len(a) != len(b) or any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        return None
    return tuple(max(x, y) for x, y in zip(a, b))


def _max_rf(a: tuple[Fraction, ...] | None, b: tuple[Fraction, ...] | None
            ) -> tuple[Fraction, ...] | None:
    if a is None or b is None:
        return None
    return tuple(max(x, y) for x, y in zip(a, b))
