from __future__ import annotations

from inferkit_bridge.stop_strings import StopMatcher


def run(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, bool]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.push(p) for p in pieces)
    if not matcher.matched:
        out += matcher.flush()
    return out, matcher.matched


def test_no_stops_passes_through() -> None:
    assert run((), ["a", "b"]) == ("ab", False)


def test_match_across_pieces_is_cut_and_not_emitted() -> None:
    assert run(("END",), ["hello E", "N", "D tail"]) == ("hello ", True)


def test_partial_prefix_is_released_when_it_does_not_match() -> None:
    assert run(("END",), ["E", "N", "x"]) == ("ENx", False)


def test_earliest_of_several_stops_wins() -> None:
    assert run(("b", "ab"), ["xxab"]) == ("xx", True)


def test_hold_back_never_exceeds_longest_stop_minus_one() -> None:
    matcher = StopMatcher(("abcd",))
    assert matcher.push("0123456") == "0123"
    assert matcher.flush() == "456"
