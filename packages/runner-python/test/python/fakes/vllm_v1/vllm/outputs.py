"""FAKE vllm.outputs: RequestOutput / CompletionOutput fields from vllm-api.md §3."""

from __future__ import annotations

from typing import Any


class CompletionOutput:
    def __init__(self, index: int, text: str, token_ids: list[int], cumulative_logprob: float | None = None,
                 logprobs: Any = None, finish_reason: str | None = None, stop_reason: Any = None, **_: Any) -> None:
        self.index = index
        self.text = text
        self.token_ids = token_ids
        self.cumulative_logprob = cumulative_logprob
        self.logprobs = logprobs
        self.finish_reason = finish_reason
        self.stop_reason = stop_reason

    def finished(self) -> bool:
        return self.finish_reason is not None


class RequestOutput:
    def __init__(self, request_id: str, prompt: str | None, prompt_token_ids: list[int] | None,
                 prompt_logprobs: Any, outputs: list[CompletionOutput], finished: bool, metrics: Any = None,
                 num_cached_tokens: int | None = None, **_: Any) -> None:  # unknown kwargs ignored, as upstream
        self.request_id = request_id
        self.prompt = prompt
        self.prompt_token_ids = prompt_token_ids
        self.prompt_logprobs = prompt_logprobs
        self.outputs = outputs
        self.finished = finished
        self.metrics = metrics
        self.num_cached_tokens = num_cached_tokens
