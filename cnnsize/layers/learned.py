"""Parameters that a forward uses directly, outside any module cnnsize knows: a learned scale
(`self.gamma * x`: ConvNeXt's layer scale), shift (`x + self.pos_embedding`: ViT's position
embedding) and token (`torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)`: ViT's class
token).

A graph op reads tensors and makes one; a parameter is neither, so it is counted as weights
of the op that uses it (its `shape` argument is the parameter's shape, as PyTorch gives it),
trainable or frozen as the parameter is. `cnnsize import` maps `mul`, `add` and `cat` with a
parameter operand to these kinds; a parameter used twice is one module called twice (`shares`),
counted once. Any other direct use of a parameter is refused by name.

Costs: scale and shift are one multiply or add per output element (elementwise FLOPs, as mul
and add), token none (a copy, as cat); no MACs. torch.utils.flop_counter counts 0 for all three
and fvcore reports aten::mul and aten::add as unsupported (0). Saved for backward: scale keeps
its input for the parameter's gradient (when it trains; the parameter itself is not counted:
docs/conventions.md), shift and token nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..errors import ShapeError, SpecError
from .base import (
    Cost,
    Kind,
    Mixes,
    Saved,
    Shape,
    Storage,
    arg,
    fmt_shape,
    is_int,
    kind_class,
    product_text,
    register,
    to_bool,
    to_int,
    to_optional,
)
from .merge import broadcast

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar


def to_parameter_shape(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    items = [value] if is_int(value) else value
    if not isinstance(items, (list, tuple)) or not items or \
            not all(is_int(v) and v >= 1 for v in items):
        raise SpecError(f"expected the parameter's shape, a list of integers >= 1, got {value!r}")
    return tuple(int(v) for v in items)


def to_parameter_shapes(value: Any, cls: type[Kind], name: str) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(f"expected a list of parameter shapes, got {value!r}")
    return tuple(to_parameter_shape(v, cls, name) for v in value)


def per_example(shape: Shape, rank: int, what: str) -> Shape:
    """A parameter's shape as it broadcasts against one example of rank `rank`, PyTorch's way:
    right-aligned, missing dims 1; dims beyond the example's meet the batch and must be 1."""
    extra = len(shape) - rank
    if extra > 0:
        if any(s != 1 for s in shape[:extra]):
            raise ShapeError(f"a parameter of shape {fmt_shape(shape)} against examples of rank "
                             f"{rank}: its leading {fmt_shape(shape[:extra])} would meet the batch "
                             "dim", field="shape",
                             hint=f"{what}: the parameter's leading dims beyond the example's "
                                  "rank must be 1 (a size-1 batch dim, as torchvision's (1, T, D))")
        return shape[extra:]
    return (1,) * -extra + shape


@kind_class(frozen=True)
class _Learned(Kind):
    shape: tuple[int, ...] = arg(convert=to_parameter_shape, sizes=True)

    family = "learned"
    operator: ClassVar[str] = "mul"
    window_dims: ClassVar[tuple[str, ...] | None] = ()

    @classmethod
    def from_param_call(cls, parameter: Shape, position: int, positional: Sequence[Any],
                        keywords: Mapping[str, Any], in_shapes: Sequence[Shape],
                        out_shape: Shape) -> dict[str, Any]:
        extra = [repr(v) for v in positional] + [f"{k}={v!r}" for k, v in keywords.items()
                                                 if v is not None]
        if extra:
            raise SpecError(f"cnnsize's {cls.type_name} has no argument like {', '.join(extra)}")
        return {"shape": list(parameter)}

    def elementwise(self, shape: Shape, what: str) -> tuple[Shape, int]:
        mine = per_example(self.shape, len(shape), self.type_name)
        out = broadcast([shape, mine])
        if out != shape:
            raise ShapeError(f"a parameter of shape {fmt_shape(self.shape)} does not broadcast "
                             f"into an input of {fmt_shape(shape)}", field="shape",
                             hint=f"the {what} takes the input's shape: each dim of the "
                                  "parameter is 1 or the input's size (right-aligned)")
        return mine, math.prod(shape)

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Learned(self.type_name, self.shape, self.operator)


@register
@kind_class(frozen=True)
class Scale(_Learned):
    """y = γ ⊙ x, γ a learned tensor that broadcasts into x (a layer scale)."""

    inplace: bool = arg(False, to_bool)  # x.mul_(gamma) (not an argument of torch.mul)

    type_name, torch_name = "scale", ""
    param_functions = ("mul", "multiply")
    spec_only = frozenset({"inplace"})
    origin = "`γ * x`, γ an `nn.Parameter` (ConvNeXt's layer scale, timm's `LayerScale`)"
    examples = (({"shape": [4, 1, 1]}, (4, 3, 3)), ({"shape": [6]}, (2, 2, 6)),
                ({"shape": [4, 1, 1], "inplace": True}, (4, 2, 2)))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Learned(self.type_name, self.shape, "imul" if self.inplace else "mul")

    def analyze_one(self, shape: Shape) -> Cost:
        mine, units = self.elementwise(shape, "scale")
        storage: Storage = "inplace" if self.inplace else "new"
        weights = math.prod(self.shape)
        return Cost(output_shape=shape, weights=weights, elementwise_flops=units, storage=storage,
                    saved=(Saved("input", for_weights=True),), explain=(
                        f"y = γ ⊙ x, γ of {fmt_shape(self.shape)} broadcast as {fmt_shape(mine)}",
                        f"weights = ∏shape = {weights:,} (a parameter forward uses directly)",
                        f"FLOPs = units = {units:,} (one multiply each)"))


@register
@kind_class(frozen=True)
class Shift(_Learned):
    """y = x + β, β a learned tensor that broadcasts into x (a position embedding); with
    `gathered_from`, β = table[index] of that shape (a relative position bias: Swin, MaxViT);
    with `computed_from`, β is made from those parameters in each pass (MViT's position
    embedding: its temporal and spatial ones repeated and added, and a class one joined)."""

    gathered_from: tuple[int, ...] | None = arg(None, to_optional(to_parameter_shape),
                                                sizes=True)
    computed_from: tuple[tuple[int, ...], ...] | None = arg(
        None, to_optional(to_parameter_shapes), sizes=True)
    inplace: bool = arg(False, to_bool)  # x.add_(β) (not an argument of torch.add)

    type_name, torch_name, operator = "shift", "", "add"
    param_functions = ("add",)
    spec_only = frozenset({"inplace"})
    origin = ("`x + β`, β an `nn.Parameter` (ViT's position embedding), a table's rows "
              "gathered by an index buffer (a relative position bias), or a tensor forward "
              "computes from parameters alone")
    examples = (({"shape": [1, 5, 8]}, (5, 8)), ({"shape": [3, 1, 1]}, (3, 2, 2)),
                ({"shape": [1, 2, 9, 9], "gathered_from": [25, 2]}, (3, 2, 9, 9)),
                ({"shape": [1, 7, 4], "computed_from": [[2, 4], [3, 4], [4]], "inplace": True},
                 (7, 4)))

    def validate(self) -> None:
        if self.gathered_from is not None and self.computed_from is not None:
            raise SpecError("a shift is gathered from one table or computed from parameters, "
                            "not both", field="computed_from")
        rows = self.gathered_from[1:] if self.gathered_from else ()
        if math.prod(self.shape) % math.prod(rows):
            raise SpecError(f"a tensor of {fmt_shape(self.shape)} cannot be rows of a table of "
                            f"{fmt_shape(self.gathered_from or ())}", field="gathered_from",
                            hint="table[index] has the index's size times the table's other dims")

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        extra: dict[str, Any] = {"inplace": True} if self.inplace else {}
        if self.gathered_from is not None:
            return modules.Learned(self.type_name, self.shape, "add_gathered",
                                   {"gathered_from": list(self.gathered_from), **extra})
        if self.computed_from is not None:
            return modules.Learned(self.type_name, self.shape, "add_computed",
                                   {"computed_from": [list(s) for s in self.computed_from],
                                    **extra})
        return modules.Learned(self.type_name, self.shape, self.operator, extra)

    def analyze_one(self, shape: Shape) -> Cost:
        mine, units = self.elementwise(shape, "shift")
        storage: Storage = "inplace" if self.inplace else "new"
        if self.computed_from is not None:
            weights = sum(math.prod(s) for s in self.computed_from)
            return Cost(output_shape=shape, weights=weights, elementwise_flops=units,
                        storage=storage, explain=(
                            f"y = x + β, β a {fmt_shape(self.shape)} tensor broadcast as "
                            f"{fmt_shape(mine)}, computed from parameters of "
                            + ", ".join(fmt_shape(s) for s in self.computed_from)
                            + " (once per forward, not per example: not counted)",
                            "weights = Σ∏computed_from = "
                            + " + ".join(f"{math.prod(s):,}" for s in self.computed_from)
                            + f" = {weights:,}",
                            f"FLOPs = units = {units:,} (one add each)"))
        if self.gathered_from is not None:
            weights = math.prod(self.gathered_from)
            index = math.prod(self.shape) // math.prod(self.gathered_from[1:])
            return Cost(output_shape=shape, weights=weights, buffers=index, long_buffers=index,
                        elementwise_flops=units, storage=storage, explain=(
                            f"y = x + table[index], a {fmt_shape(self.shape)} tensor broadcast "
                            f"as {fmt_shape(mine)}, gathered from a table of "
                            f"{fmt_shape(self.gathered_from)} (once per forward, not per example)",
                            f"weights = ∏gathered_from = {weights:,} (the table)",
                            f"buffers = ∏shape / ∏gathered_from[1:] = {index:,} (the int64 index)",
                            f"FLOPs = units = {units:,} (one add each)"))
        weights = math.prod(self.shape)
        return Cost(output_shape=shape, weights=weights, elementwise_flops=units, storage=storage,
                    explain=(
            f"y = x + β, β of {fmt_shape(self.shape)} broadcast as {fmt_shape(mine)}",
            f"weights = ∏shape = {weights:,} (a parameter forward uses directly)",
            f"FLOPs = units = {units:,} (one add each)"))


@register
@kind_class(frozen=True)
class Token(_Learned):
    """torch.cat([t.expand(N, ...), x], dim): a learned tensor t, the same for every example,
    joined to x along `dim` (a class token); `first: false` puts it after x."""

    dim: int = arg(1, to_int())
    first: bool = arg(True, to_bool)

    type_name, torch_name, operator = "token", "", "cat"
    window_dims = ("dim",)
    param_functions = ("cat", "concat", "concatenate")
    spec_only = frozenset({"first"})
    origin = "`torch.cat([t.expand(n, -1, -1), x], dim)`, t an `nn.Parameter` (ViT's class token)"
    examples = (({"shape": [1, 1, 8]}, (5, 8)), ({"shape": [1, 2, 3, 3], "first": False}, (4, 3, 3)))

    @classmethod
    def from_param_call(cls, parameter: Shape, position: int, positional: Sequence[Any],
                        keywords: Mapping[str, Any], in_shapes: Sequence[Shape],
                        out_shape: Shape) -> dict[str, Any]:
        if len(in_shapes) != 2:
            raise SpecError(f"cat of {len(in_shapes)} tensors with a parameter: cnnsize's token "
                            "joins one parameter to one tensor")
        dim = positional[0] if positional else keywords.get("dim", 0)
        return {"shape": list(parameter), "dim": dim, "first": position == 0}

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Learned(self.type_name, self.shape, "cat",
                               {"dim": self.dim, "first": self.first})

    def analyze_one(self, shape: Shape) -> Cost:
        from .shape_ops import axis

        mine = per_example(self.shape, len(shape), self.type_name)
        a = axis(self.dim, len(shape), self.type_name)
        if mine[:a] + mine[a + 1:] != shape[:a] + shape[a + 1:]:
            raise ShapeError(f"a token of {fmt_shape(mine)} per example cannot join "
                             f"{fmt_shape(shape)} along dim {self.dim}: every other dim must agree",
                             field="shape")
        out = (*shape[:a], shape[a] + mine[a], *shape[a + 1:])
        weights = math.prod(self.shape)
        return Cost(output_shape=out, weights=weights, explain=(
            f"output = token {fmt_shape(mine)} and x {fmt_shape(shape)} joined along dim "
            f"{self.dim} = {fmt_shape(out)} (a copy, no arithmetic)",
            f"weights = ∏shape = {weights:,} (a parameter forward uses directly)"))


@register
@kind_class(frozen=True)
class State(Kind):
    """A floating-point buffer that the model holds and forward computes from (Swin V2's
    relative_coords_table): a row without inputs, the source of rows run once per forward
    pass (docs/conventions.md, "Once per forward pass")."""

    shape: tuple[int, ...] = arg(convert=to_parameter_shape, sizes=True)

    type_name, torch_name = "state", ""
    min_inputs, max_inputs = 0, 0
    origin = ("a buffer forward computes from (`self.cpb_mlp(self.relative_coords_table)`), read "
              "without inputs")
    examples = (({"shape": [1, 5, 5, 2]}, ()), ({"shape": [7]}, ()))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.State(self.shape)

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        n = math.prod(self.shape)
        return Cost(output_shape=self.shape, buffers=n, storage="view", rf="global", explain=(
            f"the buffer itself, {fmt_shape(self.shape)}: read once per forward pass (not per "
            "example; no batch dim)",
            f"buffers = ∏shape = {n:,}; no arithmetic, and no activation memory (the model holds "
            "it)"))


@register
@kind_class(frozen=True)
class IndexSelect(Kind):
    """x.index_select(dim, index) or x[index] (dim 0 of a tensor without a batch dim, as rows
    run once per pass have), `index` an int64 buffer of `size` entries that the model holds."""

    dim: int = arg(convert=to_int())
    size: int = arg(convert=to_int(1))

    type_name, torch_name = "indexselect", ""
    window_dims = ("dim",)
    origin = "`x.index_select(dim, index)`, `x[index]`, index an int64 buffer of the model"
    examples = (({"dim": 1, "size": 12}, (5, 3)), ({"dim": -1, "size": 4}, (2, 3, 6)))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules
        from .shape_ops import axis

        return modules.IndexSelect(self.dim, self.size,
                                   shape[axis(self.dim, len(shape), self.type_name)])

    def analyze_one(self, shape: Shape) -> Cost:
        from .shape_ops import axis

        a = axis(self.dim, len(shape), self.type_name)
        out = (*shape[:a], self.size, *shape[a + 1:])
        return Cost(output_shape=out, buffers=self.size, long_buffers=self.size, rf=Mixes((a,)),
                    explain=(f"output = {fmt_shape(shape)} with {self.size:,} entries picked "
                             f"along dim {self.dim} = {fmt_shape(out)} (a copy, no arithmetic)",
                             f"buffers = size = {self.size:,} (the int64 index)"))


def to_contraction(value: Any, cls: type[Kind], name: str) -> str | None:
    """An einsum equation 'x,w->out' whose x and out start with the batch letter, which w (the
    learned operand, the same for every example) does not have."""
    if value is None:
        return None
    from .attention import _terms

    if not isinstance(value, str):
        raise SpecError(f"expected an einsum equation such as 'bij,jk->bik', got {value!r}")
    inputs, (ellipsis, out) = _terms(value)
    if len(inputs) != 2 or ellipsis or any(e for e, _ in inputs):
        raise SpecError(f"{value!r}: cnnsize's contract takes 'x,w->out' (two operands, no "
                        "'...')")
    (_, x), (_, w) = inputs
    batch = x[:1]
    if not batch or out[:1] != batch or batch in w:
        raise SpecError(f"{value!r}: x and the output start with the batch letter, which the "
                        "learned operand w does not have", hint="e.g. 'bythwc,hkc->bythwk'")
    for t in (x, w, out):
        if len(set(t)) != len(t):
            raise SpecError(f"{value!r}: a letter repeated within a term (a diagonal) is not "
                            "supported")
    strays = [c for c in out if c not in x and c not in w] + [
        c for c in x + w if c not in out and (c in x) != (c in w)]
    if strays:
        raise SpecError(f"{value!r}: {strays[0]!r} is in the output but no operand, or summed "
                        "within one operand: cnnsize's contract counts a contraction",
                        hint="every summed letter is in both operands")
    return value


@register
@kind_class(frozen=True)
class Contract(_Learned):
    """torch.einsum(equation, x, W) or torch.matmul(x, W) (equation null), W a tensor the model
    holds (`shape`), or computes from parameters alone in each pass (`computed_from`: MViT's
    relative position tables, rel_pos_h[index]), the same for every example."""

    equation: str | None = arg(None, to_contraction)
    computed_from: tuple[tuple[int, ...], ...] | None = arg(
        None, to_optional(to_parameter_shapes), sizes=True)

    type_name, torch_name, operator = "contract", "", "matmul"
    param_functions = ("matmul", "einsum")
    origin = ("`torch.einsum(equation, x, W)`, `x @ W`, W an `nn.Parameter` or a tensor forward "
              "computes from parameters alone (a relative position table)")
    examples = (({"shape": [6, 3]}, (4, 6)), ({"shape": [2, 5, 3]}, (2, 4, 5)),
                ({"shape": [3, 4, 6], "equation": "bnhwc,hkc->bnhwk",
                  "computed_from": [[5, 6]]}, (2, 3, 7, 6)))

    @classmethod
    def from_param_call(cls, parameter: Shape, position: int, positional: Sequence[Any],
                        keywords: Mapping[str, Any], in_shapes: Sequence[Shape],
                        out_shape: Shape) -> dict[str, Any]:
        equation = positional[0] if positional and isinstance(positional[0], str) else None
        extra = [repr(v) for v in positional[1 if equation is not None else 0:]] + [
            f"{k}={v!r}" for k, v in keywords.items() if v is not None]
        if extra:
            raise SpecError(f"cnnsize's contract has no argument like {', '.join(extra)}")
        if position != 1:
            raise SpecError("a learned tensor first (W @ x): cnnsize's contract takes x first")
        return {"shape": list(parameter), **({"equation": equation} if equation else {})}

    @classmethod
    def on_windows(cls, args: Mapping[str, Any], windows: int, at: int = 0) -> dict[str, Any]:
        if args.get("equation") is not None:
            raise SpecError(f"cnnsize's contract names the dims of x by letters, which a tensor "
                            f"whose dim {at} holds the batch times {windows} windows does not "
                            "keep", hint="x @ W (torch.matmul) is followed on windows")
        return super().on_windows(args, windows, at)

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        extra: dict[str, Any] = {"equation": self.equation} if self.equation else {}
        if self.computed_from is not None:
            extra["computed_from"] = [list(s) for s in self.computed_from]
        return modules.Learned(self.type_name, self.shape,
                               "einsum" if self.equation else "matmul", extra)

    def analyze_one(self, shape: Shape) -> Cost:
        if self.equation is not None:
            out, sizes = self._einsum(shape)
            factors = [sizes[c] for c in sorted(sizes)]
            formula = "∏ every letter's size but the batch's"
            saved_x = Saved("input", for_weights=True, bmm=self._bmm_layout())
        else:
            out, factors = self._matmul(shape)
            formula = "∏batch·n·k·m"
            saved_x = Saved("input", for_weights=True,  # bmm gets (N·∏lead) × rows × cols
                            bmm=(tuple(range(len(shape) + 1)), (len(shape) - 1, 1, 1))
                            if len(shape) > 2 else None)
        # training saves x for W's gradient, and W for x's: a tensor of its own where forward
        # computes it (once per pass), the parameter itself otherwise (not counted); matmul
        # expands a W of rank > 2 over the batch, and saves that copy (per example)
        if self.equation is None and len(self.shape) > 2:
            saved_w = [Saved("new", elements=factors[0] * factors[2] * factors[3], when_grad=0)]
        elif self.computed_from is not None:
            saved_w = [Saved("new", elements=math.prod(self.shape), per_batch=False, when_grad=0)]
        else:
            saved_w = []
        saved = (saved_x, *saved_w)
        macs = math.prod(factors)
        weights = (math.prod(self.shape) if self.computed_from is None
                   else sum(math.prod(s) for s in self.computed_from))
        made = ("" if self.computed_from is None else
                ", computed from parameters of " + ", ".join(fmt_shape(s) for s in
                                                            self.computed_from)
                + " in each pass (not per example: not counted)")
        return Cost(output_shape=out, weights=weights, macs=macs, connections=macs, rf="global",
                    saved=saved, explain=(
                        f"output = {fmt_shape(out)} ("
                        + (self.equation.replace(" ", "") if self.equation else "x @ W")
                        + f"; W of {fmt_shape(self.shape)}{made})",
                        ("weights = ∏shape" if self.computed_from is None else
                         "weights = Σ∏computed_from") + f" = {weights:,}",
                        f"connections = MACs = {formula} = {product_text(factors)} = {macs:,}"))

    def _matmul(self, shape: Shape) -> tuple[Shape, list[int]]:
        """x @ W per example, as torch.matmul broadcasts (N, *x) against W."""
        if len(self.shape) < 2 or not shape or (len(shape) == 1 and len(self.shape) != 2):
            raise ShapeError(f"x of {fmt_shape(shape)} @ W of {fmt_shape(self.shape)}: cnnsize's "
                             "contract multiplies matrices (W of rank ≥ 2)", field="shape")
        rows = shape[-2] if len(shape) > 1 else 1
        w = per_example(self.shape, max(len(shape), 2), self.type_name)
        lead = broadcast([shape[:-2], w[:-2]]) if len(shape) > 1 else ()
        if shape[-1] != w[-2] or lead is None:
            raise ShapeError(f"cannot multiply x of {fmt_shape(shape)} by W of "
                             f"{fmt_shape(self.shape)}", field="shape",
                             formula=f"(…, n, k) @ (…, k, m): k = {shape[-1]} vs {w[-2]}",
                             hint="inner sizes must agree; leading dims must broadcast")
        out = (*lead, rows, w[-1]) if len(shape) > 1 else (w[-1],)
        return out, [math.prod(lead), rows, shape[-1], w[-1]]

    def _bmm_layout(self) -> tuple[tuple[int, ...], tuple[int, int, int]]:
        """How torch.einsum hands x to bmm (attention._bmm_operands, x the left operand): a
        view of x where its strides allow, else a permuted copy (which training saves)."""
        from .attention import _bmm_operands, _terms

        ((_, x), (_, w)), (_, out) = _terms(self.equation or "")
        return _bmm_operands(False, 0, x, w, out)[0]

    def _einsum(self, shape: Shape) -> tuple[Shape, dict[str, int]]:
        from .attention import _terms, letter_sizes

        ((_, x), (_, w)), (_, out) = _terms(self.equation or "")
        sizes: dict[str, int] = {}
        for letters, dims, what in ((x[1:], shape, "x"), (w, self.shape, "W")):
            if len(letters) != len(dims):
                raise ShapeError(f"einsum {self.equation!r}: {what} has {len(dims)} dims per "
                                 f"example ({fmt_shape(dims)}), its term names {len(letters)}",
                                 field="equation")
            letter_sizes(self.equation or "", sizes, letters, dims, "shape")
        return tuple(sizes[c] for c in out[1:]), sizes


__all__ = ["Contract", "IndexSelect", "Scale", "Shift", "State", "Token", "per_example"]
