"""Specs: YAML/JSON files, zoo names or dicts → validated sugar → one dataflow graph.

A spec is data: YAML is read with the safe loader and expressions with a whitelist (expr.py).
Items are layers (a registered kind) or containers (sequential, concat, residual); blocks are
named, parameterised lists of items defined once under `blocks:` and used like a layer type.
An item may name its inputs (`inputs: [stem, a.3]`) and reuse another layer's module
(`shares: conv1`). Parsing builds the sugar tree below; lowering turns it into a Graph of ops
(graph.py), which is what every other part of cnnsize reads.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping

from .errors import CnnsizeError, SpecError, SpecTypeError
from .expr import substitute
from .files import check_data, plain, read_json, read_text, read_yaml, read_yaml_cached
from .graph import DEFAULT_INPUT, Graph, Network, Op, Scope, Uncalled, check
from .layers import Kind, is_kind, lookup
from .layers.base import MAX_SIZE, did_you_mean, is_int
from .layers.merge import Add, Cat, Mul
from .pause import collector_paused
from .record import record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CONTAINERS", "Concat", "Layer", "Network", "Node", "Residual", "Sequential",
           "dump_yaml", "load", "loads", "parse", "parse_input", "parse_inputs", "read_yaml",
           "zoo_names"]

CONTAINERS = ("sequential", "concat", "residual")
ITEM_KEYS = ("type", "name", "repeat", "if", "inline", "inputs", "shares", "trainable", "label")
TOP_KEYS = ("name", "input", "layers", "blocks", "meta", "description", "outputs", "uncalled")
CONTAINER_KEYS = {
    "sequential": ("layers",),
    "concat": ("branches", "pre"),
    "residual": ("body", "shortcut", "post", "shortcut_name", "merge", "inplace"),
}
MAX_REPEAT = 10_000
MAX_LAYERS = 100_000  # layers in one network, after every repeat
MAX_STEPS = 1_000_000  # copies made while expanding (also those an `if` then drops)


# The sugar tree, as written; `inputs` and `shares` hold names as written, resolved by lowering.
@record
class Layer:
    path: str
    kind: Kind | None            # None: taken from the layer named by `shares`
    inputs: tuple[str, ...] = ()
    shares: str | None = None
    trainable: bool | None = None  # None: as its container (True at the top)


@record
class Sequential:
    path: str
    children: tuple[Node, ...]
    inputs: tuple[str, ...] = ()
    trainable: bool | None = None
    label: str | None = None     # its type in tables: the block's name, or as written


@record
class Concat:
    path: str
    branches: tuple[Sequential, ...]  # an inline branch has the concat's own path
    pre: tuple[Node, ...] = ()        # layers before the fork, named under the concat
    inputs: tuple[str, ...] = ()
    trainable: bool | None = None
    label: str | None = None


@record
class Residual:
    path: str
    body: tuple[Node, ...]
    shortcut: Sequential
    post: tuple[Node, ...]
    merge: str = "add"  # "add": body + shortcut (ResNet); "mul": body × shortcut (squeeze-excite)
    inplace: bool = False  # the add written into the body's output (`out += identity`)
    inputs: tuple[str, ...] = ()
    trainable: bool | None = None
    label: str | None = None


Node = Layer | Sequential | Concat | Residual


# ---------------------------------------------------------------- loading


# package data, next to this file (os.path, not pathlib, whose import a report would pay)
ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo")


def zoo_names() -> list[str]:
    return sorted(name[:-5] for name in os.listdir(ZOO) if name.endswith(".yaml"))


def _stem(path: str) -> str:
    """The file name without its last suffix, by pathlib's rule for `stem`."""
    name = os.path.basename(path.rstrip(os.sep + (os.altsep or "")))
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


# Parsed zoo networks (frozen), by name, with the stat of the file they were read from: the
# package's files do not change under a running process, but an editable install's may.
_ZOO_PARSED: dict[str, tuple[tuple[int, int], Network]] = {}


def _zoo_network(name: str) -> Network | None:
    path = os.path.join(ZOO, f"{name}.yaml")
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # not there, or not a file name (a NUL)
        return None
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _ZOO_PARSED.get(name)
    if cached is None or cached[0] != stamp:
        source = f"zoo:{name}"
        cached = stamp, _parse_data(read_yaml_cached(path, source), source)
        _ZOO_PARSED[name] = cached
    network = cached[1]
    # everything else in a Network is frozen; its meta is the caller's to change
    return replace(network, meta=copy.deepcopy(network.meta))


@collector_paused
def load(spec: str | os.PathLike[str] | Mapping[str, Any] | Network) -> Network:
    """A Network from a file path, a built-in zoo name, a dict, or a Network (returned as is)."""
    if isinstance(spec, Network):
        return spec
    if isinstance(spec, Mapping):
        return parse(spec, source="<dict>")
    if not isinstance(spec, (str, os.PathLike)):
        if callable(getattr(spec, "forward", None)) and hasattr(spec, "parameters"):
            raise SpecTypeError(f"{type(spec).__name__} is a torch module, not a spec: import it "
                                "with cnnsize.from_module(module, input_shape) first")
        raise SpecTypeError(f"a spec is a file name, a built-in network's name, a mapping or a "
                            f"parsed network, not {type(spec).__name__}")
    text_spec = os.fspath(spec)
    if not isinstance(text_spec, str):
        raise SpecTypeError("a spec file name must be text, not bytes")
    suffix = os.path.splitext(text_spec)[1].lower()
    if suffix in (".yaml", ".yml", ".json") or os.path.exists(text_spec):
        return loads(read_text(text_spec), source=text_spec, is_json=suffix == ".json")
    names = zoo_names()
    if text_spec in names:
        network = _zoo_network(text_spec)
        if network is not None:
            return network
    raise SpecError(f"{text_spec[:120]!r} is neither a spec file nor a built-in network",
                    hint=did_you_mean(text_spec[:120], names, "built-in networks"))


def loads(text: str, source: str = "<string>", is_json: bool = False) -> Network:
    """Parse spec text (YAML, or JSON when is_json) with the safe loader."""
    if not text.strip():
        raise SpecError("the file is empty", source=source,
                        hint="a spec needs at least 'input' and 'layers'")
    return _parse_data(read_json(text, source) if is_json else read_yaml(text, source), source)


def _parse_data(data: Any, source: str) -> Network:
    """The network of a file's data (None for a file of comments only)."""
    if data is None:
        raise SpecError("the file holds no spec (only comments?)", source=source,
                        hint="a spec needs at least 'input' and 'layers'")
    if not isinstance(data, Mapping):
        raise SpecError(f"the spec must be a mapping with 'input' and 'layers', "
                        f"got {type(data).__name__}", source=source)
    return parse(data, source=source)


# ---------------------------------------------------------------- parsing


@collector_paused
def parse(data: Mapping[str, Any], source: str = "<dict>") -> Network:
    if not isinstance(data, Mapping):
        raise SpecTypeError(f"a spec is a mapping with 'input' and 'layers', not "
                            f"{type(data).__name__}", source=source)
    check_data(data, source)
    try:
        return _Parser(data, source).network()
    except CnnsizeError as e:
        raise e.located(source=source) from None
    except RecursionError:
        raise SpecError("the spec nests too deeply", source=source) from None


def _check_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise SpecError(f"unknown key {key!r} in {what}", field=str(key),
                            hint=did_you_mean(str(key), list(allowed), "valid keys"))


@record(frozen=False, slots=False, eq=False, repr=False)  # compared and shown nowhere
class _Parser:
    data: Mapping[str, Any]
    source: str
    items: int = 0   # items made so far, every repeat expanded
    steps: int = 0   # copies tried so far

    def network(self) -> Network:
        data = self.data
        if "input_shape" in data and "input" not in data:
            given = data["input_shape"]
            example = (f"{list(given)} is input: {[given[-1], *given[:-1]]}"
                       if isinstance(given, list) and len(given) >= 2 else
                       "[32, 32, 1] is input: [1, 32, 32]")
            raise SpecError("unknown key 'input_shape' in the spec", field="input_shape",
                            hint=f"did you mean 'input'? Keras's input_shape is the spec's "
                                 f"input, channels first: {example}")
        _check_keys(data, TOP_KEYS, "the spec")
        name = data.get("name", _stem(self.source) if self.source != "<dict>" else "network")
        if not isinstance(name, str):
            raise SpecError("must be a string", field="name")
        self.blocks = self._blocks(data.get("blocks", {}))
        inputs = parse_inputs(data.get("input"))
        if "layers" not in data:
            raise SpecError("the spec has no 'layers' list", field="layers")
        layers = self._items(data["layers"], "", {}, (), "layers")
        if not layers:
            raise SpecError("the spec has no layers", field="layers")
        meta = data.get("meta", {})
        if not isinstance(meta, Mapping):
            raise SpecError("must be a mapping", field="meta")
        meta = plain(dict(meta))
        if "description" in data:
            meta["description"] = plain(data["description"], "description")
        lowering = _Lowering(tuple(n for n, _ in inputs))
        last = lowering.sequence(tuple(layers), inputs[0][0], (), True)
        outputs = _name_list(data["outputs"], "outputs") if "outputs" in data else [last]
        resolved = tuple(lowering.resolve(o, "", "outputs") for o in outputs)
        if len(set(resolved)) != len(resolved):
            raise SpecError("an output is listed twice", field="outputs")
        return check(Graph(name, inputs, tuple(lowering.ops), resolved, self.source, meta,
                           _uncalled(data.get("uncalled")), lowering.used_scopes()))

    def _blocks(self, blocks: Any) -> dict[str, Mapping[str, Any]]:
        if not isinstance(blocks, Mapping):
            raise SpecError("must be a mapping of block name to definition", field="blocks")
        for bname, block in blocks.items():
            where = f"blocks.{bname}"
            if not isinstance(block, Mapping):
                raise SpecError("a block needs 'layers' (and optional 'params')", path=where)
            _check_keys(block, ("params", "layers", "description"), f"block {bname!r}")
            if bname in CONTAINERS or is_kind(bname):
                raise SpecError(f"block name {bname!r} shadows a built-in type", path=where)
            params = block.get("params", {})
            if not isinstance(params, Mapping):
                raise SpecError("must be a mapping of parameter name to default (null = required)",
                                path=where, field="params")
            for key in params:
                if not isinstance(key, str) or not key.isidentifier():
                    raise SpecError(f"parameter names must be identifiers, got {key!r}", path=where,
                                    field="params")
            if not isinstance(block.get("layers"), list):
                raise SpecError("must be a list of layers", path=where, field="layers")
        return dict(blocks)

    def _items(self, items: Any, prefix: str, env: Mapping[str, Any],
               stack: tuple[str, ...], field_name: str, first: int = 0) -> list[Node]:
        """Parse a list of items; `repeat` and `if` expand before positional names are given."""
        if isinstance(items, Mapping) and "type" in items:
            items = [items]
        if not isinstance(items, list):
            raise SpecError(f"must be a list of layers, got {type(items).__name__}",
                            path=prefix or None, field=field_name)
        expanded = self._expand(items, prefix, env, stack)
        nodes: list[Node] = []
        seen: set[str] = set()
        for position, (item, local, name) in enumerate(expanded):
            path = _join(prefix, name if name is not None else str(first + position))
            if path in seen:
                raise SpecError("two layers have this name", path=path, field="name")
            seen.add(path)
            nodes.append(self._item(item, path, local, stack))
        return nodes

    def _expand(self, items: list[Any], prefix: str, env: Mapping[str, Any],
                stack: tuple[str, ...]) -> list[tuple[Mapping[str, Any], dict[str, Any], str | None]]:
        """Apply `repeat`, `if` and `inline` to a list of items, keeping each copy's variables."""
        expanded: list[tuple[Mapping[str, Any], dict[str, Any], str | None]] = []
        for item in items:
            where = _join(prefix, str(len(expanded)))
            if not isinstance(item, Mapping):
                raise SpecError(f"each layer must be a mapping with a 'type', got {item!r}",
                                path=where)
            try:
                repeat = substitute(item["repeat"], env) if "repeat" in item else 1
            except CnnsizeError as e:
                e.field = e.field or "repeat"
                raise e.located(path=where, kind=str(item.get("type"))) from None
            if not is_int(repeat) or not 0 <= repeat <= MAX_REPEAT:
                raise SpecError(f"must be an integer from 0 to {MAX_REPEAT}, got {repeat!r}",
                                path=where, field="repeat")
            for i in range(repeat):
                self.steps += 1  # bounded while expanding, not after (nested repeats multiply)
                if self.steps > MAX_STEPS:
                    raise SpecError(f"expanding the spec takes more than {MAX_STEPS:,} steps "
                                    "(repeats inside repeats)", path=where, field="repeat")
                local = dict(env)
                if "repeat" in item:
                    local["i"] = i
                try:
                    if "if" in item and not _condition(item["if"], local):
                        continue
                    if item.get("inline"):
                        block_name = item.get("type")
                        if not isinstance(block_name, str) or block_name not in self.blocks:
                            raise SpecError("only blocks can be inlined", field="inline")
                        if "name" in item:
                            raise SpecError("an inlined block has no name of its own: its layers "
                                            "join the enclosing list", field="name")
                        if "inputs" in item:
                            raise SpecError("an inlined block has no input of its own: give "
                                            "inputs to its first layer", field="inputs")
                        for key in ("trainable", "label"):
                            if key in item:
                                raise SpecError(f"an inlined block is no container: its layers "
                                                f"join the enclosing list, which takes no "
                                                f"{key!r} from it", field=key,
                                                hint="drop inline, or set it on the enclosing "
                                                     "container")
                        bound, layers = self._bind(block_name, item, local, stack)
                        expanded += self._expand(layers, prefix, bound, (*stack, block_name))
                        continue
                    name = self._name(item, local, repeat, i, where)
                except CnnsizeError as e:
                    raise e.located(path=where, kind=str(item.get("type"))) from None
                expanded.append((item, local, name))
                # layers count against MAX_LAYERS; containers and block uses against MAX_STEPS
                kind = item.get("type")
                if not (isinstance(kind, str) and (kind in CONTAINERS or kind in self.blocks)):
                    self.items += 1
                if self.items > MAX_LAYERS:
                    raise SpecError(f"the spec expands to more than {MAX_LAYERS:,} layers",
                                    path=where, field="repeat")
        return expanded

    @staticmethod
    def _name(item: Mapping[str, Any], env: Mapping[str, Any], repeat: int, i: int,
              where: str) -> str | None:
        if item.get("name") is None:
            return None
        try:
            name = substitute(item["name"], env)
        except CnnsizeError as e:
            e.field = e.field or "name"
            raise
        if not isinstance(name, (str, int)) or isinstance(name, bool) or str(name) == "":
            raise SpecError(f"must be a non-empty string, got {name!r}", path=where, field="name")
        name = str(name)
        if repeat > 1 and "$" not in str(item["name"]):
            name = f"{name}_{i + 1}"
        if "" in name.split("."):
            raise SpecError(f"must not start or end with '.' or hold '..', got {name!r}",
                            path=where, field="name",
                            hint="dots separate the levels of a path: 'a.b' names b inside a")
        return name

    def _bind(self, type_name: str, item: Mapping[str, Any], env: Mapping[str, Any],
              stack: tuple[str, ...]) -> tuple[dict[str, Any], list[Any]]:
        """A block's variables from its defaults and the call's arguments, and its layers."""
        if type_name in stack:
            raise SpecError(f"block {type_name!r} uses itself ({' → '.join((*stack, type_name))})",
                            field="type")
        block = self.blocks[type_name]
        params = dict(block.get("params") or {})
        local: dict[str, Any] = {}
        for key, value in item.items():
            if key in ITEM_KEYS:
                continue
            if key not in params:
                raise SpecError(f"unknown parameter {key!r} for block {type_name!r}", field=str(key),
                                hint=did_you_mean(str(key), [str(p) for p in params],
                                                  "its parameters"))
            local[key] = _substitute_field(value, env, str(key))
        for key, default in params.items():
            if key not in local:
                if default is None:
                    raise SpecError(f"block {type_name!r} needs parameter {key!r}", field=key)
                local[key] = default
        return local, list(block["layers"])

    def _item(self, item: Mapping[str, Any], path: str, env: Mapping[str, Any],
              stack: tuple[str, ...]) -> Node:
        node = self._node(item, path, env, stack)
        if "inputs" in item:
            if node.inputs:
                raise SpecError("both this block use and its only item give inputs", path=path,
                                field="inputs")
            names = _name_list(_substitute_field(item["inputs"], env, "inputs"), "inputs", path)
            node = replace(node, inputs=tuple(names))
        if "trainable" in item:
            trainable = _substitute_field(item["trainable"], env, "trainable")
            if not isinstance(trainable, bool):
                raise SpecError(f"must be true or false, got {trainable!r}", path=path,
                                field="trainable")
            if isinstance(node, Layer) and node.shares is not None:
                raise SpecError("a layer with 'shares' calls that layer's module again: whether "
                                "its parameters train is set there", path=path, field="trainable")
            if node.trainable is not None and node.trainable != trainable:
                raise SpecError("this block use and its only item say different things about "
                                "'trainable'", path=path, field="trainable")
            node = replace(node, trainable=trainable)
        if "label" in item:
            label = _substitute_field(item["label"], env, "label")
            if not isinstance(label, str) or not label or len(label) > 100:
                raise SpecError(f"must be a short non-empty string, got {label!r}", path=path,
                                field="label")
            if isinstance(node, Layer):
                raise SpecError("'label' names a container's type in tables; a layer's type is "
                                "its kind", path=path, field="label")
            node = replace(node, label=label)
        return node

    def _node(self, item: Mapping[str, Any], path: str, env: Mapping[str, Any],
              stack: tuple[str, ...]) -> Node:
        if "shares" in item:
            extra = [k for k in item if k not in ITEM_KEYS or k in ("type", "label")]
            if extra:
                raise SpecError(f"an item with 'shares' calls that layer's module again: it takes "
                                f"no {extra[0]!r} (kind and arguments come from the shared layer)",
                                path=path, field=str(extra[0]))
            target = _substitute_field(item["shares"], env, "shares")
            if not isinstance(target, (str, int)) or isinstance(target, bool) or str(target) == "":
                raise SpecError(f"must be the name of a layer, got {target!r}", path=path,
                                field="shares")
            return Layer(path, None, shares=str(target))
        type_name = item.get("type")
        if not isinstance(type_name, str):
            raise SpecError("every layer needs a 'type' (a lowercase PyTorch class name, a "
                            "container or a block)", path=path, field="type")
        if type_name not in self.blocks:
            type_name = type_name.lower()
        try:
            if type_name in CONTAINERS:
                return self._container(type_name, item, path, env, stack)
            if type_name in self.blocks:
                return self._block(type_name, item, path, env, stack)
            args = {k: _substitute_field(v, env, str(k)) for k, v in item.items()
                    if k not in ITEM_KEYS}
            return Layer(path, _kind(item["type"], type_name, args, self.blocks))
        except CnnsizeError as e:
            raise e.located(path=path, kind=type_name) from None

    def _container(self, type_name: str, item: Mapping[str, Any], path: str,
                   env: Mapping[str, Any], stack: tuple[str, ...]) -> Node:
        allowed = ITEM_KEYS + CONTAINER_KEYS[type_name]
        _check_keys(item, allowed, type_name)
        if type_name == "sequential":
            return Sequential(path, tuple(self._items(item.get("layers", []), path, env, stack,
                                                      "layers")))
        if type_name == "concat":
            branches = item.get("branches")
            if not isinstance(branches, list) or len(branches) < 1:
                raise SpecError("must be a list of branches (each a list of layers)",
                                field="branches")
            pre = self._items(item.get("pre", []), path, env, stack, "pre")
            direct = {n.path for n in pre}  # paths directly under the concat
            parsed: list[Sequential] = []
            for b, branch in enumerate(branches):
                inline = False
                if isinstance(branch, Mapping) and "type" not in branch:
                    _check_keys(branch, ("name", "layers", "inline"), "a concat branch")
                    inline = bool(branch.get("inline", False))
                    if inline and "name" in branch:
                        raise SpecError("an inline branch has no name: its layers are named "
                                        "under the concat", field="branches")
                    bname = substitute(branch.get("name", str(len(pre) + b)), env)
                    layers = branch.get("layers", [])
                else:
                    bname, layers = str(len(pre) + b), branch  # numbered after the `pre` items
                if inline:
                    children = self._items(layers, path, env, stack, "layers", first=len(direct))
                    parsed.append(Sequential(path, tuple(children)))
                    new_paths = [n.path for n in children]
                else:
                    bname = str(bname)
                    if not bname or "." in bname:
                        raise SpecError(f"a branch name must be non-empty without dots, got "
                                        f"{bname!r}", field="branches")
                    bpath = _join(path, bname)
                    parsed.append(Sequential(bpath, tuple(self._items(layers, bpath, env, stack,
                                                                      "layers"))))
                    new_paths = [bpath]
                clash = direct.intersection(new_paths)
                if clash:
                    raise SpecError(f"two parts of this concat are named {sorted(clash)[0]!r}",
                                    field="branches")
                direct.update(new_paths)
            return Concat(path, tuple(parsed), tuple(pre))
        shortcut_name = substitute(item.get("shortcut_name", "shortcut"), env)
        if not isinstance(shortcut_name, str) or not shortcut_name or "." in shortcut_name:
            raise SpecError("must be a name without dots", field="shortcut_name")
        body = self._items(item.get("body", []), path, env, stack, "body")
        if not body:
            raise SpecError("a residual needs a non-empty 'body'", field="body")
        spath = _join(path, shortcut_name)
        shortcut = Sequential(spath, tuple(self._items(item.get("shortcut", []), spath, env,
                                                       stack, "shortcut")))
        post = self._items(item.get("post", []), path, env, stack, "post", first=len(body))
        names = [n.path for n in (*body, *post)] + [spath]
        if len(set(names)) != len(names):
            raise SpecError("names in body, shortcut and post must differ", field="body")
        merge = substitute(item.get("merge", "add"), env)
        if merge not in ("add", "mul"):
            raise SpecError(f"must be 'add' or 'mul', got {merge!r}", field="merge")
        inplace = substitute(item.get("inplace", False), env)
        if not isinstance(inplace, bool):
            raise SpecError(f"must be true or false, got {inplace!r}", field="inplace")
        if inplace and merge != "add":
            raise SpecError("an in-place merge is an add (`out += identity`); a mul keeps both "
                            "inputs for its backward", field="inplace")
        return Residual(path, tuple(body), shortcut, tuple(post), merge, inplace)

    def _block(self, type_name: str, item: Mapping[str, Any], path: str,
               env: Mapping[str, Any], stack: tuple[str, ...]) -> Node:
        local, layers = self._bind(type_name, item, env, stack)
        inner_stack = (*stack, type_name)
        kept = []
        for index, layer in enumerate(layers):
            try:  # items with `repeat` keep their `if` for each copy (it may use `i`)
                if not isinstance(layer, Mapping) or "if" not in layer or "repeat" in layer \
                        or _condition(layer["if"], local):
                    kept.append(layer)
            except CnnsizeError as e:
                raise e.located(path=_join(path, str(index)), kind=str(layer.get("type"))) from None
        if len(kept) == 1 and isinstance(kept[0], Mapping) and not any(
                key in kept[0] for key in ("name", "repeat", "inline", "shares")):
            # A block with one item (after `if`) stands in the invocation's place and name.
            only = {k: v for k, v in kept[0].items() if k != "if"}
            node = self._item(only, path, local, inner_stack)
            if not isinstance(node, Layer) and node.label is None:
                node = replace(node, label=type_name)
            return node
        return Sequential(path, tuple(self._items(layers, path, local, inner_stack, "layers")),
                          label=type_name)


def _kind(written: str, type_name: str, args: dict[str, Any],
          blocks: Mapping[str, Any]) -> Kind:
    """The kind of a layer; Keras's names for kinds and arguments (a spec written from a slide
    or a Keras tutorial) get a did-you-mean that names cnnsize's (keras_names: errors only)."""
    try:
        kind_cls = lookup(type_name, extra=None if is_kind(type_name) else [*CONTAINERS, *blocks])
    except SpecError as e:
        from . import keras_names

        keras = keras_names.type_hint(written, args)
        if keras is not None:
            e.hint = keras
        raise
    names = kind_cls.arg_names()
    if any(key not in names for key in args):
        from . import keras_names

        keras_arg = keras_names.argument_hint(args, names)
        if keras_arg is not None:
            raise SpecError(f"unknown argument {keras_arg[0]!r} for {type_name}",
                            field=keras_arg[0], hint=keras_arg[1])
    try:
        return kind_cls.from_args(args, also=ITEM_KEYS)
    except SpecError as e:
        if e.field == "padding" and e.hint is None:
            from . import keras_names

            e.hint = keras_names.padding_hint(args.get("padding"))
        raise


def dump_yaml(data: Mapping[str, Any]) -> str:
    """A spec dict as YAML: block style for containers, one flow-style line per layer."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def represent_dict(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.Node:
        flat = all(not isinstance(v, (dict, list)) or
                   (isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v))
                   for v in value.values())
        return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(),
                                        flow_style=flat and "layers" not in value)

    def represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
        flat = all(not isinstance(x, (dict, list)) for x in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)

    _Dumper.add_representer(dict, represent_dict)
    _Dumper.add_representer(list, represent_list)
    text: str = yaml.dump(dict(data), Dumper=_Dumper, sort_keys=False, width=100,
                          allow_unicode=True)
    return text


def parse_inputs(value: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The spec's `input`: one shape, or a mapping of input name to shape (several inputs)."""
    if not isinstance(value, Mapping):
        return ((DEFAULT_INPUT, parse_input(value)),)
    if not value:
        raise SpecError("must name at least one input", field="input")
    out = []
    for name, shape in value.items():
        if not isinstance(name, str) or not name or "." in name:
            raise SpecError(f"input names must be non-empty strings without dots, got {name!r}",
                            field="input")
        try:
            out.append((name, parse_input(shape)))
        except SpecError as e:
            e.field = f"input.{name}"
            raise e.located() from None
    return tuple(out)


def _name_list(value: Any, field: str, path: str | None = None) -> list[str]:
    """`inputs:` or `outputs:`: a name or a list of names (layer paths or input names)."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != ""
                            for v in items):
        raise SpecError(f"must be a name or a list of names of layers or inputs, got {value!r}",
                        path=path, field=field)
    return [str(v) for v in items]


def _uncalled(value: Any) -> tuple[Uncalled, ...]:
    """`uncalled:` (written by `cnnsize import`): modules whose parameters forward never uses."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SpecError("must map module paths to {params: N, buffers: N}", field="uncalled")
    out = []
    for path, counts in value.items():
        if not isinstance(counts, Mapping) or not set(counts) <= {"params", "buffers", "frozen"} \
                or not all(is_int(v) and 0 <= v <= 2**48 for v in counts.values()) \
                or counts.get("frozen", 0) > counts.get("params", 0):
            raise SpecError(f"{path!r}: expected {{params: N, buffers: N}} (and frozen: N, at "
                            f"most params), got {counts!r}", field="uncalled")
        out.append(Uncalled(str(path), counts.get("params", 0), counts.get("buffers", 0),
                            counts.get("frozen", 0)))
    return tuple(out)


class _Lowering:
    """Sugar tree → ops. Each item reads the previous item's output unless it names its inputs;
    a container passes its input to its children and stands for its output. `scope` is the
    chain of containers around an item, `trainable` what it inherits from them."""

    def __init__(self, inputs: tuple[str, ...]) -> None:
        self.ops: list[Op] = []
        self.by_name: dict[str, Op] = {}
        self.known: dict[str, str] = {name: name for name in inputs}  # name → tensor it stands for
        self.scopes: list[Scope] = []

    def sequence(self, nodes: tuple[Node, ...], x: str, scope: tuple[str, ...],
                 trainable: bool) -> str:
        for node in nodes:
            x = self.node(node, x, scope, trainable)
        return x

    def node(self, node: Node, x: str, scope: tuple[str, ...], trainable: bool) -> str:
        xs = tuple(self.resolve(n, node.path, "inputs") for n in node.inputs) or (x,)
        if node.trainable is not None:
            trainable = node.trainable
        if isinstance(node, Layer):
            return self.add_layer(node, xs, scope, trainable)
        if len(xs) != 1:
            raise SpecError(f"a {type(node).__name__.lower()} takes one input, got {len(xs)}",
                            path=node.path, field="inputs",
                            hint="merge them first with an add, mul or cat layer")
        inner = self.open(node, scope)
        if isinstance(node, Sequential):
            out = self.sequence(node.children, xs[0], inner, trainable)
        elif isinstance(node, Residual):
            body = self.sequence(node.body, xs[0], inner, trainable)
            short_scope = self.open(node.shortcut, inner)
            short = self.sequence(node.shortcut.children, xs[0], short_scope, trainable)
            if short_scope != inner:
                self.close(short_scope, short)
            self.name(node.shortcut.path, short)
            merge: Kind = Add(inplace=node.inplace) if node.merge == "add" else Mul()
            self.add(Op(node.path, merge, (body, short), scope=inner))
            out = self.sequence(node.post, node.path, inner, trainable)
            self.close(inner, out)
            # Read from elsewhere, the residual's path is the block's output (after `post`), as
            # a PyTorch block's output is; its merge row has that path too, but only post reads it.
            self.known[node.path] = out
            return out
        else:
            pre = self.sequence(node.pre, xs[0], inner, trainable)
            outs = []
            for branch in node.branches:
                branch_scope = self.open(branch, inner)
                outs.append(self.sequence(branch.children, pre, branch_scope, trainable))
                if branch_scope != inner:  # an inline branch is no container of its own
                    self.close(branch_scope, outs[-1])
                if branch.path != node.path:
                    self.name(branch.path, outs[-1])
            self.add(Op(node.path, Cat(), tuple(outs), scope=inner))
            self.close(inner, node.path)
            return node.path
        self.close(inner, out)
        self.name(node.path, out)
        return out

    def open(self, node: Sequential | Concat | Residual, scope: tuple[str, ...]
             ) -> tuple[str, ...]:
        """The scope inside `node`: a new level, unless it is the top or an inline branch."""
        if not node.path or (scope and scope[-1] == node.path):
            return scope
        label = node.label or type(node).__name__.lower()
        self.scopes.append(Scope(node.path, label, "", scope[-1] if scope else None))
        return (*scope, node.path)

    def close(self, scope: tuple[str, ...], output: str) -> None:
        """Record the tensor the innermost container of `scope` stands for."""
        for index in range(len(self.scopes) - 1, -1, -1):
            if scope and self.scopes[index].path == scope[-1] and not self.scopes[index].output:
                self.scopes[index] = replace(self.scopes[index], output=output)
                return

    def add_layer(self, node: Layer, xs: tuple[str, ...], scope: tuple[str, ...],
                  trainable: bool) -> str:
        if node.shares is None:
            assert node.kind is not None
            if node.kind.max_inputs == 0 and not node.inputs:  # a source (state): `inputs: []`
                xs = ()
            self.add(Op(node.path, node.kind, xs, scope=scope, trainable=trainable))
            return node.path
        try:
            target = self.by_name[self.resolve(node.shares, node.path, "shares", self.by_name)]
        except SpecError:
            self.resolve(node.shares, node.path, "shares")  # not defined at all: that error
            layers = [op.name for op in self.ops if op.name.startswith(f"{node.shares}.")]
            raise SpecError(f"{node.shares!r} is a container or an input, not a layer: only a "
                            "layer's module can be called again", path=node.path, field="shares",
                            hint=f"name one of its layers, e.g. {layers[0]}" if layers else None
                            ) from None
        self.add(Op(node.path, target.kind, xs, target.shares or target.name, scope,
                    target.trainable))
        return node.path

    def used_scopes(self) -> tuple[Scope, ...]:
        """The containers that hold at least one op (an identity shortcut holds none)."""
        used = {path for op in self.ops for path in op.scope}
        return tuple(s for s in self.scopes if s.path in used)

    def add(self, op: Op) -> None:
        if op.name in self.known:
            raise SpecError("two layers (or a layer and an input) have this name", path=op.name,
                            field="name")
        self.ops.append(op)
        self.by_name[op.name] = op
        self.known[op.name] = op.name

    def name(self, path: str, tensor: str) -> None:
        """A container's path stands for its output."""
        if path in self.known:
            raise SpecError("two layers, containers or inputs have this name", path=path,
                            field="name")
        self.known[path] = tensor

    def resolve(self, name: str, path: str, field: str,
                among: Mapping[str, Any] | None = None) -> str:
        """A name as written at `path`: looked up in the enclosing containers, innermost first
        (like nested scopes), then at the top. Only what comes before is defined. `among`: look
        only there (the layers, for `shares`)."""
        names = self.known if among is None else among
        parts = path.split(".")[:-1] if path else []
        for depth in range(len(parts), -1, -1):
            candidate = ".".join((*parts[:depth], name))
            if candidate in names:
                return self.known[candidate] if among is None else candidate
        near = [k for k in names if k.rsplit(".", 1)[-1] == name or k.endswith(name)][:8]
        what = "layers" if among is not None else "names"
        hint = (did_you_mean(name, near, f"{what} defined before this point") if near else
                f"no {what} of that name come before it")
        raise SpecError(f"{name!r} is not defined before this point", path=path or None,
                        field=field, hint=hint + " (names are looked up in the enclosing "
                                                 "containers first, then at the top)")


def parse_input(value: Any) -> tuple[int, ...]:
    if value is None:
        raise SpecError("the spec has no 'input' shape", field="input",
                        hint="e.g. input: [3, 224, 224] (channels, then 1-3 spatial dims)")
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("x", ",").replace("×", ",").split(",")]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise SpecError(f"cannot read input shape {value!r}", field="input",
                            hint="write it as C,H,W, e.g. 3,224,224") from None
    if (not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 4
            or not all(is_int(v) for v in value)):
        raise SpecError(f"must be a list of 1 to 4 integers (channels, then spatial dims), "
                        f"got {value!r}", field="input")
    if any(v < 1 for v in value):
        raise SpecError(f"every size must be >= 1, got {list(value)}", field="input")
    if any(v > MAX_SIZE for v in value):
        raise SpecError(f"sizes above {MAX_SIZE:,} are beyond any real input", field="input")
    return tuple(int(v) for v in value)


def channels_last(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The channels-first shape of an input that looks channels-last: an image as images and
    Keras store it, [32, 32, 1] or [224, 224, 3] (a 1- or 3-channel last dim after spatial
    sizes of at least 8), or None."""
    if len(shape) >= 3 and shape[-1] in (1, 3) and min(shape[:-1]) >= 8:
        return (shape[-1], *shape[:-1])
    return None


def _condition(value: Any, env: Mapping[str, Any]) -> bool:
    """The value of an `if`: a boolean or a number, literally or from an expression."""
    result = _substitute_field(value, env, "if")
    if isinstance(result, (bool, int, float)) or result is None:
        return bool(result)
    raise SpecError(f"must be true/false or an expression like '${{i == 0}}', got {value!r}",
                    field="if", hint="wrap the condition in ${...}" if isinstance(value, str)
                    else "give true, false or an expression")


def _substitute_field(value: Any, env: Mapping[str, Any], field: str) -> Any:
    """Substitute variables, naming the field in any error."""
    try:
        return substitute(value, env)
    except CnnsizeError as e:
        e.field = e.field or field
        raise


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
