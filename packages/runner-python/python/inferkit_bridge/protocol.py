"""The bridge's frames, mirrored one for one by `src/protocol.ts`.

Host -> worker (HostFrame, told apart by "type"):
  init      {type, protocol, engine, model?, revision?, engineArgs?}   first frame, exactly once
  generate  {type, id, messages? | prompt?, sampling?, model?, responseFormat?, tools?, toolChoice?}
  abort     {type, id}
  ping      {type, nonce}
  shutdown  {type}

Worker -> host (WorkerFrame):
  ready     {type, protocol, pid, python, engine: {name, model, maxContext, chatTemplate, device, capabilities}}
  delta     {type, id, text, tokens, finishReason?, usage?}   finishReason present = last frame of id
  error     {type, id?, error, fatal?}   no id: the worker itself failed (startup, protocol)
  aborted   {type, id}                  the engine has released an aborted request
  pong      {type, nonce, inFlight, healthy, stats?}

Liveness, on a pipe pair of its own (see liveness.py), answered by a thread, not the event loop:
  host -> worker  liveness  {type, nonce, deadlineMs}
  worker -> host  alive     {type, nonce, loopLagMs}

A message may carry `prefix: true` (assistant, last message only): continue that text.

Field names are camelCase on the wire (they are the TypeScript names); parsed requests use
snake_case dataclasses on the Python side.
"""

from __future__ import annotations

import math
from typing import Any

from .engine import GenerateRequest, Sampling
from .errors import BridgeError

PROTOCOL_VERSION = 2

HOST_FRAME_TYPES = frozenset({"init", "generate", "abort", "ping", "shutdown"})
WORKER_FRAME_TYPES = frozenset({"ready", "delta", "error", "aborted", "pong"})
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "error"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
ROLES = frozenset({"system", "user", "assistant", "tool"})

_MAX_ID_LENGTH = 256


class ProtocolError(Exception):
    """A frame that is valid JSON but not a valid HostFrame; fatal for the connection."""


def frame_type(frame: dict[str, Any]) -> str:
    kind = frame.get("type")
    if not isinstance(kind, str) or kind not in HOST_FRAME_TYPES:
        raise ProtocolError(f"unknown host frame type {kind!r}")
    return kind


def request_id(frame: dict[str, Any]) -> str:
    rid = frame.get("id")
    if not isinstance(rid, str) or not rid or len(rid) > _MAX_ID_LENGTH:
        raise ProtocolError(f"{frame.get('type')} frame needs a non-empty string id (got {rid!r})")
    return rid


def parse_init(frame: dict[str, Any]) -> dict[str, Any]:
    if frame.get("type") != "init":
        raise ProtocolError(f"the first frame must be init, got {frame.get('type')!r}")
    version = frame.get("protocol")
    if version != PROTOCOL_VERSION:
        raise BridgeError(
            "bad_request",
            f"protocol version mismatch: host speaks {version!r}, worker speaks {PROTOCOL_VERSION}",
        )
    engine = frame.get("engine")
    if not isinstance(engine, str) or not engine:
        raise BridgeError("bad_request", "init.engine must be a non-empty string")
    args = frame.get("engineArgs")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BridgeError("bad_request", "init.engineArgs must be an object")
    for key in ("model", "revision"):
        value = frame.get(key)
        if value is not None and not isinstance(value, str):
            raise BridgeError("bad_request", f"init.{key} must be a string")
    return {
        "engine": engine,
        "model": frame.get("model"),
        "revision": frame.get("revision"),
        "engine_args": args,
    }


def _number(sampling: dict[str, Any], key: str, *, integer: bool = False) -> Any:
    value = sampling.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BridgeError("bad_request", f"sampling.{key} must be a finite number", details={"param": key})
    if integer and value != int(value):
        raise BridgeError("bad_request", f"sampling.{key} must be an integer", details={"param": key})
    return int(value) if integer else float(value)


def parse_sampling(raw: Any) -> Sampling:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BridgeError("bad_request", "sampling must be an object")
    stop = raw.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise BridgeError("bad_request", "sampling.stop must be a string or a list of strings")
    max_tokens = _number(raw, "maxTokens", integer=True)
    if max_tokens is not None and max_tokens < 1:
        raise BridgeError("bad_request", "sampling.maxTokens must be at least 1", details={"param": "maxTokens"})
    return Sampling(
        temperature=_number(raw, "temperature"),
        top_p=_number(raw, "topP"),
        top_k=_number(raw, "topK", integer=True),
        max_tokens=max_tokens,
        stop=stops,
        presence_penalty=_number(raw, "presencePenalty"),
        frequency_penalty=_number(raw, "frequencyPenalty"),
        seed=_number(raw, "seed", integer=True),
    )


def _validate_messages(messages: Any) -> tuple[list[dict[str, Any]], bool]:
    """The messages, and whether the last one asks for a continuation (`prefix: true`)."""
    if not isinstance(messages, list) or not messages:
        raise BridgeError("bad_request", "messages must be a non-empty list")
    last = len(messages) - 1
    continuation = False
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BridgeError("bad_request", f"messages[{index}] must be an object")
        if message.get("role") not in ROLES:
            raise BridgeError("bad_request", f"messages[{index}].role must be one of {sorted(ROLES)}")
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise BridgeError("bad_request", f"messages[{index}].content must be a string or a list of parts")
        prefix = message.get("prefix")
        if prefix is not None:
            if prefix is not True or index != last or message["role"] != "assistant":
                raise BridgeError(
                    "bad_request",
                    f"messages[{index}].prefix must be true and is only allowed on the last message, an assistant one",
                    details={"param": f"messages[{index}].prefix"},
                )
            continuation = True
    return messages, continuation


def parse_generate(frame: dict[str, Any], rid: str) -> GenerateRequest:
    """A generate frame as a request; bad fields raise BridgeError(bad_request) for this id only."""
    messages = frame.get("messages")
    prompt = frame.get("prompt")
    if (messages is None) == (prompt is None):
        raise BridgeError("bad_request", "generate needs exactly one of messages or prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise BridgeError("bad_request", "prompt must be a string")
    model = frame.get("model")
    if model is not None and not isinstance(model, str):
        raise BridgeError("bad_request", "model must be a string")
    response_format = frame.get("responseFormat")
    if response_format is not None:
        if not isinstance(response_format, dict) or response_format.get("type") not in RESPONSE_FORMATS:
            raise BridgeError("bad_request", f"responseFormat.type must be one of {sorted(RESPONSE_FORMATS)}")
        if response_format["type"] == "text":  # the default: no constraint
            response_format = None
        elif response_format["type"] == "json_schema" and not isinstance(response_format.get("schema"), dict):
            raise BridgeError("bad_request", "responseFormat.schema must be an object", details={"param": "responseFormat"})
    tools = frame.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise BridgeError("bad_request", "tools must be a list")
    continuation = False
    if messages is not None:
        messages, continuation = _validate_messages(messages)
    return GenerateRequest(
        id=rid,
        messages=messages,
        prompt=prompt,
        sampling=parse_sampling(frame.get("sampling")),
        model=model,
        response_format=response_format,
        tools=tools,
        tool_choice=frame.get("toolChoice"),
        continuation=continuation,
    )


def parse_nonce(frame: dict[str, Any]) -> int:
    nonce = frame.get("nonce")
    if isinstance(nonce, bool) or not isinstance(nonce, int):
        raise ProtocolError(f"ping frame needs an integer nonce (got {nonce!r})")
    return nonce


def ready_frame(info: dict[str, Any], pid: int, python: str) -> dict[str, Any]:
    return {"type": "ready", "protocol": PROTOCOL_VERSION, "pid": pid, "python": python, "engine": info}


def error_frame(rid: str | None, error: BridgeError, *, fatal: bool = False) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "error": error.to_json()}
    if rid is not None:
        frame["id"] = rid
    if fatal:
        frame["fatal"] = True
    return frame


def aborted_frame(rid: str) -> dict[str, Any]:
    return {"type": "aborted", "id": rid}


def pong_frame(nonce: int, in_flight: int, healthy: bool, stats: dict[str, Any] | None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "pong", "nonce": nonce, "inFlight": in_flight, "healthy": healthy}
    if stats is not None:
        frame["stats"] = stats
    return frame


def parse_liveness(frame: dict[str, Any]) -> tuple[int, float]:
    """(nonce, deadline in seconds) of a liveness ping."""
    if frame.get("type") != "liveness":
        raise ProtocolError(f"unknown liveness frame type {frame.get('type')!r}")
    nonce = frame.get("nonce")
    deadline = frame.get("deadlineMs")
    if isinstance(nonce, bool) or not isinstance(nonce, int):
        raise ProtocolError(f"liveness frame needs an integer nonce (got {nonce!r})")
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not deadline > 0:
        raise ProtocolError(f"liveness frame needs a positive deadlineMs (got {deadline!r})")
    return nonce, deadline / 1000.0


def alive_frame(nonce: int, loop_lag: float) -> dict[str, Any]:
    return {"type": "alive", "nonce": nonce, "loopLagMs": int(loop_lag * 1000)}
