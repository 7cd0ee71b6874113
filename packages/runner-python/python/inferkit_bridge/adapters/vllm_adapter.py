"""vLLM adapter: AsyncLLM (V1) in this process, with a fallback to the old AsyncLLMEngine.

API facts follow shared/reference/vllm-api.md:
* V1 `AsyncLLM.from_engine_args(args)` (plain classmethod); `generate(prompt, sampling_params,
  request_id, ...)` is an async generator of RequestOutput; `abort(request_id)` is async;
  `shutdown()` is sync; `get_tokenizer()` is sync in current main and async in 0.8-0.12.
* DELTA outputs with `SamplingParams(output_kind=RequestOutputKind.DELTA)`; before
  RequestOutputKind existed outputs were cumulative, so deltas are computed by length.
* The 0.3/0.4.0 signature takes `prompt_token_ids=` as a keyword; later ones take a prompt dict.
* Engine args go to `AsyncEngineArgs` untouched (tensor/pipeline parallel, Ray, ...).
* Chat requests are rendered with the engine's HF tokenizer (`apply_chat_template`, token ids, so
  the template's BOS is not doubled); a `prefix` message is continued with
  `continue_final_message=True, add_generation_prompt=False`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from typing import Any, AsyncIterator

from ..chat_messages import can_continue, template_flags, text_messages
from ..engine import Delta, EngineInfo, GenerateRequest, Usage
from ..errors import BridgeError, describe

_CONTEXT_MARKERS = ("longer than the maximum model length", "maximum context length")


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def map_vllm_error(exc: BaseException) -> BridgeError:
    """vLLM exceptions as inferkit kinds (reference §6). Matched by class name so that every
    vLLM version maps the same way without importing version-specific modules."""
    if isinstance(exc, BridgeError):
        return exc
    names = _class_names(exc)
    text = describe(exc)
    if "EngineDeadError" in names or "AsyncEngineDeadError" in names:
        return BridgeError(
            "runtime_crashed",
            f"vLLM engine is dead: {text}",
            fatal=True,
        )
    if "EngineGenerateError" in names:
        cause = exc.__cause__
        message = f"vLLM failed to generate: {describe(cause) if cause is not None else text}"
        return BridgeError("server_error", message, retryable=True)
    if names & {"VLLMValidationError", "VLLMClientError", "ValueError"}:
        message = str(exc)
        if any(marker in message for marker in _CONTEXT_MARKERS):
            return BridgeError("context_length_exceeded", message, details=_context_details(message))
        details: dict[str, Any] = {}
        parameter = getattr(exc, "parameter", None)
        if parameter is not None:
            details["param"] = str(parameter)
        return BridgeError("bad_request", message, details=details or None)
    if "KeyError" in names and "already exists" in str(exc):
        return BridgeError("bad_request", f"vLLM rejected a duplicate request id: {text}")
    return BridgeError("internal", f"vLLM raised {text}", details={"originalName": type(exc).__qualname__})


_PROMPT_LENGTH = re.compile(r"\(length (\d+)\)")
_MODEL_LENGTH = re.compile(r"maximum model length of (\d+)")


def _context_details(message: str) -> dict[str, int]:
    details: dict[str, int] = {}
    prompt = _PROMPT_LENGTH.search(message)
    limit = _MODEL_LENGTH.search(message)
    if prompt:
        details["requestedTokens"] = int(prompt.group(1))
    if limit:
        details["maxContextTokens"] = int(limit.group(1))
    return details


_FINISH = {"stop": "stop", "length": "length", "repetition": "stop"}


class VllmEngine:
    def __init__(self, vllm: Any, engine: Any, tokenizer: Any, model: str, max_context: int | None) -> None:
        self._vllm = vllm
        self._engine = engine
        self._tokenizer = tokenizer
        self._model = model
        self._max_context = max_context
        self._live: set[str] = set()
        self._delta_kind = _delta_kind()
        params = inspect.signature(engine.generate).parameters
        # 0.3.x / 0.4.0-0.4.1 take token ids as a keyword next to a (possibly None) prompt string.
        self._legacy_token_ids = "prompt_token_ids" in params

    def info(self) -> EngineInfo:
        capabilities = {"penalties"}  # SamplingParams has presence_penalty / frequency_penalty
        if _structured_output_kind(self._vllm) is not None:
            capabilities.add("responseFormat")
        if can_continue(self._tokenizer):
            capabilities.add("continuation")
        return EngineInfo(
            "vllm",
            self._model,
            self._max_context,
            bool(getattr(self._tokenizer, "chat_template", None)),
            capabilities=frozenset(capabilities),
        )

    def stats(self) -> dict[str, Any]:
        return {"live": len(self._live), "engine": type(self._engine).__name__}

    # request building ------------------------------------------------------------------------
    def sampling_params(self, request: GenerateRequest) -> Any:
        s = request.sampling
        kwargs: dict[str, Any] = {"max_tokens": s.max_tokens}  # None = up to max_model_len
        for key, value in (
            ("temperature", s.temperature),
            ("top_p", s.top_p),
            ("top_k", s.top_k),
            ("presence_penalty", s.presence_penalty),
            ("frequency_penalty", s.frequency_penalty),
            ("seed", s.seed),
        ):
            if value is not None:
                kwargs[key] = value
        if s.stop:
            kwargs["stop"] = list(s.stop)
        if self._delta_kind is not None:
            kwargs["output_kind"] = self._delta_kind
        if request.response_format is not None:
            kwargs.update(self._structured_output(request.response_format))
        try:
            return self._vllm.SamplingParams(**kwargs)
        except Exception as exc:
            raise map_vllm_error(exc) from exc

    def _structured_output(self, response_format: dict[str, Any]) -> dict[str, Any]:
        schema = response_format.get("schema")
        constraint: dict[str, Any] = {"json": schema} if schema is not None else {"json_object": True}
        found = _structured_output_kind(self._vllm)
        if found is None:  # not declared in info(), so the bridge refuses it before we get here
            raise BridgeError(
                "bad_request",
                "this vLLM version has no structured output support; responseFormat cannot be used",
                details={"param": "responseFormat"},
            )
        keyword, cls = found
        return {keyword: cls(**constraint)}

    def prompt_token_ids(self, request: GenerateRequest) -> list[int]:
        tokenizer = self._tokenizer
        if not getattr(tokenizer, "chat_template", None):
            raise BridgeError(
                "bad_request",
                f"model {self._model!r} has no chat template; send a prompt instead of messages",
                details={"param": "messages"},
            )
        try:
            ids = tokenizer.apply_chat_template(
                text_messages(request.messages or [], "vllm"),
                tokenize=True,
                return_dict=False,
                **template_flags(request),
            )
        except BridgeError:
            raise
        except Exception as exc:
            raise BridgeError("bad_request", f"chat template failed: {describe(exc)}") from exc
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # a BatchEncoding despite return_dict=False
            ids = ids["input_ids"]
        return list(ids)

    def _start(self, request: GenerateRequest, params: Any) -> Any:
        generate = self._engine.generate
        if request.messages is not None:
            ids = self.prompt_token_ids(request)
            if self._legacy_token_ids:
                return generate(None, params, request.id, prompt_token_ids=ids)
            return generate({"prompt_token_ids": ids}, params, request.id)
        return generate(request.prompt, params, request.id)

    # engine interface ------------------------------------------------------------------------
    async def generate(self, request: GenerateRequest) -> AsyncIterator[Delta]:
        params = self.sampling_params(request)
        rid = request.id
        cumulative = self._delta_kind is None
        seen_chars = 0
        seen_tokens = 0
        input_tokens: int | None = None
        output_tokens = 0
        self._live.add(rid)
        stream: Any = None
        try:
            stream = self._start(request, params)
            async for out in stream:
                if input_tokens is None and getattr(out, "prompt_token_ids", None) is not None:
                    input_tokens = len(out.prompt_token_ids)
                completion = out.outputs[0] if out.outputs else None
                text = ""
                count = 0
                if completion is not None:
                    if cumulative:
                        text = completion.text[seen_chars:]
                        count = len(completion.token_ids) - seen_tokens
                        seen_chars = len(completion.text)
                        seen_tokens = len(completion.token_ids)
                    else:
                        text = completion.text
                        count = len(completion.token_ids)
                output_tokens += count
                if out.finished:
                    reason = completion.finish_reason if completion is not None else None
                    yield Delta(
                        text,
                        count,
                        finish_reason=self._finish_reason(reason),
                        usage=Usage(input_tokens, output_tokens, getattr(out, "num_cached_tokens", None)),
                    )
                    return
                if text or count:
                    yield Delta(text, count)
            raise BridgeError("internal", "vLLM ended the stream without a finished output")
        except BridgeError:
            raise
        except GeneratorExit:
            raise
        except Exception as exc:
            raise map_vllm_error(exc) from exc
        finally:
            self._live.discard(rid)
            if stream is not None and hasattr(stream, "aclose"):
                # Closing vLLM's generator early makes it abort the request itself (reference §3).
                await stream.aclose()

    @staticmethod
    def _finish_reason(reason: str | None) -> str:
        if reason in _FINISH:
            return _FINISH[reason]
        if reason == "abort":
            # We did not abort it (our aborts cancel the consumer first): vLLM dropped it, e.g.
            # pause_generation(mode="abort"). Worth a retry.
            raise BridgeError("server_error", "vLLM aborted the request", retryable=True)
        if reason == "error":
            raise BridgeError("server_error", "vLLM reported an internal error for the request", retryable=True)
        raise BridgeError("internal", f"vLLM finished with unknown reason {reason!r}")

    async def abort(self, request_id: str) -> None:
        # Cancelling the consumer already aborts inside generate(); an explicit abort also ends
        # streams on versions that only drop state (reference §5). Unknown ids are a no-op.
        try:
            await self._engine.abort(request_id)
        except Exception as exc:
            error = map_vllm_error(exc)
            if error.fatal:
                raise error from exc
        self._live.discard(request_id)

    async def health(self) -> None:
        check = getattr(self._engine, "check_health", None)
        if check is None:
            return
        try:
            await check()
        except Exception as exc:
            raise map_vllm_error(exc) from exc

    async def close(self) -> None:
        shutdown = getattr(self._engine, "shutdown", None) or getattr(self._engine, "shutdown_background_loop", None)
        if shutdown is None:
            return
        result = shutdown()
        if inspect.isawaitable(result):
            await result


def _structured_output_kind(vllm: Any) -> tuple[str, Any] | None:
    """The SamplingParams keyword and class for structured outputs, or None on versions without."""
    sampling_params = getattr(vllm, "sampling_params", None)
    cls = getattr(sampling_params, "StructuredOutputsParams", None)
    if cls is not None:
        return "structured_outputs", cls
    cls = getattr(sampling_params, "GuidedDecodingParams", None)  # ≈0.6.3-0.10.x name
    if cls is not None:
        return "guided_decoding", cls
    return None


def _delta_kind() -> Any:
    try:
        from vllm.sampling_params import RequestOutputKind
    except ImportError:
        return None
    return RequestOutputKind.DELTA


def _engine_class() -> Any:
    try:
        from vllm.v1.engine.async_llm import AsyncLLM
    except ImportError:
        from vllm import AsyncLLMEngine  # V0 (< 0.8)

        return AsyncLLMEngine
    return AsyncLLM


def _engine_args_class(vllm: Any) -> Any:
    cls = getattr(vllm, "AsyncEngineArgs", None)
    if cls is None:
        from vllm.engine.arg_utils import AsyncEngineArgs as cls
    return cls


def _max_context(engine: Any, kwargs: dict[str, Any]) -> int | None:
    config = getattr(engine, "model_config", None)
    value = getattr(config, "max_model_len", None)
    if isinstance(value, int):
        return value
    value = kwargs.get("max_model_len")
    return value if isinstance(value, int) else None


async def create_engine(*, model: str | None, revision: str | None, engine_args: dict[str, Any]) -> VllmEngine:
    try:
        import vllm
    except ImportError as exc:
        raise BridgeError(
            "not_found", f"vllm is not installed for {sys.executable} ({describe(exc)})", details={"resource": "vllm"}
        ) from exc
    kwargs = dict(engine_args)
    if model is not None:
        kwargs["model"] = model
    if revision is not None:
        kwargs["revision"] = revision
    if not kwargs.get("model"):
        raise BridgeError("bad_request", "the vllm engine needs a model: call loadWeights or set engineArgs.model")
    args_cls = _engine_args_class(vllm)
    if dataclasses.is_dataclass(args_cls):
        known = {f.name for f in dataclasses.fields(args_cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise BridgeError(
                "bad_request",
                f"unknown vLLM engine arguments: {', '.join(unknown)}",
                details={"param": "engineArgs"},
            )
    try:
        args = args_cls(**kwargs)
        # Called on the event loop's thread so AsyncLLM starts its output handler at once.
        engine = _engine_class().from_engine_args(args)
    except Exception as exc:
        error = map_vllm_error(exc)
        raise BridgeError(error.kind, f"vLLM failed to start: {describe(exc)}", details=error.details) from exc
    tokenizer = engine.get_tokenizer()
    if inspect.isawaitable(tokenizer):
        tokenizer = await tokenizer
    return VllmEngine(vllm, engine, tokenizer, kwargs["model"], _max_context(engine, kwargs))
