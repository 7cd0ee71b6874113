"""The bridge's side of inferkit's runner capabilities: what an engine did not declare is refused.

An engine lists what it honours in `EngineInfo.capabilities` (RunnerCapabilities names). A request
that uses anything else gets `bad_request` naming the parameter before the engine sees it, so an
engine that knows nothing about, say, `prefix` messages never answers one as a plain chat turn.
The Node runner checks the same list first (`validateBatch`); this check covers other hosts
(`inferkit_bridge.client`) and a host that runs ahead of the ready frame.
"""

from __future__ import annotations

from .engine import GenerateRequest
from .errors import BridgeError


def refuse_undeclared(request: GenerateRequest, capabilities: frozenset[str], engine: str) -> None:
    def refuse(param: str, what: str) -> BridgeError:
        return BridgeError("bad_request", f"the {engine} engine does not support {what}", details={"param": param})

    if request.tools and "tools" not in capabilities:
        raise refuse("tools", "tools (it has no tool-call parser)")
    if request.response_format is not None and "responseFormat" not in capabilities:
        raise refuse("responseFormat", "responseFormat")
    messages = request.messages or []
    if request.continuation and "continuation" not in capabilities:
        raise refuse(f"messages[{len(messages) - 1}].prefix", "continuing an assistant message (prefix)")
    if "images" not in capabilities:
        for i, message in enumerate(messages):
            content = message.get("content")
            if isinstance(content, list):
                for j, part in enumerate(content):
                    if isinstance(part, dict) and part.get("type") in ("image_base64", "image_url"):
                        raise refuse(f"messages[{i}].content[{j}]", "images")
    if "penalties" not in capabilities:
        sampling = request.sampling
        if sampling.presence_penalty:
            raise refuse("sampling.presencePenalty", "presencePenalty")
        if sampling.frequency_penalty:
            raise refuse("sampling.frequencyPenalty", "frequencyPenalty")
