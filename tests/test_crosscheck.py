"""crosscheck: every zoo entry against its real torch model, and random specs likewise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import cnnsize
from cnnsize.errors import CnnsizeError

torch = pytest.importorskip("torch")
from cnnsize.verify import crosscheck as cc  # noqa: E402


@pytest.mark.parametrize("name", cnnsize.zoo_names())
def test_every_zoo_entry_passes_crosscheck(name):
    result = cnnsize.crosscheck(name, batch=2)
    mismatches = [(layer.name, c) for layer in result.layers for c in layer.checks
                  if c.status == cc.MISMATCH]
    assert result.ok and not mismatches, mismatches[:3]
    counts = result.counts()
    assert counts[cc.MATCH] >= 3 * len(result.layers)  # shape, params, buffers at least


def test_a_wrong_prediction_is_caught(monkeypatch):
    real_build = cc.build

    def tampered(net):  # the real model has an extra channel in C3
        model = real_build(net)
        model.C3 = torch.nn.Conv2d(6, 17, 5)
        model.S4 = torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.Conv2d(17, 16, 1))
        return model

    monkeypatch.setattr(cc, "build", tampered)
    result = cnnsize.crosscheck("lenet5")
    assert not result.ok
    c3 = next(layer for layer in result.layers if layer.name == "C3")
    assert c3.get("output_shape").status == cc.MISMATCH
    assert c3.get("params").predicted == 2_416 and c3.get("params").measured == 2_567  # 6·25·17 + 17
    assert "✗" in result.render("text")


def test_json_adds_measured_fields():
    data = cnnsize.crosscheck("alexnet").to_dict()
    assert data["totals"]["params"] == 61_100_840 and data["crosscheck"]["ok"]
    conv1 = data["layers"][0]
    assert conv1["measured"]["output_shape"] == [64, 55, 55]
    assert conv1["measured"]["macs"] == 70_276_800          # fvcore, batch 1
    assert conv1["measured"]["flops"] == 2 * 70_276_800     # torch.utils.flop_counter


def test_reference_tools_that_skip_a_kind_are_not_mismatches():
    result = cnnsize.crosscheck("lenet5_1998")
    rbf = next(layer for layer in result.layers if layer.type == "rbf")
    assert rbf.get("macs").status == cc.NOT_COUNTED   # fvcore has no handle for its ops
    assert result.ok


def test_cli_exit_status_and_formats(tmp_path):
    run = [sys.executable, "-m", "cnnsize", "crosscheck"]
    ok = subprocess.run([*run, "resnet18", "--batch", "2"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "all match" in ok.stdout
    out = tmp_path / "x.json"
    subprocess.run([*run, "lenet5", "--format", "json", "-o", str(out)], check=True, timeout=300,
                   capture_output=True)
    assert json.loads(out.read_text())["crosscheck"]["counts"]["mismatch"] == 0
    bad = subprocess.run([*run, "lenet5", "--device", "cuda" if not torch.cuda.is_available() else "xla"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_crosscheck_reports_peak_memory():
    result = cnnsize.crosscheck("resnet18", device="cuda", batch=4)
    assert result.ok
    peak = next(c for c in result.totals if c.quantity == "cuda_peak_bytes")
    assert peak.measured >= peak.predicted * 0.5


# ---------------------------------------------------------------- random specs, built and run

@st.composite
def random_stack(draw):
    c = draw(st.integers(1, 6))
    size = draw(st.integers(8, 24))
    layers = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "norm", "act"]))
        if kind == "conv":
            groups = draw(st.sampled_from([1, 2]))
            layers.append({"type": "conv2d", "out_channels": groups * draw(st.integers(1, 4)),
                           "kernel_size": draw(st.integers(1, 5)), "stride": draw(st.integers(1, 3)),
                           "padding": draw(st.integers(0, 2)), "dilation": draw(st.integers(1, 2)),
                           "groups": groups, "bias": draw(st.booleans())})
        elif kind == "pool":
            k = draw(st.integers(1, 3))
            layers.append({"type": draw(st.sampled_from(["maxpool2d", "avgpool2d"])),
                           "kernel_size": k, "stride": draw(st.integers(1, 3)),
                           "padding": draw(st.integers(0, k // 2)), "ceil_mode": draw(st.booleans())})
        elif kind == "norm":
            layers.append({"type": "batchnorm2d"})
        else:
            layers.append({"type": draw(st.sampled_from(["relu", "gelu", "sigmoid", "tanh", "silu",
                                                         "hardswish", "leakyrelu", "elu"]))})
    layers += [{"type": "flatten"}, {"type": "linear", "out_features": draw(st.integers(1, 8))}]
    return {"input": [c, size, size], "layers": layers}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_stack())
def test_random_specs_agree_with_their_torch_models(spec):
    try:
        cnnsize.analyze(spec)
    except CnnsizeError:
        assume(False)
    result = cnnsize.crosscheck(spec, batch=2)
    mismatches = [(layer.name, c) for layer in result.layers for c in layer.checks
                  if c.status == cc.MISMATCH]
    assert result.ok, (spec, mismatches[:3])


# ---------------------------------------------------------------- the reference tools, counted faster

class _Mixed(torch.nn.Module):
    """conv, batch norm, linear, matmul, einsum, upsample and a module called twice."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        y = torch.nn.functional.interpolate(self.bn(self.conv(x)), scale_factor=2)
        z = torch.einsum("bchw,bdhw->bcd", y, y) @ self.fc.weight
        return self.fc(self.fc(z)).sum() + torch.nn.functional.adaptive_avg_pool2d(y, 1).sum()


def test_one_trace_and_the_dispatch_mode_count_as_the_tools_do():
    from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode

    model, xs = _Mixed().eval(), (torch.randn(2, 3, 8, 8),)
    macs, acts = cc._fvcore(model, xs)
    # fvcore's own einsum handle rounds a contraction to the 4 digits numpy prints: the einsum
    # here, b·c·d·h·w = 2·8·8·16·16 = 32,768 MACs, is 6.554e+04 / 2 = 32,770 there (the total
    # 73,730 for 73,728); crosscheck's handle counts it exactly, fvcore's way otherwise
    own = FlopCountAnalysis(model, xs[0]).unsupported_ops_warnings(False)
    assert dict(own.by_module())[""] == 73_730 and macs[""] == 73_728
    exact = FlopCountAnalysis(model, xs[0]).unsupported_ops_warnings(False)
    exact.set_op_handle("aten::einsum", cc._einsum_macs(None))
    assert macs == dict(exact.by_module())
    assert acts == dict(ActivationCountAnalysis(model, xs[0]).unsupported_ops_warnings(False).by_module())
    flops = cc._flop_counter(model, xs)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(*xs)
    by_key = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    assert flops == {"": by_key["Global"]} | {k.split(".", 1)[1]: v for k, v in by_key.items() if "." in k}
    assert flops["fc"] == 2 * 2 * (2 * 8 * 8 * 8)  # 2 calls · 2 FLOPs per MAC · (b·c·in·out)


def test_crosscheck_does_not_load_dynamo():
    code = ("import sys, cnnsize; assert cnnsize.crosscheck('lenet5').ok; "
            "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo costs ~1 s of CPU to import'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_a_crosscheck_leaves_nothing_of_its_model_alive(monkeypatch):
    """The training-mode forward that measures saved tensors must not leave its autograd graph
    (and with it the model's parameters) in a reference cycle through C++: crosscheck after
    crosscheck of VGG once grew the process by the model's size each time."""
    import gc
    import weakref

    real_build, built = cc.build, []

    def recording(net):
        model = real_build(net)
        built.append(weakref.ref(model))
        built.extend(weakref.ref(p) for p in model.parameters())
        return model

    monkeypatch.setattr(cc, "build", recording)
    assert cnnsize.crosscheck("lenet5", batch=2).ok
    gc.collect()
    assert built and all(ref() is None for ref in built)
