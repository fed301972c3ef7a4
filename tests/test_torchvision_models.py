"""Every model torchvision lists, imported exact (issue 11): params equal to the module's and to
torchvision's num_params, MACs equal to torch.utils.flop_counter on the original module and to
torchvision's _ops, output shapes equal, the model left as it was. Detection and optical flow:
the whole model refused by name, its backbone (feature encoder) exact. What is not followed yet
(torchvision_coverage.NOT_YET) must be refused with its message, and fails here once it imports
exact, so that the list (and docs/torchvision.md, written from the same code) stays true.

torchvision is the `[zoo]` extra; the README's test command installs it.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torchvision.models")

from . import torchvision_coverage as coverage


@pytest.mark.parametrize(("family", "name"), coverage.names(), ids=[n for _, n in coverage.names()])
def test_torchvision_model_imports_exact(family, name, memory_back):
    row = coverage.check(family, name)
    if name in coverage.NOT_YET:
        assert not row.exact, f"{name} now imports exact: take it out of NOT_YET"
        assert row.refused.startswith(coverage.NOT_YET[name]), row.refused
        return
    if family in coverage.OUT_OF_SCOPE:
        # the part that is out of scope is named: a module path and its class
        assert row.refused.startswith("cnnsize cannot follow this model: "), row.refused
        assert "(" in row.refused and ")" in row.refused
    else:
        assert not row.refused, row.refused
    assert row.exact, row
