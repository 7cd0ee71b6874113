"""Frame codec: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON.

The same layout is implemented by `src/frame-codec.ts`; both sides reject frames larger than
MAX_FRAME_BYTES so a corrupted length prefix is reported instead of waiting for gigabytes.
"""

from __future__ import annotations

import json
import struct
from typing import Any

MAX_FRAME_BYTES = 64 * 1024 * 1024
HEADER_BYTES = 4

_HEADER = struct.Struct(">I")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class FrameError(Exception):
    """The byte stream is not a valid sequence of frames; the connection cannot be trusted."""


def encode_frame(message: dict[str, Any]) -> bytes:
    try:
        body = _dumps(message).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise FrameError(f"frame is not JSON-serialisable: {describe_error(exc)}") from exc
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return _HEADER.pack(len(body)) + body


def describe_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def frame_length(header: bytes) -> int:
    """Length announced by a 4-byte header; raises FrameError when it is over the limit."""
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame length {length} exceeds the {MAX_FRAME_BYTES}-byte limit")
    return length


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FrameError(f"frame body is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise FrameError(f"frame body is not JSON: {exc.msg} at offset {exc.pos}") from exc
    except RecursionError as exc:  # the C decoder recurses per nesting level
        raise FrameError("frame body nests too deeply") from exc
    if not isinstance(message, dict):
        raise FrameError(f"frame body must be a JSON object, got {type(message).__name__}")
    return message


class FrameDecoder:
    """Incremental decoder for a byte stream that arrives in arbitrary chunks."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self._buffer += chunk
        frames: list[dict[str, Any]] = []
        offset = 0
        buffer = self._buffer
        while len(buffer) - offset >= HEADER_BYTES:
            length = frame_length(bytes(buffer[offset : offset + HEADER_BYTES]))
            end = offset + HEADER_BYTES + length
            if len(buffer) < end:
                break
            frames.append(decode_body(bytes(buffer[offset + HEADER_BYTES : end])))
            offset = end
        if offset:
            del buffer[:offset]
        return frames

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame held back; non-zero at end of stream means truncation."""
        return len(self._buffer)
