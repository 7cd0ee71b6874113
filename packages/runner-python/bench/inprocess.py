"""In-process baseline for bench/run.mjs: the bench engine consumed directly in Python.

    python3 inprocess.py SPEC_JSON  ->  one JSON line of results on stdout
SPEC_JSON: {"throughput": [[streams, tokens_per_stream], ...], "latency": [[streams, tokens, interval_us], ...]}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from inferkit_bench_engine import BenchEngine  # noqa: E402
from inferkit_bridge import GenerateRequest  # noqa: E402


async def consume_count(engine: BenchEngine, rid: str, prompt: str) -> int:
    n = 0
    async for _ in engine.generate(GenerateRequest(id=rid, messages=None, prompt=prompt)):
        n += 1
    return n


async def consume_latency(engine: BenchEngine, rid: str, prompt: str, out: list[int]) -> None:
    clock = time.monotonic_ns
    async for token in engine.generate(GenerateRequest(id=rid, messages=None, prompt=prompt)):
        out.append(clock() - int(token[:-1]))


async def main(spec: dict) -> dict:
    engine = BenchEngine()
    result: dict = {"throughput": [], "latency": []}
    for streams, per_stream in spec["throughput"]:
        start = time.perf_counter()
        counts = await asyncio.gather(*(consume_count(engine, f"t{i}", f"fast {per_stream}") for i in range(streams)))
        seconds = time.perf_counter() - start
        result["throughput"].append({"streams": streams, "tokens": sum(counts), "seconds": seconds})
    for streams, per_stream, interval_us in spec["latency"]:
        samples: list[int] = []
        await asyncio.gather(
            *(consume_latency(engine, f"l{i}", f"stamp {per_stream} {interval_us}", samples) for i in range(streams))
        )
        result["latency"].append({"streams": streams, "intervalUs": interval_us, "latenciesNs": samples})
    return result


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
