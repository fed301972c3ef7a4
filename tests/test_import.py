"""from_module: PyTorch models into specs, checked against the models themselves."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

import cnnsize
from cnnsize.errors import CnnsizeError

torch = pytest.importorskip("torch")
from cnnsize.verify.build import build  # noqa: E402
from cnnsize.verify.importer import from_module, module_to_spec  # noqa: E402

from .models_for_import import DataDependent, WithUpsample, small_net  # noqa: E402

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "resnet18", "squeezenet1_0", "googlenet",
                                  "mobilenet_v2", "efficientnet_b0", "inception_v3",
                                  "densenet121", "lenet5_1998"])
def test_zoo_round_trip(name):
    """Built from the spec, then imported back: the same graph, row for row."""
    report = cnnsize.analyze(name)
    imported = cnnsize.analyze(from_module(build(name), report.input_shape))
    assert imported.totals.to_dict() == report.totals.to_dict()
    assert [(r.name, r.type, r.inputs, r.output_shape) for r in imported.layers] == \
        [(r.name, r.type, r.inputs, r.output_shape) for r in report.layers]


def test_hand_written_model_matches_itself():
    model = small_net()
    network = from_module(model, (3, 32, 32))
    report = cnnsize.analyze(network)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())
    names = [r.name for r in report.layers]
    # module paths carry over; a module called twice gets a row per call, sharing the module;
    # torch functions are named after the module whose forward calls them
    assert {"layer1.0.conv1", "layer1.0.relu", "layer1.0.relu_2", "layer1.1.downsample.0",
            "se.fc1", "mixed.branch3x3_2", "fc", "max_pool2d", "flatten"} <= set(names)
    assert report["layer1.0.relu_2"].shares == "layer1.0.relu"
    assert report["layer1.0.add"].inputs == ("layer1.0.bn2", "max_pool2d")   # the identity skip
    assert report["se.mul"].type == "mul" and report["se.mul"].inputs == ("se.sigmoid", "layer1.1.relu_2")
    assert report["mixed.cat"].type == "cat" and report["mixed.cat"].output_shape == (20, 4, 4)
    assert report["mixed.cat"].inputs == ("mixed.branch1x1", "mixed.branch3x3_2", "mixed.branch_pool")
    from fvcore.nn import FlopCountAnalysis

    fv = FlopCountAnalysis(model.eval(), torch.randn(1, 3, 32, 32))
    fv.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    conv_linear = sum(v for k, v in fv.by_module().items()
                      if isinstance(model.get_submodule(k) if k else model, (torch.nn.Conv2d, torch.nn.Linear)))
    assert report.totals.macs == conv_linear


def test_crosscheck_leaves_the_user_model_alone():
    model = small_net().train()
    before = copy.deepcopy(model.state_dict())
    result = cnnsize.crosscheck(model, input_shape=(3, 32, 32), batch=2)
    assert result.ok, result.summary()
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).device.type == "cpu"


def test_yaml_export_loads_back(tmp_path):
    spec, _, method = module_to_spec(small_net(), (3, 32, 32), "Small")
    from cnnsize.spec import dump_yaml

    path = tmp_path / "small.yaml"
    path.write_text(dump_yaml(spec))
    assert method == "one traced forward pass"
    assert cnnsize.analyze(path).totals.params == sum(p.numel() for p in small_net().parameters())


def test_a_forward_that_reads_tensor_values_is_refused_or_followed():
    with pytest.raises(CnnsizeError, match=r"reads tensor values.*__bool__ at .*models_for_import.py:\d+"):
        module_to_spec(DataDependent(), (3, 32, 32))
    spec, _, method = module_to_spec(DataDependent(), (3, 32, 32), allow_data_dependent=True)
    assert "the path this input takes" in method
    report = cnnsize.analyze(spec)
    # the functional torch.relu that forward hooks could not see is a row
    assert [r.name for r in report.layers] == ["conv", "relu", "pool", "flat", "fc"]
    assert report.totals.params == sum(p.numel() for p in DataDependent().parameters())


def test_unsupported_layers_are_named():
    with pytest.raises(CnnsizeError, match=r"up \(Upsample\)"):
        from_module(WithUpsample(), (3, 8, 8))


def test_import_command(tmp_path):
    out = tmp_path / "net.yaml"
    proc = subprocess.run([sys.executable, "-m", "cnnsize", "import",
                           "tests.models_for_import:small_net", "--input", "3,32,32", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "one traced forward pass" in proc.stderr
    assert cnnsize.analyze(out).totals.params == sum(p.numel() for p in small_net().parameters())
    bad = subprocess.run([sys.executable, "-m", "cnnsize", "import", "no.such.module:f",
                          "--input", "3,8,8"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr




@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet50", "mobilenet_v2", "googlenet"])
def test_torchvision_models_equal_the_zoo(name):
    models = pytest.importorskip("torchvision.models")
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    imported = cnnsize.analyze(from_module(getattr(models, name)(**kwargs), (3, 224, 224)))
    zoo = cnnsize.analyze(name)
    assert (imported.totals.params, imported.totals.macs) == (zoo.totals.params, zoo.totals.macs)
