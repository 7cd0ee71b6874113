"""FAKE 0.3-era outputs (cumulative text and token ids)."""

from __future__ import annotations

from typing import Any


class CompletionOutput:
    def __init__(self, index: int, text: str, token_ids: list[int], finish_reason: str | None = None) -> None:
        self.index = index
        self.text = text
        self.token_ids = token_ids
        self.finish_reason = finish_reason


class RequestOutput:
    def __init__(self, request_id: str, prompt: str | None, prompt_token_ids: list[int],
                 outputs: list[CompletionOutput], finished: bool, **_: Any) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.prompt_token_ids = prompt_token_ids
        self.outputs = outputs
        self.finished = finished
