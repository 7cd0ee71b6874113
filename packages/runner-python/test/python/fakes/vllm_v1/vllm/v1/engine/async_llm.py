"""FAKE vllm.v1.engine.async_llm.AsyncLLM, per vllm-api.md §2, §3, §5 and §6.

The "model" replies with FAKE_REPLY (one byte per token, byte-level tokenizer) and then EOS; after
an open assistant message (a continuation prompt) it goes on with the rest of FAKE_REPLY.
Prompt markers steer it: "!long" -> 20,000 tokens without EOS; "!generror" -> the step fails and
generate() raises EngineGenerateError from it; "!die" -> the engine core dies after 3 tokens
(EngineDeadError to every stream, `errored` stays true).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncGenerator

from fake_byte_tokenizer import EOS, FakeByteTokenizer, continue_reply

from ...exceptions import VLLMValidationError
from ...outputs import CompletionOutput, RequestOutput
from ...sampling_params import RequestOutputKind, SamplingParams
from .exceptions import EngineDeadError, EngineGenerateError

FAKE_REPLY = "Bonjour, ça va? Très bien."
LOCAL_GPUS = 1


class AsyncLLM:
    last_args: Any = None

    def __init__(self, args: Any) -> None:
        self.args = args
        self.max_model_len = args.max_model_len or 128
        self._tokenizer = FakeByteTokenizer(major_version=5)
        self._live: dict[str, bool] = {}  # external id -> aborted flag
        self._dead = False
        self._stopped = False
        self.aborted_ids: list[str] = []

    @classmethod
    def from_engine_args(cls, engine_args: Any, start_engine_loop: bool = True, usage_context: Any = None,
                         stat_loggers: Any = None) -> "AsyncLLM":
        cls.last_args = engine_args
        world = engine_args.tensor_parallel_size * engine_args.pipeline_parallel_size
        if world > LOCAL_GPUS and engine_args.distributed_executor_backend != "ray":
            raise ValueError(
                f"World size ({world}) is larger than the number of available GPUs ({LOCAL_GPUS}) in this node. "
                "If this is intentional and you are using:\n- ray, set '--distributed-executor-backend ray'.\n"
                "- multiprocessing, set '--nnodes' appropriately."
            )
        return cls(engine_args)

    # properties / small methods ----------------------------------------------------------------
    @property
    def errored(self) -> bool:
        return self._dead or self._stopped

    @property
    def is_running(self) -> bool:
        return not self._stopped

    def get_tokenizer(self) -> FakeByteTokenizer:  # sync in current main
        return self._tokenizer

    async def check_health(self) -> None:
        if self._dead:
            raise EngineDeadError()

    def shutdown(self, timeout: float | None = None) -> None:  # sync
        self._stopped = True

    def live_request_ids(self) -> list[str]:
        """Fake-only inspection hook for the tests."""
        return sorted(self._live)

    def die(self) -> None:
        """Fake-only: the engine core process dies."""
        self._dead = True

    async def abort(self, request_id: Any, internal: bool = False) -> None:
        ids = [request_id] if isinstance(request_id, str) else list(request_id)
        for rid in ids:
            if rid in self._live:  # unknown or finished ids are a no-op
                self._live[rid] = True
                self.aborted_ids.append(rid)

    # generate -----------------------------------------------------------------------------------
    def _prompt_ids(self, prompt: Any) -> tuple[str | None, list[int]]:
        if isinstance(prompt, str):
            return prompt, self._tokenizer.encode(prompt)
        if isinstance(prompt, dict) and "prompt_token_ids" in prompt:
            return None, list(prompt["prompt_token_ids"])
        if isinstance(prompt, dict) and "prompt" in prompt:
            return prompt["prompt"], self._tokenizer.encode(prompt["prompt"])
        raise VLLMValidationError(f"unsupported prompt {type(prompt).__name__}", parameter="prompt", value=prompt)

    def _validate(self, ids: list[int]) -> None:
        n, m = len(ids), self.max_model_len
        if n == 0:
            raise VLLMValidationError("The decoder prompt cannot be empty")
        if n > m:
            raise VLLMValidationError(
                f"The decoder prompt (length {n}) is longer than the maximum model length of {m}. "
                "Make sure that `max_model_len` is no smaller than the number of text tokens."
            )
        if n == m:
            raise VLLMValidationError(
                f"The decoder prompt (length {n}) plus the number of requested output tokens (at least 1) is longer "
                f"than the maximum model length of {m}. Make sure that `max_model_len` is no smaller than the "
                "number of text tokens (prompt + requested output tokens)."
            )

    async def generate(self, prompt: Any, sampling_params: SamplingParams, request_id: str, *,
                       prompt_text: str | None = None, lora_request: Any = None, tokenization_kwargs: Any = None,
                       trace_headers: Any = None, priority: int = 0, data_parallel_rank: Any = None,
                       session_id: Any = None, reasoning_ended: Any = None,
                       reasoning_parser_kwargs: Any = None) -> AsyncGenerator[RequestOutput, None]:
        if self.errored:
            raise EngineDeadError()
        text_prompt, ids = self._prompt_ids(prompt)
        self._validate(ids)
        decoded_prompt = self._tokenizer.decode(ids, skip_special_tokens=True)
        reply = FAKE_REPLY * 800 if "!long" in decoded_prompt else continue_reply(decoded_prompt, FAKE_REPLY)
        script = [b + 3 for b in reply.encode("utf-8")]
        if "!long" not in decoded_prompt:
            script.append(EOS)
        sp = sampling_params
        limit = sp.max_tokens if sp.max_tokens is not None else self.max_model_len - len(ids)
        limit = min(limit, self.max_model_len - len(ids))
        delta = sp.output_kind == RequestOutputKind.DELTA
        hold = max((len(s) for s in sp.stop), default=1) - 1
        self._live[request_id] = False
        out_ids: list[int] = []
        sent_ids = 0
        sent_chars = 0
        try:
            for step, token in enumerate(script):
                await asyncio.sleep(0)
                if self._live.get(request_id):
                    yield self._output(request_id, text_prompt, ids, "", [], "abort", None) if delta else \
                        self._output(request_id, text_prompt, ids, self._text(out_ids), out_ids, "abort", None)
                    return
                if self._dead:
                    raise EngineDeadError()
                if "!die" in decoded_prompt and step == 3:
                    self._dead = True
                    raise EngineDeadError()
                if "!generror" in decoded_prompt and step == 2:
                    try:
                        raise RuntimeError("scheduler step failed")
                    except RuntimeError as exc:
                        raise EngineGenerateError() from exc
                out_ids.append(token)
                finish: str | None = None
                stop_reason: Any = None
                text = self._text(out_ids)
                if token == EOS:
                    finish = "stop"
                for s in sp.stop:
                    at = text.find(s)
                    if at != -1:
                        text, finish, stop_reason = text[:at], "stop", s
                        break
                if finish is None and len(out_ids) >= limit:
                    finish = "length"
                visible = text if finish is not None else text[: max(0, len(text) - hold)]
                if visible.endswith("\ufffd") and finish is None:
                    visible = visible[:-1]
                if delta:
                    new_text, new_ids = visible[sent_chars:], out_ids[sent_ids:]
                    if finish is None and not new_text and not new_ids:
                        continue
                    sent_chars, sent_ids = len(visible), len(out_ids)
                    yield self._output(request_id, text_prompt, ids, new_text, new_ids, finish, stop_reason)
                else:
                    yield self._output(request_id, text_prompt, ids, visible, list(out_ids), finish, stop_reason)
                if finish is not None:
                    return
        except (asyncio.CancelledError, GeneratorExit):
            await self.abort(request_id, internal=True)
            raise
        finally:
            self._live.pop(request_id, None)

    def _text(self, out_ids: list[int]) -> str:
        # Stop tokens are not detokenised into text (V1 detokenizer).
        return self._tokenizer.decode([i for i in out_ids if i != EOS], skip_special_tokens=True)

    @staticmethod
    def _output(rid: str, prompt: str | None, prompt_ids: list[int], text: str, token_ids: list[int],
                finish: str | None, stop_reason: Any) -> RequestOutput:
        completion = CompletionOutput(0, text, token_ids, finish_reason=finish, stop_reason=stop_reason)
        return RequestOutput(rid, prompt, prompt_ids, None, [completion], finish is not None, num_cached_tokens=0)
