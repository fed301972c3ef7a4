"""Oracle tests: every registered kind against the torch.nn module it stands for.

Shapes and parameter/buffer counts come from running the real module; MACs from fvcore's
FlopCountAnalysis (one per multiply-add, bias excluded) and 2·MACs from torch.utils.flop_counter.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnsize
from cnnsize.conventions import Conventions
from cnnsize.errors import CnnsizeError
from cnnsize.layers import REGISTRY

torch = pytest.importorskip("torch")

EXAMPLES = [(name, args, cls.example_inputs((args, shape))) for name, cls in sorted(REGISTRY.items())
            for args, shape in cls.examples]


def run(module, shapes, kwargs, batch=2):
    return module(*(torch.randn(batch, *s) for s in shapes), **kwargs)


def torch_counts(module, shapes, kwargs):
    """Output shape (without batch), weight/bias/param/buffer counts of a real module."""
    module.eval()
    with torch.no_grad():
        out = run(module, shapes, kwargs)
    # PyTorch's names: weight, bias; nn.MultiheadAttention's in_proj_weight, in_proj_bias,
    # q_proj_weight, ..., and bias_k, bias_v (its learned key and value)
    named = [(name.rsplit(".", 1)[-1].split("_"), p.numel()) for name, p in module.named_parameters()]
    return {
        "output_shape": tuple(out.shape[1:]),
        "weights": sum(n for words, n in named if words[-1] == "weight"),
        "biases": sum(n for words, n in named if "bias" in words),
        "params": sum(p.numel() for p in module.parameters()),
        "buffers": sum(b.numel() for b in module.buffers()),
    }


def fvcore_macs(module, shape):
    """fvcore's count, or None where fvcore cannot see the op (it skips aten::conv*d with a
    string padding such as 'same', which traces to aten::_convolution_mode, an op it has no handle for)."""
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(module.eval(), torch.randn(1, *shape[0]))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    total = analysis.total()
    if total == 0 and "aten::_convolution_mode" in analysis.unsupported_ops():
        return None
    return total


def flop_counter_flops(module, shape, kwargs):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        run(module.eval(), shape, kwargs, batch=1)
    return counter.get_total_flops()


def one_layer(kind_name, args, shapes):
    """A spec of one layer; a kind with several inputs reads inputs named a, b, c, ...; a
    source (state) reads none (the network's input is not read)."""
    if not shapes:
        return {"input": [1], "layers": [{"type": kind_name, **args}]}
    if len(shapes) == 1:
        return {"input": list(shapes[0]), "layers": [{"type": kind_name, **args}]}
    names = "abcdefgh"[:len(shapes)]
    return {"input": {n: list(s) for n, s in zip(names, shapes)},
            "layers": [{"type": kind_name, "inputs": list(names), **args}]}


@pytest.mark.parametrize(("kind_name", "args", "shape"), EXAMPLES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(EXAMPLES)])
def test_every_kind_matches_torch(kind_name, args, shape):
    cls = REGISTRY[kind_name]
    kind = cls.from_args(args)
    real = torch_counts(kind.torch_module(shape[0] if shape else ()), shape, kind.call_kwargs())
    row = cnnsize.analyze(one_layer(kind_name, args, shape)).layers[0]
    assert row.output_shape == real["output_shape"]
    assert (row.weights, row.biases, row.params, row.buffers) == (
        real["weights"], real["biases"], real["params"], real["buffers"])


def test_every_kind_has_an_example():
    assert {name for name, _, _ in EXAMPLES} == set(REGISTRY)


MAC_KINDS = [(n, a, s) for n, a, s in EXAMPLES
             if REGISTRY[n].family in ("conv", "linear") and REGISTRY[n].torch_name]


@pytest.mark.parametrize(("kind_name", "args", "shape"), MAC_KINDS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(MAC_KINDS)])
def test_macs_match_fvcore_and_flop_counter(kind_name, args, shape):
    kind = REGISTRY[kind_name].from_args(args)
    module = kind.torch_module(shape[0])
    pure = Conventions(elementwise_flops=False, bias=False)
    row = cnnsize.analyze(one_layer(kind_name, args, shape), conventions=pure).layers[0]
    assert row.flops == 2 * row.macs == flop_counter_flops(module, shape, kind.call_kwargs())
    if kind.call_kwargs():
        return  # fvcore's trace cannot pass forward keyword arguments (output_size)
    fv = fvcore_macs(module, shape)
    assert (fv is None and args.get("padding") in ("same", "valid")) or row.macs == fv


# ---------------------------------------------------------------- hypothesis over config spaces

def _conv_configs(draw, ndim: int, transposed: bool):
    c_in = draw(st.integers(1, 4))
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c_in % g == 0]))
    c_in *= 1
    out_channels = groups * draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 5)) for _ in range(ndim)]
    stride = [draw(st.integers(1, 3)) for _ in range(ndim)]
    dilation = [draw(st.integers(1, 3)) for _ in range(ndim)]
    padding = [draw(st.integers(0, 3)) for _ in range(ndim)]
    spatial = [draw(st.integers(1, 12)) for _ in range(ndim)]
    args = {"out_channels": out_channels, "kernel_size": kernel, "stride": stride,
            "padding": padding, "dilation": dilation, "groups": groups,
            "bias": draw(st.booleans())}
    if transposed:
        args["output_padding"] = [draw(st.integers(0, max(s, d) - 1))
                                  for s, d in zip(stride, dilation)]
    elif draw(st.booleans()) and all(s == 1 for s in stride):
        args["padding"] = draw(st.sampled_from(["same", "valid"]))
    return args, (c_in, *spatial)


@st.composite
def conv_case(draw):
    ndim = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    args, shape = _conv_configs(draw, ndim, transposed)
    name = f"conv{'transpose' if transposed else ''}{ndim}d"
    return name, args, shape


@st.composite
def pool_case(draw):
    ndim = draw(st.integers(1, 3))
    is_max = draw(st.booleans())
    kernel = [draw(st.integers(1, 4)) for _ in range(ndim)]
    dilation = [draw(st.integers(1, 2)) for _ in range(ndim)] if is_max else [1] * ndim
    padding = [draw(st.integers(0, k // 2 + 1)) for k in kernel]
    args = {"kernel_size": kernel, "padding": padding, "ceil_mode": draw(st.booleans())}
    if draw(st.booleans()):
        args["stride"] = [draw(st.integers(1, 3)) for _ in range(ndim)]
    if is_max:
        args["dilation"] = dilation
    else:
        args["count_include_pad"] = draw(st.booleans())
    shape = (draw(st.integers(1, 3)), *(draw(st.integers(1, 12)) for _ in range(ndim)))
    return f"{'max' if is_max else 'avg'}pool{ndim}d", args, shape


@st.composite
def adaptive_case(draw):
    ndim = draw(st.integers(1, 3))
    spatial = [draw(st.integers(1, 13)) for _ in range(ndim)]
    output = [draw(st.one_of(st.none(), st.integers(1, 9))) for _ in range(ndim)]
    name = f"adaptive{draw(st.sampled_from(['avg', 'max']))}pool{ndim}d"
    return name, {"output_size": output}, (draw(st.integers(1, 3)), *spatial)


@st.composite
def linear_case(draw):
    lead = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(0, 2)))]
    shape = (*lead, draw(st.integers(1, 50)))
    return "linear", {"out_features": draw(st.integers(1, 50)), "bias": draw(st.booleans())}, shape


def _raw_torch_module(name, args, shape):
    """The torch.nn module for raw spec arguments, without going through cnnsize."""
    cls = getattr(torch.nn, REGISTRY[name].torch_name)
    kwargs = dict(args)
    if REGISTRY[name].family == "conv":
        kwargs["in_channels"] = shape[0]
    if name == "linear":
        kwargs["in_features"] = shape[-1]
    return cls(**kwargs)


def _torch_refuses(name, args, shape):
    """Whether PyTorch rejects the configuration or gives an empty output."""
    try:
        real = torch_counts(_raw_torch_module(name, args, shape), (shape,), {})
    except (RuntimeError, ValueError, TypeError):
        return True
    return math.prod(real["output_shape"]) == 0


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(conv_case(), pool_case(), adaptive_case(), linear_case()))
def test_random_layers_agree_with_torch(case):
    name, args, shape = case
    spec = one_layer(name, args, (shape,))
    try:
        report = cnnsize.analyze(spec, conventions=Conventions(elementwise_flops=False))
    except CnnsizeError:
        assert _torch_refuses(name, args, shape), f"cnnsize refused a valid {name}{args}{shape}"
        return
    row = report.layers[0]
    kind = REGISTRY[name].from_args(args)
    module = kind.torch_module(shape)
    real = torch_counts(module, (shape,), {})
    assert row.output_shape == real["output_shape"]
    assert row.params == real["params"]
    if REGISTRY[name].family in ("conv", "linear"):
        assert 2 * row.macs == flop_counter_flops(module, (shape,), {})
        fv = fvcore_macs(module, (shape,))
        assert row.macs == fv or (fv is None and args.get("padding") in ("same", "valid"))
