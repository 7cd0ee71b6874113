"""A synchronous Python client for the bridge, for tests and tools that run without Node.

It starts `python -m inferkit_bridge` exactly as @inferkit/runner-python does (frame and liveness
pipes on extra file descriptors, the reaper, stdout/stderr captured as log lines, its own process
group) and speaks the same frames. Every wait has a timeout; `close()` always leaves no process behind.
"""

from __future__ import annotations

import collections
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

from .codec import FrameDecoder, encode_frame
from .protocol import PROTOCOL_VERSION


class ClientError(Exception):
    pass


class BridgeClient:
    def __init__(
        self,
        engine: str,
        *,
        model: str | None = None,
        revision: str | None = None,
        engine_args: dict[str, Any] | None = None,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        extra_path: list[str] | None = None,
        log_lines: int = 200,
    ) -> None:
        self.engine = engine
        self.model = model
        self.revision = revision
        self.engine_args = engine_args or {}
        self.python = python
        self.env = env
        self.extra_path = extra_path or []
        self.logs: collections.deque[str] = collections.deque(maxlen=log_lines)
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] | None = None
        self._decoder = FrameDecoder()
        self._frames: collections.deque[dict[str, Any]] = collections.deque()
        self._to_worker = -1
        self._from_worker = -1
        self._liveness_to = -1
        self._liveness_from = -1
        self._liveness_decoder = FrameDecoder()
        self._log_thread: threading.Thread | None = None
        self._nonce = 0

    # lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float) -> dict[str, Any]:
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ if self.env is None else self.env)
        paths = [package_root, *self.extra_path]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"
        host_read, worker_write = os.pipe()
        worker_read, host_write = os.pipe()
        alive_read, alive_write = os.pipe()
        ping_read, ping_write = os.pipe()
        worker_fds = (worker_read, worker_write, ping_read, alive_write)
        try:
            self.proc = subprocess.Popen(
                [self.python, "-m", "inferkit_bridge", "--in-fd", str(worker_read), "--out-fd", str(worker_write),
                 "--liveness-in-fd", str(ping_read), "--liveness-out-fd", str(alive_write), "--reap"],
                pass_fds=worker_fds,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        finally:
            for fd in worker_fds:
                os.close(fd)
        self._to_worker = host_write
        self._from_worker = host_read
        self._liveness_to = ping_write
        self._liveness_from = alive_read
        self._log_thread = threading.Thread(target=self._pump_logs, daemon=True)
        self._log_thread.start()
        self.send(
            {
                "type": "init",
                "protocol": PROTOCOL_VERSION,
                "engine": self.engine,
                "model": self.model,
                "revision": self.revision,
                "engineArgs": self.engine_args,
            }
        )
        frame = self.recv(timeout)
        if frame["type"] == "error":
            raise ClientError(f"worker failed to start: {frame['error']}")
        if frame["type"] != "ready":
            raise ClientError(f"expected ready, got {frame}")
        self.ready = frame
        return frame

    def _pump_logs(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.logs.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def close(self, timeout: float = 10.0) -> int | None:
        """Graceful shutdown, then SIGKILL of the whole process group. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                self.send({"type": "shutdown"})
            except (OSError, ClientError):
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass
        for fd in (self._to_worker, self._from_worker, self._liveness_to, self._liveness_from):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_worker = self._from_worker = self._liveness_to = self._liveness_from = -1
        if self._log_thread is not None:
            self._log_thread.join(timeout=2.0)
        return proc.returncode

    def __enter__(self) -> "BridgeClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # frames ----------------------------------------------------------------------------------
    def send(self, frame: dict[str, Any]) -> None:
        if self._to_worker < 0:
            raise ClientError("client is not started")
        data = encode_frame(frame)
        view = memoryview(data)
        while view:
            written = os.write(self._to_worker, view)
            view = view[written:]

    def send_raw(self, data: bytes) -> None:
        os.write(self._to_worker, data)

    def recv(self, timeout: float) -> dict[str, Any]:
        """Next frame from the worker; ClientError on timeout or when the worker has gone."""
        deadline = time.monotonic() + timeout
        while not self._frames:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError(f"no frame within {timeout:.1f}s; last log lines: {list(self.logs)[-5:]}")
            readable, _, _ = select.select([self._from_worker], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._from_worker, 1 << 16)
            if not chunk:
                code = self.proc.poll() if self.proc else None
                raise ClientError(f"worker closed the frame pipe (exit code {code}); logs: {list(self.logs)[-5:]}")
            self._frames.extend(self._decoder.feed(chunk))
        return self._frames.popleft()

    # requests --------------------------------------------------------------------------------
    def generate(
        self,
        rid: str,
        *,
        messages: list[dict[str, Any]] | None = None,
        prompt: str | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> None:
        frame: dict[str, Any] = {"type": "generate", "id": rid, "sampling": sampling or {}}
        if messages is not None:
            frame["messages"] = messages
        if prompt is not None:
            frame["prompt"] = prompt
        self.send(frame)

    def abort(self, rid: str) -> None:
        self.send({"type": "abort", "id": rid})

    def ping(self, timeout: float) -> dict[str, Any]:
        self._nonce += 1
        nonce = self._nonce
        self.send({"type": "ping", "nonce": nonce})
        deadline = time.monotonic() + timeout
        held: list[dict[str, Any]] = []
        try:
            while True:
                frame = self.recv(max(0.0, deadline - time.monotonic()))
                if frame["type"] == "pong" and frame.get("nonce") == nonce:
                    return frame
                held.append(frame)
        finally:
            self._frames.extendleft(reversed(held))

    def liveness(self, nonce: int, deadline_ms: int, timeout: float) -> dict[str, Any]:
        """One liveness round trip on the liveness pipes: the `alive` answer."""
        data = encode_frame({"type": "liveness", "nonce": nonce, "deadlineMs": deadline_ms})
        os.write(self._liveness_to, data)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError(f"no liveness answer within {timeout:.1f}s")
            readable, _, _ = select.select([self._liveness_from], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self._liveness_from, 4096)
            if not chunk:
                raise ClientError("the worker closed the liveness pipe")
            for frame in self._liveness_decoder.feed(chunk):
                if frame.get("nonce") == nonce:
                    return frame

    def frames_for(self, rid: str, timeout: float) -> Iterator[dict[str, Any]]:
        """Frames of one request up to and including its last one (final delta, error or aborted).
        Frames of other requests are kept for later calls."""
        deadline = time.monotonic() + timeout
        held: list[dict[str, Any]] = []
        try:
            while True:
                frame = self.recv(max(0.0, deadline - time.monotonic()))
                if frame.get("id") != rid:
                    held.append(frame)
                    continue
                yield frame
                if frame["type"] in ("error", "aborted") or "finishReason" in frame:
                    return
        finally:
            self._frames.extendleft(reversed(held))

    def collect(self, rid: str, timeout: float) -> dict[str, Any]:
        """Run one request to its end: {text, tokens, finishReason, usage, deltas, error}."""
        result: dict[str, Any] = {"text": "", "tokens": 0, "deltas": 0, "finishReason": None, "usage": None, "error": None}
        for frame in self.frames_for(rid, timeout):
            if frame["type"] == "delta":
                result["text"] += frame["text"]
                result["tokens"] += frame["tokens"]
                result["deltas"] += 1
                if "finishReason" in frame:
                    result["finishReason"] = frame["finishReason"]
                    result["usage"] = frame.get("usage")
            elif frame["type"] == "error":
                result["error"] = frame["error"]
            elif frame["type"] == "aborted":
                result["aborted"] = True
        return result
