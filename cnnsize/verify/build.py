"""Graph → torch.fx.GraphModule: the exact network a spec describes, one fx node per op.

Every op's module is registered at its row path, so `named_modules()` lists the report's rows
(merges are small `Merge` modules; a container path holds the modules of its rows). An op that
`shares` another calls that op's module again; a frozen op's (trainable: false) parameters do
not require gradients. The generated forward frees each tensor after
its last use, as the inference-peak model in analyze.py assumes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from torch import fx, nn

from ..errors import CnnsizeError
from ..graph import Graph, Op
from ..layers import Shape
from ..spec import load

SpecLike = str | os.PathLike[str] | Mapping[str, Any] | Graph


def _modules(network: Graph, input_shapes: dict[str, tuple[Shape, ...]]) -> dict[str, nn.Module]:
    out: dict[str, nn.Module] = {}
    for op in network.ops:
        if op.shares is not None:
            continue
        shapes = input_shapes[op.name]
        try:
            out[op.name] = op.kind.torch_module(shapes[0] if shapes else ())  # (a source: none)
        except CnnsizeError as e:
            raise e.located(path=op.name, kind=op.kind.type_name) from None
        except (TypeError, ValueError, RuntimeError) as e:
            raise CnnsizeError(f"PyTorch refused the layer: {e}", path=op.name,
                               kind=op.kind.type_name) from e
        if not op.trainable:  # trainable: false, as a user freezes a layer
            out[op.name].requires_grad_(False)
    return out


def _hierarchy(modules: dict[str, nn.Module]) -> nn.Module:
    """A root module holding every op module at its dotted path (plain modules in between)."""
    nodes: dict[str, nn.Module] = {"": nn.Module()}

    def node(path: str) -> nn.Module:
        if path not in nodes:
            parent, _, leaf = path.rpartition(".")
            module = modules.get(path) or nn.Module()
            _attach(node(parent), leaf, module, path)
            nodes[path] = module
        return nodes[path]

    for path in modules:
        node(path)
    return nodes[""]


def _attach(parent: nn.Module, name: str, child: nn.Module, path: str) -> None:
    import keyword

    if keyword.iskeyword(name):
        raise CnnsizeError(f"{name!r} is a Python keyword, which torch.fx cannot call as a "
                           "module", path=path, field="name", hint="rename the layer")
    existing = parent._modules.get(name)
    if existing is child:
        return
    try:
        parent.add_module(name, child)
    except (KeyError, TypeError) as e:
        raise CnnsizeError(f"cannot be a torch module name: {e}", path=path, field="name",
                           hint="rename the layer (PyTorch reserves names such as forward, "
                                "training, weight)") from None


def build(net: SpecLike, input_shape: Shape | None = None) -> fx.GraphModule:
    """The torch module a spec describes; `named_modules()` paths equal the report's rows."""
    from ..analyze import analyze

    network = load(net)
    if input_shape is not None:
        network = network.with_input(tuple(input_shape))
    report = analyze(network)  # validates every size first, with cnnsize's own error messages
    shapes = {row.name: row.input_shapes for row in report.layers}
    root = _hierarchy(_modules(network, shapes))
    graph = fx.Graph()
    env: dict[str, fx.Node] = {name: graph.placeholder(_identifier(name))
                               for name in network.input_names}
    for op in network.ops:
        env[op.name] = _call(graph, op, env)
    outs = [env[name] for name in network.outputs]
    graph.output(outs[0] if len(outs) == 1 else tuple(outs))
    try:
        model = fx.GraphModule(root, graph, class_name=_identifier(network.name) or "Network")
    except SyntaxError as e:  # a row named like a Python keyword (if, for, ...)
        raise CnnsizeError(f"a layer name cannot be a torch module's attribute: {e.msg}",
                           field="name", hint="rename layers named like Python keywords "
                                              "(if, for, class, ...)") from None
    model.eval()
    return model


def _call(graph: fx.Graph, op: Op, env: dict[str, fx.Node]) -> fx.Node:
    node = graph.call_module(op.shares or op.name, tuple(env[n] for n in op.inputs),
                             op.kind.call_kwargs())
    node.meta["cnnsize_row"] = op.name
    return node


def _identifier(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out[:1].isalpha() or out[:1] == "_" else f"_{out}"


def module_for_row(model: nn.Module, row_name: str, shares: str | None = None) -> nn.Module:
    """The module whose forward output is the tensor a report row describes."""
    return model.get_submodule(shares or row_name)
