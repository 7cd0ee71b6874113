"""A minimal stdlib OpenAI-compatible server (Chat Completions, SSE) around the bench engine.

    python3 openai_sse_server.py   ->  prints the port it listens on (127.0.0.1), then serves

This is the alternative to the bridge that a user would set up: the same engine behind HTTP,
one `chat.completion.chunk` event per token (as vLLM's server does with its default
stream_interval of 1), a usage chunk when `stream_options.include_usage` is set, then
`data: [DONE]`. HTTP/1.1 keep-alive with chunked transfer encoding.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from inferkit_bench_engine import BenchEngine  # noqa: E402
from inferkit_bridge import BridgeError, GenerateRequest  # noqa: E402

ENGINE = BenchEngine()
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _event(payload: dict) -> bytes:
    return _chunked(b"data: " + _dumps(payload).encode() + b"\n\n")


async def _respond_json(writer: asyncio.StreamWriter, status: str, payload: dict) -> None:
    body = _dumps(payload).encode()
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, request: dict) -> None:
    rid = "chatcmpl-bench"
    model = request.get("model", "bench")
    messages = request.get("messages") or []
    prompt = messages[-1].get("content", "") if messages else ""
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    transport = writer.transport
    count = 0
    async for token in ENGINE.generate(GenerateRequest(id=rid, messages=None, prompt=prompt)):
        count += 1
        writer.write(_event({"id": rid, "object": "chat.completion.chunk", "created": 0, "model": model,
                             "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}))
        if transport.get_write_buffer_size() > 1 << 20:
            await writer.drain()
        elif count % 256 == 0:
            await asyncio.sleep(0)  # let other connections run, as a server must
    writer.write(_event({"id": rid, "object": "chat.completion.chunk", "created": 0, "model": model,
                         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if (request.get("stream_options") or {}).get("include_usage"):
        writer.write(_event({"id": rid, "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [],
                             "usage": {"prompt_tokens": 1, "completion_tokens": count, "total_tokens": count + 1}}))
    writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                key, _, value = header.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method != "POST" or not path.endswith("/chat/completions"):
                await _respond_json(writer, "404 Not Found", {"error": {"message": f"no route {method} {path}"}})
                continue
            try:
                await _stream(writer, json.loads(body))
            except BridgeError as exc:
                await _respond_json(writer, "400 Bad Request", {"error": {"message": exc.message, "type": "invalid_request_error"}})
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
