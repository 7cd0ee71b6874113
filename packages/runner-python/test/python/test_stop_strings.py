"""StopMatcher against the case file shared with inference-core's StopSequenceMatcher."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from conftest import PACKAGE
from inferkit_bridge.stop_strings import StopMatcher

CASES_FILE = os.path.join(os.path.dirname(os.path.dirname(PACKAGE)), "packages", "inference-core", "test-data",
                          "stop-sequence-cases.json")
with open(CASES_FILE, encoding="utf-8") as f:
    CASES: list[dict[str, Any]] = json.load(f)["cases"]


def as_python_text(pieces: list[str]) -> list[str]:
    """The pieces as Python would receive them. The case file is written in UTF-16 terms (a piece
    may end between the two halves of a surrogate pair, as a JavaScript string can); a Python str
    holds code points, so a decoder hands the pair over whole, with the piece its second half
    arrives in."""
    out: list[str] = []
    carry = ""
    for piece in pieces:
        text = carry + piece
        carry = ""
        if text and "\ud800" <= text[-1] <= "\udbff":  # a high surrogate waiting for its pair
            text, carry = text[:-1], text[-1]
        out.append(text.encode("utf-16-le", "surrogatepass").decode("utf-16-le"))
    if carry:
        out.append(carry)
    return out


def run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(tuple(stops))
    out = "".join(matcher.push(p) for p in pieces)
    if not matcher.matched:
        out += matcher.flush()
    return out, matcher.matched


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_stop_sequence_case(case: dict[str, Any]) -> None:
    text, stopped = run(case["stops"], as_python_text(case["pieces"]))
    assert (text, stopped) == (case["text"], case["stopped"])


def test_the_shared_file_has_cases() -> None:
    assert len(CASES) >= 16


def test_only_a_possible_stop_prefix_is_held_back() -> None:
    matcher = StopMatcher(("abcd",))
    assert matcher.push("0123456") == "0123456"  # no suffix starts "abcd": nothing to hold
    assert matcher.push("xab") == "x"
    assert matcher.flush() == "ab"
