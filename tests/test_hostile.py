"""Hostile input: every case ends in a clear error (or a right answer), never a traceback, a hang
or a lost file.

Each case runs the real console command in a fresh folder, with a time limit, and checks the
exit status, that stderr has no traceback and no "internal error", that the message names what
is wrong, and that the files the user had are as they were. `python -m tests.test_hostile`
runs them all and prints the counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
TIMEOUT = 60


@dataclass
class Case:
    id: str
    argv: list[str]
    message: str = ""                       # a piece the error (or output) must contain
    files: dict[str, str | bytes] = field(default_factory=dict)
    status: int = 2
    shell: str | None = None                # a shell line instead (redirections); {cnnsize}
    torch: bool = False                     # needs torch


def spec(layers: str, top: str = "input: [3, 8, 8]") -> str:
    return f"{top}\nlayers:\n{textwrap.indent(textwrap.dedent(layers).strip(), '  ')}\n"


RELU = spec("- {name: a, type: relu}")
DEEP_YAML = "input: [3,8,8]\nlayers:\n" + "".join(
    "  " * (i + 1) + "- type: sequential\n" + "  " * (i + 2) + "layers:\n" for i in range(300)) \
    + "  " * 302 + "- {type: relu}\n"
DEEP_JSON = '{"input": [3, 8, 8], "layers": [' + '{"type": "sequential", "layers": [' * 300 \
    + '{"type": "relu"}' + ']}' * 300 + "]}"
BOMB = ('input: [3, 8, 8]\nlayers: [{type: relu}]\nmeta:\n  a: &a ["x","x","x","x","x","x","x","x","x"]\n'
        + "".join(f"  {c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
                  for p, c in zip("abcdefgh", "bcdefghi")))
NESTED_REPEAT = textwrap.dedent("""\
    input: [3, 8, 8]
    blocks:
      b1: {layers: [{type: relu, repeat: 10000}]}
      b2: {layers: [{type: b1, inline: true, repeat: 10000}]}
      b3: {layers: [{type: b2, inline: true, repeat: 10000}]}
    layers: [{type: b3, inline: true}]
    """)
WIDE_CONCAT = "input: [3, 8, 8]\nlayers:\n  - type: concat\n    branches:\n" + "".join(
    f"      - {{name: b{i}, layers: [{{type: identity}}]}}\n" for i in range(20000))
MODELS = textwrap.dedent("""\
    import threading
    import torch
    from torch import nn

    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)
        def forward(self, x):
            raise RuntimeError("boom")

    class Locked(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3)
            self.lock = threading.Lock()
        def forward(self, x):
            return self.c(x)

    def boom(): return Boom()
    def locked(): return Locked()
    def meta(): return nn.Sequential(nn.Conv2d(3, 4, 3)).to("meta")
    def double(): return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).double()
    def notmodule(): return 42
    """)

CASES = [
    # ---- files and names
    Case("missing file", ["report", "nope.yaml"], "no such spec file"),
    Case("300-character name", ["report", "a" * 300 + ".yaml"], "at most 255 characters"),
    Case("a folder", ["report", "folder.yaml"], "no such spec file", files={"folder.yaml/x": ""}),
    Case("latin-1 byte", ["report", "l.yaml"], "not UTF-8", files={"l.yaml": b"input: [3,8,8] # \xe9\nlayers: [{type: relu}]\n"}),
    Case("empty", ["report", "e.yaml"], "empty", files={"e.yaml": ""}),
    Case("comments only", ["report", "c.yaml"], "no spec", files={"c.yaml": "# nothing\n"}),
    Case("a list", ["report", "l.yaml"], "must be a mapping", files={"l.yaml": "- 1\n- 2\n"}),
    Case("YAML syntax", ["report", "s.yaml"], "invalid YAML at line", files={"s.yaml": "input: [3,8\n"}),
    Case("JSON syntax", ["report", "s.json"], "invalid JSON at line", files={"s.json": "{"}),
    Case("JSON NaN", ["report", "n.json"], "NaN is not a number", files={"n.json": '{"input": [3, NaN, 8], "layers": []}'}),
    Case("nested 300 deep, YAML", ["report", "d.yaml"], "", files={"d.yaml": DEEP_YAML}),
    Case("nested 300 deep, JSON", ["report", "d.json"], "levels deep", files={"d.json": DEEP_JSON}),
    Case("alias bomb", ["report", "b.yaml"], "expands to more than", files={"b.yaml": BOMB}),
    Case("self-referencing alias", ["report", "r.yaml"], "refers to itself",
         files={"r.yaml": "input: [3,8,8]\nlayers: [{type: relu}]\nmeta: &m {self: *m}\n"}),
    Case("duplicate key, YAML", ["report", "d.yaml"], "given twice",
         files={"d.yaml": spec("- {type: conv2d, out_channels: 4, out_channels: 8, kernel_size: 3}")}),
    Case("duplicate key, JSON", ["report", "d.json"], "given twice",
         files={"d.json": '{"input": [3, 8, 8], "input": [3, 9, 9], "layers": [{"type": "relu"}]}'}),
    Case("huge integer", ["report", "h.yaml"], "", files={"h.yaml": spec("- {type: conv2d, out_channels: " + "9" * 5000 + ", kernel_size: 1}")}),
    Case("binary meta", ["compare", "b.yaml", "--format", "json"], "binary data",
         files={"b.yaml": RELU + "meta: {blob: !!binary aGVsbG8=}\n"}),
    Case("date meta", ["compare", "d.yaml", "--format", "json"], '"2020-01-02"', status=0,
         files={"d.yaml": RELU + "meta: {year: 2020-01-02}\n"}),
    # ---- bounded work
    Case("nested repeats", ["report", "r.yaml"], "more than", files={"r.yaml": NESTED_REPEAT}),
    Case("wide concat", ["report", "w.yaml"], "", status=0, files={"w.yaml": WIDE_CONCAT}),
    Case("adaptive pool to 1e8", ["report", "a.yaml"], "", status=0,
         files={"a.yaml": spec("- {type: adaptiveavgpool2d, output_size: 100000000}")}),
    Case("strict, huge stride", ["report", "s.yaml", "--strict"], "not a whole number",
         files={"s.yaml": spec("- {type: conv1d, out_channels: 4, kernel_size: 3, stride: 1000000000}",
                               "input: [3, 2000000000]")}),
    Case("long expression", ["report", "x.yaml"], "characters",
         files={"x.yaml": spec('- {type: conv2d, out_channels: "${' + "1+" * 2000 + '1}", kernel_size: 1}')}),
    Case("deep expression", ["report", "x.yaml"], "cannot parse expression",
         files={"x.yaml": spec('- {type: conv2d, out_channels: "${' + "(" * 300 + "1" + ")" * 300 + '}", kernel_size: 1}')}),
    Case("and/or keep their operands", ["report", "x.yaml", "--format", "csv"], "8x8x8", status=0,
         files={"x.yaml": "input: [3, 8, 8]\nblocks:\n  b: {params: {c: 4}, layers: [{type: conv2d, out_channels: '${c and 8}', kernel_size: 1}]}\nlayers: [{type: b}]\n"}),
    # ---- outputs
    Case("markdown pipe", ["report", "p.yaml", "--format", "markdown"], "a\\|b", status=0,
         files={"p.yaml": spec("- {name: 'a|b', type: relu}")}),
    Case("control character", ["report", "c.yaml"], "\ufffd", status=0,
         files={"c.yaml": spec('- {name: "a\\x1b[31mred", type: relu}')}),
    Case("output over the input", ["report", "s.yaml", "-o", "s.yaml"], "one of this command's inputs",
         files={"s.yaml": RELU}),
    Case("output over the input, by a link", ["report", "s.yaml", "-o", "link.yaml"],
         "one of this command's inputs", files={"s.yaml": RELU}, shell="ln -s s.yaml link.yaml && {cnnsize} report s.yaml -o link.yaml"),
    Case("compare over an input", ["compare", "s.yaml", "lenet5", "-o", "s.yaml"], "one of this command's inputs",
         files={"s.yaml": RELU}),
    Case("check over its claims", ["check", "c.yaml", "-o", "c.yaml"], "one of this command's inputs",
         files={"c.yaml": "spec: lenet5\ntotals: {params: 61706}\n"}),
    Case("empty output name", ["report", "lenet5", "-o", ""], "empty"),
    Case("output into a missing folder", ["report", "lenet5", "-o", "no/such/dir/x.txt"], "cannot write"),
    Case("stdout full", [], "No space left", shell="{cnnsize} report lenet5 > /dev/full"),
    Case("stdout closed", [], "no standard output", shell="{cnnsize} report lenet5 >&-"),
    Case("reader goes away", [], "", status=0, shell="{cnnsize} report vgg16 | head -1"),
    Case("reports into an empty name", ["reports", "-o", ""], "empty"),
    Case("reports over a user's folder", ["reports", "-o", "mine", "--no-charts"], "not cnnsize reports",
         files={"mine/README.md": "my notes\n"}),
    # ---- claims
    Case("ragged CSV", ["check", "r.csv", "--spec", "lenet5"], "row 2 has 2 cells",
         files={"r.csv": "layer,units,weights\nC1,4704\nC3,1600,2400,99\n"}),
    Case("ragged Markdown", ["check", "r.md", "--spec", "lenet5"], "row 2 has 2 cells",
         files={"r.md": "| layer | units | weights |\n|---|---|---|\n| C1 | 4704 |\n"}),
    Case("200 KB cell", ["check", "b.csv", "--spec", "lenet5"], "cannot read the CSV table",
         files={"b.csv": "layer,units\nC1," + "9" * 200_000 + "\n"}),
    Case("5,000 digits", ["check", "d.yaml"], "a claim of 5,000 characters",
         files={"d.yaml": "spec: lenet5\nlayers:\n  C1: {units: '" + "9" * 5000 + "'}\n"}),
    Case("tolerance not a number", ["check", "t.yaml"], "cannot read '4704 ± x%'",
         files={"t.yaml": "spec: lenet5\nlayers:\n  C1: {units: '4704 ± x%'}\n"}),
    Case("superscript in a shape", ["check", "s.yaml"], "expected a shape",
         files={"s.yaml": "spec: lenet5\nlayers:\n  C1: {output: '6x28x²'}\n"}),
    Case("infinite claim", ["check", "i.yaml"], "a count is finite",
         files={"i.yaml": "spec: lenet5\nlayers:\n  C1: {units: .inf}\n"}),
    Case("NaN claim", ["check", "n.yaml"], "a count is finite",
         files={"n.yaml": "spec: lenet5\nlayers:\n  C1: {units: .nan}\n"}),
    Case("1e400", ["check", "e.yaml"], "cannot read",
         files={"e.yaml": "spec: lenet5\nlayers:\n  C1: {units: 1e400}\n"}),
    Case("receptive field total", ["check", "r.yaml"], "receptive_field", status=1,
         files={"r.yaml": "spec: lenet5\ntotals: {rf: 3}\n"}),
    Case("dtype a list", ["check", "d.yaml"], "unknown dtype",
         files={"d.yaml": "spec: lenet5\nconventions: {dtype: [1]}\ntotals: {params: 61706}\n"}),
    Case("flops_per_mac 2.0", ["check", "f.yaml"], "must be an integer",
         files={"f.yaml": "spec: lenet5\nconventions: {flops_per_mac: 2.0}\ntotals: {flops: 850794}\n"}),
    Case("batch 2.0", ["check", "b.yaml"], "must be an integer",
         files={"b.yaml": "spec: lenet5\nconventions: {batch: 2.0}\ntotals: {macs: 833040}\n"}),
    Case("a claim twice in a CSV", ["check", "d.csv", "--spec", "lenet5"], "claimed twice",
         files={"d.csv": "layer,units\nC1,1\nC1,4704\n"}),
    Case("a layer twice in YAML", ["check", "d.yaml"], "given twice",
         files={"d.yaml": "spec: lenet5\nlayers:\n  C1: {units: 1}\n  C1: {units: 4704}\n"}),
    Case("claims alias bomb", ["check", "b.yaml"], "expands to more than",
         files={"b.yaml": "spec: lenet5\ntotals: {params: 61706}\n" + BOMB.split("meta:\n")[1].replace("  ", "title_", 1).replace("\n  ", "\nx_")}),
    # ---- graphs
    Case("undefined input", ["report", "u.yaml"], "'b' is not defined",
         files={"u.yaml": spec("- {name: a, type: relu, inputs: b}")}),
    Case("layer named forward, built", ["crosscheck", "f.yaml"], "cannot be a torch module name", torch=True,
         files={"f.yaml": spec("- {name: forward, type: relu}")}),
    Case("layer named training, built", ["crosscheck", "t.yaml"], "cannot be a torch module name", torch=True,
         files={"t.yaml": spec("- {name: training, type: relu}")}),
    Case("layer named _merge", ["crosscheck", "m.yaml"], "all match", status=0, torch=True,
         files={"m.yaml": spec("- {name: _merge, type: relu}")}),
    # ---- torch
    Case("import ':x'", ["import", ":x", "--input", "3,8,8"], "expected PKG.MOD:FACTORY", torch=True),
    Case("import '.foo:bar'", ["import", ".foo:bar", "--input", "3,8,8"], "no leading dot", torch=True),
    Case("module raises at import", ["import", "bad:f", "--input", "3,8,8"], "raised ValueError", torch=True,
         files={"bad.py": "raise ValueError('at import')\n"}),
    Case("module with a syntax error", ["import", "syn:f", "--input", "3,8,8"], "syntax error", torch=True,
         files={"syn.py": "def f(:\n"}),
    Case("forward raises", ["import", "models:boom", "--input", "3,8,8"], "boom", torch=True, files={"models.py": MODELS}),
    Case("factory returns 42", ["import", "models:notmodule", "--input", "3,8,8"], "not a torch.nn.Module", torch=True,
         files={"models.py": MODELS}),
    Case("model holding a lock", ["import", "models:locked", "--input", "3,8,8"], "name: Locked", status=0, torch=True,
         files={"models.py": MODELS}),
    Case("meta-device model, crosscheck", ["crosscheck", "models:meta", "--input", "3,8,8"], "meta tensor", torch=True,
         files={"models.py": MODELS}),
    Case("float64 model", ["crosscheck", "models:double", "--input", "3,8,8"], "all match", status=0, torch=True,
         files={"models.py": MODELS}),
    Case("out of memory", ["crosscheck", "lenet5", "--batch", "100000000"], "out of memory", torch=True),
    Case("sweep runs out of memory", ["time", "lenet5", "--sweep", "batch=1,100000000", "--repeat", "1",
                                      "--warmup", "0"], "out of memory", status=0, torch=True),
    Case("chart name in mathtext", ["plot", "d.yaml", "-o", "c.svg"], "wrote", status=0,
         files={"d.yaml": "name: '$\\\\foo$'\n" + RELU.replace("relu", "conv2d, out_channels: 2, kernel_size: 1")}),
]


def _python() -> str:
    return subprocess.list2cmdline([sys.executable, "-m", "cnnsize"])


def run_case(case: Case, folder: Path) -> tuple[subprocess.CompletedProcess[str] | None, list[str]]:
    """(the finished process or None on a timeout, the problems found)."""
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        if case.shell:
            proc = subprocess.run(case.shell.format(cnnsize=_python()), shell=True, cwd=folder,
                                  capture_output=True, text=True, timeout=TIMEOUT, env=env)
        else:
            proc = subprocess.run([sys.executable, "-m", "cnnsize", *case.argv], cwd=folder,
                                  capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return None, [f"no answer in {TIMEOUT} s"]
    problems = []
    if "Traceback" in proc.stderr:
        problems.append("a traceback")
    if "internal error" in proc.stderr:
        problems.append("an internal error")
    if proc.returncode != case.status:
        problems.append(f"exit status {proc.returncode}, not {case.status}")
    if case.message and case.message not in proc.stdout + proc.stderr:
        problems.append(f"no {case.message!r} in what it said")
    for path, content in before.items():
        if not path.exists() or path.read_bytes() != content:
            problems.append(f"{path.name} was changed or removed")
    return proc, problems


def _torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    if case.torch and not _torch():
        pytest.skip("needs torch")
    proc, problems = run_case(case, tmp_path)
    said = (proc.stderr[-600:] if proc else "")
    assert not problems, f"{case.id}: {problems}\n{said}"


def main() -> None:
    import tempfile

    counts = {"cases": 0, "answered": 0, "clean errors": 0, "tracebacks": 0, "internal errors": 0,
              "hangs": 0, "files changed": 0, "other problems": 0}
    for case in CASES:
        if case.torch and not _torch():
            continue
        counts["cases"] += 1
        with tempfile.TemporaryDirectory() as folder:
            proc, problems = run_case(case, Path(folder))
        if proc is None:
            counts["hangs"] += 1
        elif not problems:
            counts["clean errors" if case.status == 2 else "answered"] += 1
        for problem in problems:
            key = ("tracebacks" if problem == "a traceback" else "internal errors"
                   if problem == "an internal error" else "files changed" if "changed" in problem
                   else "hangs" if "no answer" in problem else "other problems")
            counts[key] += 1
        print(f"{'ok ' if not problems else 'BAD'} {case.id}" + (f": {problems}" if problems else ""))
    print(", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------- the library API


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.analyze(None), "not NoneType"),
    (lambda c: c.analyze(123), "not int"),
    (lambda c: c.analyze(["lenet5"]), "not list"),
    (lambda c: c.analyze(b"lenet5"), "not bytes"),
    (lambda c: c.analyze("lenet5", conventions="x"), "must be a cnnsize.Conventions"),
    (lambda c: c.analyze("lenet5", bias="no"), "must be true or false"),
    (lambda c: c.analyze("lenet5", batch=2.0), "must be an integer"),
    (lambda c: c.analyze("lenet5", strict="yes"), "strict must be true or false"),
    (lambda c: c.Conventions(flops_per_mac=2.0), "must be an integer"),
    (lambda c: c.check(42), "not int"),
    (lambda c: c.parse([1, 2]), "not list"),
])
def test_wrong_types_are_type_errors_that_say_so(call, message):
    import cnnsize

    with pytest.raises(TypeError, match=message) as info:
        call(cnnsize)
    assert isinstance(info.value, cnnsize.CnnsizeError)  # the CLI reports it, exit status 2


def test_a_torch_module_given_as_a_spec_says_what_to_call():
    torch = pytest.importorskip("torch")
    import cnnsize

    with pytest.raises(TypeError, match=r"is a torch module, not a spec: import it with cnnsize.from_module"):
        cnnsize.time_layers(torch.nn.Conv2d(3, 4, 3))


def test_the_users_model_is_left_exactly_as_it_was():
    torch = pytest.importorskip("torch")
    import cnnsize

    from .models_for_import import small_net

    model = small_net().train()
    model.layer1[0].bn1.requires_grad_(False)  # a frozen layer stays frozen
    calls = []
    handle = model.stem.register_forward_hook(lambda m, i, o: calls.append(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    torch.manual_seed(1234)
    rng = torch.random.get_rng_state()
    cnnsize.from_module(model, (3, 32, 32))
    cnnsize.crosscheck(model, input_shape=(3, 32, 32), batch=2)
    assert torch.equal(torch.random.get_rng_state(), rng)                      # RNG state
    assert model.training and all(m.training for m in model.modules())          # training flags
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # values, buffers
    assert {n: p.requires_grad for n, p in model.named_parameters()} == grads   # requires_grad
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    assert len(model.stem._forward_hooks) == 1 and calls == []                  # hooks
    handle.remove()


@pytest.mark.parametrize("text", ["layer,units\nC1,4704\n", "layer,units\nC1\n", "layer\n", "units\nC1\n",
                                  "layer,units\nC1,4 704\nS2,1.176K\n", "layer,bogus\nC1,1\n"])
def test_claims_tables_answer_or_refuse_cleanly(tmp_path, text):
    import cnnsize

    path = tmp_path / "t.csv"
    path.write_text(text)
    try:
        cnnsize.check(path, spec="lenet5")
    except cnnsize.CnnsizeError as e:
        assert str(e)  # a message, located
