"""FAKE 0.3-era AsyncLLMEngine (vllm-api.md §7): generate(prompt, sampling_params, request_id,
prompt_token_ids=None, lora_request=None), cumulative outputs, duplicate live id -> KeyError,
sync get_tokenizer(), async abort(), shutdown_background_loop()."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from fake_byte_tokenizer import EOS, FakeByteTokenizer

from ..outputs import CompletionOutput, RequestOutput

FAKE_REPLY = "Bonjour, ça va? Très bien."


class AsyncEngineDeadError(RuntimeError):
    pass


class AsyncLLMEngine:
    last_args: Any = None

    def __init__(self, args: Any) -> None:
        self.args = args
        self.max_model_len = args.max_model_len or 128
        self._tokenizer = FakeByteTokenizer(major_version=4)
        self._live: dict[str, bool] = {}
        self._loop_running = True
        self.aborted_ids: list[str] = []

    @classmethod
    def from_engine_args(cls, engine_args: Any, start_engine_loop: bool = True) -> "AsyncLLMEngine":
        cls.last_args = engine_args
        return cls(engine_args)

    def get_tokenizer(self) -> FakeByteTokenizer:
        return self._tokenizer

    def live_request_ids(self) -> list[str]:
        return sorted(self._live)

    def shutdown_background_loop(self) -> None:
        self._loop_running = False

    async def abort(self, request_id: str) -> None:
        if not self._loop_running:
            raise AsyncEngineDeadError("Background loop is not running. If it was running, inspect the output to find the stacktrace of the error that caused the background loop to stop (AsyncEngineDeadError).")
        if request_id in self._live:
            self._live[request_id] = True
            self.aborted_ids.append(request_id)

    async def generate(self, prompt: str | None, sampling_params: Any, request_id: str,
                       prompt_token_ids: list[int] | None = None, lora_request: Any = None) -> AsyncIterator[RequestOutput]:
        if request_id in self._live:
            raise KeyError(f"Request {request_id} already exists.")
        ids = list(prompt_token_ids) if prompt_token_ids is not None else self._tokenizer.encode(prompt or "")
        if len(ids) > self.max_model_len:
            raise ValueError(
                f"The decoder prompt (length {len(ids)}) is longer than the maximum model length of {self.max_model_len}."
            )
        script = [b + 3 for b in FAKE_REPLY.encode("utf-8")] + [EOS]
        limit = sampling_params.max_tokens if sampling_params.max_tokens is not None else self.max_model_len - len(ids)
        self._live[request_id] = False
        out: list[int] = []
        try:
            for token in script:
                await asyncio.sleep(0)
                if self._live[request_id]:
                    return  # V0 abort only drops the request state
                out.append(token)
                text = self._tokenizer.decode([i for i in out if i != EOS], skip_special_tokens=True)
                finish = "stop" if token == EOS else ("length" if len(out) >= limit else None)
                if text.endswith("\ufffd") and finish is None:
                    text = text[:-1]
                yield RequestOutput(request_id, prompt, ids, [CompletionOutput(0, text, list(out), finish)], finish is not None)
                if finish is not None:
                    return
        finally:
            self._live.pop(request_id, None)
