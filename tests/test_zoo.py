"""Every zoo entry, built as a real torch model and run: shapes and params agree row by row.

Exact published figures for each entry live in the tests/test_zoo_*.py files.
"""

from __future__ import annotations

import pytest

import cnnsize

torch = pytest.importorskip("torch")
from cnnsize.verify.build import build, module_for_row  # noqa: E402

ZOO = cnnsize.zoo_names()


def test_zoo_has_the_lecture_networks():
    assert {"lenet5", "alexnet", "vgg16"} <= set(ZOO)


@pytest.mark.parametrize("name", ZOO)
def test_zoo_entry_matches_its_torch_model(name):
    report = cnnsize.analyze(name)
    model = build(name)
    seen: dict[str, tuple[int, ...]] = {}
    handles = []
    for row in report.layers:
        module = module_for_row(model, row.name, row.shares)
        handles.append(module.register_forward_hook(
            lambda mod, inp, out, key=row.name: seen.__setitem__(key, tuple(out.shape[1:]))))
    with torch.no_grad():
        model(torch.randn(1, *report.input_shape))
    for handle in handles:
        handle.remove()
    wrong = [(r.name, r.output_shape, seen.get(r.name)) for r in report.layers
             if seen.get(r.name) != r.output_shape]
    assert not wrong, wrong[:5]
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())
    rows = {r.name for r in report.layers}
    for row in report.layers:  # a merge row's module holds the rows of its container
        module = model.get_submodule(row.name)
        own = sum(p.numel() for name, p in module.named_parameters(prefix=row.name)
                  if not any(name.startswith(r + ".") for r in rows if r.startswith(row.name + ".")))
        assert row.params == own, row.name


def test_zoo_specs_name_their_source():
    for name in ZOO:
        net = cnnsize.load(name)
        assert net.meta.get("source"), f"{name}: meta.source is missing"
