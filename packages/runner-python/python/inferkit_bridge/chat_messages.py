"""Messages as chat templates expect them: [{"role": ..., "content": str}]."""

from __future__ import annotations

from typing import Any

from .errors import BridgeError


def text_messages(messages: list[dict[str, Any]], engine: str) -> list[dict[str, str]]:
    """Flatten content parts to text. Image parts are refused rather than silently dropped."""
    out: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        content = message["content"]
        if isinstance(content, list):
            pieces: list[str] = []
            for part in content:
                if not isinstance(part, dict):
                    raise BridgeError("bad_request", f"messages[{index}] has a content part that is not an object")
                if part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise BridgeError(
                        "bad_request",
                        f"the {engine} adapter accepts text content only; messages[{index}] has a "
                        f"{part.get('type')!r} part",
                        details={"param": "messages"},
                    )
                pieces.append(part["text"])
            content = "".join(pieces)
        out.append({"role": message["role"], "content": content})
    return out


def refuse_unsupported(request: Any, engine: str, *, response_format: bool) -> None:
    """Tools need a tool-call parser the bridge does not have; say so instead of ignoring them."""
    if request.tools:
        raise BridgeError(
            "bad_request",
            f"the {engine} adapter does not parse tool calls; tools cannot be used with it",
            details={"param": "tools"},
        )
    if request.response_format is not None and not response_format:
        raise BridgeError(
            "bad_request",
            f"the {engine} adapter does not support responseFormat",
            details={"param": "responseFormat"},
        )
