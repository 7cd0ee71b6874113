"""Benchmark engine for bench/run.mjs: yields tokens as fast as Python can, or paced and stamped.

The last user message (or the prompt) selects the mode:
  "fast N"           -> N tokens "tok " with no await between them (the engine is never the bottleneck)
  "stamp N INTERVAL" -> N tokens, one every INTERVAL microseconds (asyncio.sleep), each token's text
                        being time.monotonic_ns() at the moment it is yielded, then ","
On Linux time.monotonic_ns() and Node's process.hrtime.bigint() read the same CLOCK_MONOTONIC, so
the consumer, in any process, computes per-token latency as (its clock - stamp).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

from inferkit_bridge import BridgeError, EngineInfo, GenerateRequest


def _prompt(request: GenerateRequest) -> str:
    if request.prompt is not None:
        return request.prompt
    content = (request.messages or [{}])[-1].get("content", "")
    return content if isinstance(content, str) else ""


class BenchEngine:
    def info(self) -> EngineInfo:
        return EngineInfo("bench", "bench", None, True, "cpu")

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Any]:
        words = _prompt(request).split()
        if len(words) < 2 or words[0] not in ("fast", "stamp"):
            raise BridgeError("bad_request", "bench prompt must be 'fast N' or 'stamp N INTERVAL_US'")
        n = int(words[1])
        if words[0] == "fast":
            for _ in range(n):
                yield "tok "
            return
        interval = float(words[2]) / 1e6
        clock = time.monotonic_ns
        sleep = asyncio.sleep
        for _ in range(n):
            await sleep(interval)
            yield f"{clock()},"

    async def abort(self, request_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


def create(*, model: str | None, revision: str | None, engine_args: dict[str, Any]) -> BenchEngine:
    return BenchEngine()
