"""Puts the bridge, the scripted test engine and the fakes on sys.path; swaps fake libraries in."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(os.path.dirname(HERE))
BRIDGE_PATH = os.path.join(PACKAGE, "python")
FIXTURES = os.path.join(PACKAGE, "test", "fixtures")
FAKES = os.path.join(HERE, "fakes")

for path in (BRIDGE_PATH, FIXTURES, FAKES):
    if path not in sys.path:
        sys.path.insert(0, path)

_FAKE_ROOTS = ("vllm", "transformers", "torch")


def _forget_fake_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in _FAKE_ROOTS:
            del sys.modules[name]


def _use(path: str) -> Iterator[None]:
    _forget_fake_modules()
    sys.path.insert(0, path)
    try:
        yield
    finally:
        sys.path.remove(path)
        _forget_fake_modules()


@pytest.fixture
def fake_vllm_v1() -> Iterator[None]:
    yield from _use(os.path.join(FAKES, "vllm_v1"))


@pytest.fixture
def fake_vllm_v0() -> Iterator[None]:
    yield from _use(os.path.join(FAKES, "vllm_v0"))


@pytest.fixture
def fake_hf() -> Iterator[None]:
    yield from _use(os.path.join(FAKES, "hf"))


@pytest.fixture
def no_fakes() -> Iterator[None]:
    """Makes sure the real libraries (absent on the build machine) are what an import finds."""
    _forget_fake_modules()
    yield
    _forget_fake_modules()
