"""Ops that combine tensors: elementwise add/sub/mul/div with broadcasting, cat, stack, matmul.

They see every input shape, like any kind. Shapes are per example (no batch dim), so the inputs
of an elementwise op must have the same rank and agree in every dim where neither is 1
(PyTorch's broadcasting with the batch dim in front). cat and stack take PyTorch's `dim`, which
counts the batch dim as 0: dim 1 is channels.

FLOPs (our per-element convention): (n − 1)·units for n inputs of an elementwise op, units for
one tensor and a Python number (`x * 0.125`, `other:`), 0 for cat and stack (copies); matmul:
MACs = ∏batch·n·k·m, as torch.utils.flop_counter's `mm`/`bmm`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..errors import ShapeError, SpecError
from .base import (
    Cost,
    Kind,
    RFEffect,
    Saved,
    Shape,
    arg,
    fmt_shape,
    kind_class,
    product_text,
    register,
    to_bool,
    to_float,
    to_int,
    to_optional,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Literal


def broadcast(shapes: Sequence[Shape]) -> Shape | None:
    """PyTorch's broadcast of per-example shapes of equal rank, or None where they do not."""
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        return None
    out = []
    for sizes in zip(*shapes):
        big = {s for s in sizes if s != 1}
        if len(big) > 1:
            return None
        out.append(big.pop() if big else 1)
    return tuple(out)


def _dim(dim: int, rank: int, type_name: str, extra: int = 0) -> int:
    """A PyTorch dim (batch = 0, negative from the end) as an index into a per-example shape."""
    full = rank + 1 + extra
    if not -full <= dim < full or dim % full == 0:
        raise ShapeError(f"dim {dim} is {'the batch dim' if -full <= dim < full else 'out of range'}"
                         f" of an input N×…, rank {rank + 1}", field="dim",
                         hint=f"{type_name} dims count the batch dim as 0, as in PyTorch: "
                              "dim 1 is channels")
    return dim % full - 1


def to_constant_shape(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items):
        raise SpecError(f"expected the constant tensor's shape, a list of integers >= 1, got "
                        f"{value!r}")
    return tuple(int(v) for v in items)


@kind_class(frozen=True)
class _Elementwise(Kind):
    """out = in_0 ∘ in_1 ∘ … with broadcasting; saved for backward as PyTorch's formulas need.
    With `other`, a Python number, one input: x ∘ other (`x * self.scale`); with `constant`, the
    shape of a tensor that forward makes from shapes alone (Swin's attention mask: not the
    input's values, not learned), one input: x ∘ that tensor."""

    other: float | None = arg(None, to_optional(to_float))
    constant: tuple[int, ...] | None = arg(None, to_optional(to_constant_shape), sizes=True)

    family = "merge"
    window_dims: ClassVar[tuple[str, ...] | None] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 2
    function_args = ("other",)
    symbol: ClassVar[str] = "+"
    what: ClassVar[str] = "sum"
    rf_rule: ClassVar[RFEffect] = "same"
    commutative: ClassVar[bool] = True  # other ∘ x is x ∘ other (`0.5 * x`)
    # (saved input, needed when this input needs a gradient; None: always)
    saves: ClassVar[tuple[tuple[int, int | None], ...]] = ()
    examples: ClassVar[tuple[tuple[dict[str, Any], Any], ...]] = (
        ({}, ((4, 5, 5), (4, 5, 5))), ({}, ((4, 5, 5), (4, 1, 1))), ({"other": 0.5}, ((3, 4),)),
        ({"constant": [1, 5, 1]}, ((4, 5, 5),)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """x ∘ c with a Python number c; `reflected`: the number came first (c − x)."""
        keywords = dict(keywords)
        if keywords.pop("reflected", False) and not cls.commutative:
            raise SpecError(f"a Python number {cls.symbol} a tensor: cnnsize's {cls.type_name} "
                            f"takes the tensor first (x {cls.symbol} c)")
        other = positional[0] if positional else keywords.get("other")
        if other is not None and (isinstance(other, bool) or not isinstance(other, (int, float))):
            return None  # a complex number, a numpy scalar: not a Python number
        return super().from_call(positional, keywords, in_shapes, out_shape)

    def validate(self) -> None:
        if self.other is not None and self.constant is not None:
            raise SpecError(f"{self.type_name} takes a number (other) or a constant tensor "
                            "(constant), not both", field="constant")

    def check_arity(self, inputs: Sequence[Shape]) -> None:
        if self.constant is not None and len(inputs) != 1:
            raise SpecError(f"{self.type_name} with constant: {list(self.constant)} takes one "
                            f"input, got {len(inputs)}", field="inputs",
                            hint="constant is the shape of a tensor that forward makes; drop it "
                                 "to combine tensors")
        if self.other is not None and len(inputs) != 1:
            raise SpecError(f"{self.type_name} with other: {self.other:g} takes one input, got "
                            f"{len(inputs)}", field="inputs",
                            hint="other is a number that multiplies (adds, …) one tensor; drop "
                                 "it to combine tensors")
        if self.other is None and self.constant is None and len(inputs) < 2:
            more = " or more" if self.max_inputs is None else ""
            raise SpecError(f"{self.type_name} takes 2{more} inputs, got {len(inputs)}; or one "
                            "and other: a number",
                            field="inputs", hint="list the tensors it combines under inputs:, "
                                                 "or give other: (x * 0.125 is other: 0.125)")
        Kind.check_arity(self, inputs)

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        if self.other is not None:
            units = math.prod(inputs[0])
            return Cost(output_shape=inputs[0], elementwise_flops=units, rf="same",
                        storage="inplace" if getattr(self, "inplace", False) else "new",
                        explain=(f"{self.what} of {fmt_shape(inputs[0])} and the number "
                                 f"{self.other:g} → {fmt_shape(inputs[0])} (nothing saved for "
                                 "backward: the number is not a tensor)",
                                 f"units = {product_text(list(inputs[0]))} = {units:,}",
                                 f"FLOPs = units = {units:,}"))
        if self.constant is not None:
            return self.with_constant(inputs[0], self.constant)
        shape = broadcast(inputs)
        inplace = bool(getattr(self, "inplace", False))
        if shape is not None and inplace and shape != inputs[0]:
            raise ShapeError(f"in place, the first input ({fmt_shape(inputs[0])}) must have the "
                             f"output's shape ({fmt_shape(shape)})", field="inplace",
                             hint="put the larger tensor first, or drop inplace")
        if shape is None:
            raise ShapeError(
                f"cannot {self.type_name} " + " and ".join(fmt_shape(s) for s in inputs)
                + ": shapes must have the same rank and agree where neither is 1", field="inputs",
                hint="a residual sum needs equal shapes: give the shortcut a projection (1x1 conv "
                     "with the body's stride and out_channels)" if self.type_name == "add"
                else "a gate broadcasts as C×1×1 against C×H×W")
        units = math.prod(shape)
        flops = (len(inputs) - 1) * units
        return Cost(output_shape=shape, elementwise_flops=flops, rf=self.rf_rule,
                    storage="inplace" if inplace else "new",
                    saved=tuple(Saved("input", index=i, when_grad=g) for i, g in self.saves),
                    explain=(f"{self.what} of {len(inputs)} inputs: "
                             + f" {self.symbol} ".join(fmt_shape(s) for s in inputs)
                             + f" → {fmt_shape(shape)}",
                             f"units = {product_text(list(shape))} = {units:,}",
                             f"FLOPs = (inputs − 1)·units = {len(inputs) - 1}·{units:,} = {flops:,}"))

    def with_constant(self, shape: Shape, constant: Shape) -> Cost:
        """x ∘ c, c a tensor of `constant` (PyTorch's shape, right-aligned against x's rank as a
        parameter's is: learned.per_example) that forward makes from shapes alone."""
        from .learned import per_example

        inplace = bool(getattr(self, "inplace", False))
        mine = per_example(constant, len(shape), self.type_name)
        out = broadcast([shape, mine])
        if out is None or (inplace and out != shape):
            raise ShapeError(f"cannot {self.type_name} {fmt_shape(shape)} and a constant of "
                             f"{fmt_shape(constant)} (per example {fmt_shape(mine)})",
                             field="constant", hint="the constant broadcasts into the input: "
                             "each of its dims is 1 or the input's size (right-aligned)")
        units = math.prod(out)
        # x·c and x/c keep c for x's gradient (autograd saves the other operand); x ± c nothing
        keeps = self.type_name in ("mul", "div")
        saved = (Saved("new", elements=math.prod(constant), per_batch=False, when_grad=0),) \
            if keeps else ()
        return Cost(output_shape=out, elementwise_flops=units, rf=self.rf_rule,
                    storage="inplace" if inplace else "new", saved=saved,
                    explain=(f"{self.what} of {fmt_shape(shape)} and a constant of "
                             f"{fmt_shape(constant)} that forward makes (broadcast as "
                             f"{fmt_shape(mine)}) → {fmt_shape(out)} (the constant is not an "
                             "activation" + ("; saved for the input's gradient, once per batch)"
                                             if keeps else ": nothing saved for backward)"),
                             f"units = {product_text(list(out))} = {units:,}",
                             f"FLOPs = units = {units:,}"))

    def torch_module(self, shape: Shape) -> Any:
        import functools
        import operator

        from ..verify import modules

        if self.constant is not None:
            name = ("i" if getattr(self, "inplace", False) else "") + self.operator
            return modules.Function(self.type_name, functools.partial(
                _with_constant, getattr(operator, name)), {"constant": list(self.constant)})
        if self.other is not None:
            import torch

            function = (getattr(torch.Tensor, f"{self.type_name}_")
                        if getattr(self, "inplace", False) else getattr(torch, self.type_name))
            return modules.Function(self.type_name, function, {"other": self.other})
        name = ("i" if getattr(self, "inplace", False) else "") + self.operator
        return modules.Function(self.type_name, getattr(operator, name), dict(self.call_kwargs()))

    operator: ClassVar[str] = "add"


def _with_constant(function: Any, x: Any, constant: Sequence[int]) -> Any:
    """x ∘ a constant tensor of that shape (ones: what it holds changes no count)."""
    import torch

    return function(x, torch.ones(tuple(constant), dtype=x.dtype, device=x.device))


@register
@kind_class(frozen=True)
class Add(_Elementwise):
    # Not an argument of torch.add: the sum written into the first input (out += identity in
    # torchvision's blocks), which then stores nothing of its own.
    inplace: bool = arg(False, to_bool)

    type_name, torch_name, max_inputs = "add", "", None
    functions, origin = ("add",), "`torch.add`, `+` (two or more inputs; or one and a number, `other`)"
    spec_only = frozenset({"inplace"})
    examples = (({}, ((4, 5, 5), (4, 5, 5))), ({}, ((3, 4), (3, 4), (1, 4))),
                ({"inplace": True}, ((4, 5, 5), (4, 1, 5))), ({"other": 2.0}, ((3, 4),)),
                ({"other": -1.0, "inplace": True}, ((2, 3),)),
                ({"constant": [1, 3, 1, 4, 4]}, ((3, 2, 4, 4),)))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        if self.other is not None or self.constant is not None:
            return _Elementwise.torch_module(self, shape)
        return modules.Function("add", _sum_into if self.inplace else _sum)


def _sum(*xs: Any) -> Any:
    out = xs[0] + xs[1]
    for x in xs[2:]:
        out = out + x
    return out


def _sum_into(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out += x
    return out


@register
@kind_class(frozen=True)
class Sub(_Elementwise):
    inplace: bool = arg(False, to_bool)  # x -= y (not an argument of torch.sub)

    type_name, torch_name, symbol, what, operator = "sub", "", "−", "difference", "sub"
    commutative = False
    functions, origin = ("sub", "subtract"), "`torch.sub`, `-` (`other`: x − a number)"
    spec_only = frozenset({"inplace"})


@register
@kind_class(frozen=True)
class Mul(_Elementwise):
    type_name, torch_name, symbol, what, rf_rule, operator = "mul", "", "×", "product", "gated", "mul"
    functions, origin = ("mul", "multiply"), "`torch.mul`, `*` (`other`: x times a number)"
    saves = ((1, 0), (0, 1))


@register
@kind_class(frozen=True)
class Div(_Elementwise):
    type_name, torch_name, symbol, what, operator = "div", "", "/", "quotient", "truediv"
    commutative = False
    functions = ("div", "divide", "true_divide", "truediv")
    origin = "`torch.div`, `/` (`other`: x / a number)"
    saves = ((1, None), (0, 1))


@kind_class(frozen=True)
class _Join(Kind):
    dim: int = arg(1, to_int())

    family = "merge"
    min_inputs, max_inputs = 1, None
    joins: ClassVar[Literal["cat", "stack"]] = "cat"
    window_dims = ("dim",)
    function_args = ("dim",)

    def torch_module(self, shape: Shape) -> Any:
        import torch

        from ..verify import modules

        return modules.Function(self.joins, getattr(torch, self.joins), {"dim": self.dim},
                                packed=True)

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        dim = positional[0] if positional else keywords.get("dim", 0)  # torch's default: 0
        return {"dim": dim}


@register
@kind_class(frozen=True)
class Cat(_Join):
    """torch.cat: sizes add up along `dim`; every other dim must agree."""

    type_name, torch_name = "cat", ""
    functions, origin = ("cat", "concat", "concatenate"), "`torch.cat` (one or more inputs)"
    examples = (({}, ((4, 5, 5), (2, 5, 5), (1, 5, 5))), ({"dim": 3}, ((2, 3, 4), (2, 3, 1))),
                ({"dim": -1}, ((6,), (4,))))

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        rank = len(inputs[0])
        d = _dim(self.dim, rank, "cat")
        first = inputs[0]
        if any(len(s) != rank or s[:d] + s[d + 1:] != first[:d] + first[d + 1:] for s in inputs):
            raise ShapeError("inputs must agree in every dim but dim "
                             f"{self.dim}: " + ", ".join(fmt_shape(s) for s in inputs),
                             field="inputs",
                             hint="cat along channels is dim 1; spatial sizes must match")
        size = sum(s[d] for s in inputs)
        shape = (*first[:d], size, *first[d + 1:])
        label = "channels" if d == 0 else f"dim {self.dim}"
        return Cost(output_shape=shape, explain=(
            f"{label} = " + " + ".join(f"{s[d]:,}" for s in inputs) + f" = {size:,}",
            f"output = {fmt_shape(shape)} (its inputs copied side by side: no FLOPs)"))


@register
@kind_class(frozen=True)
class Stack(_Join):
    """torch.stack: equal shapes, joined along a new `dim`."""

    type_name, torch_name, joins = "stack", "", "stack"
    functions, origin = ("stack",), "`torch.stack` (one or more inputs)"
    examples = (({}, ((4, 5), (4, 5))), ({"dim": 2}, ((3, 2), (3, 2), (3, 2))))

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        first = inputs[0]
        d = _dim(self.dim, len(first), "stack", extra=1)
        if any(s != first for s in inputs):
            raise ShapeError("stack needs equal shapes: " + ", ".join(fmt_shape(s) for s in inputs),
                             field="inputs")
        shape = (*first[:d], len(inputs), *first[d:])
        return Cost(output_shape=shape, explain=(
            f"output = {len(inputs)} inputs of {fmt_shape(first)} stacked at dim {self.dim} = "
            f"{fmt_shape(shape)}",))


@register
@kind_class(frozen=True)
class MatMul(Kind):
    """torch.matmul of two per-example matrices (…, n, k) @ (…, k, m), leading dims broadcast.

    MACs = ∏batch·n·k·m (torch.utils.flop_counter counts 2 FLOPs per MAC of bmm).
    """

    type_name, torch_name, family = "matmul", "", "merge"
    window_dims = ()
    min_inputs, max_inputs = 2, 2
    functions, origin = ("matmul", "bmm"), "`torch.matmul`, `@`"
    examples = (({}, ((3, 4), (4, 5))), ({}, ((2, 6, 3), (1, 3, 7))))

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        a, b = inputs
        if len(a) < 2 or len(b) < 2:
            raise ShapeError(f"matmul needs per-example matrices (rank ≥ 2), got {fmt_shape(a)} "
                             f"and {fmt_shape(b)}", field="inputs",
                             hint="shapes exclude the batch dim: an N×n×k tensor is [n, k]")
        (n, k), (k2, m) = a[-2:], b[-2:]
        lead = broadcast([a[:-2], b[:-2]]) if len(a) == len(b) else None
        if k != k2 or lead is None:
            raise ShapeError(f"cannot multiply {fmt_shape(a)} by {fmt_shape(b)}", field="inputs",
                             formula=f"(…, n, k) @ (…, k, m): k = {k} vs {k2}",
                             hint="inner sizes must agree; leading dims must broadcast")
        shape = (*lead, n, m)
        batch = math.prod(lead)
        macs = batch * n * k * m
        # An operand whose leading dims broadcast is expanded and copied; the copy is saved.
        # bmm gets (N·∏lead) × rows × cols
        saved = tuple(Saved("input", index=i, when_grad=1 - i,
                            bmm=(tuple(range(len(s) + 1)), (len(s) - 1, 1, 1)) if len(s) > 2
                            else None)
                      if s[:-2] == lead else
                      Saved("new", elements=batch * math.prod(s[-2:]), when_grad=1 - i)
                      for i, s in ((1, b), (0, a)))
        return Cost(output_shape=shape, macs=macs, connections=macs, rf="global", saved=saved,
                    explain=(f"output = {fmt_shape(shape)}",
                             f"connections = MACs = ∏batch·n·k·m = "
                             f"{product_text([batch, n, k, m])} = {macs:,}"))

    def torch_module(self, shape: Shape) -> Any:
        import torch

        from ..verify import modules

        return modules.Function("matmul", torch.matmul)


def to_slices(value: Any, cls: type[Kind], name: str
              ) -> tuple[tuple[int, int | None, int | None, int], ...]:
    """[[dim, start, end, step], …]: PyTorch dims (the batch is 0), Python's slice bounds."""
    def bound(v: Any) -> bool:
        return v is None or (isinstance(v, int) and not isinstance(v, bool))

    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(s, (list, tuple)) and len(s) == 4 and all(bound(v) for v in s)
            and s[0] is not None and s[3] is not None and s[3] >= 1 for s in value):
        raise SpecError(f"expected a list of [dim, start, end, step] (start and end may be "
                        f"null, step >= 1), got {value!r}")
    return tuple((int(d), a, b, int(st)) for d, a, b, st in value)


@register
@kind_class(frozen=True)
class SliceAdd(Kind):
    """x[…, start:end:step, …] += y: y added into the part of x that the slices name, x changed
    in place (MViT's attn[:, :, 1:, 1:] += rel_pos, past its class token)."""

    slices: tuple[tuple[int, int | None, int | None, int], ...] = arg(convert=to_slices,
                                                                      sizes=True)

    type_name, torch_name, family = "sliceadd", "", "merge"
    min_inputs, max_inputs = 2, 2
    origin = "`x[:, :, a:b] += y` (an add into a slice of x, in place)"
    examples = (({"slices": [[2, 1, None, 1], [3, 1, None, 1]]}, ((2, 5, 5), (2, 4, 4))),
                ({"slices": [[1, 0, 4, 2]]}, ((5, 3), (1, 3))))

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        from .shape_ops import axis

        self.check_arity(inputs)
        x, y = inputs
        part = list(x)
        for d, start, end, step in self.slices:
            a = axis(d, len(x), self.type_name, "slices")
            part[a] = len(range(*slice(start, end, step).indices(part[a])))
        region = tuple(part)
        if broadcast([region, y]) != region:
            raise ShapeError(f"y of {fmt_shape(y)} does not broadcast into the part "
                             f"{fmt_shape(region)} of x ({fmt_shape(x)}) that the slices name",
                             field="inputs", hint="y takes the part's shape: each dim 1 or the "
                                                  "part's size")
        units = math.prod(region)
        return Cost(output_shape=x, elementwise_flops=units, storage="inplace", rf="same",
                    explain=(f"x{self.index_text()} += y: x of {fmt_shape(x)}, its part of "
                             f"{fmt_shape(region)} changed in place",
                             f"FLOPs = ∏part = {units:,} (one add each)"))

    def index_text(self) -> str:
        if any(d < 0 for d, *_ in self.slices):
            return f" (slices {[list(s) for s in self.slices]})"
        rank = max(d for d, *_ in self.slices) + 1
        entries = [":"] * rank
        for d, start, end, step in self.slices:
            entries[d] = (f"{'' if start is None else start}:{'' if end is None else end}"
                          + ("" if step == 1 else f":{step}"))
        return f"[{', '.join(entries)}]"

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Function(self.type_name, _slice_add,
                                {"slices": [list(s) for s in self.slices]})


def _slice_add(x: Any, y: Any, slices: Sequence[Sequence[Any]]) -> Any:
    index = [slice(None)] * x.dim()
    for d, start, end, step in slices:
        index[d] = slice(start, end, step)
    x[tuple(index)] += y
    return x


__all__ = ["Add", "Cat", "Div", "MatMul", "Mul", "SliceAdd", "Stack", "Sub", "broadcast"]
