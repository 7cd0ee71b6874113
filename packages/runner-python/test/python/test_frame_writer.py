from __future__ import annotations

import asyncio
from typing import Any

from inferkit_bridge.codec import FrameDecoder
from inferkit_bridge.frame_writer import FrameWriter


class RecordingTransport(asyncio.WriteTransport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0


def frames(transport: RecordingTransport) -> list[dict]:
    return FrameDecoder().feed(b"".join(transport.writes))


def make(**kwargs: Any) -> tuple[FrameWriter, RecordingTransport]:
    loop = asyncio.get_running_loop()
    writer = FrameWriter(loop, **kwargs)
    transport = RecordingTransport()
    writer.connection_made(transport)
    return writer, transport


def test_tokens_of_one_loop_turn_coalesce_into_one_frame_per_request() -> None:
    async def main() -> None:
        writer, transport = make()
        for i in range(5):
            writer.add("a", f"a{i} ", 1)
            writer.add("b", f"b{i} ", 1)
        assert transport.writes == []
        await asyncio.sleep(0)  # the scheduled flush runs
        assert len(transport.writes) == 1
        assert frames(transport) == [
            {"type": "delta", "id": "a", "text": "a0 a1 a2 a3 a4 ", "tokens": 5},
            {"type": "delta", "id": "b", "text": "b0 b1 b2 b3 b4 ", "tokens": 5},
        ]

    asyncio.run(main())


def test_a_busy_producer_is_flushed_inline_at_the_token_limit() -> None:
    async def main() -> None:
        writer, transport = make(max_batch_tokens=3, max_batch_delay=60.0)
        results = [writer.add("a", "x", 1) for _ in range(7)]
        # the first add schedules; the batch is flushed inline when it reaches 3 tokens
        assert results == [False, False, True, False, False, True, False]
        assert [f["tokens"] for f in frames(transport)] == [3, 3]

    asyncio.run(main())


def test_finish_and_control_frames_keep_order() -> None:
    async def main() -> None:
        writer, transport = make()
        writer.add("a", "one ", 1)
        writer.add("b", "two ", 1)
        writer.send({"type": "error", "id": "b", "error": {}})
        writer.add("a", "three ", 1)
        writer.finish("a", "length", {"outputTokens": 2})
        got = frames(transport)
        assert [(f["type"], f["id"]) for f in got] == [("delta", "a"), ("delta", "b"), ("error", "b"), ("delta", "a")]
        assert got[-1] == {"type": "delta", "id": "a", "text": "three ", "tokens": 1, "finishReason": "length",
                           "usage": {"outputTokens": 2}}

    asyncio.run(main())


def test_discard_drops_unsent_text() -> None:
    async def main() -> None:
        writer, transport = make()
        writer.add("a", "keep ", 1)
        writer.add("b", "drop ", 1)
        writer.discard("b")
        await asyncio.sleep(0)
        assert [f["id"] for f in frames(transport)] == ["a"]

    asyncio.run(main())


def test_paused_pipe_asks_the_producer_to_wait() -> None:
    async def main() -> None:
        writer, _ = make()
        writer.pause_writing()
        assert writer.add("a", "x", 1) is True
        waiter = asyncio.ensure_future(writer.wait_writable())
        await asyncio.sleep(0)
        assert not waiter.done()
        writer.resume_writing()
        await asyncio.wait_for(waiter, 1.0)

    asyncio.run(main())


def test_writes_after_the_host_is_gone_are_dropped() -> None:
    async def main() -> None:
        writer, transport = make()
        writer.connection_lost(None)
        writer.send({"type": "pong", "nonce": 1})
        assert transport.writes == []

    asyncio.run(main())
