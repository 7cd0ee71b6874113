"""FAKE vllm.sampling_params: the validation rules of vllm-api.md §4 (current main)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from .exceptions import VLLMValidationError


class RequestOutputKind(Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


@dataclass
class StructuredOutputsParams:
    json: Any = None
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None
    structural_tag: str | None = None

    def __post_init__(self) -> None:
        count = sum(getattr(self, f.name) is not None for f in fields(self))
        if count != 1:
            raise VLLMValidationError(
                "You can only use one kind of structured outputs constraint but multiple are specified: "
                f"{self.__dict__}"
            )


class SamplingParams:
    def __init__(self, n: int = 1, presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
                 repetition_penalty: float = 1.0, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 min_p: float = 0.0, seed: int | None = None, stop: str | list[str] | None = None,
                 stop_token_ids: list[int] | None = None, ignore_eos: bool = False, max_tokens: int | None = 16,
                 min_tokens: int = 0, detokenize: bool = True, skip_special_tokens: bool = True,
                 include_stop_str_in_output: bool = False,
                 output_kind: RequestOutputKind = RequestOutputKind.CUMULATIVE,
                 structured_outputs: StructuredOutputsParams | None = None, **unknown: Any) -> None:
        if unknown:
            raise TypeError(f"SamplingParams got unexpected keyword arguments {sorted(unknown)}")
        self.n = n
        self.presence_penalty = presence_penalty
        self.frequency_penalty = frequency_penalty
        self.repetition_penalty = repetition_penalty
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.min_p = min_p
        self.seed = None if seed == -1 else seed
        self.stop = [stop] if isinstance(stop, str) else list(stop or [])
        self.stop_token_ids = list(stop_token_ids or [])
        self.ignore_eos = ignore_eos
        self.max_tokens = max_tokens
        self.min_tokens = min_tokens
        self.detokenize = detokenize
        self.skip_special_tokens = skip_special_tokens
        self.include_stop_str_in_output = include_stop_str_in_output
        self.output_kind = output_kind
        self.structured_outputs = structured_outputs
        self._verify()

    def _fail(self, message: str, parameter: str) -> None:
        raise VLLMValidationError(message, parameter=parameter, value=getattr(self, parameter))

    def _verify(self) -> None:
        if self.n < 1:
            self._fail(f"n must be at least 1, got {self.n}.", "n")
        if not -2.0 <= self.presence_penalty <= 2.0:
            self._fail(f"presence_penalty must be in [-2, 2], got {self.presence_penalty}.", "presence_penalty")
        if not -2.0 <= self.frequency_penalty <= 2.0:
            self._fail(f"frequency_penalty must be in [-2, 2], got {self.frequency_penalty}.", "frequency_penalty")
        if not (math.isfinite(self.repetition_penalty) and self.repetition_penalty > 0):
            self._fail("repetition_penalty must be a positive finite number", "repetition_penalty")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            self._fail(f"temperature must be non-negative, got {self.temperature}.", "temperature")
        if self.temperature > 2:
            self._fail(f"temperature must be at most 2, got {self.temperature}.", "temperature")
        if not 0 < self.top_p <= 1:
            self._fail(f"top_p must be in (0, 1], got {self.top_p}.", "top_p")
        if self.top_k < -1:
            self._fail(f"top_k must be 0 or -1 (disable), or at least 1, got {self.top_k}.", "top_k")
        if not 0 <= self.min_p <= 1:
            self._fail(f"min_p must be in [0, 1], got {self.min_p}.", "min_p")
        if self.max_tokens is not None and self.max_tokens < 1:
            self._fail(f"max_tokens must be at least 1, got {self.max_tokens}.", "max_tokens")
        if any(s == "" for s in self.stop):
            self._fail("stop cannot contain an empty string.", "stop")
        if self.temperature < 1e-5:  # greedy
            self.top_p, self.top_k, self.min_p = 1.0, 0, 0.0
            if self.n > 1:
                self._fail(f"n must be 1 when using greedy sampling, got {self.n}.", "n")
