"""FAKE vllm.exceptions (≤0.26 shape: VLLMValidationError subclasses ValueError)."""

from __future__ import annotations

from typing import Any


class VLLMValidationError(ValueError):
    def __init__(self, message: str, *, parameter: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value

    def __str__(self) -> str:
        base = super().__str__()
        if self.parameter is None:
            return base
        return f"{base} (parameter={self.parameter}, value={self.value})"
