from __future__ import annotations

import pytest

from inferkit_bridge import protocol
from inferkit_bridge.errors import BridgeError


def test_init_is_required_first_and_versioned() -> None:
    with pytest.raises(protocol.ProtocolError, match="first frame must be init"):
        protocol.parse_init({"type": "generate"})
    with pytest.raises(BridgeError, match="protocol version mismatch") as info:
        protocol.parse_init({"type": "init", "protocol": 99, "engine": "vllm"})
    assert info.value.kind == "bad_request"
    parsed = protocol.parse_init({"type": "init", "protocol": 2, "engine": "vllm", "model": "m", "engineArgs": {"a": 1}})
    assert parsed == {"engine": "vllm", "model": "m", "revision": None, "engine_args": {"a": 1}}


@pytest.mark.parametrize(
    "frame, message",
    [
        ({"type": "init", "protocol": 2, "engine": ""}, "engine"),
        ({"type": "init", "protocol": 2, "engine": "x", "engineArgs": []}, "engineArgs"),
        ({"type": "init", "protocol": 2, "engine": "x", "model": 3}, "model"),
    ],
)
def test_bad_init(frame: dict, message: str) -> None:
    with pytest.raises(BridgeError, match=message):
        protocol.parse_init(frame)


def test_frame_type_and_ids() -> None:
    with pytest.raises(protocol.ProtocolError, match="unknown host frame type"):
        protocol.frame_type({"type": "delta"})
    with pytest.raises(protocol.ProtocolError):
        protocol.frame_type({})
    with pytest.raises(protocol.ProtocolError, match="id"):
        protocol.request_id({"type": "abort", "id": ""})
    with pytest.raises(protocol.ProtocolError, match="id"):
        protocol.request_id({"type": "abort", "id": "x" * 300})
    with pytest.raises(protocol.ProtocolError, match="nonce"):
        protocol.parse_nonce({"type": "ping", "nonce": True})


def test_generate_parses_sampling_into_snake_case() -> None:
    request = protocol.parse_generate(
        {
            "type": "generate",
            "id": "r",
            "messages": [{"role": "user", "content": "hi"}],
            "sampling": {"temperature": 0, "topP": 0.5, "topK": 4, "maxTokens": 9, "stop": "x", "seed": 3,
                         "presencePenalty": 0.1, "frequencyPenalty": -0.1},
            "responseFormat": {"type": "text"},
        },
        "r",
    )
    s = request.sampling
    assert (s.temperature, s.top_p, s.top_k, s.max_tokens, s.stop, s.seed) == (0.0, 0.5, 4, 9, ("x",), 3)
    assert (s.presence_penalty, s.frequency_penalty) == (0.1, -0.1)
    assert request.response_format is None  # "text" is the default, not a constraint


@pytest.mark.parametrize(
    "frame, message",
    [
        ({}, "exactly one of messages or prompt"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "exactly one"),
        ({"prompt": 5}, "prompt must be a string"),
        ({"messages": []}, "non-empty"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role"),
        ({"messages": [{"role": "user", "content": 5}]}, "content"),
        ({"prompt": "a", "sampling": {"temperature": "hot"}}, "temperature"),
        ({"prompt": "a", "sampling": {"maxTokens": 0}}, "maxTokens"),
        ({"prompt": "a", "sampling": {"maxTokens": 1.5}}, "integer"),
        ({"prompt": "a", "sampling": {"topP": float("inf")}}, "finite"),
        ({"prompt": "a", "sampling": {"stop": [1]}}, "stop"),
        ({"prompt": "a", "sampling": []}, "sampling must be an object"),
        ({"prompt": "a", "responseFormat": {"type": "yaml"}}, "responseFormat"),
        ({"prompt": "a", "responseFormat": {"type": "json_schema", "name": "x"}}, "schema"),
        ({"prompt": "a", "tools": {}}, "tools"),
    ],
)
def test_generate_rejects_bad_fields_as_bad_request(frame: dict, message: str) -> None:
    with pytest.raises(BridgeError, match=message) as info:
        protocol.parse_generate({"type": "generate", "id": "r", **frame}, "r")
    assert info.value.kind == "bad_request"


def test_error_json_matches_inference_error_json() -> None:
    error = BridgeError("bad_request", "nope", details={"param": "x"})
    frame = protocol.error_frame("r", error)
    assert frame == {
        "type": "error",
        "id": "r",
        "error": {"name": "InferenceError", "kind": "bad_request", "message": "nope", "details": {"param": "x"},
                  "retryable": False, "provider": "python"},
    }
    assert BridgeError("server_error", "x").to_json()["retryable"] is True
    assert BridgeError("server_error", "x", retryable=False).to_json()["retryable"] is False
    with pytest.raises(ValueError):
        BridgeError("not_a_kind", "x")


def test_a_prefix_message_asks_for_a_continuation() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hel", "prefix": True}]
    request = protocol.parse_generate({"type": "generate", "id": "r", "messages": messages}, "r")
    assert request.continuation is True
    plain = protocol.parse_generate({"type": "generate", "id": "r", "messages": messages[:1]}, "r")
    assert plain.continuation is False


@pytest.mark.parametrize(
    "messages, param",
    [
        ([{"role": "assistant", "content": "a", "prefix": True}, {"role": "user", "content": "b"}], "messages[0].prefix"),
        ([{"role": "user", "content": "a", "prefix": True}], "messages[0].prefix"),
        ([{"role": "assistant", "content": "a", "prefix": False}], "messages[0].prefix"),
    ],
)
def test_prefix_only_on_a_last_assistant_message(messages: list, param: str) -> None:
    with pytest.raises(BridgeError) as info:
        protocol.parse_generate({"type": "generate", "id": "r", "messages": messages}, "r")
    assert (info.value.kind, info.value.details) == ("bad_request", {"param": param})


def test_liveness_frames() -> None:
    assert protocol.parse_liveness({"type": "liveness", "nonce": 4, "deadlineMs": 1500}) == (4, 1.5)
    assert protocol.alive_frame(4, 0.25) == {"type": "alive", "nonce": 4, "loopLagMs": 250}
    for bad in ({"type": "ping", "nonce": 1, "deadlineMs": 1}, {"type": "liveness", "nonce": True, "deadlineMs": 1},
                {"type": "liveness", "nonce": 1, "deadlineMs": 0}):
        with pytest.raises(protocol.ProtocolError):
            protocol.parse_liveness(bad)


def test_engine_info_capabilities_are_known_names() -> None:
    from inferkit_bridge.engine import EngineInfo

    info = EngineInfo("e", None, None, True, capabilities=["continuation", "penalties"])
    assert info.to_json()["capabilities"] == {"continuation": True, "penalties": True}
    with pytest.raises(ValueError, match="unknown capabilities"):
        EngineInfo("e", None, None, True, capabilities={"tokenIds"})
    with pytest.raises(ValueError, match="not one string"):
        EngineInfo("e", None, None, True, capabilities="continuation")


def test_deeply_nested_frames_are_frame_errors_not_recursion_errors() -> None:
    from inferkit_bridge.codec import FrameError, decode_body, encode_frame

    with pytest.raises(FrameError, match="nests too deeply"):
        decode_body(b"[" * 100_000 + b"]" * 100_000)
    value: dict = {}
    for _ in range(100_000):
        value = {"a": value}
    with pytest.raises(FrameError, match="not JSON-serialisable"):
        encode_frame({"type": "pong", "stats": value})
