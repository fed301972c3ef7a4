"""torch.nn modules for layer kinds and containers that PyTorch does not have as one class."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class PartialConv(nn.Module):
    """A convolution with a partial connection table: one conv per output map over its inputs."""

    def __init__(self, ndim: int, table: Sequence[Sequence[int]], kwargs: dict[str, Any]) -> None:
        super().__init__()
        conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[ndim]
        args = {k: v for k, v in kwargs.items() if k not in ("in_channels", "out_channels")}
        self.maps = nn.ModuleList(conv(len(inputs), 1, **args) for inputs in table)
        self.table = [list(t) for t in table]
        self._ndim = ndim
        self._kwargs = args

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return f"conv{self._ndim}d", {**self._kwargs, "out_channels": len(self.table),
                                       "connections": self.table}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x[:, inputs]) for conv, inputs in zip(self.maps, self.table)], dim=1)


class Subsampling(nn.Module):
    """LeCun et al. 1998's trainable subsampling: y = w_c · Σ_window x + b_c per channel."""

    def __init__(self, ndim: int, channels: int, kernel_size: Sequence[int],
                 stride: Sequence[int], bias: bool) -> None:
        super().__init__()
        pool = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[ndim]
        self.window = 1
        for k in kernel_size:
            self.window *= k
        self.pool = pool(tuple(kernel_size), tuple(stride))
        shape = (channels,) + (1,) * ndim
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None
        self._args = {"kernel_size": list(kernel_size), "stride": list(stride), "bias": bias}
        self._ndim = ndim

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return f"subsampling{self._ndim}d", dict(self._args)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.pool(x) * self.window * self.weight
        return y + self.bias if self.bias is not None else y


class Function(nn.Module):
    """A torch function as a module (merges: add, cat, …), so that its row has a name and
    hooks. `cnnsize import` reads it back as the kind it was built from."""

    def __init__(self, kind: str, function: Callable[..., torch.Tensor],
                 kwargs: dict[str, Any] | None = None, packed: bool = False) -> None:
        super().__init__()
        self._cnnsize_kind = kind
        self._cnnsize_function = function
        self._cnnsize_kwargs = kwargs or {}
        self._cnnsize_packed = packed  # the function takes its tensors as one sequence (cat)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self._cnnsize_packed:
            return self._cnnsize_function(xs, **self._cnnsize_kwargs)
        return self._cnnsize_function(*xs, **self._cnnsize_kwargs)

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return self._cnnsize_kind, dict(self._cnnsize_kwargs)

    def extra_repr(self) -> str:
        return ", ".join([self._cnnsize_kind, *(f"{k}={v}" for k, v in self._cnnsize_kwargs.items())])


class RBF(nn.Module):
    """Euclidean radial basis units with fixed centres: y_j = Σ_i (x_i − c_ij)² (LeCun 1998)."""

    centres: torch.Tensor

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.register_buffer("centres", torch.randn(out_features, in_features).sign())

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return "rbf", {"out_features": self.centres.shape[0]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.unsqueeze(-2) - self.centres) ** 2).sum(-1)
