"""Shape ops, reductions, learned tensors and stochastic depth: shapes, views and copies,
receptive fields, errors with their numbers, and imports of the code that uses them.

The torch side of each oracle is written here with torch calls (x.permute(...), x.reshape(...)),
not through cnnsize's modules."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnsize
from cnnsize.errors import CnnsizeError, ShapeError, SpecError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from cnnsize.verify.importer import from_module, module_to_spec  # noqa: E402


def net(layers, shape=(8, 6, 6), **conv):
    return cnnsize.analyze({"input": list(shape), "layers": layers},
                           conventions=cnnsize.Conventions(**conv) if conv else None)


def row(layer, shape):
    return net([layer], shape).layers[0]


# ---------------------------------------------------------------- shapes and their errors


@pytest.mark.parametrize(("layer", "shape", "out"), [
    ({"type": "reshape", "shape": [2, 4, 36]}, (8, 6, 6), (2, 4, 36)),
    ({"type": "reshape", "shape": [-1]}, (8, 6, 6), (288,)),                  # 8·6·6 = 288
    ({"type": "unflatten", "dim": 1, "unflattened_size": [2, -1]}, (8, 6, 6), (2, 4, 6, 6)),
    ({"type": "permute", "dims": [0, 2, 3, 1]}, (8, 6, 5), (6, 5, 8)),
    ({"type": "transpose", "dim0": 1, "dim1": -1}, (8, 6, 5), (5, 6, 8)),
    ({"type": "squeeze"}, (8, 1, 5, 1), (8, 5)),
    ({"type": "squeeze", "dim": 1}, (8, 6, 5), (8, 6, 5)),                    # not size 1: stays
    ({"type": "unsqueeze", "dim": -1}, (8, 6), (8, 6, 1)),
    ({"type": "expand", "size": [8, 6, -1]}, (8, 1, 5), (8, 6, 5)),
    ({"type": "channelshuffle", "groups": 4}, (8, 6, 6), (8, 6, 6)),
    ({"type": "slice", "dim": 2, "start": 1, "end": -1}, (8, 6, 6), (8, 4, 6)),
    ({"type": "slice", "dim": 3, "step": 4}, (8, 6, 7), (8, 6, 2)),            # 0, 4
    ({"type": "select", "dim": 1, "index": -1}, (8, 6, 6), (6, 6)),
    ({"type": "chunk", "chunks": 3, "index": 2}, (8, 6, 6), (2, 6, 6)),       # 3, 3, 2
    ({"type": "split", "split_size_or_sections": [5, 3], "index": 1}, (8, 6, 6), (3, 6, 6)),
    ({"type": "mean", "dim": [2, 3]}, (8, 6, 6), (8,)),
    ({"type": "sum", "dim": 1, "keepdim": True}, (8, 6, 6), (1, 6, 6)),
    ({"type": "amax", "dim": -1}, (8, 6, 6), (8, 6)),
    ({"type": "scale", "shape": [8, 1, 1]}, (8, 6, 6), (8, 6, 6)),
    ({"type": "shift", "shape": [1, 6, 6]}, (8, 6, 6), (8, 6, 6)),
    ({"type": "token", "shape": [1, 1, 6]}, (5, 6), (6, 6)),
    ({"type": "stochasticdepth", "p": 0.1, "mode": "row"}, (8, 6, 6), (8, 6, 6)),
])
def test_output_shapes(layer, shape, out):
    r = row(layer, shape)
    assert r.output_shape == out
    assert r.macs == 0


def test_the_torch_calls_give_the_same_shapes():
    x = torch.randn(2, 8, 6, 6)
    assert tuple(x.reshape(2, 2, 4, 36).shape[1:]) == (2, 4, 36)
    assert tuple(x.chunk(3, dim=1)[2].shape[1:]) == (2, 6, 6)
    assert tuple(x[:, :, 1:-1].shape[1:]) == (8, 4, 6)
    assert tuple(torch.randn(2, 8, 6, 7)[..., ::4].shape[1:]) == (8, 6, 2)
    assert tuple(x.split([5, 3], dim=1)[1].shape[1:]) == (3, 6, 6)


@pytest.mark.parametrize(("layer", "shape", "error", "message"), [
    ({"type": "reshape", "shape": [5, 5]}, (3, 4, 5), ShapeError,
     r"cannot reshape 3×4×5 \(60 elements\) to 5×5 \(25 elements\)"),
    ({"type": "reshape", "shape": [7, -1]}, (3, 4, 5), ShapeError, r"60 is not a multiple of 7"),
    ({"type": "reshape", "shape": [-1, -1]}, (3, 4, 5), SpecError, r"at most one -1"),
    ({"type": "permute", "dims": [0, 2, 1]}, (3, 4, 5), ShapeError,
     r"dims \[0, 2, 1\] has 3 entries but the input N×3×4×5 has 4 dims"),
    ({"type": "permute", "dims": [1, 0, 2, 3]}, (3, 4, 5), ShapeError, r"moves the batch dim"),
    ({"type": "transpose", "dim0": 0, "dim1": 1}, (3, 4), ShapeError, r"dim 0 is the batch dim"),
    ({"type": "transpose", "dim0": 1, "dim1": 3}, (3, 4), ShapeError, r"dim 3 is out of range"),
    ({"type": "expand", "size": [5, 4]}, (3, 4), ShapeError,
     r"cannot expand 3×4 to 5×4: a dim of size 3 can only become 3"),
    ({"type": "unflatten", "dim": 1, "unflattened_size": [2, 2]}, (6, 3), ShapeError,
     r"cannot unflatten dim 1 of N×6×3 \(size 6\) into 2×2"),
    ({"type": "channelshuffle", "groups": 4}, (6, 3, 3), ShapeError,
     r"6 channels do not split into 4 groups"),
    ({"type": "chunk", "chunks": 2, "index": 2}, (6, 3), ShapeError,
     r"index 2 is out of range: dim 1 of N×6×3 \(size 6\) makes 2 pieces \(3, 3\)"),
    ({"type": "split", "split_size_or_sections": [2, 2]}, (6, 3), ShapeError,
     r"sections \[2, 2\] add up to 4, but the dim has size 6"),
    ({"type": "slice", "dim": 1, "start": 4, "end": 2}, (6, 3), ShapeError, r"is empty"),
    ({"type": "select", "dim": 2, "index": 3}, (6, 3), ShapeError,
     r"index 3 is out of range for dim 2 of N×6×3 \(size 3\)"),
    ({"type": "mean", "dim": 0}, (6, 3), ShapeError, r"dim 0 is the batch dim"),
    ({"type": "scale", "shape": [4, 1, 1]}, (6, 3, 3), ShapeError,
     r"a parameter of shape 4×1×1 does not broadcast into an input of 6×3×3"),
    ({"type": "token", "shape": [1, 1, 4]}, (5, 6), ShapeError,
     r"a token of 1×4 per example cannot join 5×6 along dim 1"),
    ({"type": "stochasticdepth", "p": 1.5, "mode": "row"}, (6,), SpecError, r"p is a probability"),
])
def test_errors_name_the_numbers(layer, shape, error, message):
    with pytest.raises(error, match=message):
        row(layer, shape)


def test_the_arguments_that_are_lists_stay_lists():
    """A reshape to [4, 4] is not a reshape to 4 (the display compacts repeated sizes)."""
    r = row({"type": "reshape", "shape": [4, 4]}, (16,))
    assert r.output_shape == (4, 4) and r.kind.args() == {"shape": [4, 4]}
    assert row({"type": "mean", "dim": [2, 3]}, (8, 6, 6)).kind.args() == {"dim": [2, 3]}


# ---------------------------------------------------------------- costs


def test_reductions_count_one_flop_per_input_element_or_one_less_per_output():
    # mean over 6·6 = 36 values: 35 adds and a division per output, 8 outputs: 8·36 = 288
    assert row({"type": "mean", "dim": [2, 3]}, (8, 6, 6)).flops == 288
    # sum over channels (8 values): 7 adds per output, 6·6 outputs: 36·7 = 252
    assert row({"type": "sum", "dim": 1}, (8, 6, 6)).flops == 252
    assert row({"type": "amin", "dim": [1, 2, 3]}, (8, 6, 6)).flops == 287   # 288 − 1 comparisons
    # the same as the global average pool it stands for, and no MACs either way
    pool = net([{"type": "adaptiveavgpool2d", "output_size": 1}], (8, 6, 6)).layers[0]
    assert pool.flops == 288 and pool.macs == 0


def test_shape_ops_cost_nothing_and_tools_count_nothing():
    """torch.utils.flop_counter counts 0 for every shape op and reduction; fvcore ignores the
    views and skips aten::mean, sum, amax, amin and channel_shuffle as unsupported (0)."""
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode

    calls = [lambda x: x.reshape(2, 4, 2, 36), lambda x: x.permute(0, 2, 3, 1).contiguous(),
             lambda x: x.transpose(1, 2).reshape(2, -1), lambda x: x[:, :4].unsqueeze(1),
             lambda x: x.chunk(2, 1)[1], lambda x: nn.functional.channel_shuffle(x, 2),
             lambda x: x.mean([2, 3]), lambda x: x.sum(1), lambda x: x.amax((2, 3)),
             lambda x: x[:, :, :1].expand(2, 8, 6, 6)]

    class Call(nn.Module):
        def __init__(self, f):
            super().__init__()
            self.f = f

        def forward(self, x):
            return self.f(x)

    for f in calls:
        x = torch.randn(2, 8, 6, 6)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            f(x)
        fv = FlopCountAnalysis(Call(f), x)
        fv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        assert counter.get_total_flops() == 0 and fv.total() == 0
    fv = FlopCountAnalysis(Call(calls[6]), torch.randn(2, 8, 6, 6))
    fv.unsupported_ops_warnings(False)
    assert fv.total() == 0 and "aten::mean" in fv.unsupported_ops()


def test_learned_tensors_are_weights_of_the_op_that_uses_them():
    scale = row({"type": "scale", "shape": [8, 1, 1]}, (8, 6, 6))
    assert (scale.weights, scale.params, scale.flops) == (8, 8, 288)   # 8·6·6 multiplies
    token = row({"type": "token", "shape": [1, 1, 768]}, (196, 768))
    assert (token.params, token.output_shape, token.flops) == (768, (197, 768), 0)
    # --no-bias does not drop them: they are not biases
    assert net([{"type": "shift", "shape": [1, 6, 6]}], bias=False).totals.params == 36


def test_stochastic_depth_is_the_identity_at_inference():
    r = net([{"type": "conv2d", "out_channels": 8, "kernel_size": 1},
             {"type": "stochasticdepth", "p": 0.2, "mode": "row"}]).layers[1]
    assert r.activation_bytes == 0 and r.flops == 0
    assert "identity at inference" in r.notes[0]


# ---------------------------------------------------------------- views and copies


def test_a_reshape_of_a_transposed_tensor_copies_and_contiguous_only_then():
    layers = [{"type": "conv2d", "out_channels": 8, "kernel_size": 1},
              {"type": "reshape", "shape": [2, 4, 6, 6]},
              {"type": "transpose", "dim0": 1, "dim1": 2},
              {"type": "reshape", "shape": [8, 6, 6]},      # ShuffleNet's shuffle: a copy
              {"type": "contiguous"},                        # already contiguous: itself
              {"type": "permute", "dims": [0, 2, 3, 1]},
              {"type": "contiguous"},                        # a copy
              {"type": "flatten"}]                           # a view of the copy
    rows = net(layers).layers
    assert [r.activation_bytes for r in rows] == [1152, 0, 0, 1152, 0, 0, 1152, 0]  # 8·6·6·4 B


@st.composite
def chains(draw):
    """A random chain of shape ops on a random per-example shape, with the torch calls that do
    the same to a batch (written here, not cnnsize's modules)."""
    shape = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3)))]
    first = tuple(shape)
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        rank = len(shape)
        op = draw(st.sampled_from(["permute", "transpose", "reshape", "flatten", "slice",
                                   "unsqueeze", "squeeze", "contiguous", "expand", "select",
                                   "chunk"]))
        if op == "permute":
            perm = draw(st.permutations(range(rank)))
            layer, call = {"type": op, "dims": [0, *(p + 1 for p in perm)]}, \
                (lambda x, perm=perm: x.permute(0, *(p + 1 for p in perm)))
            shape = [shape[p] for p in perm]
        elif op == "transpose":
            a, b = draw(st.integers(1, rank)), draw(st.integers(1, rank))
            layer, call = {"type": op, "dim0": a, "dim1": b}, (lambda x, a=a, b=b: x.transpose(a, b))
            shape[a - 1], shape[b - 1] = shape[b - 1], shape[a - 1]
        elif op == "reshape":
            i = draw(st.integers(0, max(rank - 2, 0)))  # merge two neighbours, or all of it
            new = [-1] if rank < 2 or draw(st.booleans()) else \
                [*shape[:i], shape[i] * shape[i + 1], *shape[i + 2:]]
            layer, call = {"type": op, "shape": list(new)}, (lambda x, new=new: x.reshape(x.shape[0], *new))
            shape = [math.prod(shape)] if new == [-1] else list(new)
        elif op == "flatten":
            layer, call = {"type": op}, (lambda x: x.flatten(1))
            shape = [math.prod(shape)]
        elif op == "slice":
            d = draw(st.integers(1, rank))
            size = shape[d - 1]
            start, step = draw(st.integers(0, size - 1)), draw(st.integers(1, 2))
            layer = {"type": op, "dim": d, "start": start, "step": step}
            call = lambda x, d=d, s=start, k=step: x[(slice(None),) * d + (slice(s, None, k),)]  # noqa: E731
            shape[d - 1] = len(range(start, size, step))
        elif op == "unsqueeze":
            d = draw(st.integers(1, rank + 1))
            layer, call = {"type": op, "dim": d}, (lambda x, d=d: x.unsqueeze(d))
            shape.insert(d - 1, 1)
        elif op == "expand":
            new = [draw(st.integers(1, 3)) if s == 1 else s for s in shape]
            layer, call = {"type": op, "size": list(new)}, (lambda x, new=new: x.expand(x.shape[0], *new))
            shape = list(new)
        elif op == "squeeze":
            layer, call = {"type": op, "dim": -1}, (lambda x: x.squeeze(-1))
            shape = shape[:-1] if shape[-1] == 1 and rank > 1 else shape
            if shape[-1:] == [1] and rank == 1:
                layer, call = {"type": "contiguous"}, (lambda x: x.contiguous())
        elif op == "chunk":
            d = draw(st.integers(1, rank))
            chunks = draw(st.integers(1, 3))
            size = shape[d - 1]
            n = len(range(0, size, -(-size // chunks)))
            i = draw(st.integers(0, n - 1))
            layer = {"type": op, "chunks": chunks, "dim": d, "index": i}
            call = lambda x, c=chunks, d=d, i=i: x.chunk(c, d)[i]  # noqa: E731
            shape[d - 1] = min(-(-size // chunks), size - i * -(-size // chunks))
        elif op == "select" and rank > 1:
            d = draw(st.integers(1, rank))
            layer, call = {"type": op, "dim": d, "index": 0}, (lambda x, d=d: x.select(d, 0))
            shape.pop(d - 1)
        else:
            layer, call = {"type": "contiguous"}, (lambda x: x.contiguous())
        steps.append((layer, call))
    return first, steps


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains(), st.integers(1, 3))
def test_views_and_copies_match_pytorch(chain, batch):
    """Whether each op makes a new storage, and its output shape, as PyTorch does (for a
    batch of 1, a slice of channels is still contiguous)."""
    shape, steps = chain
    rows = cnnsize.analyze({"input": list(shape), "layers": [layer for layer, _ in steps]},
                           conventions=cnnsize.Conventions(batch=batch)).layers
    x = torch.randn(batch, *shape)
    for r, (_, call) in zip(rows, steps):
        y = call(x)
        copied = y.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
        assert r.output_shape == tuple(y.shape[1:])
        assert (r.activation_bytes > 0) == copied, (r.name, r.type, x.shape, x.stride())
        x = y


# ---------------------------------------------------------------- receptive fields


def test_channels_last_linear_layers_are_pointwise():
    """ConvNeXt's block: permute to channels last, linear layers over C, permute back; the
    field grows as with 1×1 convolutions, not to global."""
    dw = {"type": "conv2d", "out_channels": 8, "kernel_size": 7, "padding": 3, "groups": 8}
    pointwise = [dw, {"type": "conv2d", "out_channels": 32, "kernel_size": 1},
                 {"type": "conv2d", "out_channels": 8, "kernel_size": 1},
                 {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}]
    channels_last = [dw, {"type": "permute", "dims": [0, 2, 3, 1]},
                     {"type": "linear", "out_features": 32}, {"type": "linear", "out_features": 8},
                     {"type": "permute", "dims": [0, 3, 1, 2]},
                     {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}]
    a, b = net(pointwise, (8, 16, 16)), net(channels_last, (8, 16, 16))
    assert a.layers[-1].receptive_field == b.layers[-1].receptive_field == (9, 9)   # 7 + 2
    assert not any("receptive field" in n for r in b.layers for n in r.notes)


def test_a_window_over_moved_axes_is_marked_not_guessed():
    out = net([{"type": "conv2d", "out_channels": 8, "kernel_size": 3},
               {"type": "transpose", "dim0": 2, "dim1": 3},
               {"type": "conv2d", "out_channels": 8, "kernel_size": [3, 1]}], (3, 12, 10)).layers
    assert out[1].receptive_field == (3, 3)
    assert out[2].receptive_field is None and "not followed past this row" in out[2].notes[0]


def test_reductions_make_the_reduced_dims_global():
    conv = {"type": "conv2d", "out_channels": 8, "kernel_size": 3}
    assert net([conv, {"type": "mean", "dim": [2, 3]}], (3, 16, 12)).layers[-1].receptive_field is None
    assert net([conv, {"type": "mean", "dim": 1, "keepdim": True}],
               (3, 16, 12)).layers[-1].receptive_field == (3, 3)
    # over W only: the whole width (12), the height as before
    assert net([conv, {"type": "amax", "dim": 3}], (3, 16, 12)).layers[-1].receptive_field == (3, 12)
    # a merge of H and W, then a linear over it: global
    flat = net([conv, {"type": "flatten", "start_dim": 2}, {"type": "linear", "out_features": 4}],
               (3, 16, 12)).layers
    assert flat[1].receptive_field == (3, 3) and flat[2].receptive_field is None


def test_a_strided_slice_multiplies_the_jump():
    out = net([{"type": "slice", "dim": 2, "step": 2}, {"type": "slice", "dim": 3, "step": 2},
               {"type": "conv2d", "out_channels": 4, "kernel_size": 3}], (3, 16, 16)).layers
    assert out[1].jump == (2, 2) and out[2].receptive_field == (5, 5)   # 1 + (3 − 1)·2


# ---------------------------------------------------------------- imports


class Mixer(nn.Module):
    """A user model with chunk, permute, reshape, transpose, getitem, expand, mean, amax, a
    layer scale, a class token and a position embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 8)
        self.gamma = nn.Parameter(torch.full((8, 1, 1), 0.5))
        self.token = nn.Parameter(torch.zeros(1, 1, 8))
        self.pos = nn.Parameter(torch.zeros(1, 17, 8))
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.conv(x)
        a, b = x.chunk(2, dim=1)
        x = torch.cat([b, a], dim=1)
        y = self.fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = x + self.gamma * y
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        t = x[:, :, ::2, ::2].flatten(2).transpose(1, 2)
        t = torch.cat([self.token.expand(n, -1, -1), t], dim=1) + self.pos
        return self.head(t[:, 0]) + x.mean([2, 3]).amax(-1, keepdim=True)


def _flop_counter(module, shape):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module.eval()(torch.randn(1, *shape))
    return counter.get_total_flops()


def test_a_user_model_with_shape_ops_imports_and_crosschecks():
    torch.manual_seed(0)
    module = Mixer()
    before = copy.deepcopy(module.state_dict())
    report = cnnsize.analyze(from_module(module, (3, 8, 8)))
    types = [r.type for r in report.layers]
    assert types == ["conv2d", "chunk", "chunk", "cat", "permute", "linear", "permute", "scale",
                     "add", "reshape", "transpose", "reshape", "slice", "slice", "flatten",
                     "transpose", "token", "shift", "select", "linear", "mean", "amax", "add"]
    assert report["gamma"].params == 8 and report["token"].params == 8 and report["pos"].params == 136
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    assert 2 * report.totals.macs == _flop_counter(module, (3, 8, 8))
    result = cnnsize.crosscheck(module, input_shape=(3, 8, 8), batch=2)
    assert result.ok, result.summary()
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_unused_pieces_are_not_rows_and_getitem_chains_are_followed():
    class Half(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(6, 4, 1)

        def forward(self, x):
            a, _, _ = x.split(2, dim=1)
            return self.conv(torch.cat([a, x[:, 2:, None, ...].squeeze(2)], 1))[..., 1:-1, ::2]

    report = cnnsize.analyze(from_module(Half(), (6, 5, 5)))
    # x[:, 2:, None, ...] is two rows (a slice, an unsqueeze), [..., 1:-1, ::2] two slices
    assert [(r.type, r.output_shape) for r in report.layers] == [
        ("split", (2, 5, 5)), ("slice", (4, 5, 5)), ("unsqueeze", (4, 1, 5, 5)),
        ("squeeze", (4, 5, 5)), ("cat", (6, 5, 5)), ("conv2d", (4, 5, 5)), ("slice", (4, 3, 5)),
        ("slice", (4, 3, 3))]
    assert cnnsize.crosscheck(Half(), input_shape=(6, 5, 5), batch=2).ok


def test_a_parameter_used_twice_is_counted_once_and_frozen_ones_stay_frozen():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.gamma = nn.Parameter(torch.ones(4, 1, 1))
            self.bias = nn.Parameter(torch.zeros(4, 1, 1), requires_grad=False)

        def forward(self, x):
            y = self.conv(x)
            return self.gamma * y + (self.gamma * y.relu() + self.bias)

    module = Twice()
    spec, _, _ = module_to_spec(module, (3, 4, 4))
    report = cnnsize.analyze(spec)
    assert report["gamma_2"].shares == "gamma" and report.totals.params == 16 + 4 + 4
    assert report["bias"].type == "shift" and report.totals.trainable_params == 20
    assert "trainable: false" in cnnsize.spec.dump_yaml(spec)
    assert cnnsize.crosscheck(module, input_shape=(3, 4, 4), batch=2).ok


class Refused(nn.Module):
    def __init__(self, forward) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.w = nn.Parameter(torch.ones(4))
        self.f = forward

    def forward(self, x):
        return self.f(self, self.conv(x))


@pytest.mark.parametrize(("forward", "message"), [
    (lambda m, x: x[:, [0, 2]], r"getitem in the model \(Refused\): .*advanced indexing"),
    (lambda m, x: x.view(-1), r"moves elements between the batch dim and the others"),
    (lambda m, x: x.squeeze(), r"squeeze\(\) without a dim also removes a batch of 1"),
    (lambda m, x: x[0], r"indexes the batch dim"),
    (lambda m, x: x.mean(), r"mean\(\) over every dim would also reduce the batch"),
    (lambda m, x: x - m.w[:, None, None], r"sub in the model \(Refused\) uses the parameter w directly"),
    (lambda m, x: x.max(dim=1).values, r"max in the model \(Refused\), for which cnnsize has no kind"),
    (lambda m, x: x.view(torch.int32), r"this view .* is not a reshape"),
    (lambda m, x: torch.clamp(x, min=m.w[:, None, None]),
     r"clamp in the model \(Refused\) uses the parameter w directly"),
])
def test_what_cannot_be_followed_fails_naming_the_op(forward, message):
    with pytest.raises(CnnsizeError, match=message):
        from_module(Refused(forward), (3, 4, 4))


def test_channel_shuffle_as_a_module_and_as_views():
    class Shuffles(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.shuffle = nn.ChannelShuffle(2)

        def forward(self, x):
            n, c, h, w = x.shape
            y = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
            return self.shuffle(x) + y

    report = cnnsize.analyze(from_module(Shuffles(), (4, 3, 3)))
    assert [(r.type, r.activation_bytes) for r in report.layers] == [
        ("reshape", 0), ("transpose", 0), ("contiguous", 144), ("reshape", 0),
        ("channelshuffle", 144), ("add", 144)]                          # 4·3·3·4 B


def test_stochastic_depth_imports_by_its_class():
    from cnnsize.verify.modules import StochasticDepth

    module = nn.Sequential(nn.Conv2d(3, 4, 1), StochasticDepth(0.3, "row"))
    report = cnnsize.analyze(from_module(module, (3, 4, 4)))
    assert report.layers[1].type == "stochasticdepth" and report.layers[1].activation_bytes == 0
    assert cnnsize.crosscheck(module.train(), input_shape=(3, 4, 4), batch=2).ok


# ---------------------------------------------------------------- torchvision


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "mnasnet0_5", "convnext_tiny"])
def test_torchvision_models_with_shape_ops_import_exact(name):
    models = pytest.importorskip("torchvision.models")
    module = models.get_model(name)
    weights = models.get_model_weights(name).DEFAULT
    report = cnnsize.analyze(from_module(module, (3, 224, 224)))
    assert report.totals.params == weights.meta["num_params"]
    assert 2 * report.totals.macs == _flop_counter(module, (3, 224, 224))
    assert round(report.totals.macs / 1e9, 3) == weights.meta["_ops"]
    if name != "convnext_tiny":  # the slowest; its crosscheck is in the closing note
        result = cnnsize.crosscheck(module, input_shape=(3, 224, 224))
        assert result.ok, result.summary()


def test_our_stochastic_depth_is_torchvisions():
    ops = pytest.importorskip("torchvision.ops")
    from cnnsize.verify.modules import StochasticDepth

    x = torch.randn(8, 3, 2, 2)
    for p, mode in ((0.3, "row"), (0.5, "batch"), (0.0, "row")):
        ours, theirs = StochasticDepth(p, mode).train(), ops.StochasticDepth(p, mode).train()
        torch.manual_seed(1)
        a = ours(x)
        torch.manual_seed(1)
        assert torch.equal(a, theirs(x))
        assert torch.equal(ours.eval()(x), x)
