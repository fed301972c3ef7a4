"""Specs written from slides and Keras tutorials: the mistakes a student makes copying them get
a message that names the fix (channels-last inputs, a linear layer without flatten, Keras's
names), and a zoo network made for one input refuses another as PyTorch's module does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import cnnsize
from cnnsize import CnnsizeError, ShapeError, SpecError
from cnnsize.spec import zoo_names

LENET = [{"name": "C1", "type": "conv2d", "out_channels": 6, "kernel_size": 5},
         {"type": "relu"},
         {"name": "S2", "type": "maxpool2d", "kernel_size": 2},
         {"name": "C3", "type": "conv2d", "out_channels": 16, "kernel_size": 5},
         {"type": "relu"},
         {"name": "S4", "type": "maxpool2d", "kernel_size": 2},
         {"type": "flatten"},
         {"name": "F5", "type": "linear", "out_features": 120}]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], capture_output=True,
                          text=True, timeout=120)


def write(tmp_path: Path, spec: dict[str, Any], name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def refused(tmp_path: Path, spec: dict[str, Any], *args: str) -> str:
    """The CLI's message for a spec it refuses: exit 2, one message, no traceback."""
    proc = cli("report", write(tmp_path, spec), *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


# ---------------------------------------------------------------- channels-last inputs


def test_an_mnist_input_copied_from_keras_is_read_channels_first(tmp_path):
    # the slide's "input 32x32x1": C = 32, H = 32, W = 1, and C1's 5x5 kernel is wider than W
    spec = {"input": [32, 32, 1], "layers": LENET}
    with pytest.raises(ShapeError) as info:
        cnnsize.analyze(spec)
    e = info.value
    assert (e.source, e.path, e.field) == ("<dict>", "C1", "output W")
    assert "did you mean [1, 32, 32]? (with it, the spec works)" in (e.hint or "")
    assert "padding" not in (e.hint or "")  # not "kernel_size 5 needs padding >= 2"
    err = refused(tmp_path, spec)
    assert "net.yaml: C1 (conv2d): output W: output size would be -3" in err
    assert "did you mean [1, 32, 32]?" in err


def test_a_channels_last_imagenet_input_against_in_channels(tmp_path):
    spec = {"input": [224, 224, 3], "layers": [
        {"name": "conv1", "type": "conv2d", "in_channels": 3, "out_channels": 64,
         "kernel_size": 3, "padding": 1}]}
    err = refused(tmp_path, spec)
    assert "conv1 (conv2d): in_channels: is 3 but the input to this layer has 224" in err
    assert "expected input[1, 224, 224, 3] to have 3 channels, but got 224 channels" in err
    assert "did you mean [3, 224, 224]?" in err


def test_a_channels_last_input_that_runs_gets_a_note():
    # 224 channels of 224×3: it runs, and the counts are nonsense; the report says so
    report = cnnsize.analyze({"input": [224, 224, 3], "layers": [
        {"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1}]})
    assert any("looks channels-last" in n and "did you mean [3, 224, 224]?" in n
               for n in report.notes)
    assert "did you mean [3, 224, 224]?" in report.render("text")


@pytest.mark.parametrize("shape", [[3, 32, 32], [64, 1, 1], [1, 28, 28], [16, 7, 3], [3, 101]])
def test_channels_first_inputs_are_left_alone(shape):
    report = cnnsize.analyze({"input": shape, "layers": [{"type": "relu"}]})
    assert not any("channels-last" in n for n in report.notes)


# ---------------------------------------------------------------- linear without flatten


def test_a_linear_layer_without_flatten_is_flagged(tmp_path):
    # the slide draws F5 after S4 and the student leaves out the flatten: PyTorch applies
    # nn.Linear to the last dim, W = 5, so F5 has 5·120 = 600 weights, not 400·120 = 48,000
    spec = {"input": [1, 32, 32], "layers": [layer for layer in LENET if layer["type"] != "flatten"]}
    row = cnnsize.analyze(spec)["F5"]
    assert row.weights == 5 * 120 and row.output_shape == (16, 5, 120)
    assert any(n.startswith("applied to the last dim (W=5) of its 16×5×5 input") and
               "add a flatten before it if you meant a fully connected layer" in n
               for n in row.notes)
    assert "weights = N_in·N_out = 5·120 = 600 (N_in is the last dim, W = 5: with a flatten " \
           "before it, N_in = 400)" in row.explain
    out = cli("report", write(tmp_path, spec)).stdout
    assert "⚠ F5: applied to the last dim (W=5)" in out
    # `check` shows the formula with the reason next to a wrong count
    claims = tmp_path / "claims.yaml"
    claims.write_text(f"spec: {tmp_path / 'net.yaml'}\nlayers:\n  F5: {{weights: 48000}}\n")
    checked = cli("check", str(claims))
    assert checked.returncode == 1, checked.stderr
    assert "N_in is the last dim, W = 5: with a flatten before it, N_in = 400" in checked.stdout



def test_a_linear_layer_over_channels_is_not_flagged():
    """ConvNeXt's MLP: a permute to channels-last, then linear over C, is meant; the note is
    for a linear over a spatial dim only."""
    spec = {"input": [8, 4, 4], "layers": [
        {"name": "last", "type": "permute", "dims": [0, 2, 3, 1]},
        {"name": "mlp", "type": "linear", "out_features": 16},
        {"name": "back", "type": "permute", "dims": [0, 3, 1, 2]},
        {"name": "over_w", "type": "linear", "out_features": 2}]}
    report = cnnsize.analyze(spec)
    assert report["mlp"].output_shape == (4, 4, 16)
    assert not any("applied to the last dim" in n for n in report["mlp"].notes)
    assert any("applied to the last dim (W=4)" in n for n in report["over_w"].notes)


def test_a_linear_layer_after_flatten_has_no_such_note():
    assert not cnnsize.analyze({"input": [1, 32, 32], "layers": LENET})["F5"].notes


# ---------------------------------------------------------------- Keras's names


def keras_error(tmp_path: Path, layers: list[dict[str, Any]], input_: Any = (1, 28, 28)
                ) -> tuple[SpecError, str]:
    spec = {"input": list(input_), "layers": layers}
    with pytest.raises(SpecError) as info:
        cnnsize.analyze(spec)
    return info.value, refused(tmp_path, spec)


def test_keras_dense_is_linear_with_out_features(tmp_path):
    e, err = keras_error(tmp_path, [{"type": "Flatten"}, {"name": "fc", "type": "Dense",
                                                          "units": 10}])
    assert (e.path, e.field) == ("fc", "type")
    assert e.hint == ("Keras's Dense is linear with out_features (Keras's units): {type: linear, "
                      "out_features: 10}; a flatten comes before it after a convolution")
    assert "net.yaml: fc (dense): type: unknown layer type 'dense'" in err


def test_keras_conv2d_arguments_are_named_as_pytorchs(tmp_path):
    # Conv2D(32, 3, strides=1, activation='relu'): every Keras argument named at once
    e, err = keras_error(tmp_path, [{"name": "c1", "type": "Conv2D", "filters": 32,
                                     "kernel_size": 3, "strides": 1, "activation": "relu"}])
    assert (e.path, e.kind, e.field) == ("c1", "conv2d", "filters")
    hint = e.hint or ""
    assert hint.startswith("did you mean 'out_channels'? Keras's filters is out_channels; "
                           "Keras's strides is stride; activation: an activation is a layer")
    assert "add {type: relu} after this one" in hint
    assert "c1 (conv2d): filters: unknown argument 'filters' for conv2d" in err


@pytest.mark.parametrize(("layer", "field", "says"), [
    ({"type": "MaxPooling2D", "pool_size": 2}, "type", "Keras's MaxPooling2D is maxpool2d with "
                                                       "kernel_size (Keras's pool_size)"),
    ({"type": "maxpool2d", "pool_size": 2}, "pool_size", "did you mean 'kernel_size'? Keras's "
                                                         "pool_size is kernel_size"),
    ({"type": "maxpool2d", "kernel_size": 2, "padding": "same"}, "padding",
     "ceil_mode: true gives that size"),
    ({"type": "maxpool2d", "kernel_size": 2, "padding": "valid"}, "padding",
     "Keras's padding='valid' is padding: 0"),
    ({"type": "GlobalAveragePooling2D"}, "type", "adaptiveavgpool2d with output_size: 1, then a "
                                                 "flatten"),
    ({"type": "BatchNormalization"}, "type", "batchnorm2d after a convolution"),
    ({"type": "dropout", "rate": 0.5}, "rate", "Keras's rate is p"),
    ({"type": "conv2d", "out_channels": 8, "kernel_size": 3, "use_bias": False}, "use_bias",
     "Keras's use_bias is bias"),
])
def test_keras_names_get_a_did_you_mean(tmp_path, layer, field, says):
    e, err = keras_error(tmp_path, [{"name": "x", **layer}])
    assert (e.path, e.field) == ("x", field)
    assert says in (e.hint or ""), e.hint
    assert says in err


def test_keras_same_padding_on_a_strided_conv_names_the_padding_that_matches():
    # Conv2D(32, 3, strides=2, padding='same'): PyTorch refuses 'same' with a stride; padding 1
    # gives floor((W + 2 − 3)/2) + 1 = ceil(W/2), Keras's size
    with pytest.raises(SpecError) as info:
        cnnsize.analyze({"input": [3, 224, 224], "layers": [
            {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2,
             "padding": "same"}]})
    assert info.value.hint == "use an explicit padding: padding: 1 gives Keras's 'same' size, " \
                              "ceil(W/S), for this odd kernel"
    plain = cnnsize.analyze({"input": [3, 224, 224], "layers": [
        {"type": "conv2d", "out_channels": 32, "kernel_size": 3, "stride": 2, "padding": 1}]})
    assert plain.layers[0].output_shape == (32, 112, 112)  # ceil(224/2)


def test_keras_input_shape_is_the_specs_input(tmp_path):
    spec = {"input_shape": [28, 28, 1], "layers": [{"type": "flatten"}]}
    with pytest.raises(SpecError) as info:
        cnnsize.analyze(spec)
    assert info.value.field == "input_shape"
    assert "did you mean 'input'?" in (info.value.hint or "")
    assert "[28, 28, 1] is input: [1, 28, 28]" in refused(tmp_path, spec)


# ---------------------------------------------------------------- a changed input


def test_the_zoo_lenet5_refuses_an_mnist_input_as_pytorch_does():
    # 28x28: C1 24, S2 12, C3 8, S4 4: 16·4·4 = 256 features reach F5, made for 16·5·5 = 400
    proc = cli("report", "lenet5", "--input", "1,28,28")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("cnnsize: error: zoo:lenet5: F5 (linear): in_features: is 400 "
                                  "but the input to this layer has 256")
    assert "mat1 and mat2 shapes cannot be multiplied (1x256 and 400x120)" in proc.stderr
    assert "the spec is written for input 1×32×32" in proc.stderr
    with pytest.raises(ShapeError) as info:
        cnnsize.analyze("lenet5", input_shape=(1, 28, 28))
    assert (info.value.path, info.value.field) == ("F5", "in_features")


def test_a_zoo_module_refuses_other_input_channels():
    # a grayscale image into torchvision's resnet18: conv1's weight is 64×3×7×7
    proc = cli("report", "resnet18", "--input", "1,224,224")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "conv1 (conv2d): in_channels: is 3 but the input to this layer has 1" in proc.stderr
    assert "weight of size [64, 3, 7, 7], expected input[1, 1, 224, 224] to have 3 channels, " \
           "but got 1 channels instead" in proc.stderr


def test_an_adaptive_pool_lets_a_zoo_module_take_other_sizes():
    # as torchvision's: the pinned in_features is what the adaptive pool always gives
    report = cnnsize.analyze("resnet18", input_shape=(3, 320, 320))
    assert report["fc"].weights == 512 * 1000 and not report["fc"].notes


def _unpinned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unpinned(v) for k, v in value.items() if k not in ("in_features", "in_channels")}
    if isinstance(value, list):
        return [_unpinned(v) for v in value]
    return value


@pytest.mark.parametrize("name", zoo_names())
def test_the_zoo_pins_change_nothing_at_the_specs_own_input(name):
    from importlib import resources

    text = (resources.files("cnnsize") / "zoo" / f"{name}.yaml").read_text(encoding="utf-8")
    free = cnnsize.analyze(_unpinned(yaml.safe_load(text)))
    pinned = cnnsize.analyze(name)
    assert pinned.to_dict() | {"name": None} == free.to_dict() | {"name": None}


def test_a_spec_that_does_not_pin_a_size_says_when_it_changed():
    # the student's own LeNet (no in_features) at 28x28: F5 gets 256 features, not 400
    report = cnnsize.analyze({"input": [1, 32, 32], "layers": LENET}, input_shape=(1, 28, 28))
    f5 = report["F5"]
    assert f5.weights == 256 * 120  # 30,720
    note = next(n for n in f5.notes if n.startswith("its size is inferred from its input"))
    assert "30,840 parameters for the 256 features it gets here, 48,120 for the 400 features " \
           "it gets with the spec's own input 1×32×32" in note
    # only F5 changes: every other layer has the parameters it has at 32x32
    assert [r.name for r in report.layers if any("inferred from its input" in n
                                                 for n in r.notes)] == ["F5"]
    # the paper's AlexNet fed the 224x224 image the paper speaks of: fc6 gets 6400, not 9216
    at_224 = cnnsize.analyze("alexnet_2012", input_shape=(3, 224, 224))
    assert any("6,400" in n and "9,216" in n for n in at_224["fc6"].notes)
    assert not cnnsize.analyze("alexnet_2012")["fc6"].notes


def test_an_error_that_only_another_input_causes_says_so(tmp_path):
    spec = {"input": [1, 32, 32], "layers": LENET[:4]}
    err = refused(tmp_path, spec, "--input", "1,8,8")
    assert "the spec is written for input 1×32×32, with which this layer gets what it expects; " \
           "the input 1×8×8 changes that" in err


def test_every_message_here_is_a_cnnsize_error_with_a_location():
    for spec in ({"input": [32, 32, 1], "layers": LENET},
                 {"input": [1, 28, 28], "layers": [{"type": "Dense", "units": 10}]}):
        with pytest.raises(CnnsizeError) as info:
            cnnsize.analyze(spec)
        assert info.value.source == "<dict>" and info.value.path and info.value.hint
