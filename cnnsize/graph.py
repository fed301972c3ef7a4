"""The one representation: a dataflow graph of ops in topological order.

Every op has a name (its row path in reports, and the name of the tensor it produces), a layer
kind, and the names of its input tensors: graph inputs or earlier ops. Containers, blocks,
`repeat` and `if` are spec sugar that spec.py lowers into this; merges (add, mul, cat) are
kinds like any other. Every feature walks `Graph.ops` in order.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import SpecError
from .layers import Kind, Shape
from .record import field, record, replace

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_INPUT = "input"


@record
class Op:
    """One step: `kind` applied to the tensors named in `inputs`, producing the tensor `name`."""

    name: str
    kind: Kind
    inputs: tuple[str, ...]
    shares: str | None = None  # an earlier op whose module (and weights) this op calls again
    scope: tuple[str, ...] = ()  # the containers it was written in, outermost first
    trainable: bool = True     # False: its parameters are frozen (requires_grad=False)

    @property
    def depth(self) -> int:
        """How deep it is nested: the number of containers around it."""
        return len(self.scope)


@record
class Scope:
    """A container as written (sequential, residual, concat, a block, an imported module): the
    ops whose `scope` holds its path are its members, one contiguous run of `Graph.ops`."""

    path: str
    type: str     # "sequential", "residual", "concat", the block's name, or the given label
    output: str   # the tensor it stands for
    parent: str | None = None


@record
class Uncalled:
    """A module of an imported model that its forward never calls: counted apart."""

    path: str
    params: int
    buffers: int = 0
    frozen: int = 0  # of its params, those that do not require gradients


@record
class Graph:
    """A network: named inputs (shape of one example each), ops in topological order, outputs."""

    name: str
    inputs: tuple[tuple[str, Shape], ...]
    ops: tuple[Op, ...]
    outputs: tuple[str, ...]
    source: str = "<dict>"
    meta: Mapping[str, Any] = field(default_factory=dict)
    uncalled: tuple[Uncalled, ...] = ()
    scopes: tuple[Scope, ...] = ()  # the containers, parents before their members

    @property
    def input_shape(self) -> Shape:
        """The shape of the first (usually the only) input."""
        return self.inputs[0][1]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)

    def with_input(self, input_shape: Shape) -> Graph:
        """The same graph with another shape for its first input."""
        first, *rest = self.inputs
        return replace(self, inputs=((first[0], tuple(input_shape)), *rest))

    def with_inputs(self, shapes: Mapping[str, Shape]) -> Graph:
        unknown = [name for name in shapes if name not in self.input_names]
        if unknown:
            raise SpecError(f"the network has no input {unknown[0]!r}", field="input",
                            hint=f"its inputs: {', '.join(self.input_names)}")
        return replace(self, inputs=tuple((name, tuple(shapes.get(name, shape)))
                                          for name, shape in self.inputs))

    def op(self, name: str) -> Op | None:
        for op in self.ops:
            if op.name == name:
                return op
        return None

    def per_pass(self) -> frozenset[str]:
        """The ops computed from the model's own tensors alone (a `state` source, and every op
        all of whose inputs are such ops): run once per forward pass, not per example
        (docs/conventions.md, "Once per forward pass")."""
        once: set[str] = set()
        for op in self.ops:
            if all(name in once for name in op.inputs):  # (a source has no inputs)
                once.add(op.name)
        return frozenset(once)

    def last_uses(self) -> dict[str, int]:
        """For each tensor, the index of the last op that reads it (outputs: len(ops))."""
        last: dict[str, int] = {}
        for index, op in enumerate(self.ops):
            for name in op.inputs:
                last[name] = index
        for name in self.outputs:
            last[name] = len(self.ops)
        return last


def check(graph: Graph) -> Graph:
    """Names unique, every input defined before it is read, outputs defined; else SpecError."""
    defined = set(graph.input_names)
    if len(defined) != len(graph.inputs):
        raise SpecError("two inputs have the same name", field="input")
    for op in graph.ops:
        for name in op.inputs:
            if name not in defined:
                raise SpecError(f"input {name!r} is not defined before this layer", path=op.name,
                                kind=op.kind.type_name, field="inputs")
        if op.name in defined:
            raise SpecError("two layers (or a layer and an input) have this name", path=op.name,
                            field="name")
        defined.add(op.name)
    for name in graph.outputs:
        if name not in defined:
            raise SpecError(f"output {name!r} is not a layer or an input", field="outputs")
    return graph


Network = Graph  # the name the public API has used for a parsed spec

__all__ = ["DEFAULT_INPUT", "Graph", "Network", "Op", "Scope", "Uncalled", "check"]
