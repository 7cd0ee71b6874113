from __future__ import annotations

import json
import struct

import pytest

from inferkit_bridge.codec import MAX_FRAME_BYTES, FrameDecoder, FrameError, decode_body, encode_frame, frame_length

SAMPLES = [
    {"type": "ping", "nonce": 7},
    {"type": "delta", "id": "r1", "text": "héllo 世界 🎉\n\"quoted\"\\", "tokens": 3},
    {"type": "generate", "id": "x", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
     "sampling": {"temperature": 0.5, "stop": ["\n\n"], "maxTokens": 10}},
    {"type": "error", "error": {"name": "InferenceError", "kind": "internal", "message": "", "details": {}}},
    {"type": "delta", "id": "big", "text": "x" * 200_000, "tokens": 200_000},
]


@pytest.mark.parametrize("message", SAMPLES)
def test_round_trip_whole(message: dict) -> None:
    data = encode_frame(message)
    (length,) = struct.unpack(">I", data[:4])
    assert length == len(data) - 4
    assert FrameDecoder().feed(data) == [message]


def test_round_trip_byte_by_byte_and_concatenated() -> None:
    data = b"".join(encode_frame(m) for m in SAMPLES[:4])
    decoder = FrameDecoder()
    out = []
    for i in range(len(data)):
        out.extend(decoder.feed(data[i : i + 1]))
    assert out == SAMPLES[:4]
    assert decoder.pending_bytes == 0


def test_utf8_split_inside_a_character() -> None:
    data = encode_frame({"t": "é🎉"})
    decoder = FrameDecoder()
    cut = len(data) - 3  # inside the 4-byte emoji
    assert decoder.feed(data[:cut]) == []
    assert decoder.feed(data[cut:]) == [{"t": "é🎉"}]


def test_truncated_stream_keeps_pending_bytes() -> None:
    data = encode_frame({"type": "ping", "nonce": 1})
    decoder = FrameDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.pending_bytes == len(data) - 1


def test_oversized_length_is_rejected_before_reading_the_body() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        FrameDecoder().feed(b"\xff\xff\xff\xff")
    with pytest.raises(FrameError, match="exceeds"):
        frame_length(struct.pack(">I", MAX_FRAME_BYTES + 1))


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b"42", "JSON object"),
        (b"", "not JSON"),
    ],
)
def test_malformed_bodies(body: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        FrameDecoder().feed(struct.pack(">I", len(body)) + body)
    with pytest.raises(FrameError, match=message):
        decode_body(body)


def test_encode_rejects_what_json_cannot_carry() -> None:
    with pytest.raises(FrameError):
        encode_frame({"x": float("nan")})
    with pytest.raises(FrameError):
        encode_frame({"x": object()})


def test_encoding_is_compact_utf8() -> None:
    data = encode_frame({"a": "é", "b": [1, 2]})
    assert data[4:] == json.dumps({"a": "é", "b": [1, 2]}, ensure_ascii=False, separators=(",", ":")).encode()
