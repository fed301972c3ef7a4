"""Shared fixtures: the golden-file helper (update with `pytest --update-golden`)."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/* from the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with tests/golden/<test name>.txt; --update-golden rewrites it."""
    def check(text: str, suffix: str = "txt") -> None:
        path = GOLDEN / f"{request.node.name}.{suffix}"
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"no golden file {path}; run pytest --update-golden"
        assert text == path.read_text(encoding="utf-8")
    return check


def _trim() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim), after a
    collection: the large models' tensors, freed, otherwise stay in the process's heap, and a
    whole suite in one process grows by each test's peak (several GB over the torchvision
    models). Nothing where there is no glibc."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@pytest.fixture(autouse=True, scope="module")
def _memory_back_after_each_module():
    yield
    _trim()


@pytest.fixture
def memory_back():
    """Per test, for the tests that build large models (test_torchvision_models.py)."""
    yield
    _trim()
