"""The bad-input catalogue: every mistake gets one message, exit status 2, and no traceback.

Each CLI case writes a spec to a temporary folder and runs the real console script
(`python -m cnnsize report FILE`) there. All cases start at once in one module fixture, so the
catalogue costs about as much wall time as a few subprocesses; each test then checks one result.
The message must name the file, the layer path, the kind and the field where one applies
("net.yaml: C1 (conv2d): kernel_size: ..."), and show the worked formula where a size goes wrong.
The Python API raises the same errors as `cnnsize.SpecError` / `cnnsize.ShapeError`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import cnnsize
from cnnsize import CnnsizeError, ShapeError, SpecError

# A block used by the block cases: conv + relu, `c` required, `k` defaulted.
CBR = """\
input: [3, 32, 32]
blocks:
  cbr:
    params: {c: null, k: 3}
    layers:
      - {type: conv2d, out_channels: $c, kernel_size: $k}
      - {type: relu}
layers:
"""


def conv(args: str, name: str = "C1", shape: str = "[3, 32, 32]") -> str:
    """A one-layer spec: `input: shape`, then `{name, type: conv2d, args}`."""
    return f"input: {shape}\nlayers:\n  - {{name: {name}, type: conv2d, {args}}}\n"


@dataclass(frozen=True)
class Case:
    """One CLI run: `text` is written to `filename`, `argv` follows `cnnsize report`."""

    id: str
    text: str | None                  # the spec text, written to `filename`; None: no file
    head: str                         # the message up to and including the field
    expect: tuple[str, ...] = ()      # further pieces the message must contain
    filename: str = "net.yaml"
    argv: tuple[str, ...] = ()        # defaults to (filename,)
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


CASES = [
    # ---- unknown names, with did-you-mean
    Case("unknown-type-space", conv("out_channels: 8, kernel_size: 3").replace("conv2d", "conv2 d"),
         "net.yaml: C1 (conv2 d): type: unknown layer type 'conv2 d'",
         ("hint: did you mean 'conv2d'",)),
    Case("unknown-type-nested", """\
input: [3, 32, 32]
layers:
  - name: features
    type: sequential
    layers:
      - {type: conv2d, out_channels: 8, kernel_size: 3}
      - {type: relu}
      - {type: maxpool2d, kernel_size: 2}
      - {type: conv2dd, out_channels: 16, kernel_size: 3}
""", "net.yaml: features.3 (conv2dd): type: unknown layer type 'conv2dd'",
         ("did you mean 'conv2d'", "known types:")),
    Case("unknown-type-json", '{"input": [3, 32, 32], "layers": '
                              '[{"name": "C1", "type": "Conv2dd", "out_channels": 8}]}',
         "net.json: C1 (conv2dd): type: unknown layer type 'conv2dd'",
         ("did you mean 'conv2d'",), filename="net.json"),
    Case("unknown-key", conv("out_channels: 8, kernal_size: 3"),
         "net.yaml: C1 (conv2d): kernal_size: unknown argument 'kernal_size' for conv2d",
         ("hint: did you mean 'kernel_size'?", "valid arguments:")),
    # ---- arguments: missing, inconsistent, out of range, wrong type
    Case("missing-out-channels", conv("kernel_size: 3"),
         "net.yaml: C1 (conv2d): out_channels: missing required argument 'out_channels'"),
    Case("wrong-in-channels", "input: [3, 32, 32]\nlayers:\n  - {type: relu}\n"
                              "  - {name: C1, type: conv2d, in_channels: 4, out_channels: 8, kernel_size: 3}\n",
         "net.yaml: C1 (conv2d): in_channels: is 4 but the input to this layer has 3",
         ("hint: remove in_channels",)),
    Case("zero-stride", conv("out_channels: 8, kernel_size: 3, stride: 0"),
         "net.yaml: C1 (conv2d): stride: ", (">= 1", "got 0")),
    Case("negative-kernel", conv("out_channels: 8, kernel_size: [3, -3]"),
         "net.yaml: C1 (conv2d): kernel_size: ", (">= 1", "-3")),
    Case("string-kernel", conv('out_channels: 8, kernel_size: "3"'),
         "net.yaml: C1 (conv2d): kernel_size: expected an integer", ("'3'", "(str)")),
    # ---- sizes that go wrong: worked formula with numbers, and a hint
    Case("kernel-larger-than-input", """\
input: [3, 4, 4]
layers:
  - name: features
    type: sequential
    layers:
      - {type: conv2d, out_channels: 8, kernel_size: 3}
      - {type: relu}
      - {type: conv2d, out_channels: 8, kernel_size: 5}
""", "net.yaml: features.2 (conv2d): output H: output size would be -2",
         ("\n  formula: H2 = (H1 − F + 2P)/S + 1 = (2 − 5 + 2·0)/1 + 1 = -2\n",
          "\n  hint: ", "padding >= 2 (it has 0)")),
    Case("strided-kernel-larger-than-input", conv("out_channels: 8, kernel_size: 7, stride: 2",
                                                  name="conv1", shape="[3, 4, 9]"),
         "net.yaml: conv1 (conv2d): output H: output size would be -1",
         ("formula: H2 = (H1 − F + 2P)/S + 1 = (4 − 7 + 2·0)/2 + 1 = -0.5 → floor -1",
          "hint: ", "padding >= 2")),
    Case("pool-larger-than-input", "input: [3, 2, 2]\nlayers:\n"
                                   "  - {name: S2, type: maxpool2d, kernel_size: 3}\n",
         "net.yaml: S2 (maxpool2d): output H: output size would be 0",
         ("formula: H2 = (H1 − F + 2P)/S + 1 = (2 − 3 + 2·0)/3 + 1 = 2/3 ≈ 0.6667 → floor 0",
          "hint: ", "padding >= 1")),
    Case("strict-not-whole", conv("out_channels: 96, kernel_size: 11, stride: 4", name="conv1",
                                  shape="[3, 224, 224]"),
         "net.yaml: conv1 (conv2d): output H: 54.25 is not a whole number (--strict)",
         ("formula: H2 = (H1 − F + 2P)/S + 1 = (224 − 11 + 2·0)/4 + 1 = 54.25 → floor 54",
          "hint: ", "227"), argv=("net.yaml", "--strict")),
    Case("residual-shapes-differ", """\
input: [3, 32, 32]
layers:
  - name: block1
    type: residual
    body:
      - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {type: relu}
""", "net.yaml: block1 (add): inputs: cannot add 8×32×32 and 3×32×32",
         ("inputs: block1.1 gives 8×32×32, input gives 3×32×32", "give the shortcut a projection")),
    Case("concat-spatial-differ", """\
input: [3, 32, 32]
layers:
  - {type: relu}
  - name: mix
    type: concat
    branches:
      - [{type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}]
      - [{type: conv2d, out_channels: 8, kernel_size: 3}]
""", "net.yaml: mix (cat): inputs: inputs must agree in every dim but dim 1",
         ("mix.0.0 gives 8×32×32", "mix.1.0 gives 8×30×30")),
    # ---- files that are not specs
    Case("yaml-syntax", conv("out_channels: 8, kernel_size: 3").rstrip("}\n") + "\n  - {type: relu}\n",
         "net.yaml: invalid YAML at line 4", ("column",)),
    Case("json-syntax", '{"input": [3, 32, 32],\n "layers": [}\n',
         "net.json: invalid JSON at line 2", ("column",), filename="net.json"),
    Case("empty-file", "", "net.yaml: the file is empty", ("hint: ",)),
    Case("top-level-list", "- {type: relu}\n- {type: relu}\n",
         "net.yaml: the spec must be a mapping", ("got list",)),
    Case("top-level-scalar", "lenet5\n", "net.yaml: the spec must be a mapping", ("got str",)),
    # ---- the input shape
    Case("missing-input", "layers:\n  - {type: relu}\n",
         "net.yaml: input: the spec has no 'input' shape", ("hint: e.g. input: [3, 224, 224]",)),
    Case("zero-input-size", "input: [3, 0, 32]\nlayers:\n  - {type: relu}\n",
         "net.yaml: input: every size must be >= 1"),
    Case("unreadable-input", "input: 3 by 32\nlayers:\n  - {type: relu}\n",
         "net.yaml: input: cannot read input shape '3 by 32'", ("hint: ",)),
    # ---- blocks
    Case("block-unknown-parameter", CBR + "  - {name: stem, type: cbr, c: 8, kk: 5}\n",
         "net.yaml: stem (cbr): kk: unknown parameter 'kk' for block 'cbr'",
         ("did you mean 'k'?", "its parameters: c, k")),
    Case("block-missing-parameter", CBR + "  - {name: stem, type: cbr, k: 5}\n",
         "net.yaml: stem (cbr): c: block 'cbr' needs parameter 'c'"),
    Case("block-recursive", """\
input: [3, 32, 32]
blocks:
  a: {layers: [{type: relu}, {type: b}]}
  b: {layers: [{type: a}, {type: relu}]}
layers:
  - {name: stem, type: a}
""", "net.yaml: stem.", ("type: block 'a' uses itself (a → b → a)",)),
    Case("block-layer-fails", CBR + "  - {name: stem, type: cbr, c: 8, k: 40}\n",
         "net.yaml: stem.0 (conv2d): output H: output size would be -7",
         ("(32 − 40 + 2·0)/1 + 1 = -7",)),
    # ---- neither a file nor a built-in
    Case("unknown-zoo-name", None, "'lenet6' is neither a spec file nor a built-in network",
         ("did you mean 'lenet5'", "built-in networks:"), argv=("lenet6",)),
    Case("no-such-file", None, "missing.yaml: no such spec file", argv=("missing.yaml",)),
    # ---- expressions in blocks and repeats
    Case("expression-type-error", CBR.replace("layers:\n      - {type: conv2d",
                                              "layers:\n      - {if: '${c > 64}', type: conv2d")
         + "  - {name: stem, type: cbr, c: '128'}\n",
         "net.yaml: stem.0 (conv2d): ", ("cannot evaluate 'c > 64'",)),
    Case("repeat-expression-location", "input: [3, 32, 32]\nlayers:\n  - {type: relu}\n"
                                       "  - {type: relu, repeat: '${n}'}\n",
         "net.yaml: 1 (relu): repeat: unknown variable 'n'"),
]


def _params() -> list:
    return [pytest.param(c, id=c.id, marks=c.marks) for c in CASES]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """Start every case's `cnnsize report` at once; the exit status, stdout and stderr by id."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    procs = {}
    for case in CASES:
        folder = tmp_path_factory.mktemp(case.id)
        if case.text is not None:
            (folder / case.filename).write_text(case.text, encoding="utf-8")
        argv = case.argv or (case.filename,)
        procs[case.id] = subprocess.Popen(
            [sys.executable, "-m", "cnnsize", "report", *argv], cwd=folder, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    runs = {}
    for case_id, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        runs[case_id] = (proc.returncode, out.decode("utf-8"), err.decode("utf-8"))
    return runs


@pytest.mark.parametrize("case", _params())
def test_cli_bad_input(case: Case, cli_runs: dict[str, tuple[int, str, str]]) -> None:
    status, out, err = cli_runs[case.id]
    assert "Traceback" not in err, err
    assert status == 2, err
    assert out == ""
    assert err.startswith("cnnsize: error: "), err
    message = err.removeprefix("cnnsize: error: ")
    assert message.startswith(case.head), err
    for piece in case.expect:
        assert piece in message, f"{piece!r} not in:\n{err}"
    assert err.endswith("\n") and err.count("cnnsize: error:") == 1


# ---------------------------------------------------------------- the Python API

def one(layer: dict, shape: list[int] | None = None) -> dict:
    """A one-layer spec dict."""
    return {"input": shape or [3, 32, 32], "layers": [{"name": "C1", **layer}]}


API_CASES = [
    # spec, error class, path, field, pieces of the message
    pytest.param(one({"type": "conv2dd", "out_channels": 8, "kernel_size": 3}),
                 SpecError, "C1", "type", ["did you mean 'conv2d'"], id="unknown-type"),
    pytest.param(one({"type": "conv2d", "out_channels": 8, "kernal_size": 3}),
                 SpecError, "C1", "kernal_size", ["did you mean 'kernel_size'"], id="unknown-key"),
    pytest.param(one({"type": "conv2d", "kernel_size": 3}),
                 SpecError, "C1", "out_channels", ["missing required"], id="missing-argument"),
    pytest.param(one({"type": "conv2d", "in_channels": 4, "out_channels": 8, "kernel_size": 3}),
                 ShapeError, "C1", "in_channels", ["is 4", "has 3"], id="wrong-in-channels"),
    pytest.param(one({"type": "conv2d", "out_channels": 8, "kernel_size": 5}, [3, 2, 9]),
                 ShapeError, "C1", "output H",
                 ["formula: ", "(2 − 5 + 2·0)/1 + 1 = -2", "hint: ", "padding"],
                 id="kernel-too-large"),
    pytest.param(one({"type": "conv2d", "out_channels": 8, "kernel_size": 3.0}),
                 SpecError, "C1", "kernel_size", ["3.0", "float"], id="float-kernel"),
    pytest.param(one({"type": "linear", "out_features": True}),
                 SpecError, "C1", "out_features", ["True", "bool"], id="bool-is-not-an-int"),
    pytest.param({"layers": [{"type": "relu"}]}, SpecError, None, "input", [], id="missing-input"),
    pytest.param({"input": [3, 32, 32], "layers": []}, SpecError, None, "layers", [],
                 id="no-layers"),
    pytest.param({"input": [3, 8, 8], "layers": [{"name": "r", "type": "residual",
                                                  "body": [{"type": "maxpool2d", "kernel_size": 2}]}]},
                 ShapeError, "r", "inputs", ["3×4×4", "3×8×8"], id="residual-mismatch"),
    pytest.param({"input": [3, 8, 8], "layers": [{"name": "m", "type": "concat", "branches": [
        [{"type": "identity"}], [{"type": "maxpool2d", "kernel_size": 2}]]}]},
                 ShapeError, "m", "inputs", ["m.0.0 gives 3×8×8", "m.1.0 gives 3×4×4"],
                 id="concat-mismatch"),
    pytest.param({"input": [3, 8, 8], "blocks": {"a": {"layers": [{"type": "a"}]}},
                  "layers": [{"name": "x", "type": "a"}]},
                 SpecError, "x", "type", ["uses itself (a → a)"], id="recursive-block"),
]


@pytest.mark.parametrize(("spec", "error", "path", "field_name", "pieces"), API_CASES)
def test_api_raises(spec: dict, error: type[CnnsizeError], path: str | None, field_name: str,
                    pieces: list[str]) -> None:
    with pytest.raises(error) as info:
        cnnsize.analyze(spec)
    e = info.value
    assert isinstance(e, CnnsizeError)
    assert (e.source, e.path, e.field) == ("<dict>", path, field_name)
    for piece in pieces:
        assert piece in str(e)


@pytest.mark.parametrize("name", ["stride", "kernel_size", "out_channels", "dilation", "groups"])
@pytest.mark.parametrize("value", [0, -1, -64])
def test_api_zero_or_negative(name: str, value: int) -> None:
    layer = {"type": "conv2d", "out_channels": 8, "kernel_size": 3, name: value}
    with pytest.raises(SpecError) as info:
        cnnsize.analyze(one(layer))
    assert (info.value.path, info.value.kind, info.value.field) == ("C1", "conv2d", name)
    assert ">= 1" in str(info.value)


def test_api_strict_suggests_exact_inputs() -> None:
    spec = one({"type": "conv2d", "out_channels": 96, "kernel_size": 11, "stride": 4}, [3, 224, 224])
    cnnsize.analyze(spec)  # PyTorch's rule floors 54.25 to 54: fine without strict
    with pytest.raises(ShapeError) as info:
        cnnsize.analyze(spec, strict=True)
    e = info.value
    assert (e.path, e.field) == ("C1", "output H")
    assert "54.25" in e.message and "(224 − 11 + 2·0)/4 + 1" in (e.formula or "")
    assert "227" in (e.hint or "")


@pytest.mark.parametrize(("text", "is_json", "piece"), [
    ("", False, "empty"),
    ("# only a comment\n", False, "holds no spec"),
    ("[1, 2]", False, "got list"),
    ("3.5", False, "got float"),
    ("input: [3, 32\nlayers: []\n", False, "line"),
    ('{"input": [3, 32, 32], "layers": [}', True, "line 1"),
    ("[]", True, "got list"),
])
def test_api_loads_bad_text(text: str, is_json: bool, piece: str) -> None:
    with pytest.raises(SpecError, match=piece) as info:
        cnnsize.loads(text, source="t.yaml", is_json=is_json)
    assert str(info.value).startswith("t.yaml: ")


@pytest.mark.parametrize(("spec", "piece"), [
    ("lenet6", "did you mean 'lenet5'"),
    ("no/such/file.yaml", "no such spec file"),
    ("no_such.json", "no such spec file"),
])
def test_api_load_bad_name(spec: str, piece: str) -> None:
    with pytest.raises(SpecError, match=piece):
        cnnsize.load(spec)
    with pytest.raises(SpecError, match=piece):
        cnnsize.analyze(spec)


def test_api_load_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "spec.yaml"
    folder.mkdir()
    with pytest.raises(SpecError, match="no such spec file"):
        cnnsize.analyze(folder)


def _block_with(where: str, text: str) -> dict:
    """A block call `stage` whose first layer (or the call itself) carries `text`."""
    layer = {"type": "conv2d", "out_channels": "$c", "kernel_size": 3}
    call = {"type": "cbr", "name": "stage", "c": 4}
    (call if where == "k" else layer)[where] = text
    return {"input": [3, 8, 8], "layers": [call],
            "blocks": {"cbr": {"params": {"c": None, "k": 3}, "layers": [layer, {"type": "relu"}]}}}


@pytest.mark.parametrize(("where", "path"), [
    pytest.param("k", "stage", id="block-argument"),
    pytest.param("padding", "stage.0", id="layer-argument"),
    pytest.param("if", "stage.0", id="if"),
    pytest.param("repeat", "stage.0", id="repeat"),
    pytest.param("name", "stage.0", id="name"),
])
def test_expression_error_names_its_field(where: str, path: str) -> None:
    with pytest.raises(SpecError) as info:
        cnnsize.analyze(_block_with(where, "${c // 0}"))
    e = info.value
    assert "c // 0" in str(e)
    assert (e.path, e.field) == (path, where), str(e)


def test_error_hierarchy() -> None:
    assert issubclass(SpecError, CnnsizeError) and issubclass(ShapeError, CnnsizeError)
    assert not issubclass(SpecError, ShapeError) and not issubclass(ShapeError, SpecError)
    assert cnnsize.CnnsizeError is CnnsizeError
