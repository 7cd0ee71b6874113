"""Stop-string matching over streamed text, with the hold-back vLLM uses.

Text that could be the start of a stop string is held back (at most `max(len(stop)) - 1`
characters) until the next piece shows whether it matches. The stop string itself is not
emitted, as in vLLM (`include_stop_str_in_output=False`).
"""

from __future__ import annotations


class StopMatcher:
    __slots__ = ("_stops", "_hold", "_buffer", "matched")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._buffer = ""
        self.matched = False

    def push(self, text: str) -> str:
        """Text that is safe to emit now. After a match, `matched` is True and the rest is dropped."""
        if not self._stops:
            return text
        if self.matched:
            return ""
        buffer = self._buffer + text
        cut = -1
        for stop in self._stops:
            at = buffer.find(stop)
            if at != -1 and (cut == -1 or at < cut):
                cut = at
        if cut != -1:
            self.matched = True
            self._buffer = ""
            return buffer[:cut]
        if self._hold == 0:
            self._buffer = ""
            return buffer
        safe = len(buffer) - self._hold
        if safe <= 0:
            self._buffer = buffer
            return ""
        self._buffer = buffer[safe:]
        return buffer[:safe]

    def flush(self) -> str:
        """Held-back text once the stream has ended without a match."""
        rest, self._buffer = self._buffer, ""
        return "" if self.matched else rest
