"""Attention: nn.MultiheadAttention, F.scaled_dot_product_attention, einsum, a tensor times a
number, and the networks written with them (a ViT built here from torch.nn; torchvision's
vit_b_16, maxvit_t and swin_t where torchvision is installed).

The torch side of every oracle is built here with torch.nn and torch calls, never through
cnnsize's modules: parameters from the modules, 2·MACs from torch.utils.flop_counter, MACs from
fvcore, saved tensors from torch.autograd.graph.saved_tensors_hooks. flop_counter has formulas
for the CUDA attention kernels only, and none for nn.MultiheadAttention's fast path, so the
oracle counts with the fast path off and the math kernel (its two bmm's), as crosscheck does;
what each tool counts by default is pinned too (docs/conventions.md, "Attention").
"""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnsize
from cnnsize.errors import CnnsizeError, ShapeError, SpecError

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from cnnsize.verify.crosscheck import (  # noqa: E402
    _countable_attention,
    _saved_for_backward,
    crosscheck,
)
from cnnsize.verify.importer import from_module  # noqa: E402


def flop_counter(fn, countable=True):
    """FlopCounterMode's total for fn(); `countable`: the fast path off and the math kernel."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), (_countable_attention() if countable
                                    else contextlib.nullcontext()):
        fn()
    return counter.get_total_flops()


def fvcore(module, *xs):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(module.eval(), xs[0] if len(xs) == 1 else xs)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total(), set(analysis.unsupported_ops())


def report(spec_or_module, shape=None, **conventions):
    conv = cnnsize.Conventions(**conventions) if conventions else None
    if isinstance(spec_or_module, nn.Module):
        return cnnsize.analyze(from_module(spec_or_module, shape), conventions=conv)
    return cnnsize.analyze(spec_or_module, conventions=conv)


class SelfAttention(nn.Module):
    """nn.MultiheadAttention called as ViT calls it, or on (query, key = value), or three."""

    def __init__(self, inputs=1, need_weights=False, **kwargs):
        super().__init__()
        self.attn = nn.MultiheadAttention(batch_first=True, **kwargs)
        self.inputs, self.need_weights = inputs, need_weights

    def forward(self, x, *others):
        key = others[0] if others else x
        value = others[-1] if others else x
        return self.attn(x, key, value, need_weights=self.need_weights)[0]


# ---------------------------------------------------------------- formulas against torch


def test_vit_b_16s_attention_by_hand():
    # ViT-B/16's encoder block: L = 197 tokens, E = 768, H = 12 heads of 64
    # weights = 4·768·768 = 2,359,296; biases = 4·768 = 3,072
    # MACs = 4·197·768·768 (projections) + 2·197·197·768 (Q·Kᵀ, A·V) = 464,781,312 + 59,610,624
    # FLOPs per element = 4·12·197·197 = 1,862,832 (scale and softmax), bias adds 4·197·768
    row = report({"input": [197, 768], "layers": [
        {"name": "attn", "type": "multiheadattention", "embed_dim": 768, "num_heads": 12,
         "need_weights": False}]}).layers[0]
    assert (row.weights, row.biases, row.params) == (2_359_296, 3_072, 2_362_368)
    assert row.macs == 464_781_312 + 59_610_624 == 524_391_936
    assert row.flops == 2 * 524_391_936 + 1_862_832 + 4 * 197 * 768
    assert row.receptive_field is None  # global over the tokens (and nothing spatial here)
    module = SelfAttention(embed_dim=768, num_heads=12)
    assert sum(p.numel() for p in module.parameters()) == row.params
    x = torch.randn(1, 197, 768)
    assert flop_counter(lambda: module.eval()(x)) == 2 * row.macs


@st.composite
def attention_case(draw):
    heads = draw(st.integers(1, 4))
    embed = heads * draw(st.integers(1, 4))
    inputs = draw(st.sampled_from([1, 2, 3]))
    args = {"embed_dim": embed, "num_heads": heads, "bias": draw(st.booleans()),
            "add_bias_kv": draw(st.booleans()), "add_zero_attn": draw(st.booleans())}
    if inputs > 1 and draw(st.booleans()):  # key = value (two inputs): one size
        args["kdim"] = draw(st.integers(1, 7))
        args["vdim"] = draw(st.integers(1, 7)) if inputs == 3 else args["kdim"]
    L, S = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    shapes = [(L, embed)] + ([(S, args.get("kdim", embed))] if inputs > 1 else []) + (
        [(S, args.get("vdim", embed))] if inputs > 2 else [])
    return args, shapes, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attention_case())
def test_multihead_attention_against_torch(case):
    """Random configurations: output shape and parameters from the module, 2·MACs from
    flop_counter, and what autograd saves (training mode, behind a BatchNorm), each built
    with nn.MultiheadAttention itself."""
    args, shapes, need_weights, average = case
    module = SelfAttention(inputs=len(shapes), need_weights=need_weights, **args)
    names = [f"x{i}" for i in range(len(shapes))]
    spec = {"input": {n: list(s) for n, s in zip(names, shapes)}, "layers": [
        {"name": f"norm{i}", "type": "batchnorm1d", "inputs": n} for i, n in enumerate(names)] + [
        {"name": "attn", "type": "multiheadattention", **args, "need_weights": need_weights,
         "average_attn_weights": average, "inputs": [f"norm{i}" for i in range(len(names))]}]}
    conventions = cnnsize.Conventions(batch=2, mask_bytes=4)
    row = cnnsize.analyze(spec, conventions=conventions)["attn"]
    xs = [torch.randn(2, *s) for s in shapes]
    with torch.no_grad():
        out = module.eval()(*xs)
    assert row.output_shape == tuple(out.shape[1:])
    assert row.params == sum(p.numel() for p in module.parameters())
    assert 2 * row.macs == flop_counter(lambda: module(*xs))  # both for the batch of 2

    class Behind(nn.Module):
        def __init__(self):
            super().__init__()
            self.norms = nn.ModuleList(nn.BatchNorm1d(s[0]) for s in shapes)
            self.attn = module.attn

        def forward(self, *xs):
            ys = [norm(x) for norm, x in zip(self.norms, xs)]
            key = ys[1] if len(ys) > 1 else ys[0]
            value = ys[2] if len(ys) > 2 else key
            return self.attn(ys[0], key, value, need_weights=need_weights,
                             average_attn_weights=average)[0]

    predicted = cnnsize.analyze(spec, conventions=conventions).totals.saved_bytes
    assert predicted == _saved_for_backward(Behind(), tuple(xs))


def test_what_the_tools_count_for_multihead_attention():
    """docs/conventions.md, "Attention": by default flop_counter counts nothing of an
    nn.MultiheadAttention in eval mode under no_grad (its fast path, torch's
    _native_multi_head_attention, has no formula) and only the projections with gradients on
    (the CPU's fused SDPA kernel has none either); fvcore counts the projections
    (aten::scaled_dot_product_attention unsupported); with need_weights the explicit bmm's are
    counted by both; torchinfo counts no multiply-add of it."""
    L, E, H = 10, 16, 4
    projections, core = 4 * L * E * E, 2 * L * L * E
    x = torch.randn(1, L, E)
    fast = SelfAttention(embed_dim=E, num_heads=H).eval()
    assert flop_counter(lambda: fast(x), countable=False) == 0
    counter = FlopCounterMode(display=False)
    with counter:
        fast(x)
    assert counter.get_total_flops() == 2 * projections
    assert flop_counter(lambda: fast(x)) == 2 * (projections + core)
    total, unsupported = fvcore(fast, x)
    assert total == projections and "aten::scaled_dot_product_attention" in unsupported
    weights = SelfAttention(embed_dim=E, num_heads=H, need_weights=True).eval()
    assert fvcore(weights, x)[0] == projections + core
    torchinfo = pytest.importorskip("torchinfo")
    assert torchinfo.summary(fast, input_data=[x], verbose=0).total_mult_adds == 0


# ---------------------------------------------------------------- scaled_dot_product_attention


class SDPA(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.kwargs = kwargs

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, **self.kwargs)


@pytest.mark.parametrize(("kwargs", "shapes"), [
    ({}, [(2, 5, 4), (2, 7, 4), (2, 7, 4)]),
    ({"is_causal": True}, [(3, 6, 8), (3, 6, 8), (3, 6, 8)]),
    ({"scale": 0.25}, [(2, 5, 4), (2, 7, 4), (2, 7, 3)]),
    ({}, [(5, 4), (7, 4), (7, 3)]),
    ({"enable_gqa": True}, [(4, 5, 4), (2, 7, 4), (2, 7, 4)]),
])
def test_scaled_dot_product_attention_imports_and_counts_as_flop_counter(kwargs, shapes):
    module = SDPA(**kwargs)
    got = report(module, shapes)
    row = got.layers[0]
    assert (row.type, dict(row.args)) == ("scaleddotproductattention", kwargs)
    xs = [torch.randn(1, *s) for s in shapes]
    # heads·L·S·E + heads·L·S·E_v, the two bmm's of the math kernel
    lead, (L, E), S, E_v = math.prod(shapes[0][:-2]), shapes[0][-2:], shapes[1][-2], shapes[2][-1]
    assert row.macs == lead * L * S * E + lead * L * S * E_v
    assert flop_counter(lambda: module(*xs)) == 2 * row.macs
    # the CPU's fused kernel (4-d, equal head sizes; 3-d too from torch 2.14) is not counted
    fused = E == E_v and (len(shapes[0]) == 3 or (len(shapes[0]) == 2 and TORCH_2_14))
    assert flop_counter(lambda: module(*xs), countable=False) == (0 if fused else 2 * row.macs)
    assert row.flops == 2 * row.macs + (5 if kwargs.get("is_causal") else 4) * lead * L * S
    assert cnnsize.crosscheck(module, input_shape=shapes, batch=2).ok


TORCH_2_14 = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 14)


@pytest.mark.skipif(not TORCH_2_14, reason="torch < 2.14 runs 3-d SDPA by its math kernel")
def test_three_dimensional_sdpa_saves_what_the_fused_kernel_keeps():
    """From torch 2.14 the CPU's fused kernel takes 3-d inputs too (no heads dim): q, k, v,
    the output and a logsumexp per query, as cnnsize says."""
    spec = {"input": {"q": [5, 4], "k": [7, 4], "v": [7, 4]}, "layers": [
        {"name": f"n{i}", "type": "batchnorm1d", "inputs": x} for i, x in enumerate("qkv")] + [
        {"name": "op", "type": "scaleddotproductattention", "inputs": ["n0", "n1", "n2"]}]}
    predicted = report(spec, batch=2).totals.saved_bytes
    from cnnsize.verify.build import build

    xs = tuple(torch.randn(2, *s) for s in ((5, 4), (7, 4), (7, 4)))
    assert predicted == _saved_for_backward(build(spec), xs)


def test_an_attention_mask_is_refused_by_name():
    class Masked(nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q, q, attn_mask=q[..., :1] > 0)

    with pytest.raises(CnnsizeError, match="scaled_dot_product_attention with an attn_mask"):
        from_module(Masked(), (2, 5, 4))


# ---------------------------------------------------------------- written out by hand


class HandAttention(nn.Module):
    """softmax(q·kᵀ·scale)·v written out, over (heads, tokens, d) per example."""

    def __init__(self, d):
        super().__init__()
        self.scale = d ** -0.5

    def forward(self, q, k, v):
        attn = q @ k.transpose(-2, -1) * self.scale
        return attn.softmax(dim=-1) @ v


def test_attention_written_out_imports_as_its_ops():
    shapes = [(2, 5, 4), (2, 7, 4), (2, 7, 3)]
    module = HandAttention(4)
    got = report(module, shapes)
    assert [(r.type, dict(r.args)) for r in got.layers] == [
        ("transpose", {"dim0": -2, "dim1": -1}), ("matmul", {}), ("mul", {"other": 0.5}),
        ("softmax", {"dim": -1}), ("matmul", {})]
    # the same MACs and per-element FLOPs as the fused kind: 2·5·7·4 + 2·5·7·3; 4 per score
    fused = report(SDPA(), shapes)
    assert got.totals.macs == fused.totals.macs == 2 * 5 * 7 * 4 + 2 * 5 * 7 * 3
    assert got.totals.flops == fused.totals.flops
    xs = [torch.randn(1, *s) for s in shapes]
    assert flop_counter(lambda: module(*xs), countable=False) == 2 * got.totals.macs
    assert got["softmax"].receptive_field is None and got.layers[-1].receptive_field is None
    assert cnnsize.crosscheck(module, input_shape=shapes, batch=2).ok


def test_a_softmax_over_a_spatial_dim_reads_the_whole_dim():
    spec = {"input": [3, 8, 8], "layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3},
        {"name": "w", "type": "softmax", "dim": -1},
        {"name": "c", "type": "softmax", "dim": 1}]}
    got = report(spec)
    assert got["w"].receptive_field == (3, 8) and got["c"].receptive_field == (3, 8)


@pytest.mark.parametrize(("call", "kind", "args"), [
    (lambda x: x * 0.125, "mul", {"other": 0.125}),
    (lambda x: 0.5 * x, "mul", {"other": 0.5}),
    (lambda x: x / 8, "div", {"other": 8.0}),
    (lambda x: x - 1, "sub", {"other": 1.0}),
    (lambda x: torch.add(x, 2), "add", {"other": 2.0}),
    (lambda x: x.mul(3.0), "mul", {"other": 3.0}),
    (lambda x: torch.mul(x, other=0.25), "mul", {"other": 0.25}),
])
def test_a_tensor_and_a_number_is_one_flop_per_element(call, kind, args):
    class Call(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return call(self.conv(x))

    got = report(Call(), (3, 5, 5))
    row = got.layers[1]
    assert (row.type, dict(row.args), row.macs) == (kind, args, 0)
    assert row.flops == 4 * 5 * 5  # one multiply (add, …) per element
    assert row.saved_bytes == 0 and cnnsize.crosscheck(Call(), input_shape=(3, 5, 5), batch=2).ok


@pytest.mark.parametrize("call", [lambda x: 1 - x, lambda x: 2 / x])
def test_a_number_first_in_a_subtraction_or_division_is_refused(call):
    class Call(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return call(self.conv(x)).relu()

    with pytest.raises(CnnsizeError, match=r"a Python number . a tensor: cnnsize's (sub|div) takes"):
        from_module(Call(), (3, 5, 5))


def test_a_number_operand_in_a_spec_is_checked():
    with pytest.raises(SpecError, match=r"mul with other: 0\.5 takes one input, got 2"):
        report({"input": {"a": [3], "b": [3]}, "layers": [
            {"type": "mul", "other": 0.5, "inputs": ["a", "b"]}]})
    with pytest.raises(SpecError, match="mul takes 2 inputs, got 1; or one and other"):
        report({"input": [3], "layers": [{"type": "mul"}]})


# ---------------------------------------------------------------- einsum


class Einsum(nn.Module):
    def __init__(self, equation):
        super().__init__()
        self.equation = equation

    def forward(self, a, b):
        return torch.einsum(self.equation, a, b)


@pytest.mark.parametrize(("equation", "shapes"), [
    ("bhid,bhjd->bhij", [(2, 5, 4), (2, 7, 4)]),               # q·kᵀ
    ("bhij,bhjd->bhid", [(2, 5, 7), (2, 7, 4)]),               # a·v
    ("B G H I D, B G H J D -> B G H I J", [(3, 2, 5, 4), (3, 2, 7, 4)]),  # MaxViT's
    ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bjk->bki", [(3, 4), (4, 5)]),
])
def test_einsum_counts_the_bmm_it_runs(equation, shapes):
    module = Einsum(equation)
    row = report(module, shapes).layers[0]
    xs = [torch.randn(1, *s) for s in shapes]
    assert row.output_shape == tuple(module(*xs).shape[1:])
    assert flop_counter(lambda: module(*xs), countable=False) == 2 * row.macs
    assert cnnsize.crosscheck(module, input_shape=shapes, batch=2).ok


def test_fvcore_rounds_an_einsum_to_numpys_printed_count():
    """fvcore's einsum handle reads numpy's einsum_path report, which prints 4 digits: ViT-B's
    q·kᵀ, 12·197·197·64 = 29,805,312 MACs, is 5.961e+07 / 2 = 29,805,000 there (crosscheck
    counts it exactly)."""
    module = Einsum("bhid,bhjd->bhij")
    q = torch.randn(1, 12, 197, 64)
    assert fvcore(module, q, q)[0] == 29_805_000
    assert report(module, [(12, 197, 64), (12, 197, 64)]).totals.macs == 29_805_312


@pytest.mark.parametrize(("equation", "message"), [
    ("bij,bjk", "explicit einsum equation"),
    ("bij,bjk,bkl->bil", "3 operands"),
    ("bii,bij->bij", "repeated within a term"),
    ("bij,bkl->bik", "summed within one operand"),
    ("ij,bj->bi", "start with the batch letter"),
])
def test_einsums_cnnsize_cannot_count_are_refused(equation, message):
    with pytest.raises(SpecError, match=message):
        report({"input": {"a": [3, 4], "b": [4, 5]}, "layers": [
            {"type": "einsum", "equation": equation, "inputs": ["a", "b"]}]})


# ---------------------------------------------------------------- importing nn.MultiheadAttention


@pytest.mark.parametrize("kind", ["multiheadattention", "scaleddotproductattention", "einsum",
                                  "mul", "add", "shift"])
def test_every_example_builds_and_imports_back_as_itself(kind):
    """build (the kind's torch module) → from_module gives the same kind and arguments."""
    from cnnsize.layers import REGISTRY
    from cnnsize.verify.build import build

    cls = REGISTRY[kind]
    for args, shapes in cls.examples:
        if args.get("inplace"):
            continue  # `out += x` is read back from the trace of a model, not from the module
        inputs = cls.example_inputs((args, shapes))
        names = [f"x{i}" for i in range(len(inputs))]
        spec = {"input": {n: list(s) for n, s in zip(names, inputs)} if len(inputs) > 1 else
                list(inputs[0]), "layers": [{"name": "op", "type": kind, **args,
                                             **({"inputs": names} if len(inputs) > 1 else {})}]}
        expected = report(spec).layers[0]
        shape = [list(s) for s in inputs] if len(inputs) > 1 else inputs[0]
        got = report(from_module(build(spec), shape)).layers[0]
        assert (got.type, got.args, got.output_shape, got.params, got.buffers) == (
            expected.type, expected.args, expected.output_shape, expected.params,
            expected.buffers), (kind, args)


def test_self_and_cross_attention_import_with_their_inputs():
    got = report(SelfAttention(embed_dim=8, num_heads=2), (5, 8))
    attn = got["attn"]
    assert (attn.type, len(attn.input_shapes), dict(attn.args)) == (
        "multiheadattention", 1, {"embed_dim": 8, "num_heads": 2, "need_weights": False})
    cross = report(SelfAttention(inputs=2, embed_dim=8, num_heads=2, kdim=3, vdim=3),
                   [(5, 8), (7, 3)])
    assert cross["attn"].input_shapes == ((5, 8), (7, 3))  # query, key = value
    three = report(SelfAttention(inputs=3, embed_dim=8, num_heads=2, kdim=3, vdim=6),
                   [(5, 8), (7, 3), (7, 6)])
    assert three["attn"].input_shapes == ((5, 8), (7, 3), (7, 6))
    assert dict(three["attn"].args)["kdim"] == 3 and "kdim" not in dict(attn.args)
    pair = report(SelfAttention(inputs=2, embed_dim=8, num_heads=2), [(5, 8), (7, 8)])
    assert pair["attn"].input_shapes == ((5, 8), (7, 8))  # query, key = value
    for module, shapes in [(SelfAttention(embed_dim=8, num_heads=2), (5, 8)),
                           (SelfAttention(inputs=2, embed_dim=8, num_heads=2, kdim=3, vdim=3),
                            [(5, 8), (7, 3)]),
                           (SelfAttention(need_weights=True, embed_dim=8, num_heads=4,
                                          add_bias_kv=True, add_zero_attn=True), (5, 8))]:
        result = crosscheck(module, input_shape=shapes, batch=2)
        assert result.ok, result.summary()


def test_what_nn_multihead_attention_calls_cnnsize_cannot_follow_are_refused():
    class ReadsWeights(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            out, weights = self.attn(x, x, x)
            return out + weights.mean()

    with pytest.raises(CnnsizeError, match=r"the attention weights that attn \(MultiheadAttention"
                                           r"\) returns"):
        from_module(ReadsWeights(), (5, 8))

    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
            self.register_buffer("mask", torch.zeros(5, 5, dtype=torch.bool))

        def forward(self, x):
            return self.attn(x, x, x, attn_mask=self.mask)[0]

    with pytest.raises(CnnsizeError, match=r"attn \(MultiheadAttention\) is called with "
                                           r"attn_mask=a 5×5 tensor"):
        from_module(Masked(), (5, 8))

    class LengthFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(8, 2)

        def forward(self, x):
            return self.attn(x, x, x)[0]

    with pytest.raises(CnnsizeError, match="batch_first=False puts the batch at dim 1"):
        from_module(LengthFirst(), (5, 8))


@pytest.mark.parametrize(("args", "shapes", "error", "message"), [
    ({"embed_dim": 8, "num_heads": 3}, [(5, 8)], SpecError, "does not split into 3 heads"),
    ({"embed_dim": 8, "num_heads": 2}, [(5, 6)], ShapeError,
     "the query has 6 features but embed_dim is 8"),
    ({"embed_dim": 8, "num_heads": 2}, [(5, 8), (7, 3)], ShapeError,
     r"the key has 3 features but kdim is 8(.|\n)*kdim and vdim default to embed_dim"),
    ({"embed_dim": 8, "num_heads": 2}, [(5, 8), (7, 8), (6, 8)], ShapeError,
     "the key has 7 tokens but the value 6"),
    ({"embed_dim": 8, "num_heads": 2}, [(8, 5, 5)], ShapeError,
     r"the query is 8×5×5 per example(.|\n)*flatten the spatial dims into tokens"),
])
def test_bad_attention_is_refused_with_the_numbers(args, shapes, error, message):
    names = [f"x{i}" for i in range(len(shapes))]
    with pytest.raises(error, match=message):
        report({"input": {n: list(s) for n, s in zip(names, shapes)}, "layers": [
            {"type": "multiheadattention", **args, "inputs": names}]})


# ---------------------------------------------------------------- a ViT built from torch.nn


class Block(nn.Module):
    """torchvision's EncoderBlock: LayerNorm, self-attention, residual; LayerNorm, MLP, residual."""

    def __init__(self, dim, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0),
                                 nn.Linear(4 * dim, dim), nn.Dropout(0.0))

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = self.dropout(y) + x
        return x + self.mlp(self.ln_2(x))


class TinyViT(nn.Module):
    """ViT as torchvision writes it (patchify conv, reshape, permute, class token, position
    embedding, blocks, the class token's row, a head), small."""

    def __init__(self, dim=32, heads=4, patch=4, image=16, depth=2, classes=10):
        super().__init__()
        self.dim = dim
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim))
        self.layers = nn.Sequential(*(Block(dim, heads) for _ in range(depth)))
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.ln(self.layers(x + self.pos_embedding))
        return self.head(x[:, 0])


def test_a_vit_imports_exact_and_crosschecks():
    model = TinyViT()
    got = report(model, (3, 16, 16))
    assert got.totals.params == sum(p.numel() for p in model.parameters())
    # conv 32·3·4·4·16 = 24,576; per block: 4·17·32·32 + 2·17·17·32 + 2·17·32·128; head 320
    assert got.totals.macs == 24_576 + 2 * (69_632 + 18_496 + 139_264) + 320
    x = torch.randn(1, 3, 16, 16)
    assert flop_counter(lambda: model(x)) == 2 * got.totals.macs
    assert got["layers.1.self_attention"].receptive_field is None  # global: every patch
    result = crosscheck(model, input_shape=(3, 16, 16), batch=2)
    assert result.ok, result.summary()
    checked = {c.quantity for layer in result.layers for c in layer.checks} | {
        c.quantity for c in result.totals if c.status == "match"}
    assert {"macs", "flops", "params", "saved_bytes", "output_shape"} <= checked


class TimmAttention(nn.Module):
    """timm's vision_transformer.Attention: qkv.permute(2, 0, 3, 1, 4) puts the batch at dim
    1 until qkv.unbind(0) takes q, k, v."""

    def __init__(self, dim, heads, fused):
        super().__init__()
        self.heads, self.head_dim, self.fused = heads, dim // heads, fused
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


@pytest.mark.parametrize("fused", [True, False])
def test_timms_attention_imports_with_the_batch_moved_and_back(fused):
    model = TimmAttention(32, 4, fused)
    got = report(model, (17, 32))
    types = [r.type for r in got.layers]
    assert types[:8] == ["linear", "reshape", "select", "permute", "select", "permute", "select",
                         "permute"]
    assert [dict(r.args) for r in got.layers[2:4]] == [{"dim": 2}, {"dims": [0, 2, 1, 3]}]
    # 17·32·96 + 2·4·17·17·8 + 17·32·32 = 52,224 + 18,496 + 17,408
    assert got.totals.macs == 52_224 + 18_496 + 17_408
    assert flop_counter(lambda: model(torch.randn(1, 17, 32))) == 2 * got.totals.macs
    result = crosscheck(model, input_shape=(17, 32), batch=2)
    # saved bytes differ with the fused kernel, whose output follows the query's layout
    # (docs/conventions.md); written out with @, bmm's copies of the permuted heads are followed
    assert all(c.status != "mismatch" for c in result.all_checks()
               if not fused or c.quantity != "saved_bytes")


def test_a_batch_moved_and_used_before_it_comes_back_is_refused():
    class Moves(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(x).permute(1, 0, 2).relu()

    with pytest.raises(CnnsizeError, match=r"relu in the model \(Moves\): forward permutes the "
                                           r"batch dim away from dim 0 \(permute\(1, 0, 2\)\)"):
        from_module(Moves(), (5, 8))


# ---------------------------------------------------------------- torchvision


@pytest.fixture(scope="module")
def tv():
    return pytest.importorskip("torchvision.models")


def _published(tv, name):
    meta = tv.get_model_weights(name).DEFAULT.meta
    return meta["num_params"], meta["_ops"]


def test_torchvision_vit_b_16_is_exact(tv):
    model = tv.vit_b_16()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    got = report(model, (3, 224, 224))
    params, gflops = _published(tv, "vit_b_16")
    assert got.totals.params == params == 86_567_656
    # 17,563,828,224: conv_proj 115,605,504 + 12 blocks of 1,453,954,560 + head 768,000
    assert got.totals.macs == 115_605_504 + 12 * 1_453_954_560 + 768_000 == 17_563_828_224
    assert round(got.totals.macs / 1e9, 3) == gflops == 17.564
    assert flop_counter(lambda: model(torch.randn(1, 3, 224, 224))) == 2 * got.totals.macs
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert model.training  # the user's mode is left as it was (a new model trains)
    result = crosscheck(model, input_shape=(3, 224, 224))
    assert result.ok, result.summary()


def test_torchvision_maxvit_t_counts_exact(tv):
    model = tv.maxvit_t()
    got = report(model, (3, 224, 224))
    params, gflops = _published(tv, "maxvit_t")
    assert got.totals.params == params == 30_919_624
    assert round(got.totals.macs / 1e9, 3) == gflops == 5.558
    assert flop_counter(lambda: model(torch.randn(1, 3, 224, 224))) == 2 * got.totals.macs
    bias = got["blocks.0.layers.0.layers.window_attention.attn_layer.1."
               "relative_position_bias_table"]
    # the table (2·7 − 1)² · 2 heads = 338 weights, its index 49·49 = 2,401 buffers
    assert (bias.type, bias.weights, bias.buffers) == ("shift", 338, 2_401)
