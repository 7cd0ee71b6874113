"""FAKE 0.3-era SamplingParams: no output_kind (always cumulative), top_k off = -1."""

from __future__ import annotations

from typing import Any


class SamplingParams:
    def __init__(self, n: int = 1, presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
                 temperature: float = 1.0, top_p: float = 1.0, top_k: int = -1, seed: int | None = None,
                 stop: Any = None, max_tokens: int | None = 16, **unknown: Any) -> None:
        if unknown:
            raise TypeError(f"__init__() got an unexpected keyword argument '{sorted(unknown)[0]}'")
        if temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {temperature}.")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}.")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens}.")
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.seed = seed
        self.stop = [stop] if isinstance(stop, str) else list(stop or [])
        self.max_tokens = max_tokens
        self.presence_penalty = presence_penalty
        self.frequency_penalty = frequency_penalty
