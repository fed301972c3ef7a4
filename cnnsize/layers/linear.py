"""Fully connected and reshaping layers: nn.Linear, nn.Flatten.

Linear acts on the last dim (PyTorch): weights = N_in · N_out, connections = MACs = rows · N_in · N_out
where rows is the product of the leading dims (1 after a flatten).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..errors import ShapeError, SpecError
from .base import (
    SPATIAL_SYMBOLS,
    Cost,
    Kind,
    Mixes,
    Saved,
    Shape,
    arg,
    fmt_shape,
    kind_class,
    product_text,
    register,
    to_bool,
    to_int,
    to_optional,
)
from .shape_ops import MAYBE_VIEW, reshape_moves

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any


@register
@kind_class(frozen=True)
class Linear(Kind):
    out_features: int = arg(convert=to_int(1))
    bias: bool = arg(True, to_bool)
    in_features: int | None = arg(None, to_optional(to_int(1)))

    type_name, torch_name, family = "linear", "Linear", "linear"
    window_dims = ()  # the last dim, at every position of the others
    functions, function_args, state_args = ("linear",), ("weight", "bias"), ("weight", "bias")
    origin = "`nn.Linear`, `F.linear(x, weight, bias)` with the model's weight"
    examples = (({"out_features": 120}, (400,)), ({"out_features": 5, "bias": False}, (3, 7)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.linear(x, weight, bias) with the model's own weight (Swin's attention calls it
        with its nn.Linear's weight): out_features from the weight's rows, bias whether given."""
        raw = dict(zip(cls.function_args, positional))
        raw.update(keywords)
        if set(raw) - {"weight", "bias"}:
            raise SpecError(f"F.linear with {sorted(set(raw) - {'weight', 'bias'})}: cnnsize's "
                            "linear takes a weight and a bias")
        shape = tuple(int(s) for s in getattr(raw.get("weight"), "shape", ()))
        if len(shape) != 2:
            raise SpecError(f"F.linear with a weight of shape {fmt_shape(shape)}: cnnsize's "
                            "linear has a weight of out_features × in_features")
        return {"out_features": shape[0], "bias": raw.get("bias") is not None}

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        return {"in_features": shape[-1], "out_features": self.out_features, "bias": self.bias}

    def analyze_one(self, shape: Shape) -> Cost:
        n_in = shape[-1]
        rows = math.prod(shape[:-1])
        if self.in_features is not None and self.in_features != n_in:
            # PyTorch: x @ weight.T with x flattened to (N·rows)×n_in and weight.T in×out
            raise ShapeError(
                f"is {self.in_features} but the input to this layer has {n_in}",
                field="in_features",
                detail=f"PyTorch's module refuses it too: mat1 and mat2 shapes cannot be "
                       f"multiplied ({rows}x{n_in} and {self.in_features}x{self.out_features})",
                hint="remove in_features to let cnnsize infer it, or fix the layer before")
        out = (*shape[:-1], self.out_features)
        units = math.prod(out)
        weights = n_in * self.out_features
        macs = rows * weights
        last = SPATIAL_SYMBOLS.get(len(shape) - 1, ("last dim",))[-1]
        unflattened = (f" (N_in is the last dim, {last} = {n_in:,}: with a flatten before it, "
                       f"N_in = {math.prod(shape):,})") if len(shape) > 1 else ""
        explain = (
            f"units = N_out = {units:,}" if rows == 1 else f"units = {product_text(list(out))} = {units:,}",
            f"weights = N_in·N_out = {n_in:,}·{self.out_features:,} = {weights:,}{unflattened}",
            f"biases = N_out = {self.out_features:,}" if self.bias else "biases = 0 (bias=False)",
            f"connections = MACs = N_in·N_out = {n_in:,}·{self.out_features:,} = {macs:,}"
            if rows == 1 else f"connections = MACs = rows·N_in·N_out = "
            f"{rows:,}·{n_in:,}·{self.out_features:,} = {macs:,}",
        )
        note = ""
        if len(shape) > 1:  # PyTorch applies nn.Linear to the last dim: not fully connected
            note = (f"applied to the last dim ({last}={n_in:,}) of its {fmt_shape(shape)} "
                    f"input, as PyTorch does: {rows:,} rows of {n_in:,} → "
                    f"{self.out_features:,} each, not one fully connected layer; add a flatten "
                    f"before it if you meant a fully connected layer")
        return Cost(output_shape=out, weights=weights, biases=self.out_features if self.bias else 0,
                    connections=macs, bias_connections=units if self.bias else 0, macs=macs,
                    bias_adds=units if self.bias else 0, neurons=True,
                    rf=Mixes((len(shape) - 1,)), spatial_last_note=note,
                    saved=(Saved("input", for_weights=True),), explain=explain)


@register
@kind_class(frozen=True)
class Flatten(Kind):
    start_dim: int = arg(1, to_int())
    end_dim: int = arg(-1, to_int())

    type_name, torch_name, family = "flatten", "Flatten", "reshape"
    window_dims = ("start_dim", "end_dim")
    examples = (({}, (16, 5, 5)), ({"start_dim": 2}, (3, 4, 5)))
    functions, function_args = ("flatten",), ("start_dim", "end_dim")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """torch.flatten(x, start_dim=0, ...): torch's default flattens the batch too (refused)."""
        args = super().from_call(positional, keywords, in_shapes, out_shape)
        if args is not None:
            args.setdefault("start_dim", 0)
        return args

    def analyze_one(self, shape: Shape) -> Cost:
        # PyTorch's dims count the batch dim; the spec's shapes do not.
        full = (1, *shape)
        n = len(full)
        start = self.start_dim % n if -n <= self.start_dim < n else None
        end = self.end_dim % n if -n <= self.end_dim < n else None
        if start is None or end is None or start == 0 or start > end:
            raise ShapeError(f"cannot flatten dims {self.start_dim}..{self.end_dim} of an input "
                             f"N×{fmt_shape(shape)}", field="start_dim",
                             hint="dims count the batch dim as 0, as in PyTorch")
        out = (*full[1:start], math.prod(full[start:end + 1]), *full[end + 1:])
        return Cost(output_shape=tuple(out), storage="reshape", moves=reshape_moves(shape, out),
                    explain=(f"output = {fmt_shape(shape)} flattened = {fmt_shape(tuple(out))} "
                             f"({MAYBE_VIEW})",))
