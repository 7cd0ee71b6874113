"""Errors that cross the bridge.

A BridgeError serialises to the JSON shape of `InferenceError.toJSON()` in
@inferkit/inference-core, so the Node side rebuilds a real InferenceError with `fromJSON()`.
"""

from __future__ import annotations

from typing import Any

# Kind -> default `retryable`, copied from the table in inference-core's inference-error.ts.
RETRYABLE_BY_KIND = {
    "rate_limited": True,
    "circuit_open": False,
    "content_filtered": False,
    "context_length_exceeded": False,
    "bad_request": False,
    "unauthorized": False,
    "forbidden": False,
    "not_found": False,
    "backpressure": True,
    "budget_exceeded": False,
    "network_error": True,
    "server_error": True,
    "timeout": True,
    "cancelled": False,
    "cuda_context_poisoned": False,
    "runtime_crashed": False,
    "internal": False,
}
ERROR_KINDS = frozenset(RETRYABLE_BY_KIND)


class BridgeError(Exception):
    """An error with an inferkit `kind`.

    `fatal` marks errors after which the engine cannot serve any request (vLLM's
    EngineDeadError, a poisoned CUDA context): the bridge fails every request and exits so the
    Node side can restart the worker.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
        fatal: bool = False,
    ) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details
        self.retryable = retryable
        self.fatal = fatal

    def to_json(self) -> dict[str, Any]:
        """`InferenceErrorJSON`: details use the per-kind names of InferenceErrorDetailsByKind."""
        retryable = RETRYABLE_BY_KIND[self.kind] if self.retryable is None else self.retryable
        return {
            "name": "InferenceError",
            "kind": self.kind,
            "message": self.message,
            "details": dict(self.details) if self.details else {},
            "retryable": retryable,
            "provider": "python",
        }

    def __repr__(self) -> str:
        return f"BridgeError({self.kind!r}, {self.message!r})"


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def as_bridge_error(exc: BaseException) -> BridgeError:
    """Any exception as a BridgeError; unknown exceptions become `internal`, keeping type and text."""
    if isinstance(exc, BridgeError):
        return exc
    return BridgeError("internal", describe(exc), details={"originalName": type(exc).__qualname__})
