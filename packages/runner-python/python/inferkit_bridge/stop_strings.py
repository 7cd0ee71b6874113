"""Stop-string matching over streamed text: the Python copy of inference-core's StopSequenceMatcher.

Same algorithm, checked against the same case file (inference-core/test-data/
stop-sequence-cases.json, by test/python/test_stop_strings.py): text that could still turn into a
stop string (the longest suffix that is a proper prefix of one) is held back until the next piece
shows whether it matches; the stop string itself and everything after it are dropped, as in vLLM
(`include_stop_str_in_output=False`).
"""

from __future__ import annotations


class StopMatcher:
    __slots__ = ("_stops", "_longest", "_pending", "matched")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self._stops), default=0)
        self._pending = ""
        self.matched = False

    def push(self, text: str) -> str:
        """Text that is safe to emit now. After a match, `matched` is True and the rest is dropped."""
        if self.matched:
            return ""
        if not self._stops:
            return text
        buffer = self._pending + text
        cut = -1
        for stop in self._stops:
            at = buffer.find(stop)
            if at != -1 and (cut == -1 or at < cut):
                cut = at
        if cut != -1:
            self.matched = True
            self._pending = ""
            return buffer[:cut]
        hold = self._held_suffix_length(buffer)
        self._pending = buffer[len(buffer) - hold :] if hold else ""
        return buffer[: len(buffer) - hold]

    def flush(self) -> str:
        """Held-back text once the stream has ended without a match."""
        rest, self._pending = self._pending, ""
        return "" if self.matched else rest

    def _held_suffix_length(self, buffer: str) -> int:
        for k in range(min(self._longest - 1, len(buffer)), 0, -1):
            tail = buffer[len(buffer) - k :]
            for stop in self._stops:
                if stop.startswith(tail):
                    return k
        return 0
