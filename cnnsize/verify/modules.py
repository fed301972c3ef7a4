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


class LayerNorm2d(nn.LayerNorm):
    """nn.LayerNorm over the channels of an N×C×H×W map, at each position (ConvNeXt), as
    torchvision's `convnext.LayerNorm2d` computes it: channels last, layer_norm, and back."""

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return "layernorm2d", {"eps": self.eps, "elementwise_affine": self.elementwise_affine,
                               "bias": self.bias is not None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight,
                                     self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class Learned(nn.Module):
    """A parameter that forward uses directly (cnnsize's scale, shift and token): x * weight,
    x.mul_(weight), x + weight, or cat([weight broadcast to the batch, x], dim)."""

    def __init__(self, kind: str, shape: Sequence[int], op: str,
                 kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self._kind, self._op, self._kwargs = kind, op, dict(kwargs or {})
        self._shape = tuple(shape)
        table = self._kwargs.get("gathered_from")
        parts = self._kwargs.get("computed_from")
        # β computed from several parameters in each pass (cnnsize's computed_from): they are
        # joined and repeated to β's size, a stand-in for what the model computes from them
        self._parts = [f"part{i}_weight" for i in range(len(parts or ()))]
        for name, part in zip(self._parts, parts or ()):
            self.register_parameter(name, nn.Parameter(torch.randn(tuple(part))))
        self.weight = None if parts else nn.Parameter(torch.randn(tuple(table or shape)))
        if table is not None and self.weight is not None:  # x + table[index]: an int64 index
            rows = len(self.weight) if self.weight.dim() else 1
            count = self.weight[0].numel() if self.weight.dim() else 1
            self.register_buffer("index", torch.randint(rows, (_prod(shape) // count,)))

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        extra = {"inplace": True} if self._op == "imul" else self._kwargs
        return self._kind, {"shape": list(self._shape), **extra}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._op.startswith("add"):
            beta = self.value()
            return x.add_(beta) if self._kwargs.get("inplace") else x + beta
        if self._op == "matmul":
            return torch.matmul(x, self.value())
        if self._op == "einsum":
            return torch.einsum(self._kwargs["equation"], x, self.value())
        assert self.weight is not None
        if self._op == "mul":
            return self.weight * x
        if self._op == "imul":
            return x.mul_(self.weight)
        rank = x.dim() - 1
        shape = tuple(self.weight.shape)
        mine = shape[len(shape) - rank:] if len(shape) > rank else (1,) * (rank - len(shape)) + shape
        token = self.weight.reshape(1, *mine).expand(x.shape[0], *mine)
        pair = [token, x] if self._kwargs.get("first", True) else [x, token]
        return torch.cat(pair, dim=self._kwargs.get("dim", 1))

    def value(self) -> torch.Tensor:
        """The tensor used: the parameter, its rows gathered by the index, or made from the
        parts (computed_from)."""
        if self._parts:
            joined = torch.cat([self.get_parameter(p).reshape(-1) for p in self._parts])
            times = -(-_prod(self._shape) // joined.numel())
            return joined.repeat(times)[:_prod(self._shape)].reshape(self._shape).clone()
        assert self.weight is not None
        if self._op == "add_gathered":
            index: torch.Tensor = self.get_buffer("index")
            return self.weight[index].reshape(self._shape)
        return self.weight


class State(nn.Module):
    """A buffer forward computes from (cnnsize's `state`): called without inputs, it returns
    the buffer as a batch of one, which the rows run once per pass work on."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("value", torch.randn(tuple(shape)))

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return "state", {"shape": list(self.get_buffer("value").shape)}

    def forward(self) -> torch.Tensor:
        return self.get_buffer("value").unsqueeze(0)


class IndexSelect(nn.Module):
    """x.index_select(dim, index) with an int64 index buffer of `size` entries below `rows`."""

    def __init__(self, dim: int, size: int, rows: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("index", torch.randint(rows, (size,)))

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return "indexselect", {"dim": self.dim, "size": len(self.get_buffer("index"))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(self.dim, self.get_buffer("index"))


class MultiheadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention that returns its output alone (the attention weights it computes
    with need_weights are dropped): one input is self-attention, the same tensor as query, key
    and value; two are query and key = value."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cnnsize_kwargs = dict(kwargs)

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return "multiheadattention", dict(self._cnnsize_kwargs)

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None,  # type: ignore[override]
                value: torch.Tensor | None = None, need_weights: bool = True,
                average_attn_weights: bool = True) -> torch.Tensor:
        key = query if key is None else key
        value = key if value is None else value
        out: torch.Tensor = super().forward(query, key, value, need_weights=need_weights,
                                            average_attn_weights=average_attn_weights)[0]
        return out


def _prod(sizes: Sequence[int]) -> int:
    out = 1
    for s in sizes:
        out *= s
    return out


class PerWindow(nn.Module):
    """A layer run once on each window of an N × k × C × … input (cnnsize's `windows: true`):
    the k windows folded into the batch, the layer, and the batch unfolded, as a forward that
    pools each attention head does (MViT: x.reshape(B·heads, C, T, H, W))."""

    def __init__(self, layer: nn.Module, kind: str, args: dict[str, Any]) -> None:
        super().__init__()
        self.layer = layer
        self._cnnsize_kind, self._cnnsize_args = kind, dict(args)

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return self._cnnsize_kind, {**self._cnnsize_args, "windows": True}

    def forward(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        y: torch.Tensor = self.layer(x.flatten(0, 1), **kwargs)
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class OpaqueStandIn(nn.Module):
    """What cnnsize's `opaque` kind builds: zeros of the traced output shape, with as many
    parameter and buffer elements as the op read (a stand-in: it computes nothing real). The
    result depends on every input (times 0), so that autograd keeps what earlier layers save."""

    def __init__(self, shape: Sequence[int], params: int, buffers: int) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.weight = nn.Parameter(torch.zeros(params)) if params else None
        self.register_buffer("state", torch.zeros(buffers) if buffers else None)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        anchor = sum((x.sum() * 0 for x in xs), torch.zeros((), dtype=xs[0].dtype,
                                                            device=xs[0].device))
        if self.weight is not None:
            anchor = anchor + self.weight.sum() * 0
        return anchor + torch.zeros(xs[0].shape[0], *self.shape, dtype=xs[0].dtype,
                                    device=xs[0].device)


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth (drop path), as torchvision computes it: the input at
    inference; in training x · noise, noise ~ Bernoulli(1 − p) / (1 − p) per example ("row")
    or per batch ("batch")."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def cnnsize_args(self) -> tuple[str, dict[str, Any]]:
        return "stochasticdepth", {"p": self.p, "mode": self.mode}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise
