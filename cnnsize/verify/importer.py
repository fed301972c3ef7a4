"""nn.Module → spec: torch.fx traces the module; the graph becomes layers and containers.

Leaf modules map to the kinds registered under their class name, with their constructor
arguments read back from the module's attributes; functional calls (F.relu, torch.flatten,
F.max_pool2d, ...) map by name. A fork whose branches meet again in an add, a multiply or a
torch.cat becomes a residual (merge add/mul) or a concat. Names follow the module hierarchy, so
torchvision's `layer1.0.conv1` stays `layer1.0.conv1`. Where tracing fails, forward hooks on the
leaf modules give a plain chain. Anything else is reported by name, never dropped.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from ..errors import CnnsizeError
from ..layers import REGISTRY
from ..spec import Network, parse

_BY_TORCH_NAME = {cls.torch_name: name for name, cls in REGISTRY.items() if cls.torch_name}

# Functional calls: name → (kind or special, positional argument names after the input).
_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "relu6": "relu6", "silu": "silu", "gelu": "gelu",
                "sigmoid": "sigmoid", "tanh": "tanh", "hardswish": "hardswish",
                "hardsigmoid": "hardsigmoid", "leaky_relu": "leakyrelu", "elu": "elu",
                "softmax": "softmax"}
_POSITIONAL = {
    "maxpool": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "avgpool": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                "divisor_override"),
    "adaptiveavgpool": ("output_size",), "adaptivemaxpool": ("output_size", "return_indices"),
    "flatten": ("start_dim", "end_dim"), "dropout": ("p", "training", "inplace"),
    "softmax": ("dim",), "leakyrelu": ("negative_slope", "inplace"), "elu": ("alpha", "inplace"),
    "relu": ("inplace",), "relu6": ("inplace",),
}
_MERGES = {"add": "add", "iadd": "add", "mul": "mul", "imul": "mul", "cat": "cat", "concat": "cat"}
_PASSTHROUGH = {"contiguous", "clone", "stochastic_depth", "dropout_eval"}


@dataclass
class _Leaf:
    node: fx.Node
    kind: str
    args: dict[str, Any]
    target: str | None  # module path for call_module, None for a functional call


@dataclass
class _Merge:
    node: fx.Node
    op: str  # add, mul, cat
    branches: list[list[_Element]]
    post: list[_Element] = field(default_factory=list)


_Element = _Leaf | _Merge


def _target_name(target: Any) -> str:
    name = getattr(target, "__name__", str(target))
    return name.lstrip("_") if name.startswith("_max_pool") else name


def _leaf_args(module: nn.Module, kind: str) -> dict[str, Any]:
    """Constructor arguments read back from a module's attributes (those not at their default)."""
    args = _raw_leaf_args(module, kind)
    try:
        shown = REGISTRY[kind].from_args(args).args()
    except CnnsizeError:
        return args  # let the parser report it with the layer's path
    return {k: list(v) if isinstance(v, tuple) else v for k, v in shown.items()}


def _raw_leaf_args(module: nn.Module, kind: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for f in dataclasses.fields(REGISTRY[kind]):  # type: ignore[arg-type]
        if f.name in ("in_channels", "in_features", "num_features"):
            continue
        if f.name == "bias" and isinstance(getattr(module, "bias", None), (torch.Tensor, type(None))):
            args["bias"] = getattr(module, "bias", None) is not None
            continue
        if hasattr(module, f.name):
            value = getattr(module, f.name)
            if isinstance(value, torch.Tensor):
                continue
            args[f.name] = list(value) if isinstance(value, tuple) else value
    return args


class _Importer:
    def __init__(self, module: nn.Module, input_shape: tuple[int, ...]) -> None:
        self.module = module
        self.input_shape = input_shape
        self.unsupported: list[str] = []

    # ---- graph
    def trace(self) -> fx.GraphModule:
        from torch.fx.passes.shape_prop import ShapeProp

        gm = fx.symbolic_trace(self.module)
        with torch.no_grad():
            ShapeProp(gm).propagate(torch.randn(1, *self.input_shape))
        return gm

    def shape(self, node: fx.Node) -> tuple[int, ...] | None:
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None

    def is_tensor(self, node: Any) -> bool:
        return isinstance(node, fx.Node) and (node.op == "placeholder" or self.shape(node) is not None)

    def inputs(self, node: fx.Node) -> list[fx.Node]:
        return [a for a in node.all_input_nodes if self.is_tensor(a)]

    def users(self, node: fx.Node) -> list[fx.Node]:
        return [u for u in node.users if self.is_tensor(u) or u.op == "output"]

    # ---- one node
    def classify(self, gm: fx.GraphModule, node: fx.Node) -> _Leaf | str | None:
        """A leaf, a merge op name, 'pass' for a no-op, or None (unsupported, recorded)."""
        if node.op == "call_module":
            sub = gm.get_submodule(str(node.target))
            kind = _BY_TORCH_NAME.get(type(sub).__name__)
            if kind is None:
                self.unsupported.append(f"{node.target} ({type(sub).__name__})")
                return None
            return _Leaf(node, kind, _leaf_args(sub, kind), str(node.target))
        name = _target_name(node.target)
        if name in _MERGES and len(self.inputs(node)) >= 2:
            return _MERGES[name]
        if name in _PASSTHROUGH or (name in _MERGES and len(self.inputs(node)) == 1
                                    and name in ("cat", "concat")):
            return "pass"
        kind, family = self._functional_kind(name)
        if kind is None:
            shape_in = self.shape(self.inputs(node)[0]) if self.inputs(node) else None
            shape_out = self.shape(node)
            if (name in ("view", "reshape", "flatten") and shape_in and shape_out
                    and len(shape_out) == 2 and shape_out[1] == math.prod(shape_in[1:])):
                return _Leaf(node, "flatten", {}, None)
            self.unsupported.append(f"{node.name} ({node.op} {name})")
            return None
        args = self._functional_args(node, family or kind)
        return _Leaf(node, kind, args, None)

    def _functional_kind(self, name: str) -> tuple[str | None, str | None]:
        if name in _ACTIVATIONS:
            return _ACTIVATIONS[name], None
        for prefix, family in (("max_pool", "maxpool"), ("avg_pool", "avgpool"),
                               ("adaptive_avg_pool", "adaptiveavgpool"),
                               ("adaptive_max_pool", "adaptivemaxpool")):
            if name.startswith(prefix) and name[-2:] in ("1d", "2d", "3d"):
                return f"{family}{name[-2:]}", family
        if name == "flatten":
            return "flatten", "flatten"
        if name == "dropout":
            return "dropout", "dropout"
        return None, None

    def _functional_args(self, node: fx.Node, family: str) -> dict[str, Any]:
        names = _POSITIONAL.get(family, ())
        raw = dict(zip(names, node.args[1:]))
        raw.update({k: v for k, v in node.kwargs.items() if k != "input"})
        kind = REGISTRY[_ACTIVATIONS.get(family, family)] if family in REGISTRY else None
        fields = {f.name for f in dataclasses.fields(kind)} if kind else set(raw)  # type: ignore[arg-type]
        out = {}
        for key, value in raw.items():
            if key in fields and value is not None and not isinstance(value, fx.Node):
                out[key] = list(value) if isinstance(value, tuple) else value
        return out

    # ---- structure
    def elements(self, gm: fx.GraphModule) -> list[_Element]:
        nodes = list(gm.graph.nodes)
        self.order = {n: i for i, n in enumerate(nodes)}
        self.kinds: dict[fx.Node, _Leaf | str | None] = {}
        for n in nodes:
            if n.op in ("call_module", "call_function", "call_method") and self.is_tensor(n):
                self.kinds[n] = self.classify(gm, n)
        if self.unsupported:
            raise CnnsizeError(
                "cnnsize cannot express these layers: " + ", ".join(self.unsupported),
                hint="supported: the layer kinds of docs/spec.md, their functional forms "
                     "(F.relu, F.max_pool2d, torch.flatten, ...) and add/mul/cat merges")
        self.pdom = self._postdominators(nodes)
        self.ancestors: dict[fx.Node, set[fx.Node]] = {}
        start = next(n for n in nodes if n.op == "placeholder")
        end = next(n for n in nodes if n.op == "output")
        out_node = end.all_input_nodes[0]
        return self.chain(start, out_node)

    def _postdominators(self, nodes: list[fx.Node]) -> dict[fx.Node, set[fx.Node]]:
        pdom: dict[fx.Node, set[fx.Node]] = {}
        for n in reversed(nodes):
            succ = [u for u in self.users(n) if u in pdom]
            pdom[n] = {n} | (set.intersection(*(pdom[u] for u in succ)) if succ else set())
        return pdom

    def _ipdom(self, node: fx.Node) -> fx.Node | None:
        after = [n for n in self.pdom[node] if n is not node]
        return min(after, key=self.order.__getitem__) if after else None

    def _reaches(self, node: fx.Node, end: fx.Node) -> bool:
        """Whether `end` is `node` or lies downstream of it."""
        if end not in self.ancestors:
            seen = {end}
            stack = [end]
            while stack:
                for parent in self.inputs(stack.pop()):
                    if parent not in seen:
                        seen.add(parent)
                        stack.append(parent)
            self.ancestors[end] = seen
        return node in self.ancestors[end]

    def chain(self, start: fx.Node, end: fx.Node) -> list[_Element]:
        """The elements between `start` (exclusive) and `end` (inclusive)."""
        out: list[_Element] = []
        cur = start
        while cur is not end:
            users = [u for u in self.users(cur) if u.op != "output" and self._reaches(u, end)]
            if len(users) == 1 and len(self.inputs(users[0])) == 1:
                nxt = users[0]
                kind = self.kinds.get(nxt)
                if isinstance(kind, _Leaf):
                    out.append(kind)
                cur = nxt
                continue
            join = self._ipdom(cur)
            op = self.kinds.get(join) if join is not None else None
            if join is None or not isinstance(op, str) or op == "pass" or \
                    self.order[join] > self.order[end]:
                raise CnnsizeError(
                    f"the graph forks after {cur.name} into branches that cnnsize cannot nest "
                    "(they do not meet again in one add, mul or cat)",
                    hint="series-parallel graphs (ResNet, Inception, squeeze-excite) import; "
                         "DenseNet's growing torch.cat lists do not yet")
            branches = [[] if a is cur else self.chain(cur, a) for a in self.inputs(join)]
            out.append(_Merge(join, op, branches))
            cur = join
        return out

    # ---- naming
    def to_items(self, elements: list[_Element], prefix: str, names: dict[str, str | None],
                 path: str, used: set[str] | None = None) -> list[dict[str, Any]]:
        elements = self._absorb_posts(elements)
        items: list[dict[str, Any]] = []
        used = set() if used is None else used
        i = 0
        while i < len(elements):
            rel = _relative(self._prefix(elements[i]), prefix)
            head = rel.split(".", 1)[0] if rel and "." in rel else None
            if isinstance(elements[i], _Leaf) and rel and "." not in rel:
                head = None
            if head is not None and not (isinstance(elements[i], _Merge) and rel == head):
                j = i
                while j < len(elements):
                    r = _relative(self._prefix(elements[j]), prefix)
                    if not r or r.split(".", 1)[0] != head or (
                            isinstance(elements[j], _Merge) and r == head):
                        break
                    j += 1
                name = _unique(head, used)
                sub_path = _join(path, name)
                items.append({"name": name, "type": "sequential",
                              "layers": self.to_items(elements[i:j], _join(prefix, head), names,
                                                      sub_path)})
                i = j
                continue
            items.append(self.item(elements[i], prefix, names, path, used, rel))
            i += 1
        return items

    def item(self, el: _Element, prefix: str, names: dict[str, str | None], path: str,
             used: set[str], rel: str | None) -> dict[str, Any]:
        if isinstance(el, _Leaf):
            name = _unique(rel if rel and "." not in rel else el.node.name, used)
            names[_join(path, name)] = el.target
            return {"name": name, "type": el.kind, **el.args}
        own = self._prefix(el)
        name = _unique(rel if rel and "." not in rel else el.node.name, used)
        inner = own if own and own != prefix else prefix
        here = _join(path, name)
        names[here] = None
        if el.op == "cat":
            # Inline branches: their layers are named directly under the concat, as a module's
            # children are (Mixed_5b.branch1x1.conv); one namespace for all of them.
            direct: set[str] = set()
            branches = [{"inline": True, "layers": self.to_items(branch, inner, names, here, direct)}
                        for branch in el.branches]
            return {"name": name, "type": "concat", "branches": branches}
        body, short = sorted(el.branches, key=len, reverse=True)[:2]
        spre = _relative(self._prefix_of(short), inner)
        sname = spre.split(".", 1)[0] if spre else "shortcut"
        sprefix = _join(inner, sname) if spre else inner
        sibling_names = {sname}  # body, post and the shortcut share one namespace
        out: dict[str, Any] = {
            "name": name, "type": "residual", "merge": el.op,
            "body": self.to_items(body, inner, names, here, sibling_names),
            "shortcut": self.to_items(short, sprefix, names, _join(here, sname)),
            "shortcut_name": sname,
        }
        if el.post:
            out["post"] = self.to_items(el.post, inner, names, here, sibling_names)
        if el.op == "add":
            del out["merge"]
        return out

    def _absorb_posts(self, elements: list[_Element]) -> list[_Element]:
        """Leaves right after a merge that live in the merge's module join it as `post`."""
        out: list[_Element] = []
        for el in elements:
            last = out[-1] if out else None
            if isinstance(last, _Merge) and isinstance(el, _Leaf) and el.target:
                own = self._prefix(last)
                if own and el.target.startswith(own + "."):
                    last.post.append(el)
                    continue
            out.append(el)
        return out

    def _prefix(self, el: _Element) -> str | None:
        if isinstance(el, _Leaf):
            return el.target
        return self._prefix_of([e for b in el.branches for e in b])

    def _prefix_of(self, elements: list[_Element]) -> str | None:
        targets = [t for t in (self._prefix(e) for e in elements) if t]
        if not targets:
            return None
        parts = [t.split(".") for t in targets]
        common = []
        for column in zip(*parts):
            if len(set(column)) != 1:
                break
            common.append(column[0])
        if len(targets) == 1 and isinstance(elements[0], _Leaf):
            common = parts[0][:-1]
        return ".".join(common) or None


def _relative(target: str | None, prefix: str) -> str | None:
    if target is None:
        return None
    if not prefix:
        return target
    return target[len(prefix) + 1:] if target.startswith(prefix + ".") else None


def _join(a: str, b: str) -> str:
    return f"{a}.{b}" if a else b


def _unique(name: str, used: set[str]) -> str:
    name = name.replace(".", "_") or "layer"
    candidate, k = name, 2
    while candidate in used:
        candidate, k = f"{name}_{k}", k + 1
    used.add(candidate)
    return candidate


def _hooks_chain(module: nn.Module, input_shape: tuple[int, ...]) -> list[_Leaf]:
    """Fallback when tracing fails: the leaf modules in the order a forward pass calls them."""
    calls: list[tuple[str, nn.Module]] = []
    handles = []
    for name, sub in module.named_modules():
        if not list(sub.children()) and name:
            handles.append(sub.register_forward_hook(
                lambda m, i, o, name=name: calls.append((name, m))))
    try:
        with torch.no_grad():
            module(torch.randn(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    leaves, missing = [], []
    for name, sub in calls:
        kind = _BY_TORCH_NAME.get(type(sub).__name__)
        if kind is None:
            missing.append(f"{name} ({type(sub).__name__})")
            continue
        leaves.append(_Leaf(fx.Graph().placeholder("x"), kind, _leaf_args(sub, kind), name))
    if missing:
        raise CnnsizeError("cnnsize cannot express these layers: " + ", ".join(missing))
    return leaves


def module_to_spec(module: nn.Module, input_shape: tuple[int, ...],
                   name: str | None = None) -> tuple[dict[str, Any], dict[str, str | None], str]:
    """A spec dict for `module`, the module path of every row (None: functional), and the method."""
    model = copy.deepcopy(module).eval()
    importer = _Importer(model, tuple(input_shape))
    names: dict[str, str | None] = {}
    try:
        gm = importer.trace()
        method = "torch.fx"
    except Exception as trace_error:
        try:
            elements: list[_Element] = list(_hooks_chain(model, tuple(input_shape)))
        except CnnsizeError:
            raise
        except RuntimeError as e:
            raise CnnsizeError(f"the model's forward pass failed: {e}") from e
        method = (f"forward hooks (torch.fx could not trace: {type(trace_error).__name__}; "
                  "hooks see modules only: functional calls such as F.relu or torch.cat and any "
                  "branching are not in the spec)")
    else:
        elements = importer.elements(gm)
    layers = importer.to_items(elements, "", names, "")
    spec = {"name": name or type(module).__name__, "input": list(input_shape),
            "meta": {"source": f"imported from {type(module).__module__}.{type(module).__name__} "
                               f"by cnnsize ({method})"},
            "layers": layers}
    return spec, names, method


def from_module(module: nn.Module, input_shape: tuple[int, ...], name: str | None = None) -> Network:
    """The spec of an existing nn.Module (traced with torch.fx; hooks where tracing fails)."""
    spec, names, _ = module_to_spec(module, input_shape, name)
    network = parse(spec, source=f"<{type(module).__name__}>")
    meta = dict(network.meta)
    meta["module_names"] = names
    meta["spec"] = spec
    return Network(network.name, network.input_shape, network.layers, network.source, meta)


def load_factory(reference: str) -> Callable[[], nn.Module]:
    """'package.module:factory' → the callable (e.g. 'torchvision.models:resnet50')."""
    import importlib

    if ":" not in reference:
        raise CnnsizeError(f"expected PKG.MOD:FACTORY, got {reference!r}",
                           hint="e.g. torchvision.models:resnet50")
    mod_name, attr = reference.split(":", 1)
    import os
    import sys

    if os.getcwd() not in sys.path and "" not in sys.path:  # like `python -m`: the cwd imports
        sys.path.insert(0, os.getcwd())
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise CnnsizeError(f"cannot import {mod_name}: {e}") from None
    factory = mod
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise CnnsizeError(f"{mod_name} has no {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CnnsizeError(f"{reference} is not callable")
    return factory


__all__ = ["from_module", "load_factory", "module_to_spec"]
