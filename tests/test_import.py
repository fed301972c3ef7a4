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

from .models_for_import import DataDependent, WithUnfold, small_net  # noqa: E402

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
    with pytest.raises(CnnsizeError, match=r"fold \(Unfold\)"):
        from_module(WithUnfold(), (3, 8, 8))


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


# ---------------------------------------------------------------- graphs a tree could not say

from . import models_for_import as m  # noqa: E402


def _oracle(module, shapes):
    """The ORIGINAL module's own figures: unique parameters, flop_counter FLOPs, output shapes."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = module.eval()(*(torch.randn(1, *s) for s in shapes))
    outs = out if isinstance(out, (tuple, list)) else (out,)
    params = sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())
    return params, counter.get_total_flops(), [tuple(o.shape[1:]) for o in outs]


GRAPHS = [
    ("dense_block", m.DenseBlock, [(8, 8, 8)]),
    ("unet", m.TinyUNet, [(3, 16, 16)]),
    ("fpn", m.TinyFPN, [(3, 32, 32)]),
    ("two_inputs", m.TwoInputs, [(3, 8, 8), (1, 8, 8)]),
    ("shared", m.SharedConv, [(4, 6, 6)]),
    ("cat_width", m.CatWidth, [(2, 8, 8)]),
    ("output_size", m.TransposedWithSize, [(3, 16, 16)]),
    ("view", m.ViewFlatten, [(3, 32, 32)]),
    ("lists", m.ListNet, [(3, 8, 8)]),
    ("guarded", lambda: m.GuardedClassifier(m.small_net()), [(3, 32, 32)]),
]


@pytest.mark.parametrize(("name", "factory", "shapes"), GRAPHS, ids=[g[0] for g in GRAPHS])
def test_graphs_import_exact_against_the_original(name, factory, shapes):
    torch.manual_seed(0)
    module = factory()
    before = copy.deepcopy(module.state_dict())
    params, flops, out_shapes = _oracle(module, shapes)
    module.train()
    net = from_module(module, shapes[0] if len(shapes) == 1 else shapes)
    report = cnnsize.analyze(net, conventions=cnnsize.Conventions(elementwise_flops=False))
    assert report.totals.params == params
    assert report.totals.flops == 2 * report.totals.macs == flops
    assert [report[o].output_shape for o in report.outputs] == out_shapes
    result = cnnsize.crosscheck(module, input_shape=shapes[0] if len(shapes) == 1 else shapes, batch=2)
    assert result.ok, [(layer.name, c) for layer in result.layers for c in layer.checks
                       if c.status == "mismatch"][:3]
    assert module.training and all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_the_issues_examples_are_exact():
    # one conv applied twice: 148 parameters (the tree counted 296)
    assert cnnsize.analyze(from_module(m.SharedConv(), (4, 6, 6))).totals.params == 148
    # torch.cat(dim=3) is a width concat: 6×6×14, not a channel concat
    cat = cnnsize.analyze(from_module(m.CatWidth(), (2, 8, 8)))
    assert cat["cat"].output_shape == (6, 6, 14) and cat.totals.params == 156
    # output_size=[16, 16] is honoured (its arguments alone give 15×15)
    up = cnnsize.analyze(from_module(m.TransposedWithSize(), (3, 16, 16)))
    assert up["up"].output_shape == (3, 16, 16)
    # the U-Net's last concat also reads the input: 14,634 parameters
    unet = cnnsize.analyze(from_module(m.TinyUNet(), (3, 16, 16)))
    assert unet.totals.params == 14_634 and "input" in unet["cat_2"].inputs


def test_modules_forward_never_calls_are_listed_apart():
    module = m.WithAuxHead()
    report = cnnsize.analyze(from_module(module, (3, 8, 8)))
    assert report.uncalled == (("aux", 90, 0),)                       # 8·10 + 10
    assert report.totals.params + report.totals.uncalled_params == sum(p.numel() for p in module.parameters())
    assert "not called by forward (counted apart): 90 params in aux" in report.render("text")


def test_tied_parameters_are_one_module_and_half_tied_ones_are_refused():
    tied = cnnsize.analyze(from_module(m.TiedConvs(), (4, 6, 6)))
    assert tied["second"].shares == "first" and tied.totals.params == 148      # 4·4·9 + 4
    with pytest.raises(CnnsizeError, match=r"counts 296 parameters.*the model has 152.*first.weight is second.weight"):
        from_module(m.HalfTied(), (4, 6, 6))                                  # 148 + 4 biases


def test_a_parameter_used_outside_a_module_is_counted_or_refused():
    """A layer scale (a parameter times a tensor) is a `scale` row that counts the parameter,
    x @ W a `contract` row; a use cnnsize has no kind for is refused, naming the parameter and
    the op."""
    report = cnnsize.analyze(from_module(m.UsesParameterDirectly(), (3, 8, 8)))
    assert [(r.name, r.type, r.params) for r in report.layers][-1] == ("scale", "scale", 4)
    assert report.totals.params == 3 * 4 * 9 + 4 + 4                     # conv + γ (4×1×1)

    class Projects(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(8, 3))

        def forward(self, x):
            return x @ self.w

    projects = cnnsize.analyze(from_module(Projects(), (3, 8, 8)))
    assert [(r.name, r.type, r.params, r.macs) for r in projects.layers] == [
        ("w", "contract", 24, 3 * 8 * 8 * 3)]                             # (3, 8, 8) @ (8, 3)

    class Clamps(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(8))

        def forward(self, x):
            return torch.maximum(x, self.w)

    with pytest.raises(CnnsizeError, match=r"maximum in the model \(Clamps\) uses the parameter w directly"):
        from_module(Clamps(), (3, 8, 8))


class _Updates(torch.nn.Module):
    """Forward updates its own buffer in place (a running average), before or after using it."""

    def __init__(self, first: bool) -> None:
        super().__init__()
        self.first = first
        self.register_buffer("mean", torch.zeros(8))
        self.fc = torch.nn.Linear(8, 8)

    def forward(self, x):
        if self.first:
            self.mean.mul_(0.9)
            return self.fc(x) - self.mean
        y = self.fc(x) - self.mean
        self.mean.add_(y.detach().mean(0), alpha=0.1)
        return y


@pytest.mark.parametrize("first", [True, False])
def test_a_forward_that_writes_into_the_models_state_is_refused(first):
    """No row would count a write into a buffer (the write is no op on the input), and the next
    forward computes something else: refused, naming the buffer; the user's model unchanged."""
    model = _Updates(first)
    with pytest.raises(CnnsizeError, match=r"forward writes into the buffer mean in place"):
        from_module(model, (8,))
    assert torch.equal(model.mean, torch.zeros(8))


def test_the_importer_never_guesses(monkeypatch):
    """A traced op whose written spec would differ from the trace is refused, not written."""
    from cnnsize.verify import importer

    real = importer._items

    def dropping(trace):
        items = real(trace)
        return items[:-1]  # lose the last layer

    monkeypatch.setattr(importer, "_items", dropping)
    with pytest.raises(CnnsizeError, match="does not reproduce the traced graph"):
        from_module(m.ViewFlatten(), (3, 32, 32))


def test_crosscheck_command_runs_the_original_module():
    proc = subprocess.run([sys.executable, "-m", "cnnsize", "crosscheck", "tests.models_for_import:TinyUNet",
                           "--input", "3,16,16"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "ORIGINAL module was run" in proc.stdout and "all match" in proc.stdout
    two = subprocess.run([sys.executable, "-m", "cnnsize", "import", "tests.models_for_import:TwoInputs",
                          "--input", "image=3,8,8", "--input", "mask=1,8,8"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr
    assert "input: {image: [3, 8, 8], mask: [1, 8, 8]}" in two.stdout


@pytest.mark.parametrize("name", ["densenet121", "densenet201", "resnet18", "googlenet", "inception_v3"])
def test_torchvision_graphs_import_exact(name):
    models = pytest.importorskip("torchvision.models")
    kwargs = {"init_weights": False} if name in ("googlenet", "inception_v3") else {}
    module = getattr(models, name)(**kwargs)
    size = 299 if name == "inception_v3" else 224
    report = cnnsize.analyze(from_module(module, (3, size, size)))
    weights = models.get_model_weights(name).DEFAULT
    # torchvision's num_params for GoogLeNet is without its two auxiliary heads (its weights come
    # without them); Inception-v3's includes AuxLogits. In eval mode forward calls neither, so
    # they are `uncalled`, counted apart.
    counted = report.totals.params + (report.totals.uncalled_params if name == "inception_v3" else 0)
    assert counted == weights.meta["num_params"]
    if name in ("googlenet", "inception_v3"):
        assert [p for p, _, _ in report.uncalled] == (["aux1", "aux2"] if name == "googlenet" else ["AuxLogits"])
    assert round(report.totals.macs / 1e9, 2) == pytest.approx(weights.meta["_ops"], abs=0.01)


def test_torchvision_classifier_behind_a_shape_check():
    models = pytest.importorskip("torchvision.models")
    module = m.GuardedClassifier(models.resnet18())
    report = cnnsize.analyze(from_module(module, (3, 224, 224)))
    assert (report.totals.params, report.totals.macs) == (11_689_512, 1_814_073_344)


def test_a_kind_added_in_one_file_imports_as_module_and_as_function():
    """mish and softplus are only declared in layers/activation.py (and the docs' rows): the
    oracle and saved-tensor tests take their examples, and the importer their functions."""
    import torch.nn.functional as F
    from torch import nn

    class Acts(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.mish = nn.Mish()

        def forward(self, x):
            return F.softplus(self.mish(self.conv(x)), beta=2)

    module = Acts()
    report = cnnsize.analyze(from_module(module, (3, 8, 8)))
    assert [(r.name, r.type) for r in report.layers] == [("conv", "conv2d"), ("mish", "mish"),
                                                         ("softplus", "softplus")]
    assert report["softplus"].args == (("beta", 2.0),)
    assert cnnsize.crosscheck(module, input_shape=(3, 8, 8), batch=2).ok


@pytest.mark.parametrize(("model", "message"), [
    (m.InPlaceRrelu, r"rrelu in act \(RReLU\): cnnsize has no kind for this in-place op"),
    (m.WritesIntoTensor, r"setitem in the model \(WritesIntoTensor\): forward writes into a tensor"),
    (m.StaleView, r"fc reads flatten, a view of a tensor that relu changed in place before"),
    (m.ScaledAdd, r"cnnsize's add has no argument like alpha=-1"),
    (m.Identity, "forward returns its input unchanged"),
])
def test_what_the_importer_cannot_follow_is_refused(model, message):
    with pytest.raises(CnnsizeError, match=message):
        from_module(model(), (3, 8, 8))


def test_calls_by_keyword_and_in_place_adds_are_followed():
    report = cnnsize.analyze(from_module(m.KeywordCall(), (3, 8, 8)))
    assert [(r.name, r.type) for r in report.layers] == [
        ("conv", "conv2d"), ("conv_2", "conv2d"), ("relu", "relu"), ("cat", "cat")]
    net = from_module(m.ResidualInPlace(), (4, 8, 8))
    add = net.op("add")
    assert add is not None and add.kind.args() == {"inplace": True}
    assert cnnsize.crosscheck(m.ResidualInPlace(), input_shape=(4, 8, 8), batch=2).ok


def test_named_inputs_bind_by_name_in_import_and_crosscheck():
    module = m.Pair()
    report = cnnsize.analyze(from_module(module, {"b": (3, 16, 16), "a": (3, 32, 32)}))
    assert report.inputs == (("a", (3, 32, 32)), ("b", (3, 16, 16)))     # forward's order
    assert report["ca"].input_shapes == ((3, 32, 32),) and report["cb"].input_shapes == ((3, 16, 16),)
    assert cnnsize.crosscheck(module, input_shape={"b": (3, 16, 16), "a": (3, 32, 32)}).ok
    with pytest.raises(CnnsizeError, match="forward has no parameter 'c'"):
        from_module(module, {"a": (3, 8, 8), "c": (3, 8, 8)})


def test_matmul_rows_count_their_macs_in_crosscheck():
    assert cnnsize.crosscheck(m.MatMulHead(), input_shape=(3, 4, 4), batch=2).ok


def test_a_data_dependent_import_is_crosschecked_on_the_same_data():
    for seed in range(4):
        torch.manual_seed(seed)
        result = cnnsize.crosscheck(m.BranchOnValue(), input_shape=(3, 8, 8),
                                    allow_data_dependent=True)
        assert result.ok, result.summary()
        assert "path one random input took" in result.report.notes[0]


def test_frozen_modules_import_as_trainable_false_and_crosscheck():
    """A fine-tuning set-up: the backbone frozen (requires_grad_(False)), the head trained.
    The import writes trainable: false for every frozen layer; the original module's
    requires_grad counts and its saved tensors agree with the import's."""
    torch.manual_seed(0)
    module = m.small_net()
    frozen = [name for name, sub in module.named_children()][:3]
    for name in frozen:
        module.get_submodule(name).requires_grad_(False)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    spec, _, _ = module_to_spec(module, (3, 32, 32))
    report = cnnsize.analyze(spec)
    assert 0 < report.totals.trainable_params == trainable < report.totals.params
    assert "trainable: false" in cnnsize.spec.dump_yaml(spec)
    result = cnnsize.crosscheck(module, input_shape=(3, 32, 32), batch=2)
    checks = {c.quantity: c for c in result.totals}
    assert checks["trainable_params"].status == "match"
    assert checks["saved_bytes"].status == "match"
    assert [p.requires_grad for p in module.parameters()].count(True) > 0  # left as it was


def test_a_partly_frozen_module_is_refused_by_name():
    torch.manual_seed(0)
    module = m.small_net()
    conv = next(sub for sub in module.modules() if isinstance(sub, torch.nn.Conv2d))
    conv.bias.requires_grad_(False)
    with pytest.raises(CnnsizeError, match=r"partly frozen \(weight trains, bias does not\)"):
        from_module(module, (3, 32, 32))


def test_imported_containers_are_labelled_with_their_module_class():
    torch.manual_seed(0)
    report = cnnsize.analyze(from_module(m.SmallNet(), (3, 32, 32)))
    types = {c.name: c.type for c in report.containers}
    assert types == {"layer1": "sequential", "layer1.0": "BasicBlock", "layer1.1": "BasicBlock",
                     "layer1.1.downsample": "sequential", "se": "SqueezeExcite",
                     "mixed": "Mixed"}
    # torchinfo's BasicBlock row: the block's own parameters, summed
    assert report.containers[1].params == sum(
        p.numel() for p in m.SmallNet().layer1[0].parameters())
