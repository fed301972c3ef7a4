"""Data movement: reshape/view, unflatten, permute, transpose, squeeze/unsqueeze, expand, channel
shuffle, contiguous, roll, and the pieces of a tensor (slice, select, chunk, split, tensor
split).

No parameters, no MACs, no FLOPs: every output element is a copy of one input element, so its
receptive field is that element's (the spatial dims move with their axes: `Cost.moves`).
torch.utils.flop_counter counts 0 for all of them; fvcore ignores the views and reports
aten::channel_shuffle as unsupported (0).

Memory (docs/conventions.md, "Views and copies"): permute, transpose, squeeze, unsqueeze,
expand and the pieces are always views of their input (no new storage); reshape, view, flatten
and unflatten are views where PyTorch's view rule (computeStride) finds strides for the input
as it is laid out, else reshape copies (after a transpose or permute: analyze.py follows the
strides); contiguous copies only a tensor that is not contiguous; channel shuffle and roll
always copy.

Dims count the batch dim as 0, as in PyTorch; an op that would move the batch dim (permute's
dims[0] != 0, a reshape that merges it, a piece of dim 0) is refused (`cnnsize import` reads a
reshape that folds windows into the batch dim as a per-example one, and a kind's dims on such a
tensor through `Kind.on_windows`: verify/importer.py). A graph op makes one
tensor: `chunk`, `split` and `unbind` are one op per piece, chosen by `index` (not PyTorch's
argument: `x1, x2 = x.chunk(2, dim=1)` is two rows, index 0 and 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise

from ..errors import ShapeError, SpecError
from .base import (
    Cost,
    Kind,
    Moves,
    Shape,
    Storage,
    arg,
    fmt_shape,
    is_int,
    kind_class,
    register,
    to_int,
    to_optional,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar

# ---------------------------------------------------------------- arguments and dims


def to_sizes(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    """A shape per example: an integer or a list of integers >= 1, one of them may be -1."""
    items = [value] if is_int(value) else value
    if not isinstance(items, (list, tuple)) or not items or not all(is_int(v) for v in items):
        raise SpecError(f"expected a list of integers (sizes per example, no batch dim), got "
                        f"{value!r}")
    if any(v < -1 or v == 0 for v in items) or sum(v == -1 for v in items) > 1:
        raise SpecError(f"sizes must be >= 1, with at most one -1 (inferred), got {value!r}")
    return tuple(int(v) for v in items)


def to_dims(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    """A dim or a list of dims (PyTorch's: the batch dim is 0, negative from the end)."""
    items = [value] if is_int(value) else value
    if not isinstance(items, (list, tuple)) or not items or not all(is_int(v) for v in items):
        raise SpecError(f"expected a dim or a list of dims (integers), got {value!r}")
    return tuple(int(v) for v in items)


def to_optional_dims(value: Any, cls: type[Kind], name: str) -> tuple[int, ...] | None:
    return None if value is None else to_dims(value, cls, name)


def to_split(value: Any, cls: type[Kind], name: str) -> int | tuple[int, ...]:
    if is_int(value) and value >= 1:
        return int(value)
    if isinstance(value, (list, tuple)) and value and all(is_int(v) and v >= 0 for v in value):
        return tuple(int(v) for v in value)
    raise SpecError(f"expected a piece size >= 1 or a list of sizes, got {value!r}")


def axis(dim: int, rank: int, type_name: str, field: str = "dim", extra: int = 0) -> int:
    """A PyTorch dim (batch = 0, negative from the end) of an input of per-example rank `rank`
    (`extra`: dims the output adds, as unsqueeze's) as a per-example axis; the batch is refused."""
    full = rank + 1 + extra
    if not -full <= dim < full:
        raise ShapeError(f"dim {dim} is out of range for an input N×… of rank {rank + 1}"
                         + (f" (+{extra} new)" if extra else ""), field=field,
                         hint=f"{type_name} takes PyTorch's dims: 0 is the batch, 1 channels, "
                              f"-1 the last")
    if dim % full == 0:
        raise ShapeError(f"dim {dim} is the batch dim", field=field,
                         hint=f"{type_name} works on one example at a time: dims count the batch "
                              "as 0, as in PyTorch, so dim 1 is channels")
    return dim % full - 1


def full_shape(shape: Shape) -> str:
    return f"N×{fmt_shape(shape)}" if shape else "N"


def reshape_moves(old: Shape, new: Shape) -> Moves:
    """For each axis of `new`, the axes of `old` it is made of: the smallest runs of axes whose
    sizes have equal products (a merge, a split, or a regrouping); size-1 axes apart."""
    out: list[tuple[int, ...]] = []
    i = j = 0
    while i < len(old) or j < len(new):
        if j < len(new) and new[j] == 1 and (i >= len(old) or old[i] != 1):
            out.append(())
            j += 1
        elif i < len(old) and old[i] == 1 and (j >= len(new) or new[j] != 1):
            i += 1
        elif i < len(old) and j < len(new) and old[i] == new[j] == 1:
            out.append((i,))
            i, j = i + 1, j + 1
        else:
            run, made = [i], 1
            a, b = old[i], new[j]
            i, j = i + 1, j + 1
            while a != b:
                if a < b:
                    a *= old[i]
                    run.append(i)
                    i += 1
                else:
                    b *= new[j]
                    made += 1
                    j += 1
            out.extend([tuple(run)] * made)
    return Moves(tuple(out))


VIEW = "a view of the input: no new memory"
MAYBE_VIEW = ("a view of the input where its strides allow it (no new memory); after a "
              "transpose or permute, a copy")


@kind_class(frozen=True)
class _Move(Kind):
    """A data-movement op: one input, its elements placed elsewhere."""

    family = "reshape"
    storage: ClassVar[Storage] = "view"

    def args(self) -> dict[str, Any]:
        # sizes and dims stay lists: [4, 4] is a shape, not 4
        out = super().args()
        for key in out:
            value = getattr(self, key)
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    def moved(self, shape: Shape, out: Shape, axes: Sequence[tuple[int, ...]],
              what: str, steps: tuple[int, ...] = ()) -> Cost:
        note = VIEW if self.storage == "view" else MAYBE_VIEW if self.storage == "reshape" else (
            "a copy (no arithmetic)" if self.storage == "new" else
            "the input itself where it is contiguous, else a copy")
        return Cost(output_shape=out, storage=self.storage, moves=Moves(tuple(axes), steps),
                    explain=(f"output = {what}: {fmt_shape(shape)} → {fmt_shape(out)} ({note})",
                             "no MACs, no FLOPs"))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Function(self.type_name, _call, {"op": self.type_name, **self.call_args()})

    def call_args(self) -> dict[str, Any]:
        """What _call needs to run this op on a batch."""
        return {k: getattr(self, k) for k in self.arg_names()}


def _call(x: Any, op: str, **args: Any) -> Any:
    """The PyTorch call each kind stands for, on a batch x (the build's module)."""
    import torch

    if op == "reshape":
        return x.reshape(x.shape[0], *args["shape"])
    if op == "unflatten":
        return torch.unflatten(x, args["dim"], args["unflattened_size"])
    if op == "permute":
        return x.permute(*args["dims"])
    if op == "transpose":
        return x.transpose(args["dim0"], args["dim1"])
    if op == "squeeze":
        dims = args["dim"]
        if dims is None:  # every size-1 dim of an example (PyTorch would squeeze a batch of 1)
            dims = tuple(d for d in range(1, x.dim()) if x.shape[d] == 1)
        return x.squeeze(dims) if dims else x.view(x.shape)
    if op == "unsqueeze":
        return x.unsqueeze(args["dim"])
    if op == "expand":
        return x.expand(x.shape[0], *args["size"])
    if op == "contiguous":
        return x.contiguous()
    if op == "roll":
        return torch.roll(x, list(args["shifts"]), list(args["dims"]))
    if op == "slice":
        index = [slice(None)] * (args["dim"] % x.dim()) + [
            slice(args["start"], args["end"], args["step"])]
        return x[tuple(index)]
    if op == "select":
        return x.select(args["dim"], args["index"])
    if op == "chunk":
        return x.chunk(args["chunks"], args["dim"])[args["index"]]
    if op == "split":
        size = args["split_size_or_sections"]
        return x.split(list(size) if isinstance(size, tuple) else size, args["dim"])[args["index"]]
    if op == "tensorsplit":
        cut = args["indices_or_sections"]
        return torch.tensor_split(x, list(cut) if isinstance(cut, tuple) else cut,
                                  args["dim"])[args["index"]]
    raise ValueError(op)


def _batch_first(sizes: Sequence[Any], in_shapes: Sequence[Shape], out_shape: Shape,
                 what: str) -> list[int]:
    """The per-example part of a call's sizes (x.view(n, ...), x.expand(n, ...)): the first
    entry must keep the batch (its size, or -1 that resolves to it)."""
    batch = in_shapes[0][0]
    if not sizes or not all(is_int(s) for s in sizes):
        raise SpecError(f"{what} with sizes {list(sizes)!r}: cnnsize reads integer sizes")
    if sizes[0] not in (batch, -1) or not out_shape or out_shape[0] != batch or len(sizes) < 2:
        raise SpecError(f"{what}{tuple(sizes)} of an input {list(in_shapes[0])} moves elements "
                        "between the batch dim and the others, which a per-example count cannot "
                        "follow (keep the batch dim first: x.view(x.size(0), ...))")
    return [int(s) for s in sizes[1:]]


def _sizes_of(positional: Sequence[Any], keywords: Mapping[str, Any], *names: str) -> list[Any]:
    """x.view(2, 3), x.view((2, 3)), x.view(size=(2, 3)): the sizes as one list."""
    if len(positional) == 1 and isinstance(positional[0], (list, tuple)):
        return list(positional[0])
    if positional:
        return list(positional)
    for name in names:
        if name in keywords:
            value = keywords[name]
            return list(value) if isinstance(value, (list, tuple)) else [value]
    return []


# ---------------------------------------------------------------- reshapes


@register
@kind_class(frozen=True)
class Reshape(_Move):
    """x.reshape(N, *shape), x.view(N, *shape): the same elements in another shape."""

    shape: tuple[int, ...] = arg(convert=to_sizes)

    type_name, torch_name, storage = "reshape", "", "reshape"
    functions = ("reshape", "view")
    origin = "`torch.reshape`, `x.view` (`shape` per example, without the batch dim)"
    examples = (({"shape": [4, 2, 5, 5]}, (8, 5, 5)), ({"shape": [-1]}, (3, 4, 5)),
                ({"shape": [6, -1]}, (2, 3, 4)), ({"shape": [2, 1, 6]}, (12,)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        if any(k not in ("shape", "size") for k in keywords) or (
                positional and not all(is_int(s) for s in _sizes_of(positional, {}))):
            return None  # x.view(dtype): a reinterpretation, not a reshape
        sizes = _batch_first(_sizes_of(positional, keywords, "shape", "size"), in_shapes,
                             out_shape, "reshape")
        return {"shape": sizes}

    def analyze_one(self, shape: Shape) -> Cost:
        total = math.prod(shape)
        known = math.prod(s for s in self.shape if s != -1)
        if -1 in self.shape:
            if total % known:
                raise ShapeError(
                    f"cannot reshape {fmt_shape(shape)} ({total:,} elements) to "
                    f"{fmt_shape(self.shape)}: {total:,} is not a multiple of {known:,}",
                    field="shape", hint="-1 takes what is left: the other sizes must divide "
                                        "the number of elements")
            out = tuple(total // known if s == -1 else s for s in self.shape)
        else:
            out = self.shape
            if known != total:
                raise ShapeError(
                    f"cannot reshape {fmt_shape(shape)} ({total:,} elements) to "
                    f"{fmt_shape(out)} ({known:,} elements)", field="shape",
                    hint="a reshape keeps every element: the products must be equal (use -1 for "
                         "one size to have it inferred); shape is per example, without the batch")
        return self.moved(shape, out, reshape_moves(shape, out).axes, "reshaped")


@register
@kind_class(frozen=True)
class Unflatten(_Move):
    """nn.Unflatten(dim, unflattened_size): one dim split into several."""

    dim: int = arg(convert=to_int())
    unflattened_size: tuple[int, ...] = arg(convert=to_sizes)

    type_name, torch_name, storage = "unflatten", "Unflatten", "reshape"
    window_dims = ("dim",)
    functions, function_args = ("unflatten",), ("dim", "sizes")
    examples = (({"dim": 1, "unflattened_size": [2, 4]}, (8, 3)),
                ({"dim": -1, "unflattened_size": [5, -1]}, (3, 10)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        raw = dict(zip(cls.function_args, positional))
        raw.update(keywords)
        if set(raw) - {"dim", "sizes"}:
            return None
        return {"dim": raw.get("dim"), "unflattened_size": list(raw.get("sizes", ()))}

    def analyze_one(self, shape: Shape) -> Cost:
        a = axis(self.dim, len(shape), self.type_name)
        size = shape[a]
        known = math.prod(s for s in self.unflattened_size if s != -1)
        parts = tuple(size // known if s == -1 else s for s in self.unflattened_size)
        if math.prod(parts) != size or (-1 in self.unflattened_size and size % known):
            raise ShapeError(f"cannot unflatten dim {self.dim} of {full_shape(shape)} (size "
                             f"{size:,}) into {fmt_shape(self.unflattened_size)}",
                             field="unflattened_size",
                             hint=f"the sizes must multiply to {size:,}")
        out = (*shape[:a], *parts, *shape[a + 1:])
        return self.moved(shape, out, reshape_moves(shape, out).axes, f"dim {self.dim} unflattened")


# ---------------------------------------------------------------- axis moves (always views)


@register
@kind_class(frozen=True)
class Permute(_Move):
    """x.permute(dims): the axes reordered; dims[0] must be 0 (the batch stays first)."""

    dims: tuple[int, ...] = arg(convert=to_dims)

    type_name, torch_name = "permute", ""
    functions = ("permute",)
    origin = "`torch.permute`, `x.permute` (torchvision's `ops.Permute`)"
    examples = (({"dims": [0, 2, 3, 1]}, (3, 4, 5)), ({"dims": [0, 3, 1, 2]}, (4, 5, 3)),
                ({"dims": [0, 1, 3, 2, 4]}, (2, 3, 4, 5)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        dims = _sizes_of(positional, keywords, "dims")
        return {"dims": dims} if dims and set(keywords) <= {"dims"} else None

    @classmethod
    def on_windows(cls, args: Mapping[str, Any], windows: int, at: int = 0) -> dict[str, Any]:
        """permute(0, a, b, …) of a tensor whose dim 0 is the batch times the windows is, per
        example, permute(0, 1, a + 1, b + 1, …): the windows stay at dim 1; where they are at
        dim `at` > 0, permute(a, b, …) is permute(0, a + 1, b + 1, …) (the windows go where
        `at` goes)."""
        dims = list(args["dims"])
        rank = len(dims)
        if not all(is_int(d) and -rank <= d < rank for d in dims) or (
                at == 0 and dims[0] % rank != 0):
            return Kind.on_windows(args, windows, at)  # (refused by the kind, or as dim 0)
        if at:
            return {**args, "dims": [0] + [d % rank + 1 for d in dims]}
        return {**args, "dims": [0, 1] + [d % rank + 1 for d in dims[1:]]}

    def analyze_one(self, shape: Shape) -> Cost:
        rank = len(shape) + 1
        if len(self.dims) != rank:
            raise ShapeError(f"dims {list(self.dims)} has {len(self.dims)} entries but the input "
                             f"{full_shape(shape)} has {rank} dims", field="dims",
                             hint="permute lists every dim, the batch dim (0) first")
        norm = [d % rank if -rank <= d < rank else None for d in self.dims]
        if sorted(n for n in norm if n is not None) != list(range(rank)) or None in norm:
            raise ShapeError(f"dims {list(self.dims)} is not an order of the dims 0..{rank - 1}",
                             field="dims", hint="each dim once, negative ones from the end")
        if norm[0] != 0:
            raise ShapeError(f"dims {list(self.dims)} moves the batch dim (0) away from the front",
                             field="dims", hint="cnnsize counts one example: keep dims[0] = 0")
        axes = [(d - 1,) for d in norm[1:] if d is not None]
        out = tuple(shape[a] for (a,) in axes)
        return self.moved(shape, out, axes, f"dims permuted to {list(self.dims)}")


@register
@kind_class(frozen=True)
class Transpose(_Move):
    """x.transpose(dim0, dim1): two axes swapped."""

    dim0: int = arg(convert=to_int())
    dim1: int = arg(convert=to_int())

    type_name, torch_name = "transpose", ""
    window_dims = ("dim0", "dim1")
    functions, function_args = ("transpose", "swapaxes", "swapdims"), ("dim0", "dim1")
    origin = "`torch.transpose`, `x.transpose`"
    examples = (({"dim0": 1, "dim1": 2}, (2, 3, 4, 5)), ({"dim0": -1, "dim1": -2}, (3, 4)))

    @classmethod
    def on_windows(cls, args: Mapping[str, Any], windows: int, at: int = 0) -> dict[str, Any]:
        """Where the windows are at dim `at` > 0, a transpose may move that dim (the windows
        go with it): every dim moves up one per example. At dim 0, see Kind.on_windows."""
        if not at:
            return super().on_windows(args, windows)
        return {k: v + 1 if is_int(v) and v >= 0 else v for k, v in args.items()}

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        names = {"axis0": "dim0", "axis1": "dim1"}  # swapaxes' names
        return super().from_call(positional, {names.get(k, k): v for k, v in keywords.items()},
                                 in_shapes, out_shape)

    def analyze_one(self, shape: Shape) -> Cost:
        a = axis(self.dim0, len(shape), self.type_name, "dim0")
        b = axis(self.dim1, len(shape), self.type_name, "dim1")
        order = list(range(len(shape)))
        order[a], order[b] = order[b], order[a]
        out = tuple(shape[i] for i in order)
        return self.moved(shape, out, [(i,) for i in order],
                          f"dims {self.dim0} and {self.dim1} swapped")


@register
@kind_class(frozen=True)
class Squeeze(_Move):
    """x.squeeze(dim): size-1 dims removed (a dim of another size stays, as in PyTorch); no dim:
    every size-1 dim of an example (PyTorch would also squeeze a batch of 1)."""

    dim: tuple[int, ...] | None = arg(None, to_optional_dims)

    type_name, torch_name = "squeeze", ""
    window_dims = ("dim",)
    functions, function_args = ("squeeze",), ("dim",)
    origin = "`torch.squeeze`, `x.squeeze`"
    examples = (({"dim": -1}, (3, 4, 1)), ({}, (3, 1, 4, 1)), ({"dim": [2, 3]}, (3, 1, 1)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        args = super().from_call(positional, keywords, in_shapes, out_shape)
        if args is not None and args.get("dim") is None and in_shapes[0][0] == 1:
            raise SpecError("squeeze() without a dim also removes a batch of 1: give the dims "
                            "it squeezes (x.squeeze(-1), x.flatten(1))")
        if args is not None and isinstance(args.get("dim"), tuple):
            args["dim"] = list(args["dim"])
        return args

    def analyze_one(self, shape: Shape) -> Cost:
        if self.dim is None:
            gone = {a for a, s in enumerate(shape) if s == 1}
        else:
            gone = {a for d in self.dim if shape[a := axis(d, len(shape), self.type_name)] == 1}
        axes = [(a,) for a in range(len(shape)) if a not in gone]
        out = tuple(shape[a] for (a,) in axes)
        return self.moved(shape, out, axes, "size-1 dims removed" if gone else
                          "nothing to squeeze (no size-1 dim there)")


@register
@kind_class(frozen=True)
class Unsqueeze(_Move):
    """x.unsqueeze(dim): a size-1 dim inserted at `dim` (of the output)."""

    dim: int = arg(convert=to_int())

    type_name, torch_name = "unsqueeze", ""
    window_dims = ("dim",)
    functions, function_args = ("unsqueeze",), ("dim",)
    origin = "`torch.unsqueeze`, `x.unsqueeze`, `x[:, None]`"
    examples = (({"dim": 1}, (3, 4)), ({"dim": -1}, (3, 4, 5)))

    def analyze_one(self, shape: Shape) -> Cost:
        a = axis(self.dim, len(shape), self.type_name, extra=1)
        axes: list[tuple[int, ...]] = [(i,) for i in range(len(shape))]
        axes.insert(a, ())
        out = (*shape[:a], 1, *shape[a:])
        return self.moved(shape, out, axes, f"a size-1 dim inserted at {self.dim}")


@register
@kind_class(frozen=True)
class Expand(_Move):
    """x.expand(N, *size): size-1 dims repeated (-1 keeps a size), as a view with stride 0."""

    size: tuple[int, ...] = arg(convert=to_sizes)

    type_name, torch_name = "expand", ""
    functions = ("expand", "broadcast_to")
    origin = "`x.expand`, `torch.broadcast_to` (`size` per example)"
    examples = (({"size": [4, 5, 5]}, (1, 5, 5)), ({"size": [3, -1, 6]}, (3, 2, 1)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        if set(keywords) - {"size", "shape", "implicit"}:
            return None
        sizes = _sizes_of(positional, keywords, "size", "shape")
        if len(sizes) != len(in_shapes[0]):
            raise SpecError(f"expand to {len(sizes)} dims of an input of {len(in_shapes[0])}: "
                            "new leading dims would come before the batch dim")
        return {"size": _batch_first(sizes, in_shapes, out_shape, "expand")}

    @classmethod
    def on_windows(cls, args: Mapping[str, Any], windows: int, at: int = 0) -> dict[str, Any]:
        """expand(N·k, …) of a tensor whose dim 0 is the batch times k windows keeps the
        windows (-1) per example."""
        if at:
            raise SpecError(f"expand of a tensor whose dim {at} holds the batch times {windows} "
                            "windows: a count per example cannot follow that")
        return {**args, "size": [-1, *args["size"]]}

    def analyze_one(self, shape: Shape) -> Cost:
        if len(self.size) != len(shape):
            raise ShapeError(f"size {list(self.size)} has {len(self.size)} entries but the input "
                             f"{fmt_shape(shape)} has {len(shape)} dims per example", field="size",
                             hint="one size per dim, without the batch dim (-1 keeps a size)")
        out = []
        for have, want in zip(shape, self.size):
            if want != -1 and have not in (1, want):
                raise ShapeError(f"cannot expand {fmt_shape(shape)} to {fmt_shape(self.size)}: "
                                 f"a dim of size {have} can only become {have} (or keep -1)",
                                 field="size", hint="expand repeats size-1 dims only")
            out.append(have if want == -1 else want)
        return self.moved(shape, tuple(out), [(a,) for a in range(len(shape))],
                          "size-1 dims repeated (stride 0)")


@register
@kind_class(frozen=True)
class ChannelShuffle(_Move):
    """nn.ChannelShuffle(groups): channels g·k reordered to k·g (ShuffleNet); a copy."""

    groups: int = arg(convert=to_int(1))

    type_name, torch_name, storage = "channelshuffle", "ChannelShuffle", "new"
    functions, function_args = ("channel_shuffle", "native_channel_shuffle"), ("groups",)
    examples = (({"groups": 2}, (4, 3, 3)), ({"groups": 3}, (6, 2, 2)))

    def torch_module(self, shape: Shape) -> Any:
        return Kind.torch_module(self, shape)

    def analyze_one(self, shape: Shape) -> Cost:
        c = shape[0]
        if c % self.groups:
            raise ShapeError(f"{c} channels do not split into {self.groups} groups",
                             field="groups", hint=f"groups must divide the channels ({c})")
        return self.moved(shape, shape, [(a,) for a in range(len(shape))],
                          f"channels regrouped: C = g·(C/g) = {self.groups}·{c // self.groups} "
                          "read as (C/g)·g")


@register
@kind_class(frozen=True)
class Contiguous(_Move):
    """x.contiguous(): the input itself where it is contiguous, else a contiguous copy."""

    type_name, torch_name, storage = "contiguous", "", "contiguous"
    window_dims = ()
    functions = ("contiguous",)
    origin = "`x.contiguous()`"
    examples = (({}, (3, 4, 5)),)

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        import torch

        if positional or any(v is not torch.contiguous_format for v in keywords.values()):
            raise SpecError("contiguous(memory_format=...): cnnsize follows the default "
                            "(contiguous) layout only")
        return {}

    def analyze_one(self, shape: Shape) -> Cost:
        return self.moved(shape, shape, [(a,) for a in range(len(shape))], "laid out contiguously")


def to_shifts(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    items = [value] if is_int(value) else value
    if not isinstance(items, (list, tuple)) or not items or not all(is_int(v) for v in items):
        raise SpecError(f"expected a shift or a list of shifts (integers), got {value!r}")
    return tuple(int(v) for v in items)


@register
@kind_class(frozen=True)
class Roll(_Move):
    """torch.roll(x, shifts, dims): the elements shifted cyclically along each of `dims` by its
    shift (Swin's shifted windows); a copy."""

    shifts: tuple[int, ...] = arg(convert=to_shifts)
    dims: tuple[int, ...] = arg(convert=to_dims)

    type_name, torch_name, storage = "roll", "", "new"
    functions, function_args = ("roll",), ("shifts", "dims")
    window_dims = ("dims",)
    origin = "`torch.roll` (with `dims`: one shift per dim)"
    examples = (({"shifts": [-3, -3], "dims": [1, 2]}, (8, 8, 4)), ({"shifts": 2, "dims": -1}, (3, 5)),
                ({"shifts": [1, 2, 3], "dims": [1, 2, 3]}, (4, 5, 6, 2)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        args = super().from_call(positional, keywords, in_shapes, out_shape)
        if args is not None and args.get("dims") is None:
            raise SpecError("torch.roll without dims rolls the flattened tensor, the batch dim "
                            "included, which a count per example cannot follow: give the dims")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in (args or {}).items()}

    def validate(self) -> None:
        if len(self.shifts) != len(self.dims):
            raise SpecError(f"roll takes one shift per dim: {len(self.shifts)} shifts "
                            f"{list(self.shifts)} for {len(self.dims)} dims {list(self.dims)}",
                            field="shifts", hint="list a shift for each dim in dims")

    def analyze_one(self, shape: Shape) -> Cost:
        axes = [axis(d, len(shape), self.type_name, "dims") for d in self.dims]
        moved = ", ".join(f"{s:+d} along dim {d} (size {shape[a]})"
                          for s, d, a in zip(self.shifts, self.dims, axes))
        return self.moved(shape, shape, [(a,) for a in range(len(shape))],
                          f"the elements shifted cyclically by {moved}")


# ---------------------------------------------------------------- pieces (always views)


def _piece(kind: _Move, shape: Shape, a: int, start: int, length: int, what: str,
           step: int = 1) -> Cost:
    if length <= 0:
        raise ShapeError(f"{what} is empty: that dim of {full_shape(shape)} has size {shape[a]}",
                         field="dim")
    out = (*shape[:a], length, *shape[a + 1:])
    steps = tuple(step if i == a else 1 for i in range(len(shape))) if step != 1 else ()
    return kind.moved(shape, out, [(i,) for i in range(len(shape))], what, steps)


@register
@kind_class(frozen=True)
class Slice(_Move):
    """x[:, start:end:step] along one dim, torch.narrow: Python's slice rules (negative and
    out-of-range bounds clamp)."""

    dim: int = arg(1, to_int())
    start: int | None = arg(None, to_optional(to_int()))
    end: int | None = arg(None, to_optional(to_int()))
    step: int = arg(1, to_int(1))

    type_name, torch_name = "slice", ""
    window_dims = ("dim",)
    functions = ("narrow",)
    origin = "`x[:, start:end:step]`, `torch.narrow`"
    examples = (({"end": 2}, (4, 3, 3)), ({"dim": 2, "start": 1, "end": -1}, (2, 5, 5)),
                ({"dim": -1, "step": 2}, (3, 4, 7)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """torch.narrow(x, dim, start, length)."""
        raw = dict(zip(("dim", "start", "length"), positional))
        raw.update(keywords)
        if set(raw) != {"dim", "start", "length"} or not all(is_int(v) for v in raw.values()):
            return None
        rank = len(in_shapes[0])
        start = raw["start"] % in_shapes[0][raw["dim"] % rank] if raw["start"] < 0 else raw["start"]
        return {"dim": raw["dim"], "start": start, "end": start + raw["length"]}

    def analyze_one(self, shape: Shape) -> Cost:
        a = axis(self.dim, len(shape), self.type_name)
        start, end, step = slice(self.start, self.end, self.step).indices(shape[a])
        length = len(range(start, end, step))
        what = (f"[{'' if self.start is None else self.start}:{'' if self.end is None else self.end}"
                f"{'' if self.step == 1 else f':{self.step}'}] of dim {self.dim}")
        return _piece(self, shape, a, start, length, f"the slice {what}", self.step)


@register
@kind_class(frozen=True)
class Select(_Move):
    """x[:, index] along one dim, torch.select; the dim goes (unbind: one row per index)."""

    dim: int = arg(1, to_int())
    index: int = arg(0, to_int())

    type_name, torch_name = "select", ""
    window_dims = ("dim",)
    functions, function_args = ("select", "unbind"), ("dim", "index")
    origin = "`x[:, index]`, `torch.select`, `torch.unbind` (one row per `index`)"
    examples = (({"index": 1}, (3, 4, 4)), ({"dim": -1, "index": -1}, (2, 5)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        args = super().from_call(positional, keywords, in_shapes, out_shape)
        if args is not None:
            args.setdefault("dim", 0)  # torch's default for unbind: the batch, refused
        return args

    def analyze_one(self, shape: Shape) -> Cost:
        a = axis(self.dim, len(shape), self.type_name)
        if not -shape[a] <= self.index < shape[a]:
            raise ShapeError(f"index {self.index} is out of range for dim {self.dim} of "
                             f"{full_shape(shape)} (size {shape[a]})", field="index")
        axes = [(i,) for i in range(len(shape)) if i != a]
        return self.moved(shape, tuple(shape[i] for (i,) in axes), axes,
                          f"index {self.index} of dim {self.dim}")


@kind_class(frozen=True)
class _Pieces(_Move):
    """One of the pieces torch.chunk or torch.split cut a tensor into along `dim`."""

    function_args: ClassVar[tuple[str, ...]] = ()
    window_dims = ("dim",)

    def pieces(self, size: int) -> list[tuple[int, int]]:
        """(start, length) of every piece of a dim of this size."""
        raise NotImplementedError

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        args = super().from_call(positional, keywords, in_shapes, out_shape)
        if args is not None:
            args.setdefault("dim", 0)  # torch's default: the batch, refused
        return args

    def analyze_one(self, shape: Shape) -> Cost:
        dim: int = getattr(self, "dim")  # noqa: B009 (a field of every subclass)
        index: int = getattr(self, "index")  # noqa: B009
        a = axis(dim, len(shape), self.type_name)
        pieces = self.pieces(shape[a])
        if not -len(pieces) <= index < len(pieces):
            raise ShapeError(f"index {index} is out of range: dim {dim} of {full_shape(shape)} "
                             f"(size {shape[a]}) makes {len(pieces)} piece"
                             f"{'s' if len(pieces) != 1 else ''} "
                             f"({', '.join(str(n) for _, n in pieces)})", field="index")
        start, length = pieces[index]
        return _piece(self, shape, a, start, length,
                      f"piece {index} of {len(pieces)} of dim {dim} (elements {start}.."
                      f"{start + length - 1})")


@register
@kind_class(frozen=True)
class Chunk(_Pieces):
    """torch.chunk(x, chunks, dim)[index]: pieces of ceil(size / chunks), the last smaller."""

    chunks: int = arg(convert=to_int(1))
    dim: int = arg(1, to_int())
    index: int = arg(0, to_int())

    type_name, torch_name = "chunk", ""
    functions, function_args = ("chunk",), ("chunks", "dim")
    origin = "`torch.chunk`, `x.chunk` (one row per piece)"
    spec_only = frozenset({"index"})
    examples = (({"chunks": 2}, (6, 3, 3)), ({"chunks": 3, "index": 2}, (7, 2)),
                ({"chunks": 2, "dim": -1, "index": 1}, (2, 3, 5)))

    def pieces(self, size: int) -> list[tuple[int, int]]:
        step = -(-size // self.chunks)
        return [(s, min(step, size - s)) for s in range(0, size, step)]


@register
@kind_class(frozen=True)
class Split(_Pieces):
    """torch.split(x, split_size_or_sections, dim)[index]: pieces of that size (the last
    smaller), or of the listed sizes (which must add up to the dim)."""

    split_size_or_sections: int | tuple[int, ...] = arg(convert=to_split)
    dim: int = arg(1, to_int())
    index: int = arg(0, to_int())

    type_name, torch_name = "split", ""
    functions, function_args = ("split", "split_with_sizes"), ("split_size_or_sections", "dim")
    origin = "`torch.split`, `x.split` (one row per piece)"
    spec_only = frozenset({"index"})
    examples = (({"split_size_or_sections": 2}, (5, 3, 3)),
                ({"split_size_or_sections": [1, 3, 2], "index": 1}, (6, 4)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        names = {"split_size": "split_size_or_sections", "split_sizes": "split_size_or_sections"}
        args = super().from_call(positional, {names.get(k, k): v for k, v in keywords.items()},
                                 in_shapes, out_shape)
        if args is not None and isinstance(args.get("split_size_or_sections"), tuple):
            args["split_size_or_sections"] = list(args["split_size_or_sections"])
        return args

    def pieces(self, size: int) -> list[tuple[int, int]]:
        sizes = self.split_size_or_sections
        if isinstance(sizes, int):
            return [(s, min(sizes, size - s)) for s in range(0, size, sizes)]
        if sum(sizes) != size:
            raise ShapeError(f"sections {list(sizes)} add up to {sum(sizes)}, but the dim has size "
                             f"{size}", field="split_size_or_sections",
                             hint="the listed sizes must add up to the dim's size")
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        return list(zip(starts, sizes))


def to_cuts(value: Any, cls: type[Kind], name: str) -> int | tuple[int, ...]:
    if is_int(value) and value >= 1:
        return int(value)
    if isinstance(value, (list, tuple)) and all(is_int(v) for v in value):
        return tuple(int(v) for v in value)
    raise SpecError(f"expected a number of pieces >= 1 or a list of indices, got {value!r}")


@register
@kind_class(frozen=True)
class TensorSplit(_Pieces):
    """torch.tensor_split(x, indices_or_sections, dim)[index]: n pieces whose sizes differ by at
    most one (the first size mod n one longer), or the pieces between the listed indices
    (Python's slice rules: x[:i0], x[i0:i1], …, x[ik:])."""

    indices_or_sections: int | tuple[int, ...] = arg(convert=to_cuts, sizes=True)
    dim: int = arg(1, to_int())
    index: int = arg(0, to_int())

    type_name, torch_name = "tensorsplit", ""
    functions, function_args = ("tensor_split",), ("indices_or_sections", "dim")
    origin = "`torch.tensor_split`, `x.tensor_split` (one row per piece)"
    spec_only = frozenset({"index"})
    examples = (({"indices_or_sections": [1], "dim": 2, "index": 1}, (2, 5, 4)),
                ({"indices_or_sections": 3, "index": 0}, (7, 2)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        names = {"indices": "indices_or_sections", "sections": "indices_or_sections",
                 "tensor_indices_or_sections": "indices_or_sections"}
        args = super().from_call(positional, {names.get(k, k): v for k, v in keywords.items()},
                                 in_shapes, out_shape)
        if args is not None and isinstance(args.get("indices_or_sections"), (tuple, list)):
            args["indices_or_sections"] = list(args["indices_or_sections"])
        return args

    def pieces(self, size: int) -> list[tuple[int, int]]:
        cut = self.indices_or_sections
        if isinstance(cut, int):
            base, extra = divmod(size, cut)
            lengths = [base + (i < extra) for i in range(cut)]
            return [(sum(lengths[:i]), n) for i, n in enumerate(lengths)]
        bounds = [0, *cut, size]
        spans = [slice(a, b).indices(size) for a, b in pairwise(bounds)]
        return [(start, max(0, stop - start)) for start, stop, _ in spans]


__all__ = ["ChannelShuffle", "Chunk", "Contiguous", "Expand", "Permute", "Reshape", "Roll",
           "Select", "Slice", "Split", "Squeeze", "TensorSplit", "Transpose", "Unflatten",
           "Unsqueeze", "axis", "reshape_moves", "to_dims"]
