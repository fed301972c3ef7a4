"""Fully connected and reshaping layers: nn.Linear, nn.Flatten.

Linear acts on the last dim (PyTorch): weights = N_in · N_out, connections = MACs = rows · N_in · N_out
where rows is the product of the leading dims (1 after a flatten).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ShapeError
from .base import (
    Cost,
    Kind,
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


@register
@kind_class(frozen=True)
class Linear(Kind):
    out_features: int = arg(convert=to_int(1))
    bias: bool = arg(True, to_bool)
    in_features: int | None = arg(None, to_optional(to_int(1)))

    type_name, torch_name, family = "linear", "Linear", "linear"
    examples = (({"out_features": 120}, (400,)), ({"out_features": 5, "bias": False}, (3, 7)))

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        return {"in_features": shape[-1], "out_features": self.out_features, "bias": self.bias}

    def analyze_one(self, shape: Shape) -> Cost:
        n_in = shape[-1]
        self.check_given("in_features", self.in_features, n_in)
        rows = math.prod(shape[:-1])
        out = (*shape[:-1], self.out_features)
        units = math.prod(out)
        weights = n_in * self.out_features
        macs = rows * weights
        row_txt = f"{rows:,}·" if rows != 1 else ""
        explain = (
            f"units = N_out = {units:,}" if rows == 1 else f"units = {product_text(list(out))} = {units:,}",
            f"weights = N_in·N_out = {n_in:,}·{self.out_features:,} = {weights:,}",
            f"biases = N_out = {self.out_features:,}" if self.bias else "biases = 0 (bias=False)",
            f"connections = MACs = {row_txt}N_in·N_out = {macs:,}",
        )
        return Cost(output_shape=out, weights=weights, biases=self.out_features if self.bias else 0,
                    connections=macs, bias_connections=units if self.bias else 0, macs=macs,
                    bias_adds=units if self.bias else 0, neurons=True, rf="global",
                    saved=(Saved("input", for_weights=True),), explain=explain)


@register
@kind_class(frozen=True)
class Flatten(Kind):
    start_dim: int = arg(1, to_int())
    end_dim: int = arg(-1, to_int())

    type_name, torch_name, family = "flatten", "Flatten", "reshape"
    examples = (({}, (16, 5, 5)), ({"start_dim": 2}, (3, 4, 5)))
    functions = ("flatten", "view", "reshape")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """torch.flatten, x.view(n, -1), x.reshape(…): a flatten of consecutive dims after the
        batch dim, read off the shapes; any other reshape is not this kind."""
        shape_in = tuple(in_shapes[0])
        if tuple(out_shape) == shape_in:
            return {"start_dim": 1, "end_dim": 1}
        for start in range(1, len(shape_in)):
            for end in range(start, len(shape_in)):
                flat = (*shape_in[:start], math.prod(shape_in[start:end + 1]), *shape_in[end + 1:])
                if flat == tuple(out_shape):
                    return {"start_dim": start, "end_dim": -1 if end == len(shape_in) - 1 else end}
        return None

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
        return Cost(output_shape=tuple(out), storage="view",
                    explain=(f"output = {fmt_shape(shape)} flattened = {fmt_shape(tuple(out))} "
                             f"(a view: no new memory)",))
