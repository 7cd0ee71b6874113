"""Answers the host's liveness pings from a thread of its own, off the engine's event loop.

The host pings on a dedicated pipe pair every few seconds and treats a missing answer as a
frozen worker (stopped, or the GIL held by native code) and an answer reporting a long
`loopLagMs` as an engine that blocks the event loop (a `time.sleep` or a CPU-bound call inside
`generate`): either way it kills the worker and fails its requests with `runtime_crashed`
instead of letting them hang. Answering from the loop could not tell the two apart from a
dead process, nor say where the loop is stuck.

Loop lag is measured with a probe: on each ping the thread posts a callback to the loop (if the
previous one has run) and reports how long the oldest unanswered one has waited. An idle loop
costs one callback per ping; nothing runs on the loop between pings.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import traceback
from time import monotonic

from . import protocol
from .codec import FrameDecoder, FrameError, encode_frame


class LivenessResponder:
    def __init__(self, in_fd: int, out_fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._in = in_fd
        self._out = out_fd
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._lock = threading.Lock()
        self._probe_since: float | None = None
        self._reported_stall = False
        self._thread = threading.Thread(target=self._run, name="inferkit-liveness", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        decoder = FrameDecoder()
        while True:
            try:
                chunk = os.read(self._in, 4096)
            except OSError:
                return
            if not chunk:  # the host closed the pipe: it is shutting us down or gone
                return
            try:
                frames = decoder.feed(chunk)
                for frame in frames:
                    nonce, deadline = protocol.parse_liveness(frame)
                    lag = self._probe()
                    if lag > deadline:
                        self._report_stall(lag)
                    os.write(self._out, encode_frame(protocol.alive_frame(nonce, lag)))
            except (FrameError, protocol.ProtocolError) as exc:
                # Stop answering: the host sees the silence and replaces the worker.
                print(f"inferkit_bridge: liveness pipe: {exc}", file=sys.stderr)
                return
            except OSError:
                return

    def _probe(self) -> float:
        """Seconds the loop has left the oldest probe waiting (0 when it ran the last one)."""
        now = monotonic()
        with self._lock:
            since = self._probe_since
            if since is not None:
                return now - since
            self._probe_since = now
        try:
            self._loop.call_soon_threadsafe(self._probe_answered)
        except RuntimeError:  # the loop is closed: the worker is exiting
            pass
        return 0.0

    def _probe_answered(self) -> None:
        with self._lock:
            self._probe_since = None
            self._reported_stall = False

    def _report_stall(self, lag: float) -> None:
        """Once per stall: where the loop is stuck, for the host's crash report (stderr tail)."""
        if self._reported_stall:
            return
        self._reported_stall = True
        frame = sys._current_frames().get(self._loop_thread)
        where = "".join(traceback.format_stack(frame)) if frame is not None else "(no stack)\n"
        print(
            f"inferkit_bridge: the event loop has not run for {lag:.1f} s; it is blocked in:\n{where}",
            file=sys.stderr,
            end="",
            flush=True,
        )
