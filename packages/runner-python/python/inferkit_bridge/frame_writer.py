"""Writes frames to the host, coalescing token deltas.

One frame per token would cap the bridge at the rate Python can encode JSON and make write
syscalls (~100k/s). Instead, text for the same request accumulates until the event loop gets a
turn (a `call_soon` flush) or, when the engine never awaits between tokens, until the batch is
MAX_BATCH_TOKENS tokens or MAX_BATCH_DELAY seconds old. A paced engine (one that awaits between
tokens, as every real engine does) therefore still gets one frame per token.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any, Callable

from .codec import encode_frame

MAX_BATCH_TOKENS = 4096
MAX_BATCH_DELAY = 0.002


class _Slot:
    __slots__ = ("id", "parts", "tokens", "dirty", "finish", "usage")

    def __init__(self, rid: str) -> None:
        self.id = rid
        self.parts: list[str] = []
        self.tokens = 0
        self.dirty = False
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None


class FrameWriter(asyncio.Protocol):
    """asyncio write-pipe protocol plus the delta batcher; one per connection."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        max_batch_delay: float = MAX_BATCH_DELAY,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self._transport: asyncio.WriteTransport | None = None
        self._slots: dict[str, _Slot] = {}
        self._dirty: list[_Slot] = []
        self._scheduled = False
        self._batch_started = 0.0
        self._batch_tokens = 0
        self._max_tokens = max_batch_tokens
        self._max_delay = max_batch_delay
        self._writable = asyncio.Event()
        self._writable.set()
        self._paused = False
        self._closed = False
        self._on_lost = on_lost

    # asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def pause_writing(self) -> None:
        self._paused = True
        self._writable.clear()

    def resume_writing(self) -> None:
        self._paused = False
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._paused = False
        self._writable.set()
        if self._on_lost is not None:
            self._on_lost()

    # batching --------------------------------------------------------------------------------
    def add(self, rid: str, text: str, tokens: int) -> bool:
        """Queue text for `rid`. True means the caller should yield to the loop before going on
        (a batch was just written inline, or the pipe is full)."""
        slot = self._slots.get(rid)
        if slot is None:
            slot = self._slots[rid] = _Slot(rid)
        if text:
            slot.parts.append(text)
        slot.tokens += tokens
        if not slot.dirty:
            slot.dirty = True
            self._dirty.append(slot)
        self._batch_tokens += tokens
        if not self._scheduled:
            self._scheduled = True
            self._batch_started = monotonic()
            self._loop.call_soon(self._flush_soon)
            return self._paused
        if self._batch_tokens >= self._max_tokens or monotonic() - self._batch_started >= self._max_delay:
            self.flush()
            return True
        return self._paused

    def finish(self, rid: str, reason: str, usage: dict[str, Any] | None) -> None:
        """Last frame of `rid`: pending text, the finish reason and usage, written now."""
        slot = self._slots.get(rid)
        if slot is None:
            slot = self._slots[rid] = _Slot(rid)
        slot.finish = reason
        slot.usage = usage
        if not slot.dirty:
            slot.dirty = True
            self._dirty.append(slot)
        self.flush()

    def discard(self, rid: str) -> None:
        """Drop unsent text of a request that is being aborted or failed."""
        slot = self._slots.pop(rid, None)
        if slot is not None and slot.dirty:
            self._dirty.remove(slot)

    def _flush_soon(self) -> None:
        if self._scheduled:
            self.flush()

    def flush(self) -> None:
        self._scheduled = False
        self._batch_tokens = 0
        if not self._dirty:
            return
        dirty = self._dirty
        self._dirty = []
        chunks: list[bytes] = []
        for slot in dirty:
            slot.dirty = False
            frame: dict[str, Any] = {
                "type": "delta",
                "id": slot.id,
                "text": "".join(slot.parts) if slot.parts else "",
                "tokens": slot.tokens,
            }
            slot.parts = []
            slot.tokens = 0
            if slot.finish is not None:
                frame["finishReason"] = slot.finish
                if slot.usage is not None:
                    frame["usage"] = slot.usage
                del self._slots[slot.id]
            chunks.append(encode_frame(frame))
        self._write(b"".join(chunks))

    # plain frames ----------------------------------------------------------------------------
    def send(self, frame: dict[str, Any]) -> None:
        """Write a control frame after everything queued before it, so order is preserved."""
        self.flush()
        self._write(encode_frame(frame))

    def _write(self, data: bytes) -> None:
        if self._closed or self._transport is None:
            return
        self._transport.write(data)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_writable(self) -> None:
        await self._writable.wait()

    async def drain(self, timeout: float) -> None:
        """Wait until the transport's buffer is empty (used before exiting)."""
        self.flush()
        transport = self._transport
        if transport is None or self._closed:
            return
        deadline = monotonic() + timeout
        while transport.get_write_buffer_size() > 0 and not self._closed and monotonic() < deadline:
            await asyncio.sleep(0.005)
