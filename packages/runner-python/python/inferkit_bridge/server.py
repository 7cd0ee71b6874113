"""The worker's event loop: reads host frames, runs one task per request, writes frames back."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from typing import Any

from . import protocol
from .capabilities import refuse_undeclared
from .codec import HEADER_BYTES, FrameError, decode_body, frame_length
from .engine import Delta, GenerateRequest, Usage
from .errors import BridgeError, as_bridge_error, describe
from .frame_writer import FrameWriter
from .liveness import LivenessResponder
from .loader import load_engine

# Exit codes the Node side turns into a reason in `runtime_crashed` details.
EXIT_OK = 0
EXIT_STARTUP_FAILED = 2
EXIT_ENGINE_DEAD = 3
EXIT_PROTOCOL_ERROR = 4

ABORT_TIMEOUT = 10.0
CLOSE_TIMEOUT = 30.0


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """Next frame, or None at a clean end of stream. Raises FrameError on corruption."""
    try:
        header = await reader.readexactly(HEADER_BYTES)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError(f"stream ended inside a frame header ({len(exc.partial)} of 4 bytes)") from exc
        return None
    length = frame_length(header)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise FrameError(f"stream ended inside a frame body ({len(exc.partial)} of {length} bytes)") from exc
    return decode_body(body)


class Bridge:
    """Serves one engine over one connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: FrameWriter) -> None:
        self._reader = reader
        self._out = writer
        self._engine: Any = None
        self._engine_name = "engine"
        self._capabilities: frozenset[str] = frozenset()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._aborting: set[str] = set()
        self._stopping = False
        self._exit_code = EXIT_OK
        self._fatal: BridgeError | None = None
        self._done = asyncio.Event()
        self._side_tasks: set[asyncio.Future[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self) -> int:
        try:
            if not await self._start():
                return self._exit_code
            read_loop = asyncio.ensure_future(self._read_loop())
            done_wait = asyncio.ensure_future(self._done.wait())
            await asyncio.wait({read_loop, done_wait}, return_when=asyncio.FIRST_COMPLETED)
            for pending in (read_loop, done_wait):
                if not pending.done():
                    pending.cancel()
            await self._shutdown()
        except FrameError as exc:
            self._fail_connection(BridgeError("internal", f"protocol error from host: {exc}"), EXIT_PROTOCOL_ERROR)
        await self._out.drain(timeout=2.0)
        return self._exit_code

    # start-up --------------------------------------------------------------------------------
    async def _start(self) -> bool:
        try:
            first = await read_frame(self._reader)
            if first is None:
                return False
            init = protocol.parse_init(first)
            self._engine = await load_engine(init)
            engine_info = self._engine.info()
            info = engine_info.to_json()
            self._engine_name = str(getattr(engine_info, "name", "engine"))
            self._capabilities = frozenset(getattr(engine_info, "capabilities", ()))
        except (FrameError, protocol.ProtocolError) as exc:
            self._fail_connection(BridgeError("internal", f"protocol error from host: {exc}"), EXIT_PROTOCOL_ERROR)
            return False
        except BaseException as exc:  # start-up failures of any kind are reported, then we exit
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            error = as_bridge_error(exc)
            self._out.send(protocol.error_frame(None, error, fatal=True))
            self._exit_code = EXIT_STARTUP_FAILED
            return False
        self._out.send(protocol.ready_frame(info, os.getpid(), sys.version.split()[0]))
        return True

    # frames from the host --------------------------------------------------------------------
    async def _read_loop(self) -> None:
        while True:
            try:
                frame = await read_frame(self._reader)
                if frame is None:  # host closed the pipe: it is gone or closing
                    return
                kind = protocol.frame_type(frame)
                if kind == "generate":
                    self._on_generate(frame)
                elif kind == "abort":
                    self._on_abort(protocol.request_id(frame))
                elif kind == "ping":
                    # Its own task: a slow engine health check must not hold up aborts behind it.
                    ping = asyncio.ensure_future(self._on_ping(protocol.parse_nonce(frame)))
                    self._side_tasks.add(ping)
                    ping.add_done_callback(self._side_tasks.discard)
                elif kind == "shutdown":
                    return
                else:  # a second init
                    raise protocol.ProtocolError("init was already received")
            except (FrameError, protocol.ProtocolError) as exc:
                self._fail_connection(BridgeError("internal", f"protocol error from host: {exc}"), EXIT_PROTOCOL_ERROR)
                self._done.set()
                return

    def _on_generate(self, frame: dict[str, Any]) -> None:
        rid = protocol.request_id(frame)
        if rid in self._tasks:
            self._out.send(protocol.error_frame(rid, BridgeError("bad_request", f"request id {rid!r} is already running")))
            return
        try:
            request = protocol.parse_generate(frame, rid)
            refuse_undeclared(request, self._capabilities, self._engine_name)
        except BridgeError as exc:
            self._out.send(protocol.error_frame(rid, exc))
            return
        if self._fatal is not None:
            self._out.send(protocol.error_frame(rid, self._fatal))
            return
        task = asyncio.ensure_future(self._serve(request))
        self._tasks[rid] = task
        task.add_done_callback(lambda done: self._task_done(rid, done))

    def _task_done(self, rid: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(rid) is task:
            del self._tasks[rid]
        # A task cancelled before its first step never ran _serve's handlers: answer for it here.
        if task.cancelled():
            self._aborting.discard(rid)
            self._out.discard(rid)
            if not self._stopping:
                self._out.send(protocol.aborted_frame(rid))

    def _on_abort(self, rid: str) -> None:
        task = self._tasks.get(rid)
        if task is None or rid in self._aborting:
            return  # finished already, or the abort crossed the last delta on the wire
        self._aborting.add(rid)
        task.cancel()

    async def _on_ping(self, nonce: int) -> None:
        healthy = self._fatal is None
        health = getattr(self._engine, "health", None)
        if healthy and callable(health):
            try:
                result = health()
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, timeout=5.0)
            except Exception as exc:
                healthy = False
                error = as_bridge_error(exc)
                if error.fatal:
                    self._engine_dead(error)
        stats = None
        stats_fn = getattr(self._engine, "stats", None)
        if callable(stats_fn):
            try:
                stats = stats_fn()
            except Exception as exc:
                stats = {"error": describe(exc)}
        try:
            self._out.send(protocol.pong_frame(nonce, len(self._tasks), healthy, stats))
        except FrameError as exc:  # stats() returned something JSON cannot carry
            self._out.send(protocol.pong_frame(nonce, len(self._tasks), healthy, {"error": f"stats(): {exc}"}))

    # one request -----------------------------------------------------------------------------
    async def _serve(self, request: GenerateRequest) -> None:
        rid = request.id
        out = self._out
        add = out.add
        tokens = 0
        finish: str | None = None
        usage: Usage | None = None
        stream: Any = None
        try:
            stream = self._engine.generate(request)
            if inspect.isawaitable(stream):
                stream = await stream
            if not hasattr(stream, "__aiter__"):
                raise BridgeError(
                    "internal",
                    f"engine.generate() returned {type(stream).__name__}; it must be an async generator "
                    "(async def ... yield) or return an async iterator",
                )
            async for item in stream:
                if type(item) is str:
                    tokens += 1
                    if add(rid, item, 1):
                        await self._yield_to_loop()
                    continue
                if not isinstance(item, Delta):
                    raise BridgeError(
                        "internal", f"engine yielded {type(item).__name__}; expected str or inferkit_bridge.Delta"
                    )
                if item.finish_reason is not None and item.finish_reason not in protocol.FINISH_REASONS:
                    raise BridgeError("internal", f"engine yielded unknown finish reason {item.finish_reason!r}")
                tokens += item.tokens
                if item.usage is not None:
                    usage = item.usage
                if item.text or item.tokens:
                    if add(rid, item.text, item.tokens):
                        await self._yield_to_loop()
                if item.finish_reason is not None:
                    finish = item.finish_reason
                    break
            out.finish(rid, finish or "stop", (usage or Usage()).to_json(tokens))
            # A generator left at its final yield has not run its cleanup (the transformers
            # adapter releases its model slot there): close it now, not at garbage collection.
            await self._close_stream(rid, stream)
        except asyncio.CancelledError:
            out.discard(rid)
            await self._release(rid, stream)
            if not self._stopping:
                out.send(protocol.aborted_frame(rid))
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            error = as_bridge_error(exc)
            out.send(protocol.error_frame(rid, error))  # after the text produced before the failure
            if error.fatal:
                self._engine_dead(error)
        finally:
            if self._tasks.get(rid) is asyncio.current_task():
                del self._tasks[rid]
            self._aborting.discard(rid)

    async def _yield_to_loop(self) -> None:
        # An engine that never awaits would otherwise starve other requests, aborts and pings.
        if self._out.paused:
            await self._out.wait_writable()
        else:
            await asyncio.sleep(0)

    async def _close_stream(self, rid: str, stream: Any) -> None:
        try:
            if stream is not None and hasattr(stream, "aclose"):
                await asyncio.wait_for(stream.aclose(), timeout=ABORT_TIMEOUT)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
                raise
            print(f"inferkit_bridge: closing the stream of {rid} failed: {describe(exc)}", file=sys.stderr)

    async def _release(self, rid: str, stream: Any) -> None:
        """Close the engine's generator and abort the request, bounded in time."""
        await self._close_stream(rid, stream)
        try:
            await asyncio.wait_for(self._engine.abort(rid), timeout=ABORT_TIMEOUT)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            print(f"inferkit_bridge: engine.abort({rid}) failed: {describe(exc)}", file=sys.stderr)

    # failure and shutdown --------------------------------------------------------------------
    def _engine_dead(self, error: BridgeError) -> None:
        """Fail everything, then exit so the host restarts the worker."""
        if self._fatal is not None:
            return
        self._fatal = error
        self._exit_code = EXIT_ENGINE_DEAD
        print(f"inferkit_bridge: engine is dead: {error.message}", file=sys.stderr)
        current = asyncio.current_task()
        for rid, task in list(self._tasks.items()):
            if task is current:  # the request that hit the error has reported it already
                continue
            self._out.discard(rid)
            self._out.send(protocol.error_frame(rid, error))
            self._aborting.add(rid)
            task.cancel()
        self._out.send(protocol.error_frame(None, error, fatal=True))
        self._stopping = True
        self._done.set()

    def _fail_connection(self, error: BridgeError, code: int) -> None:
        print(f"inferkit_bridge: {error.message}", file=sys.stderr)
        self._out.send(protocol.error_frame(None, error, fatal=True))
        self._exit_code = code

    async def _shutdown(self) -> None:
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=ABORT_TIMEOUT)
        engine = self._engine
        if engine is None:
            return
        try:
            await asyncio.wait_for(engine.close(), timeout=CLOSE_TIMEOUT)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            print(f"inferkit_bridge: engine.close() failed: {describe(exc)}", file=sys.stderr)


async def serve(in_fd: int, out_fd: int, liveness: tuple[int, int] | None = None) -> int:
    loop = asyncio.get_running_loop()
    if liveness is not None:
        # Started before the engine loads: the host only holds the worker to its deadline once it
        # is ready (loading a model may block the loop for minutes), but answers are there from
        # the start.
        LivenessResponder(liveness[0], liveness[1], loop).start()
    reader = asyncio.StreamReader(limit=2**16)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", buffering=0))
    _, writer = await loop.connect_write_pipe(lambda: FrameWriter(loop), os.fdopen(out_fd, "wb", buffering=0))
    bridge = Bridge(reader, writer)
    return await bridge.run()
