"""The engine interface every adapter implements, and the values that flow through it.

An engine is any object with:

    async def generate(request: GenerateRequest) -> AsyncIterator[Delta | str]
        An async generator (or a coroutine returning an async iterator). Yield a `str` for one
        token of text (the cheap path), or a `Delta` for several tokens, a finish reason or usage.
        Raise BridgeError for typed failures; anything else is reported as `internal`.
    async def abort(request_id: str) -> None
        Release the request in the engine. Called after the bridge cancels the generate task.
    def info() -> EngineInfo
    async def close() -> None

Optional: `async def health() -> None` (raise when the engine is dead) and
`def stats() -> dict` (JSON-serialisable, returned in pong frames).

What an engine can do beyond plain text chat is declared in `EngineInfo.capabilities` (the names
of inferkit's `RunnerCapabilities`); the bridge refuses requests that use anything else with
`bad_request`, so an engine never has to notice a feature it does not implement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Sampling:
    """Sampling parameters as sent by the host; None means "not set" (engine default)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None


@dataclass(slots=True)
class GenerateRequest:
    id: str
    messages: list[dict[str, Any]] | None
    prompt: str | None
    sampling: Sampling = field(default_factory=Sampling)
    model: str | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    # The last message is `{"role": "assistant", "content": ..., "prefix": True}`: extend that text
    # instead of answering after it (chat templates: `continue_final_message=True`).
    continuation: bool = False


@dataclass(slots=True)
class Usage:
    """Token counts; None means unknown (never reported as 0)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None

    def to_json(self, output_tokens: int) -> dict[str, int]:
        out: dict[str, int] = {"outputTokens": self.output_tokens if self.output_tokens is not None else output_tokens}
        if self.input_tokens is not None:
            out["inputTokens"] = self.input_tokens
        if self.cached_tokens is not None:
            out["cachedTokens"] = self.cached_tokens
        return out


@dataclass(slots=True)
class Delta:
    text: str = ""
    tokens: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None


# inferkit's RunnerCapabilities names. `tokenIds` is not listed: the bridge's frames carry no
# token ids, so no engine behind it can honour it.
CAPABILITY_NAMES = ("tools", "responseFormat", "images", "continuation", "penalties")


@dataclass(frozen=True, slots=True)
class EngineInfo:
    name: str
    model: str | None
    max_context: int | None
    chat_template: bool
    device: str | None = None  # where it computes ("cuda:0", "cpu"), when the engine knows
    # What the engine honours, by RunnerCapabilities name; absent names are refused by the bridge.
    capabilities: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if isinstance(self.capabilities, str):
            raise ValueError("capabilities must be a collection of names, not one string")
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        unknown = set(self.capabilities) - set(CAPABILITY_NAMES)
        if unknown:
            raise ValueError(f"unknown capabilities {sorted(unknown)}; known: {list(CAPABILITY_NAMES)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "maxContext": self.max_context,
            "chatTemplate": self.chat_template,
            "device": self.device,
            "capabilities": {name: True for name in CAPABILITY_NAMES if name in self.capabilities},
        }


@runtime_checkable
class Engine(Protocol):
    def generate(self, request: GenerateRequest) -> AsyncIterator[Delta | str]: ...

    async def abort(self, request_id: str) -> None: ...

    def info(self) -> EngineInfo: ...

    async def close(self) -> None: ...


REQUIRED_METHODS = ("generate", "abort", "info", "close")
