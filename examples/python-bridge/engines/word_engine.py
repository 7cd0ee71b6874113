"""A custom engine for inferkit's Python bridge: the template for plugging in your own.

The bridge imports `module:factory` (here `word_engine:create_engine`, found through PYTHONPATH),
calls the factory with `model`, `revision` and `engine_args` keywords, and drives the object it
returns through four methods: `generate`, `abort`, `info`, `close` (see inferkit_bridge/engine.py).

This engine needs no ML library, so the example runs anywhere: it answers with a short reply
built from the last user message and streams it one word per token. Replace the body of
`generate` with calls into your engine (a llama.cpp binding, an ONNX session, a research model)
and keep the rest.

`info()` declares what the engine can do beyond plain chat (inferkit's RunnerCapabilities names).
This one declares `continuation`: a last message `{"role": "assistant", "content": ...,
"prefix": true}` (`request.continuation`) asks it to go on with that text instead of starting a
new answer. Anything not declared (tools, responseFormat, images, penalties) is refused by the
bridge before `generate` is called, so the engine never has to check for it.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from inferkit_bridge.engine import Delta, EngineInfo, GenerateRequest, Usage
from inferkit_bridge.errors import BridgeError


def _last_user_text(messages: list[dict[str, Any]] | None, prompt: str | None) -> str:
    if prompt is not None:
        return prompt
    for message in reversed(messages or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    raise BridgeError("bad_request", "word_engine needs a user message", details={"param": "messages"})


class WordEngine:
    def __init__(self, model: str, greeting: str) -> None:
        self._model = model
        self._greeting = greeting
        self._aborted: set[str] = set()

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Delta | str]:
        text = _last_user_text(request.messages, request.prompt)
        words = f"{self._greeting} You said: {text}".split(" ")
        first = 0
        if request.continuation:  # go on after the words the assistant message already has
            first = len(request.messages[-1]["content"].split())
        limit = request.sampling.max_tokens
        usage = Usage(input_tokens=len(text.split()))
        produced = 0
        try:
            for i, word in enumerate(words[first:], start=first):
                if limit is not None and produced >= limit:
                    usage.output_tokens = produced
                    yield Delta(finish_reason="length", usage=usage)
                    return
                if request.id in self._aborted:
                    return
                # A real engine awaits its own work here; yielding control keeps the bridge's
                # other requests (and its cancel frames) flowing meanwhile.
                await asyncio.sleep(0)
                produced += 1
                yield word if i == 0 else " " + word
            usage.output_tokens = produced
            yield Delta(finish_reason="stop", usage=usage)
        finally:
            self._aborted.discard(request.id)

    async def abort(self, request_id: str) -> None:
        self._aborted.add(request_id)

    def info(self) -> EngineInfo:
        return EngineInfo(name="word_engine", model=self._model, max_context=None, chat_template=False,
                          capabilities={"continuation"})

    async def close(self) -> None:
        self._aborted.clear()


def create_engine(model: str | None, revision: str | None, engine_args: dict[str, Any]) -> WordEngine:
    greeting = engine_args.get("greeting", "Hello!")
    if not isinstance(greeting, str):
        raise BridgeError("bad_request", "engine_args.greeting must be a string", details={"param": "greeting"})
    return WordEngine(model or "word-engine", greeting)
