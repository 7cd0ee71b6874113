"""Records frame transcripts of the bridge with the scripted test engine into src/__fixtures__/.

    python3 test/record_transcripts.py

Each transcript is JSON lines, in the order they crossed the pipes:
  {"host": {...frame}}      a frame the host sent
  {"worker": {...frame}}    a frame the worker sent
  {"exit": CODE}            the worker's exit code, last
The TypeScript tests replay them (src/__fixtures__/replay-worker.mjs stands in for python3), so
the runner's frame handling is tested without Python. The replay maps the request ids recorded
here onto the runner's wire ids, in the order requests arrive.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(PACKAGE, "python"))

from inferkit_bridge.client import BridgeClient, ClientError  # noqa: E402

OUT = os.path.join(PACKAGE, "src", "__fixtures__")
T = 15.0


class RecordingClient(BridgeClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transcript: list[dict[str, Any]] = []

    def send(self, frame: dict[str, Any]) -> None:
        self.transcript.append({"host": frame})
        super().send(frame)

    def recv(self, timeout: float) -> dict[str, Any]:
        frame = super().recv(timeout)
        self.transcript.append({"worker": frame})
        return frame


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def save(name: str, client: RecordingClient, code: int | None) -> None:
    for entry in client.transcript:
        frame = entry.get("worker")
        if frame and frame.get("type") == "ready":
            frame["pid"] = 4242  # stable fixtures
    client.transcript.append({"exit": code})
    with open(os.path.join(OUT, f"{name}.frames.jsonl"), "w", encoding="utf-8") as f:
        for entry in client.transcript:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def client(engine: str = "inferkit_test_engines:create", **engine_args: Any) -> RecordingClient:
    c = RecordingClient(engine, engine_args=engine_args, extra_path=[os.path.join(HERE, "fixtures")])
    return c


def drain(c: RecordingClient, rid: str) -> None:
    for _ in c.frames_for(rid, T):
        pass


def shutdown(c: RecordingClient) -> int | None:
    c.send({"type": "shutdown"})
    code = c.proc.wait(T)
    c.close()
    return code


def stream_and_usage() -> None:
    c = client()
    c.start(T)
    c.generate("1", messages=user("héllo wörld"), sampling={"maxTokens": 10})
    drain(c, "1")
    c.generate("2", messages=user("!paced 5"), sampling={"maxTokens": 3})
    drain(c, "2")
    save("stream-and-usage", c, shutdown(c))


def errors() -> None:
    c = client()
    c.start(T)
    c.generate("1", messages=user("!error context_length_exceeded prompt is 9000 tokens"), sampling={})
    drain(c, "1")
    c.generate("2", messages=user("!raise"), sampling={})
    drain(c, "2")
    save("errors", c, shutdown(c))


def startup_failure() -> None:
    c = client("inferkit_missing_engine:create")
    try:
        c.start(T)
    except ClientError:
        pass
    save("startup-failure", c, c.proc.wait(T))
    c.close()


def engine_dead() -> None:
    c = client()
    c.start(T)
    c.generate("1", messages=user("!fatal"), sampling={})
    drain(c, "1")
    c.recv(T)  # the fatal worker error
    save("engine-dead", c, c.proc.wait(T))
    c.close()


def crash() -> None:
    c = client()
    c.start(T)
    c.generate("1", messages=user("!exit 7"), sampling={})
    try:
        drain(c, "1")
    except ClientError:
        pass  # the worker exits mid-request: no final frame
    save("crash", c, c.proc.wait(T))
    c.close()


def abort() -> None:
    c = client()
    c.start(T)
    c.generate("1", messages=user("!forever"), sampling={})
    next(c.frames_for("1", T))
    c.abort("1")
    drain(c, "1")
    c.ping(T)
    save("abort", c, shutdown(c))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for record in (stream_and_usage, errors, startup_failure, engine_dead, crash, abort):
        record()
        print(f"recorded {record.__name__}")
