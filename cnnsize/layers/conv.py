"""Convolutions: nn.Conv1d/2d/3d and nn.ConvTranspose1d/2d/3d.

weights = C_out · (C_in / groups) · ∏F          (PyTorch's weight tensor)
connections = MACs = units · ∏F · C_in / groups  (each output sums a window of every input channel
                                                  of its group; CS231n / LeCun et al. 1998)
Transposed: MACs = C_in · (C_out / groups) · ∏F · ∏W1 (every input element scatters one kernel;
the count of fvcore's and torch.utils.flop_counter's conv handles).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from ..errors import CnnsizeError, ShapeError, SpecError
from ..shape import transposed
from .base import (
    SAVE_INPUT,
    SPATIAL_SYMBOLS,
    Cost,
    Kind,
    PerWindow,
    Saved,
    Shape,
    Window,
    arg,
    call_args,
    fmt_shape,
    is_int,
    kind_class,
    product_text,
    register,
    to_bool,
    to_choice,
    to_int,
    to_ints,
    to_optional,
    to_padding,
    window_dims,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any


def padding_pairs(padding: tuple[int, ...] | str, kernel: tuple[int, ...],
                  dilation: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(left, right) padding per dim; 'same' pads D(F-1) in total, the extra one on the right."""
    if padding == "valid":
        return tuple((0, 0) for _ in kernel)
    if padding == "same":
        pairs = []
        for f, d in zip(kernel, dilation):
            total = d * (f - 1)
            pairs.append((total // 2, total - total // 2))
        return tuple(pairs)
    assert isinstance(padding, tuple)
    return tuple((p, p) for p in padding)


def to_connection_table(value: Any, cls: type[Kind], name: str) -> tuple[tuple[int, ...], ...] | None:
    """A list, per output channel, of the input channel indices it reads (each non-empty)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(
            isinstance(row, list) and row and all(is_int(i) and i >= 0 for i in row) for row in value):
        raise SpecError("expected a list with, for each output channel, a non-empty list of input "
                        "channel indices (0-based)")
    for j, row in enumerate(value):
        if len(set(row)) != len(row):
            raise SpecError(f"output channel {j} lists an input channel twice: {row}")
    return tuple(tuple(sorted(row)) for row in value)




def weight_shape(cls: type[Kind], call: str, weight: Any) -> tuple[int, ...]:
    """The shape of a functional conv's weight tensor: C_out × C_in/groups × F… (transposed:
    C_in × C_out/groups × F…)."""
    shape = tuple(int(s) for s in getattr(weight, "shape", ()))
    if len(shape) != cls.ndim + 2:
        raise SpecError(f"{call} with a weight of shape {fmt_shape(shape)}: cnnsize's "
                        f"{cls.type_name} has a weight of {cls.ndim + 2} dims")
    return shape


def _listed(value: Any) -> Any:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else value


def check_groups(groups: int, c_in: int, c_out: int) -> None:
    for name, n in (("in_channels", c_in), ("out_channels", c_out)):
        if n % groups:
            raise ShapeError(f"groups={groups} does not divide {name}={n}", field="groups",
                             formula=f"{n} / {groups} = {Fraction(n, groups)}",
                             hint="groups must divide both the input and the output channel counts")


@kind_class(frozen=True)
class _ConvNd(PerWindow):
    out_channels: int = arg(convert=to_int(1))
    kernel_size: tuple[int, ...] = arg(convert=to_ints(1))
    stride: tuple[int, ...] = arg(1, to_ints(1))
    padding: tuple[int, ...] | str = arg(0, to_padding)
    dilation: tuple[int, ...] = arg(1, to_ints(1))
    groups: int = arg(1, to_int(1))
    bias: bool = arg(True, to_bool)
    padding_mode: str = arg("zeros", to_choice("zeros", "reflect", "replicate", "circular"))
    in_channels: int | None = arg(None, to_optional(to_int(1)))
    # A partial connection table (LeCun et al. 1998, Table I): for each output channel, the
    # input channels it reads. Not a PyTorch argument; built as one small conv per output map.
    connections: tuple[tuple[int, ...], ...] | None = arg(None, to_connection_table)
    # Not a PyTorch argument: the input is k windows of C × … each (layers/base.py, PerWindow).
    windows: bool = arg(False, to_bool)

    family = "conv"
    spec_only = frozenset({"connections", "windows"})
    function_args = ("weight", "bias", "stride", "padding", "dilation", "groups")
    state_args = ("weight", "bias")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.conv2d(x, weight, bias, stride, padding, dilation, groups) with the module's own
        weight (an nn.Conv2d subclass whose forward pads first, or standardises its weight):
        out_channels and kernel_size from the weight's shape, bias whether one is given."""
        raw = call_args(cls, positional, keywords)
        shape = weight_shape(cls, cls.functions[0], raw.get("weight"))
        args: dict[str, Any] = {"out_channels": shape[0], "kernel_size": list(shape[2:]),
                                "bias": raw.get("bias") is not None}
        for key in ("stride", "padding", "dilation", "groups"):
            if raw.get(key) is not None:
                args[key] = _listed(raw[key])
        return args

    def validate(self) -> None:
        if self.padding == "same" and any(s != 1 for s in self.stride):
            odd = all(f % 2 for f in self.kernel_size)
            pads = sorted({(d * (f - 1)) // 2 for f, d in zip(self.kernel_size, self.dilation)})
            raise SpecError("padding='same' is not supported for strided convolutions (PyTorch)",
                            field="padding",
                            hint=f"use an explicit padding: padding: {pads[0]} gives Keras's "
                                 "'same' size, ceil(W/S), for this odd kernel" if odd
                            and len(pads) == 1 else "use an explicit padding, e.g. padding: 1")
        if self.connections is not None:
            if self.groups != 1:
                raise SpecError("a connection table replaces groups: leave groups at 1",
                                field="connections")
            if len(self.connections) != self.out_channels:
                raise SpecError(f"has {len(self.connections)} entries but out_channels is "
                                f"{self.out_channels}: give one list of input channels per output "
                                "channel", field="connections")

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        kw = {name: getattr(self, name) for name in self.arg_names() if name not in self.spec_only}
        kw["in_channels"] = shape[0]
        return kw

    def one_window_module(self, shape: Shape) -> Any:
        if self.connections is None:
            return Kind.torch_module(self, shape)
        from ..verify.modules import PartialConv

        return PartialConv(self.ndim, self.connections, self.torch_kwargs(shape))

    def fan_in(self, c_in: int) -> tuple[int, str]:
        """Input channels summed per output channel, over all outputs, and how it was counted."""
        if self.connections is None:
            return self.out_channels * (c_in // self.groups), ""
        for j, inputs in enumerate(self.connections):
            bad = [i for i in inputs if i >= c_in]
            if bad:
                raise ShapeError(f"output channel {j} reads input channel {bad[0]}, but the input "
                                 f"has channels 0..{c_in - 1}", field="connections")
        total = sum(len(inputs) for inputs in self.connections)
        return total, (f" (connection table: {total} of {c_in * self.out_channels} "
                       "input-output channel pairs)")

    def analyze_one(self, shape: Shape) -> Cost:
        c_in, spatial = self.expect_spatial(shape)
        if self.in_channels is not None and self.in_channels != c_in:
            weight = [self.out_channels, self.in_channels // self.groups, *self.kernel_size]
            raise ShapeError(
                f"is {self.in_channels} but the input to this layer has {c_in}",
                field="in_channels",
                detail=f"PyTorch's module refuses it too: Given groups={self.groups}, weight of "
                       f"size {weight}, expected input{[1, *shape]} to have {self.in_channels} "
                       f"channels, but got {c_in} channels instead",
                hint="remove in_channels to let cnnsize infer it, or fix the layer before")
        check_groups(self.groups, c_in, self.out_channels)
        pads = padding_pairs(self.padding, self.kernel_size, self.dilation)
        symbols = SPATIAL_SYMBOLS[self.ndim]
        dims, inexact = window_dims(self.ndim, spatial, self.kernel_size, self.stride, pads,
                                    self.dilation)
        out = (self.out_channels, *(d.size for d in dims))
        units = math.prod(out)
        window = math.prod(self.kernel_size)
        per_group = c_in // self.groups
        pairs, table_note = self.fan_in(c_in)
        weights = pairs * window
        biases = self.out_channels if self.bias else 0
        connections = units // self.out_channels * pairs * window
        ksym = "·".join(f"F{s}" for s in symbols) if self.ndim > 1 else "F"
        group_txt = "C_in/groups" if self.groups > 1 else "C_in"
        unit_line = (f"units = {'·'.join(('C_out', *tuple(f'{s}2' for s in symbols)))} = "
                     f"{product_text(list(out))} = {units:,}")
        if self.connections is None:
            count_lines = [
                f"weights = {ksym}·{group_txt}·C_out = "
                f"{product_text([*self.kernel_size, per_group, self.out_channels])} = {weights:,}",
                f"connections = units·{ksym}·{group_txt} = "
                f"{product_text([units, *self.kernel_size, per_group])} = {connections:,}",
            ]
        else:
            positions = units // self.out_channels
            count_lines = [
                f"weights = {ksym}·Σ|inputs of each output| = "
                f"{product_text([*self.kernel_size, pairs])} = {weights:,}{table_note}",
                f"connections = positions·{ksym}·Σ|inputs| = "
                f"{product_text([positions, *self.kernel_size, pairs])} = {connections:,}",
            ]
        explain = [d.formula for d in dims] + [
            unit_line, count_lines[0],
            f"biases = C_out = {biases:,}" if self.bias else "biases = 0 (bias=False)",
            count_lines[1],
            f"MACs = connections = {connections:,}",
        ]
        return Cost(
            output_shape=out,
            weights=weights,
            biases=biases,
            connections=connections,
            bias_connections=units if self.bias else 0,
            macs=connections,
            bias_adds=units if self.bias else 0,
            neurons=True,
            rf=tuple(Window(d * (f - 1) + 1, s, d)
                     for f, s, d in zip(self.kernel_size, self.stride, self.dilation)),
            saved=self._saved(c_in, spatial, pads, pairs),
            explain=tuple(explain),
            inexact=inexact,
        )

    def _saved(self, c_in: int, spatial: tuple[int, ...], pads: tuple[tuple[int, int], ...],
               pairs: int) -> tuple[Saved, ...]:
        """What training saves: the input; PartialConv's gathered channels (a copy per output
        map, which its conv saves) and their int64 indices (kept when the input needs a gradient);
        for 'same' padding that is not
        symmetric, the copy of the input that PyTorch pads on the right (the conv saves that)."""
        if self.connections is not None:
            return (Saved("new", elements=pairs * math.prod(spatial)),
                    Saved("new", elements=pairs, itemsize=8, per_batch=False, when_grad=0))
        if any(left != right for left, right in pads):
            return (Saved("new", elements=c_in * math.prod(
                w + right - left for w, (left, right) in zip(spatial, pads))),)
        return SAVE_INPUT


@register
@kind_class(frozen=True)
class Conv1d(_ConvNd):
    type_name = "conv1d"
    torch_name = "Conv1d"
    functions = ("conv1d",)
    ndim = 1
    examples = (({"out_channels": 4, "kernel_size": 3, "padding": "same", "dilation": 2}, (2, 11)),
                ({"out_channels": 6, "kernel_size": 5, "stride": 2, "groups": 3}, (3, 20)))


@register
@kind_class(frozen=True)
class Conv2d(_ConvNd):
    type_name = "conv2d"
    torch_name = "Conv2d"
    functions = ("conv2d",)
    ndim = 2
    examples = (({"out_channels": 6, "kernel_size": 5}, (1, 32, 32)),
                ({"out_channels": 3, "kernel_size": 3, "connections": [[0], [0, 1], [2, 1, 0]]},
                 (3, 8, 8)),
                ({"out_channels": 8, "kernel_size": [3, 5], "stride": [2, 1], "padding": [1, 0],
                  "dilation": [1, 2], "groups": 2, "bias": False}, (4, 17, 19)),
                ({"out_channels": 4, "kernel_size": 4, "padding": "same"}, (2, 9, 9)),
                # MViT's pooling of each head: 3 heads, a depthwise conv shared by all three
                ({"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "groups": 4,
                  "bias": False, "windows": True}, (3, 4, 7, 7)))


@register
@kind_class(frozen=True)
class Conv3d(_ConvNd):
    type_name = "conv3d"
    torch_name = "Conv3d"
    functions = ("conv3d",)
    ndim = 3
    examples = (({"out_channels": 4, "kernel_size": [3, 3, 3], "stride": 2, "padding": 1}, (2, 8, 9, 10)),)


@kind_class(frozen=True)
class _ConvTransposeNd(PerWindow):
    out_channels: int = arg(convert=to_int(1))
    kernel_size: tuple[int, ...] = arg(convert=to_ints(1))
    stride: tuple[int, ...] = arg(1, to_ints(1))
    padding: tuple[int, ...] = arg(0, to_ints(0))
    output_padding: tuple[int, ...] = arg(0, to_ints(0))
    groups: int = arg(1, to_int(1))
    bias: bool = arg(True, to_bool)
    dilation: tuple[int, ...] = arg(1, to_ints(1))
    padding_mode: str = arg("zeros", to_choice("zeros"))
    in_channels: int | None = arg(None, to_optional(to_int(1)))
    # An argument of the forward call, not of the constructor: PyTorch derives output_padding
    # from it (nn.ConvTranspose2d(...)(x, output_size=[16, 16])).
    output_size: tuple[int, ...] | None = arg(None, to_optional(to_ints(1)))
    windows: bool = arg(False, to_bool)  # k windows of C × … each (PerWindow)

    family = "conv"
    spec_only = frozenset({"output_size", "windows"})
    function_args = ("weight", "bias", "stride", "padding", "output_padding", "groups",
                     "dilation")
    state_args = ("weight", "bias")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups,
        dilation): the weight is C_in × C_out/groups × F…."""
        raw = call_args(cls, positional, keywords)
        shape = weight_shape(cls, cls.functions[0], raw.get("weight"))
        groups = int(raw.get("groups") or 1)
        args: dict[str, Any] = {"out_channels": shape[1] * groups,
                                "kernel_size": list(shape[2:]),
                                "bias": raw.get("bias") is not None}
        for key in ("stride", "padding", "output_padding", "groups", "dilation"):
            if raw.get(key) is not None:
                args[key] = _listed(raw[key])
        return args

    def validate(self) -> None:
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= s and op >= d:
                raise SpecError(f"output_padding {op} must be smaller than stride {s} or dilation {d}",
                                field="output_padding")

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        kw = {name: getattr(self, name) for name in self.arg_names() if name not in self.spec_only}
        kw["in_channels"] = shape[0]
        return kw

    def call_kwargs(self) -> dict[str, Any]:
        return {"output_size": list(self.output_size)} if self.output_size is not None else {}

    @classmethod
    def from_module_call(cls, args: dict[str, Any], in_shapes: Sequence[Shape],
                         out_shape: Shape) -> dict[str, Any]:
        """A call with output_size: kept where the output is not what the arguments give."""
        try:
            plain = cls.from_args(args).analyze(in_shapes[:1]).output_shape
        except CnnsizeError:
            plain = None
        return args if plain == tuple(out_shape) else {**args, "output_size": list(out_shape[1:])}

    def _output_padding(self, spatial: tuple[int, ...]) -> tuple[tuple[int, ...], list[str]]:
        """output_padding, or the one PyTorch derives from a call's output_size, with formulas."""
        if self.output_size is None:
            return self.output_padding, []
        pads, lines = [], []
        for w1, f, s, p, d, size, sym in zip(spatial, self.kernel_size, self.stride, self.padding,
                                             self.dilation, self.output_size,
                                             SPATIAL_SYMBOLS[self.ndim]):
            least = (w1 - 1) * s - 2 * p + d * (f - 1) + 1
            if not least <= size < least + s:  # PyTorch's _ConvTransposeNd._output_padding
                raise ShapeError(
                    f"output_size {size} is not reachable: it must be from {least} to "
                    f"{least + s - 1}", field="output_size",
                    formula=f"least {sym}2 = ({w1} − 1)·{s} − 2·{p} + {d}·({f} − 1) + 1 = {least}",
                    hint="a transposed convolution can add up to stride − 1 to its least output")
            pads.append(size - least)
            lines.append(f"output_size {sym}2 = {size}: OP = {size} − {least} = {size - least}")
        return tuple(pads), lines

    def analyze_one(self, shape: Shape) -> Cost:
        c_in, spatial = self.expect_spatial(shape)
        self.check_given("in_channels", self.in_channels, c_in)
        check_groups(self.groups, c_in, self.out_channels)
        symbols = SPATIAL_SYMBOLS[self.ndim]
        output_padding, op_lines = self._output_padding(spatial)
        dims = []
        for w1, f, s, p, d, op, sym in zip(spatial, self.kernel_size, self.stride, self.padding,
                                           self.dilation, output_padding, symbols):
            dim = transposed(w1, f, s, p, d, op, symbol=sym)
            if dim.size < 1:
                raise ShapeError(f"output size would be {dim.size}", field=f"output {sym}",
                                 formula=dim.formula, hint="reduce padding")
            dims.append(dim)
        out = (self.out_channels, *(d.size for d in dims))
        units = math.prod(out)
        window = math.prod(self.kernel_size)
        per_group_out = self.out_channels // self.groups
        weights = c_in * per_group_out * window
        biases = self.out_channels if self.bias else 0
        in_positions = math.prod(spatial)
        macs = c_in * per_group_out * window * in_positions
        explain = op_lines + [d.formula for d in dims] + [
            f"units = {product_text(list(out))} = {units:,}",
            f"weights = C_in·(C_out/groups)·∏F = {product_text([c_in, per_group_out, *self.kernel_size])}"
            f" = {weights:,}",
            f"biases = C_out = {biases:,}" if self.bias else "biases = 0 (bias=False)",
            f"connections = MACs = C_in·(C_out/groups)·∏F·∏W1 = "
            f"{product_text([c_in, per_group_out, *self.kernel_size, *spatial])} = {macs:,}",
        ]
        return Cost(
            output_shape=out, weights=weights, biases=biases, connections=macs,
            bias_connections=units if self.bias else 0, macs=macs,
            bias_adds=units if self.bias else 0, neurons=True,
            # Each output sees ceil(F_eff/S) input positions per dim; the jump shrinks by S.
            rf=tuple(Window(-(-(d * (f - 1) + 1) // s), Fraction(1, s))
                     for f, s, d in zip(self.kernel_size, self.stride, self.dilation)),
            saved=SAVE_INPUT,
            explain=tuple(explain),
        )


@register
@kind_class(frozen=True)
class ConvTranspose1d(_ConvTransposeNd):
    type_name = "convtranspose1d"
    torch_name = "ConvTranspose1d"
    functions = ("conv_transpose1d",)
    ndim = 1
    examples = (({"out_channels": 3, "kernel_size": 4, "stride": 2, "padding": 1}, (2, 7)),
                ({"out_channels": 2, "kernel_size": 3, "stride": 2, "windows": True}, (3, 2, 5)))


@register
@kind_class(frozen=True)
class ConvTranspose2d(_ConvTransposeNd):
    type_name = "convtranspose2d"
    torch_name = "ConvTranspose2d"
    functions = ("conv_transpose2d",)
    ndim = 2
    examples = (({"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1,
                  "output_padding": 1, "groups": 2}, (2, 5, 6)),
                ({"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1,
                  "output_size": [16, 15]}, (2, 8, 8)))


@register
@kind_class(frozen=True)
class ConvTranspose3d(_ConvTransposeNd):
    type_name = "convtranspose3d"
    torch_name = "ConvTranspose3d"
    functions = ("conv_transpose3d",)
    ndim = 3
    examples = (({"out_channels": 2, "kernel_size": 2, "stride": 2}, (3, 3, 4, 5)),)


__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
           "fmt_shape", "padding_pairs"]
