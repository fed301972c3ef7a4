"""Spec → torch.nn.Module: the exact network a spec describes, with module names = layer paths.

Sequential nodes become ordered containers, residual and concat nodes modules whose children are
named as in the spec; the merge step of a container is a parameterless child `_merge`, so a
forward hook on it sees the same tensor as the container's report row.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import CnnsizeError
from ..layers import Shape
from ..spec import Concat, Layer, Network, Node, Residual, Sequential, load

MERGE = "_merge"


class Chain(nn.Module):
    """Children applied in order (nn.Sequential with arbitrary, spec-given names)."""

    def __init__(self, children: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        for name, module in children:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


class Merge(nn.Module):
    """The merge step of a container: sum, product or channel concatenation."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.op == "cat":
            return torch.cat(xs, dim=1)
        if self.op == "mul":
            return xs[0] * xs[1]
        return xs[0] + xs[1]

    def extra_repr(self) -> str:
        return self.op


class ResidualBlock(nn.Module):
    """y = post(merge(body(x), shortcut(x))); an empty shortcut is the identity."""

    def __init__(self, body: list[tuple[str, nn.Module]], shortcut_name: str, shortcut: Chain,
                 post: list[tuple[str, nn.Module]], merge: str) -> None:
        super().__init__()
        self.body_names = [n for n, _ in body]
        self.post_names = [n for n, _ in post]
        self.shortcut_name = shortcut_name
        for name, module in body:
            self.add_module(name, module)
        self.add_module(shortcut_name, shortcut)
        self.add_module(MERGE, Merge(merge))
        for name, module in post:
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for name in self.body_names:
            h = self.get_submodule(name)(h)
        y: torch.Tensor = self.get_submodule(MERGE)(h, self.get_submodule(self.shortcut_name)(x))
        for name in self.post_names:
            y = self.get_submodule(name)(y)
        return y


class ConcatBlock(nn.Module):
    """Optional `pre` layers, then parallel branches concatenated along channels.

    A named branch is one child Chain; an inline branch's layers are children of this module
    directly. An empty branch is the identity.
    """

    def __init__(self, pre: list[tuple[str, nn.Module]],
                 branches: list[tuple[str | None, list[tuple[str, nn.Module]]]]) -> None:
        super().__init__()
        self.pre_names = [n for n, _ in pre]
        for name, module in pre:
            self.add_module(name, module)
        self.branch_calls: list[list[str]] = []
        for bname, children in branches:
            if bname is None:
                for name, module in children:
                    self.add_module(name, module)
                self.branch_calls.append([n for n, _ in children])
            else:
                self.add_module(bname, Chain(children))
                self.branch_calls.append([bname])
        self.add_module(MERGE, Merge("cat"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.pre_names:
            x = self.get_submodule(name)(x)
        outs = []
        for calls in self.branch_calls:
            h = x
            for name in calls:
                h = self.get_submodule(name)(h)
            outs.append(h)
        y: torch.Tensor = self.get_submodule(MERGE)(*outs)
        return y


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


class _Builder:
    def __init__(self, network: Network) -> None:
        self.network = network

    def nodes(self, nodes: tuple[Node, ...], shape: Shape) -> tuple[list[tuple[str, nn.Module]], Shape]:
        out = []
        for node in nodes:
            module, shape = self.node(node, shape)
            out.append((_leaf(node.path), module))
        return out, shape

    def node(self, node: Node, shape: Shape) -> tuple[nn.Module, Shape]:
        if isinstance(node, Layer):
            try:
                cost = node.kind.analyze(shape)
                module = node.kind.torch_module(shape)
            except CnnsizeError as e:
                raise e.located(path=node.path, kind=node.kind.type_name) from None
            except (TypeError, ValueError, RuntimeError) as e:
                raise CnnsizeError(f"PyTorch refused the layer: {e}", path=node.path,
                                   kind=node.kind.type_name) from e
            return module, cost.output_shape
        if isinstance(node, Sequential):
            children, shape = self.nodes(node.children, shape)
            return Chain(children), shape
        if isinstance(node, Residual):
            body, body_shape = self.nodes(node.body, shape)
            short, short_shape = self.nodes(node.shortcut.children, shape)
            merged = body_shape if node.merge == "add" else tuple(
                max(a, b) for a, b in zip(body_shape, short_shape))
            post, out_shape = self.nodes(node.post, merged)
            return ResidualBlock(body, _leaf(node.shortcut.path), Chain(short), post,
                                 node.merge), out_shape
        assert isinstance(node, Concat)
        pre, shape = self.nodes(node.pre, shape)
        branches: list[tuple[str | None, list[tuple[str, nn.Module]]]] = []
        shapes = []
        for branch in node.branches:
            children, branch_shape = self.nodes(branch.children, shape)
            branches.append((None if branch.path == node.path else _leaf(branch.path), children))
            shapes.append(branch_shape)
        return ConcatBlock(pre, branches), (sum(s[0] for s in shapes), *shapes[0][1:])


SpecLike = str | os.PathLike[str] | Mapping[str, Any] | Network


def build(net: SpecLike, input_shape: Shape | None = None) -> nn.Module:
    """The torch.nn.Module a spec describes; `named_modules()` paths equal the report's rows."""
    from ..analyze import analyze

    network = load(net)
    if input_shape is not None:
        network = network.with_input(tuple(input_shape))
    analyze(network)  # validates every size first, with cnnsize's own error messages
    children, _ = _Builder(network).nodes(network.layers, network.input_shape)
    model = Chain(children)
    model.eval()
    return model


def module_for_row(model: nn.Module, row_name: str, row_type: str) -> nn.Module:
    """The module whose forward output is the tensor a report row describes."""
    if row_type in ("residual", "mul", "concat"):
        return model.get_submodule(f"{row_name}.{MERGE}")
    return model.get_submodule(row_name)
