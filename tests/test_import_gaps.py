"""Issue 11's gaps in `cnnsize import` and `crosscheck`: memory of modules that work in place on
the result of a torch function, modules written the way model libraries write them (timm's
BatchNormAct2d, Conv2dSame, StdConv2d), quantized models, several inputs, refusals that name
the op and where, and ops kept as `opaque` rows whose costs are not counted.

The torch side of each oracle is the ORIGINAL module: its own parameters, buffers and
torch.utils.flop_counter's FLOPs; torchvision's models (in the [zoo] environment) last.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnnsize
from cnnsize.errors import CnnsizeError

torch = pytest.importorskip("torch")
from cnnsize.verify.importer import from_module, module_to_spec  # noqa: E402

from . import models_for_import as m  # noqa: E402

ROOT = Path(__file__).parent.parent


def _oracle(module, shapes):
    """The original module's parameters (unique), buffers, flop_counter FLOPs, output shapes."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = module.eval()(*(torch.randn(1, *s) for s in shapes))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    params = sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())
    buffers = sum(b.numel() for b in module.buffers())
    return params, buffers, counter.get_total_flops(), [tuple(o.shape[1:]) for o in outs]


def _mismatches(result):
    return [(layer.name, c.quantity, c.predicted, c.measured) for layer in result.layers
            for c in layer.checks if c.status == "mismatch"] + [
        (c.quantity, c.predicted, c.measured) for c in result.totals if c.status == "mismatch"]


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- 1. memory of in-place ops


def test_in_place_modules_on_function_outputs_store_nothing_as_measured():
    """RegNet's ReLU(inplace=True) after `a + b` and SqueezeNet's Dropout after torch.cat:
    the add and the cat have no module hook, so crosscheck must see their results arrive as
    the next module's input (positionally or by keyword), or it measures the in-place ReLU and
    the eval-mode Dropout as new storage (the MISMATCH of regnet_y_400mf and squeezenet1_1)."""
    module = m.InPlaceOnFunctionOutputs()
    result = cnnsize.crosscheck(module, input_shape=(3, 8, 8), batch=2)
    assert result.ok, _mismatches(result)
    for row in ("act", "drop"):  # in place, and the input itself: no new storage
        check = next(c for c in {layer.name: layer for layer in result.layers}[row].checks
                     if c.quantity == "activation_bytes")
        assert (check.predicted, check.measured, check.status) == (0, 0, "match")


# ---------------------------------------------------------------- 2. library-style modules


def test_library_style_modules_import_exactly_by_what_they_compute():
    torch.manual_seed(0)
    module = m.LibraryStyleNet()
    params, buffers, flops, outs = _oracle(module, [(3, 15, 15)])
    report = cnnsize.analyze(from_module(module, (3, 15, 15)),
                             conventions=cnnsize.Conventions(elementwise_flops=False))
    rows = {r.name: r for r in report.layers}
    # BatchNormAct2d: its F.batch_norm with the running statistics (eval), then its act
    assert rows["bn1.batch_norm"].type == "batchnorm2d" and rows["bn1.act"].type == "relu"
    assert (rows["bn1.batch_norm"].params, rows["bn1.batch_norm"].buffers) == (16, 17)  # 2·8; 2·8 + 1
    # Conv2dSame: F.pad by what the input needs (15 → 17: (8 − 1)·2 + 3 − 15 = 2), F.conv2d
    # with the module's own weight; called twice, one module
    assert rows["stem.pad"].type == "pad" and rows["stem.pad"].args == (("pad", [1, 1, 1, 1]),)
    assert rows["stem.conv2d"].type == "conv2d" and rows["stem.conv2d"].params == 8 * 3 * 9
    assert rows["mix.conv2d_2"].shares == "mix.conv2d" and rows["mix.conv2d_2"].params == 0
    # StdConv2d: a conv with its 4·4·9 + 4 parameters; the standardisation is not a row
    assert rows["std.conv2d"].params == 148
    assert not any(r.name.startswith("std.") and r.type == "batchnorm1d" for r in report.layers)
    assert any("not per example" in note for note in report.notes)
    assert (report.totals.params, report.totals.buffers) == (params, buffers) == (1017, 26)
    assert report.totals.flops == 2 * report.totals.macs == flops
    assert [report[o].output_shape for o in report.outputs] == outs
    result = cnnsize.crosscheck(module, input_shape=(3, 15, 15), batch=2)
    assert result.ok, _mismatches(result)
    saved = next(c for c in result.totals if c.quantity == "saved_bytes")
    assert saved.status == "info" and "weight standardisation" in saved.note


def test_a_weight_computed_from_two_parameters_or_from_the_input_is_refused():
    with pytest.raises(CnnsizeError, match=r"conv2d in 0 \(ScaledStdConv2d\): its weight .* "
                                           r"parameters 0.gain, 0.weight"):
        from_module(torch.nn.Sequential(m.ScaledStdConv2d(3, 4, 3)), (3, 8, 8))

    class Dynamic(torch.nn.Module):  # a weight made from the input: not the model's state
        def forward(self, x):
            return torch.nn.functional.conv2d(x, x[:, :, :3, :3].transpose(0, 1).contiguous())

    with pytest.raises(CnnsizeError, match=r"conv2d in the model \(Dynamic\): its weight is not "
                                           r"a parameter or buffer of the model"):
        from_module(Dynamic(), (1, 6, 6))


def test_batch_norm_in_training_mode_at_inference_is_refused():
    class AlwaysTraining(torch.nn.BatchNorm2d):
        def forward(self, x):
            return torch.nn.functional.batch_norm(x, self.running_mean, self.running_var,
                                                  self.weight, self.bias, True, 0.1, self.eps)

    with pytest.raises(CnnsizeError, match=r"batch_norm .*training=True.*running statistics"):
        from_module(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), AlwaysTraining(4)), (3, 4, 4))


# ---------------------------------------------------------------- 3. quantized models


def test_a_quantized_model_counts_as_its_float_counterpart():
    torch.manual_seed(0)
    module = m.quantized_net()
    report = cnnsize.analyze(from_module(module, (3, 8, 8)))
    types = [(r.name, r.type) for r in report.layers]
    assert types[:3] == [("quant.quantize_per_tensor", "quantize"),
                         ("conv1.conv2d_relu", "conv2d"), ("conv1.conv2d_relu.relu", "relu")]
    assert ("add_relu", "add") in types and ("add_relu.relu", "relu") in types
    assert types[-1] == ("dequant.dequantize", "dequantize")
    # the packed weights and biases: 8·3·9 + 8, 8·8·9 + 8, 8·4 + 4 (none trains)
    assert report.totals.params == 224 + 584 + 36 and report.totals.trainable_params == 0
    # MACs of the float counterpart: 64 positions · (3·9·8 + 8·9·8) + 8·4
    assert report.totals.macs == 64 * (216 + 576) + 32
    assert report.totals.buffers == 2  # Quantize's scale and zero point
    assert any("quantized model" in note and "--dtype int8" in note for note in report.notes)
    result = cnnsize.crosscheck(module, input_shape=(3, 8, 8))
    assert result.ok, _mismatches(result)
    assert result.report.dtype == "int8"  # counted at 1 B per element


def test_a_method_is_never_read_as_a_module_argument():
    """nn.quantized.Conv2d's bias is a method: mapped to conv2d by its class, `bias:
    <bound method ...>` was written as an argument."""
    from cnnsize.verify.importer import _raw_args

    conv = m.quantized_net().conv2
    with pytest.raises(CnnsizeError, match=r"Conv2d.bias is a method, not the argument 'bias'"):
        _raw_args(conv, "conv2d")


# ---------------------------------------------------------------- 4. inputs and refusals


def test_several_inputs_by_name_or_in_forwards_order():
    proc = _cli("import", "tests.models_for_import:TwoInputs", "--input", "3,8,8",
                "--input", "1,8,8")
    assert proc.returncode == 0, proc.stderr
    assert "input: {image: [3, 8, 8], mask: [1, 8, 8]}" in proc.stdout
    few = _cli("import", "tests.models_for_import:TwoInputs", "--input", "3,8,8")
    assert few.returncode == 2 and "Traceback" not in few.stderr
    assert "TwoInputs.forward takes 2 inputs (image, mask), but 1 shape is given" in few.stderr
    with pytest.raises(CnnsizeError, match=r"forward takes 2 inputs \(image, mask\)"):
        from_module(m.TwoInputs(), [(3, 8, 8), (1, 8, 8), (1, 8, 8)])


def test_what_cannot_be_followed_is_named_once_with_where_and_what_to_do():
    with pytest.raises(CnnsizeError) as caught:
        from_module(m.OpaqueOps(), (3, 8, 8))
    text = str(caught.value)
    assert "torch's grid_sample in the model (OpaqueOps), for which cnnsize has no kind" in text
    assert text.count(";") < 6  # the causes, not every later use of what they made
    assert "--opaque" in text
    with pytest.raises(CnnsizeError) as wrapped:
        from_module(m.Preprocessed(), (3, 8, 8))
    text = str(wrapped.value)
    assert "sub in the model (Preprocessed) uses a tensor that forward creates" in text
    assert "--submodule PATH" in text and "backbone (260 params)" in text   # 3·4·9+4 + 4·4·9+4
    proc = _cli("import", "tests.models_for_import:Preprocessed", "--input", "3,8,8")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--submodule" in proc.stderr


def test_a_part_of_the_model_imports_with_submodule():
    proc = _cli("import", "tests.models_for_import:Preprocessed", "--input", "3,8,8",
                "--submodule", "backbone")
    assert proc.returncode == 0, proc.stderr
    assert "(its backbone)" in proc.stderr and "260 params" in proc.stderr
    bad = _cli("import", "tests.models_for_import:Preprocessed", "--input", "3,8,8",
               "--submodule", "backbon")
    assert bad.returncode == 2 and "did you mean 'backbone'" in bad.stderr
    spec = _cli("crosscheck", "lenet5", "--submodule", "x")
    assert spec.returncode == 2 and "--submodule is for a factory" in spec.stderr


# ---------------------------------------------------------------- 5. opaque rows


def test_opaque_rows_keep_the_traced_shape_and_count_nothing_they_cannot():
    torch.manual_seed(0)
    module = m.OpaqueOps()
    params, _, _, outs = _oracle(module, [(3, 8, 8)])
    report = cnnsize.analyze(from_module(module, (3, 8, 8), opaque=True))
    rows = {r.name: r for r in report.layers}
    assert rows["grid_sample"].type == "opaque" and rows["grid_sample"].output_shape == (4, 8, 8)
    assert rows["unfold.unfold"].output_shape == (16, 16) and not rows["unfold.unfold"].counted
    assert rows["grid_sample"].inputs == ("conv", "permute")
    assert report.totals.params == params and report["mean"].output_shape == outs[0]
    # never a zero: n/c in the row, lower bounds (≥) in the totals, a line saying why
    text = report.render("text")
    line = next(s for s in text.splitlines() if s.startswith("grid_sample"))
    assert line.split()[-5:-1] == ["n/c"] * 4        # connections, MACs, FLOPs, memory
    assert "total" in text and "≥" in text.split("\ntotal")[1].splitlines()[0]
    assert "not counted: 2 rows (grid_sample, unfold.unfold)" in text
    md_row = next(s for s in report.render("markdown").splitlines() if s.startswith("| grid_sample"))
    assert [c.strip() for c in md_row.split("|")].count("n/c") == 4
    csv_row = next(s for s in report.render("csv").splitlines() if s.startswith("grid_sample"))
    assert csv_row.count("n/c") == 5                 # connections, MACs, FLOPs, memory, saved
    data = json.loads(report.render("json"))
    entry = next(e for e in data["layers"] if e["name"] == "grid_sample")
    assert entry["counted"] is False and entry["macs"] is None and entry["flops"] is None
    assert data["not_counted"] == ["grid_sample", "unfold.unfold"]
    assert "counted" not in data["layers"][0]        # counted rows are as before
    result = cnnsize.crosscheck(module, input_shape=(3, 8, 8), opaque=True, batch=2)
    assert result.ok, _mismatches(result)


def test_import_opaque_on_the_command_line_writes_a_spec_that_loads_back(tmp_path):
    out = tmp_path / "opaque.yaml"
    proc = _cli("import", "tests.models_for_import:OpaqueOps", "--input", "3,8,8", "--opaque",
                "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "2 opaque rows not counted (grid_sample, unfold.unfold)" in proc.stderr
    assert "type: opaque" in out.read_text() and "op: grid_sample" in out.read_text()
    report = cnnsize.analyze(out)
    assert [r.name for r in report.layers if not r.counted] == ["grid_sample", "unfold.unfold"]
    refused = _cli("import", "tests.models_for_import:OpaqueOps", "--input", "3,8,8")
    assert refused.returncode == 2 and "grid_sample" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_an_opaque_row_written_by_hand():
    spec = {"input": {"x": [4, 6, 6], "grid": [5, 5, 2]}, "layers": [
        {"name": "c", "type": "conv2d", "out_channels": 4, "kernel_size": 1, "inputs": "x"},
        {"name": "warp", "type": "opaque", "op": "grid_sample", "shape": [4, 5, 5],
         "inputs": ["c", "grid"]},
        {"name": "r", "type": "relu"}]}
    report = cnnsize.analyze(spec)
    assert report["warp"].output_shape == (4, 5, 5) and report["r"].input_shapes == ((4, 5, 5),)
    assert report.totals.macs == 4 * 4 * 36                 # the conv's alone: 4·4·6·6 = 576
    explain = report.render("text", explain=True)
    assert "grid_sample: not counted (cnnsize has no formulas for it)" in explain
    assert not any("FLOPs = 0" in line for line in report["warp"].explain)
    result = cnnsize.crosscheck(spec)  # built: a stand-in of its shape, its memory not compared
    assert result.ok, _mismatches(result)
    assert any("stand-ins" in note for note in result.notes)


# ---------------------------------------------------------------- torchvision (the [zoo] extra)


def test_torchvision_regnet_and_squeezenet_crosscheck_exactly():
    models = pytest.importorskip("torchvision.models")
    for name in ("regnet_y_400mf", "squeezenet1_1"):
        result = cnnsize.crosscheck(models.get_model(name), input_shape=(3, 224, 224))
        assert result.ok, (name, _mismatches(result)[:3])


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_quantized_models_count_as_their_float_models(name):
    quantization = pytest.importorskip("torchvision.models.quantization")
    import torchvision.models as models
    from torch.utils.flop_counter import FlopCounterMode

    from cnnsize.verify.importer import quantized_weights

    module = getattr(quantization, name)(quantize=True)
    report = cnnsize.analyze(from_module(module, (3, 224, 224)))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        models.get_model(name).eval()(torch.randn(1, 3, 224, 224))
    assert 2 * report.totals.macs == counter.get_total_flops()   # the float model's FLOPs
    weights = models.get_model_weights(f"quantized_{name}").DEFAULT
    assert round(report.totals.macs / 1e9, 3) == pytest.approx(weights.meta["_ops"], abs=1e-3)
    # BatchNorm is folded into the convolutions' biases: fewer than the float model's params
    assert report.totals.params == quantized_weights(module) < weights.meta["num_params"]


def test_torchvision_raft_and_detection_say_what_is_out_of_scope():
    pytest.importorskip("torchvision.models")
    raft = _cli("import", "torchvision.models.optical_flow:raft_small", "--input", "3,128,128",
                "--input", "3,128,128")
    assert raft.returncode == 2 and "Traceback" not in raft.stderr
    assert "div in the model (RAFT)" in raft.stderr and "raft.py" in raft.stderr
    one = _cli("import", "torchvision.models.optical_flow:raft_small", "--input", "3,128,128")
    assert one.returncode == 2 and "RAFT.forward takes 2 to 3 inputs (image1, image2" in one.stderr
    args = ["torchvision.models.detection:fasterrcnn_mobilenet_v3_large_320_fpn",
            "--input", "3,320,320", "--kwargs", '{"weights_backbone": null}']
    detection = _cli("import", *args)
    assert detection.returncode == 2 and "Traceback" not in detection.stderr
    assert "transform (GeneralizedRCNNTransform)" in detection.stderr
    assert "--submodule PATH" in detection.stderr and "backbone (" in detection.stderr
    backbone = _cli("crosscheck", *args, "--submodule", "backbone")
    assert backbone.returncode == 0, backbone.stderr[-2000:]
    assert "all match" in backbone.stdout


def test_spec_written_from_an_import_with_notes_loads_back():
    spec, _, _ = module_to_spec(m.LibraryStyleNet(), (3, 15, 15))
    assert spec["meta"]["prepared_weights"] == ["std.conv2d"]
    assert cnnsize.analyze(spec).totals.params == 1017
