"""Messages as chat templates expect them: [{"role": ..., "content": str}].

The Node runner already sends text content as strings (core `messageText`); lists of parts come
from other hosts. `prefix` is not passed on: adapters turn it into `continue_final_message`.
"""

from __future__ import annotations

import inspect
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


def template_flags(request: Any) -> dict[str, bool]:
    """`apply_chat_template` flags: a new assistant turn, or (a `prefix` message) the last
    assistant message continued. The two cannot be combined (transformers raises)."""
    if request.continuation:
        return {"add_generation_prompt": False, "continue_final_message": True}
    return {"add_generation_prompt": True}


def can_continue(tokenizer: Any) -> bool:
    """Whether this tokenizer's chat template can continue a final message: it needs a template
    and `continue_final_message` (transformers 4.45+). Older versions would pass the flag to the
    template as an unknown variable and start a new turn anyway, so they must not claim it."""
    if not getattr(tokenizer, "chat_template", None):
        return False
    try:
        parameters = inspect.signature(tokenizer.apply_chat_template).parameters
    except (TypeError, ValueError, AttributeError):
        return False
    return "continue_final_message" in parameters
