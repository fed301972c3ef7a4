"""What the fast paths leave out, checked by structure, never by time (issue 15): the modules a
command imports, the work analyze() leaves until it is asked for, and caches that can never be
stale."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest

import cnnsize
from cnnsize import files
from cnnsize.layers import base
from cnnsize.spec import ZOO, zoo_names

ROOT = Path(__file__).parent.parent

# Runs the CLI in a fresh process and prints, as JSON, the modules it imported.
IMPORTED = textwrap.dedent("""
    import io, json, sys, contextlib
    from cnnsize.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(sys.argv[1:])
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
""")


def imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", IMPORTED, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["status"] == 0
    return set(out["modules"])


def with_caches(tmp_path: Path) -> dict[str, str]:
    """An environment where Python writes bytecode and caches, under tmp_path (not the tree)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    return env


def test_a_json_report_imports_no_table_renderer_no_yaml_and_only_the_kinds_it_uses(tmp_path):
    env = with_caches(tmp_path)
    imported("report", "vgg16", "--format", "json", env=env)  # writes the zoo's cache
    modules = imported("report", "vgg16", "--format", "json", env=env)
    assert "tabulate" not in modules
    assert "yaml" not in modules  # the zoo's spec comes from its cache
    assert not {"dataclasses", "inspect"} & modules  # records (cnnsize/record.py)
    # nothing the report does not show or need: formulas, tables, checks, Keras's names
    for name in ("cnnsize.explain", "cnnsize.render.rows", "cnnsize.claims",
                 "cnnsize.comparison", "cnnsize.keras_names", "cnnsize.verify"):
        assert name not in modules, name
    # VGG-16's kinds: convolutions, ReLU and dropout, pools, linear and flatten (whose module
    # needs shape_ops; activation's needs merge)
    kinds = {m.rpartition(".")[2] for m in modules if m.startswith("cnnsize.layers.")}
    assert kinds == {"base", "conv", "activation", "pool", "linear", "shape_ops", "merge"}
    assert not {"torch", "numpy", "pandas", "matplotlib"} & modules


def test_a_text_report_draws_its_own_table_and_makes_no_formulas():
    modules = imported("report", "resnet18")
    assert "tabulate" not in modules  # the text table is render.simple_table's
    assert "cnnsize.explain" not in modules
    assert "cnnsize.explain" in imported("report", "resnet18", "--explain")
    assert "tabulate" in imported("report", "resnet18", "--format", "markdown")


def test_the_text_table_is_tabulates_simple_table_character_for_character():
    """The oracle: tabulate's own "simple" output, over random tables of the cells that
    render.table passes on (one line, no escapes; spaces, wide-ish and empty cells)."""
    tabulate = pytest.importorskip("tabulate")
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")
    from cnnsize.render import simple_table

    cell = st.text(alphabet=["a", "B", " ", "×", "1", ",", "ß", "é", "-", "z"], max_size=9)

    @hyp.settings(max_examples=1500, deadline=None)
    @hyp.given(st.integers(0, 5).flatmap(lambda n: st.tuples(
        st.lists(cell, min_size=n, max_size=n) | st.just([]),
        st.lists(st.lists(cell, min_size=n, max_size=n), max_size=4),
        st.none() | st.lists(st.sampled_from(["left", "right"]), min_size=n, max_size=n),
        st.booleans())))
    def same(case):
        heads, rows, align, keep = case
        kwargs = {"colalign": tuple(align)} if align else {}
        want = tabulate.tabulate(rows, headers=heads, tablefmt="simple", disable_numparse=True,
                                 preserve_whitespace=keep, **kwargs)
        assert simple_table(rows, heads, align, keep) == want

    saved = tabulate.WIDE_CHARS_MODE
    tabulate.WIDE_CHARS_MODE = False  # widths by len(), as simple_table's
    try:
        if "preserve_whitespace" not in __import__("inspect").signature(tabulate.tabulate).parameters:
            pytest.skip("tabulate < 0.10 has no preserve_whitespace=")
        same()
    finally:
        tabulate.WIDE_CHARS_MODE = saved


def test_analyze_leaves_the_explain_lines_until_they_are_read():
    code = textwrap.dedent("""
        import sys, cnnsize
        report = cnnsize.analyze("resnet18")
        lazy = all(callable(row._explain) for row in report.layers)
        print(lazy, "cnnsize.explain" in sys.modules)
        lines = report.layers[0].explain
        print(isinstance(lines, tuple) and bool(lines), report.layers[0]._explain is lines)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "True", "True"]


def test_explain_lines_made_late_are_the_rows_own_and_rows_stay_frozen_values():
    report = cnnsize.analyze("lenet5")
    again = cnnsize.analyze("lenet5")
    assert report.layers == again.layers  # equal before either reads its lines ...
    c1 = report["C1"]
    assert c1.explain[0] == "H2 = (H1 − F + 2P)/S + 1 = (32 − 5 + 2·0)/1 + 1 = 28"
    assert report.layers == again.layers  # ... and after: the lines are no part of equality
    assert hash(c1) == hash(again["C1"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        c1.units = 0  # type: ignore[misc]
    assert "_explain" not in repr(c1)
    assert c1.to_dict() == again["C1"].to_dict()


# ---------------------------------------------------------------- the zoo's cache

@pytest.fixture
def writes_caches(monkeypatch):
    """As Python runs by default: it writes bytecode (and so cnnsize its caches)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", None)


SPEC_A = "name: a\ninput: [1, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 2, kernel_size: 3}\n"
SPEC_B = SPEC_A.replace("out_channels: 2", "out_channels: 7")  # the same size, other data


def test_the_cache_serves_only_the_bytes_it_was_made_from(tmp_path, writes_caches):
    path = tmp_path / "a.yaml"
    path.write_text(SPEC_A)
    assert files.read_yaml_cached(path, "a")["layers"][0]["out_channels"] == 2
    cache = files.cache_path(path)
    assert cache is not None and os.path.isfile(cache)
    assert files.read_yaml_cached(path, "a")["layers"][0]["out_channels"] == 2  # from the cache
    # another text of the same size, written with the old time stamp: read anew, never stale
    stat = path.stat()
    path.write_text(SPEC_B)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert files.read_yaml_cached(path, "a")["layers"][0]["out_channels"] == 7
    assert files.read_yaml_cached(path, "a")["layers"][0]["out_channels"] == 7


@pytest.mark.parametrize("garbage", [b"", b"not marshal", b"\xe9" * 40])
def test_a_damaged_cache_is_parsed_over(tmp_path, garbage, writes_caches):
    path = tmp_path / "a.yaml"
    path.write_text(SPEC_A)
    files.read_yaml_cached(path, "a")
    cache = files.cache_path(path)
    assert cache is not None
    Path(cache).write_bytes(garbage)
    assert files.read_yaml_cached(path, "a")["layers"][0]["out_channels"] == 2
    assert files.read_yaml_cached(path, "a") == files.read_yaml(SPEC_A, "a")


def test_no_cache_where_python_writes_no_bytecode_or_the_cache_cannot_be_written(
        tmp_path, monkeypatch, writes_caches):
    path = tmp_path / "a.yaml"
    path.write_text(SPEC_A)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert files.read_yaml_cached(path, "a")["name"] == "a"
    assert not (tmp_path / "__pycache__").exists()
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    (tmp_path / "__pycache__").write_text("a file where the folder would be")  # as read-only
    assert files.read_yaml_cached(path, "a")["name"] == "a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["__pycache__", "a.yaml"]


@pytest.mark.parametrize("name", zoo_names())
def test_the_zoo_read_through_its_cache_is_the_zoo_read_by_pyyaml(name, tmp_path, monkeypatch,
                                                                  writes_caches):
    """The cache's key is the file's bytes, not PyYAML's version: this holds it to the same
    data that PyYAML reads today."""
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))  # not in the package
    path = Path(ZOO) / f"{name}.yaml"
    fresh = files.read_yaml(path.read_text(encoding="utf-8"), name)
    assert files.read_yaml_cached(path, name) == fresh  # parsed, and the cache written
    cache = files.cache_path(path)
    assert cache is not None and cache.startswith(str(tmp_path)) and os.path.isfile(cache)
    assert files.read_yaml_cached(path, name) == fresh  # from the cache


# ---------------------------------------------------------------- kinds, imported when needed


def test_every_family_module_is_listed_with_exactly_the_kinds_it_registers():
    modules = {p.stem for p in (ROOT / "cnnsize" / "layers").glob("*.py")} - {"__init__", "base"}
    assert set(base.FAMILIES) == modules
    from cnnsize.layers import REGISTRY  # every family imported

    registered: dict[str, set[str]] = {}
    for name, cls in REGISTRY.items():
        registered.setdefault(cls.__module__.rpartition(".")[2], set()).add(name)
    assert registered == {family: set(names) for family, names in base.FAMILIES.items()}
    assert sorted(base.kind_names()) == sorted(REGISTRY)


def test_a_kind_of_a_family_that_is_not_listed_is_refused():
    @base.kind_class(frozen=True)
    class Unlisted(base.Kind):
        type_name = "unlisted_kind"

    Unlisted.__module__ = "cnnsize.layers.conv"
    with pytest.raises(KeyError, match="not listed under 'conv'"):
        base.register(Unlisted)
    assert "unlisted_kind" not in base.REGISTRY


def test_a_lookup_imports_the_one_family_it_needs():
    code = textwrap.dedent("""
        import sys
        from cnnsize.layers import lookup
        lookup("batchnorm2d")
        print(sorted(m.rpartition(".")[2] for m in sys.modules if m.startswith("cnnsize.layers.")))
        from cnnsize.layers import REGISTRY
        print(len(REGISTRY))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    first, count = proc.stdout.splitlines()
    # cnnsize's own import brings merge (spec.py's add, mul and cat) and its base
    assert first == str(sorted({"base", "merge", "norm"}))
    assert int(count) == sum(len(names) for names in base.FAMILIES.values())


# ---------------------------------------------------------------- the command line


def test_the_cli_declares_the_one_command_it_runs_and_says_the_same():
    from cnnsize.cli import build_parser

    full, one = build_parser(), build_parser("report")
    commands = full._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    only = one._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(commands)[:2] == ["report", "crosscheck"] and len(commands) == 11
    assert list(only) == ["report"]
    assert one.format_usage() == full.format_usage()  # errors of the top level read the same
    assert only["report"].format_help() == commands["report"].format_help()
    for args, says in ((["--debug", "zoo", "--format", "markdown"], "| name"),
                       (["report", "lenet5", "--columns", "units"], "LeNet-5")):
        proc = subprocess.run([sys.executable, "-m", "cnnsize", *args], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
        assert proc.returncode == 0 and proc.stdout.startswith(says), proc.stderr
    proc = subprocess.run([sys.executable, "-m", "cnnsize", "reprot", "vgg16"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and "choose from 'report', 'crosscheck'" in proc.stderr


# ---------------------------------------------------------------- shared methods, same behaviour


def test_a_record_compares_hashes_and_shows_itself_as_a_frozen_dataclass_does():
    import pickle

    from cnnsize.record import record

    def fields(cls):
        cls.__annotations__ = {"a": "int", "b": "str", "c": "tuple[int, ...]"}
        cls.b = "x"
        cls.c = dataclasses.field(default=(), compare=False, repr=False)
        return cls

    made = record(fields(type("Made", (), {"__module__": __name__})))
    plain = dataclasses.dataclass(frozen=True, slots=True)(
        fields(type("Made", (), {"__module__": __name__})))
    for x, y in ((made(1), made(1, c=(2,))), (plain(1), plain(1, c=(2,)))):
        assert x == y and hash(x) == hash(y) and x != type(x)(2) and x != (1, "x")
        assert repr(x) == "Made(a=1, b='x')"
        with pytest.raises(dataclasses.FrozenInstanceError):
            x.a = 3
        assert not hasattr(x, "__dict__")
        assert dataclasses.replace(x, a=5).a == 5 and dataclasses.asdict(x)["c"] == ()
    assert hash(made(1, "y")) == hash(plain(1, "y")) and made(1) != plain(1)
    report = cnnsize.analyze("lenet5")
    assert pickle.loads(pickle.dumps(report)) == report


def test_a_record_is_made_as_dataclass_makes_its_class():
    """record() without the dataclasses module: the same fields, defaults, factories, errors and
    flavours; and to dataclasses it is one (fields, replace, asdict, a @dataclass subclass)."""
    import copy

    from cnnsize import record as rec

    made_after = []

    @rec.record
    class Point:
        x: int
        y: int = 2
        tags: tuple[str, ...] = rec.field(default_factory=tuple, compare=False)
        kind: ClassVar[str] = "point"  # (a string annotation: not a field)

    @rec.record(frozen=False, slots=False, eq=False, repr=False)
    class Loose:
        n: int
        seen: list[int] = rec.field(default_factory=list)
        later: int = rec.field(default=0, init=False)

        def __post_init__(self) -> None:
            made_after.append(self.n)

    p = Point(1, tags=("a",))
    assert [f.name for f in rec.fields(Point)] == ["x", "y", "tags"] and Point.kind == "point"
    assert p == Point(1) and hash(p) == hash(Point(1)) and p != Point(1, 3)
    assert repr(p).endswith(".Point(x=1, y=2, tags=('a',))")
    assert Point.__match_args__ == ("x", "y", "tags")
    assert rec.replace(p, y=5) == Point(1, 5) and rec.replace(p, y=5).tags == ("a",)
    assert dataclasses.replace(p, y=5) == Point(1, 5)
    assert rec.asdict(p) == dataclasses.asdict(p) == {"x": 1, "y": 2, "tags": ("a",)}
    assert dataclasses.is_dataclass(p) and rec.is_record(Point) and not rec.is_record(1)
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags"]
    assert copy.deepcopy(p) == p and copy.copy(p).tags == ("a",)  # (pickle: the test above)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3
    with pytest.raises(AttributeError):
        del p.y
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'x'"):
        Point()

    a, b = Loose(1), Loose(1)
    assert a != b and a.seen is not b.seen and a.later == 0 and made_after == [1, 1]
    a.n = 4
    assert a.n == 4 and hasattr(a, "__dict__")
    with pytest.raises(ValueError, match="init=False"):
        rec.replace(a, later=1)
    assert rec.replace(a, n=7).n == 7 and made_after[-1] == 7

    @dataclasses.dataclass(frozen=True)
    class Point3(Point):  # a dataclass made from a record, as from a dataclass
        z: int = 0

    assert Point3(1, z=3).z == 3 and [f.name for f in dataclasses.fields(Point3)][-1] == "z"
    with pytest.raises(TypeError, match="non-frozen dataclass"):
        dataclasses.dataclass(type("Thawed", (Point,), {"__annotations__": {"w": "int"}}))

    with pytest.raises(ValueError, match="mutable default"):
        rec.record(type("Bad", (), {"__annotations__": {"v": "list"}, "v": []}))
    with pytest.raises(TypeError, match="non-default argument 'w' follows default argument"):
        rec.record(type("Bad", (), {"__annotations__": {"v": "int", "w": "int"}, "v": 1}))


def test_a_class_made_from_a_record_keeps_its_own_fields_and_dataclass_rules():
    """Subclasses (plain, @dataclass, a kind's) copy, replace and list their own fields; the
    class-making errors and frozen rules are dataclass()'s; __init__ compiled when first looked
    up, so a wrapper or inspect.signature sees the real one."""
    import copy
    import inspect
    import pickle

    from cnnsize import record as rec
    from cnnsize.layers.activation import ReLU

    @rec.record
    class Point:
        x: int
        y: int = 2

    @dataclasses.dataclass(frozen=True)
    class Point3(Point):
        z: int = 0

    p = Point3(1, 2, 3)
    assert copy.copy(p) == copy.deepcopy(p) == p and copy.deepcopy(p).z == 3
    assert [f.name for f in rec.fields(p)] == ["x", "y", "z"] and rec.replace(p, x=5).z == 3
    assert rec.asdict(p) == {"x": 1, "y": 2, "z": 3} and rec.is_record(Point3)

    class Plain(Point):  # a plain subclass: its own attributes, the record's fields frozen
        pass

    q = Plain(1)
    q.note = "ok"
    assert q.note == "ok" and [f.name for f in rec.fields(q)] == ["x", "y"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.x = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        Point(1).note = "no"  # (a record's own instance: every name)

    @dataclasses.dataclass(frozen=True)
    class Tagged(ReLU):
        tag: str = "t"

    relu = Tagged(inplace=True, tag="y")
    assert relu.arg_names() == ["inplace", "tag"] and relu.args() == {"inplace": True, "tag": "y"}
    assert pickle.loads(pickle.dumps(ReLU(True))) == ReLU(True)

    with pytest.raises(TypeError, match="cannot inherit non-frozen dataclass from a frozen one"):
        rec.record(frozen=False)(type("Thawed", (Point,), {"__annotations__": {"w": "int"},
                                                            "w": 0}))
    with pytest.raises(TypeError, match="cannot inherit frozen dataclass from a non-frozen one"):
        rec.record(type("Frozen", (rec.record(frozen=False)(type("Loose", (), {})),), {}))
    for namespace, says in (({"b": rec.field(default=1)}, "'b' is a field but has no type"),
                            ({"__slots__": ()}, "already specifies __slots__"),
                            ({"__annotations__": {"a": "InitVar[int]"}}, "no InitVar"),
                            ({"__annotations__": {"a": "int"},
                              "a": dataclasses.field(kw_only=True)}, "no keyword-only")):
        with pytest.raises(TypeError, match=says):
            rec.record(type("Bad", (), namespace))

    @rec.record
    class Late:
        a: int
        b: str = "x"

    assert Late.__doc__ == "Late(a: 'int', b: 'str' = 'x')"
    assert str(inspect.signature(Late)) == "(a: 'int', b: 'str' = 'x') -> None"
    real = Late.__init__
    calls = []

    def wrapper(self, *args, **kwargs):
        calls.append(args)
        real(self, *args, **kwargs)

    Late.__init__ = wrapper
    assert Late(1).a == 1 and calls == [(1,)]
