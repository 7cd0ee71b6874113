"""transformers adapter: AutoModelForCausalLM + AutoTokenizer, generation on a thread.

API facts follow shared/reference/transformers-api.md:
* `from_pretrained(path, dtype=...)` (`torch_dtype=` before 4.56); no `device_map` by default
  (it needs accelerate on 4.x), the model is moved with `.to(device)` instead.
* `apply_chat_template(..., tokenize=True, return_dict=True, return_tensors="pt")` returns a
  BatchEncoding on 4.x and 5.x alike (the defaults differ between them, explicit values do not).
* `generate(..., streamer=, stopping_criteria=)` runs on its own thread. The streamer gets the
  prompt ids on its first `put()`, then new ids; `end()` at the end. A stopping criterion that
  returns a per-row BoolTensor cancels within one decoding step.
A `prefix` message is continued with `apply_chat_template(..., continue_final_message=True)`.
Text is detokenised incrementally here (not with TextIteratorStreamer) so each delta carries
its exact token count and incomplete UTF-8 sequences are held back.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from typing import Any, AsyncIterator

from ..chat_messages import can_continue, template_flags, text_messages
from ..engine import Delta, EngineInfo, GenerateRequest, Usage
from ..errors import BridgeError, describe
from ..stop_strings import StopMatcher

JOIN_TIMEOUT = 30.0
_MODEL_INPUTS = ("input_ids", "attention_mask")
_END = object()

# Adapter options read from engineArgs; everything else goes to from_pretrained.
_ADAPTER_OPTIONS = ("device", "max_concurrent", "dtype")


def map_transformers_error(exc: BaseException) -> BridgeError:
    if isinstance(exc, BridgeError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = describe(exc)
    if "OutOfMemoryError" in names:
        return BridgeError("server_error", f"out of device memory: {text}", retryable=True)
    if isinstance(exc, RuntimeError) and ("CUDA error" in str(exc) or "device-side assert" in str(exc)):
        # Sticky CUDA errors leave the context unusable; only a new process recovers.
        return BridgeError("cuda_context_poisoned", text, fatal=True)
    if isinstance(exc, (ValueError, TypeError)):
        return BridgeError("bad_request", text)
    return BridgeError("internal", text, details={"originalName": type(exc).__qualname__})


class IncrementalDecoder:
    """Decodes a growing id list into text pieces without splitting multi-byte characters.

    The prefix/read offsets scheme: decode a short window before and after the new ids and emit
    the difference, holding back while the window ends in U+FFFD (an incomplete sequence).
    """

    __slots__ = ("_tokenizer", "_ids", "_prefix", "_read")

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, new_ids: list[int]) -> str:
        self._ids.extend(new_ids)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix = self._read
            self._read = len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""


class _Job:
    """One generation: its thread-side streamer, cancel flag and result channel."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tokenizer: Any) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancel = threading.Event()
        self.decoder = IncrementalDecoder(tokenizer)
        self.prompt_seen = False
        self.generated = 0
        self.last_id: int | None = None
        self.done = loop.create_future()

    # streamer interface (called on the generation thread) -------------------------------------
    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first put() is the prompt (reference §4)
            self.prompt_seen = True
            return
        ids = value.tolist()
        if ids and isinstance(ids[0], list):
            if len(ids) != 1:
                raise ValueError("the bridge streams batch size 1 only")
            ids = ids[0]
        self.generated += len(ids)
        if ids:
            self.last_id = ids[-1]
        text = self.decoder.push(ids)
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (text, len(ids)))

    def end(self) -> None:
        pass  # the thread wrapper reports the end, after generate() has returned or raised


class TransformersEngine:
    def __init__(
        self, torch: Any, transformers: Any, model: Any, tokenizer: Any, name: str, device: str, max_concurrent: int
    ) -> None:
        self._torch = torch
        self._transformers = transformers
        self._model = model
        self._tokenizer = tokenizer
        self._name = name
        self._device = device
        self._max_concurrent = max_concurrent
        self._slots = asyncio.Semaphore(max_concurrent)
        self._jobs: dict[str, _Job] = {}
        self._threads: set[threading.Thread] = set()
        config = getattr(model, "config", None)
        max_positions = getattr(config, "max_position_embeddings", None)
        self._max_context = max_positions if isinstance(max_positions, int) else None
        stopping = _generation_classes(transformers)
        self._criteria_list = stopping["StoppingCriteriaList"]
        self._criteria_cls = _cancel_criteria_class(torch, stopping["StoppingCriteria"])
        self._job_cls = _job_class(stopping["BaseStreamer"])
        self._eos_ids = _eos_ids(model, tokenizer)

    def info(self) -> EngineInfo:
        # No tools (no tool-call parser), no responseFormat (no constrained decoding), no
        # presence/frequency penalties (generate() has repetition_penalty only).
        return EngineInfo(
            "transformers",
            self._name,
            self._max_context,
            bool(getattr(self._tokenizer, "chat_template", None)),
            self._device,
            capabilities=frozenset({"continuation"}) if can_continue(self._tokenizer) else frozenset(),
        )

    def stats(self) -> dict[str, Any]:
        return {"running": len(self._jobs), "threads": len(self._threads)}

    # request building ------------------------------------------------------------------------
    def encode(self, request: GenerateRequest) -> Any:
        tokenizer = self._tokenizer
        try:
            if request.messages is not None:
                if not getattr(tokenizer, "chat_template", None):
                    raise BridgeError(
                        "bad_request",
                        f"model {self._name!r} has no chat template; send a prompt instead of messages",
                        details={"param": "messages"},
                    )
                encoding = tokenizer.apply_chat_template(
                    text_messages(request.messages, "transformers"),
                    tokenize=True,
                    return_dict=True,
                    return_tensors="pt",
                    **template_flags(request),
                )
            else:
                encoding = tokenizer(request.prompt, return_tensors="pt")
        except BridgeError:
            raise
        except Exception as exc:
            raise BridgeError("bad_request", f"could not tokenize the request: {describe(exc)}") from exc
        # Only what a causal LM's generate() takes: tokenizers without a model-specific config
        # also return token_type_ids, which generate() rejects as an unused model kwarg.
        return {key: encoding[key].to(self._device) for key in _MODEL_INPUTS if key in encoding}

    def generate_kwargs(self, request: GenerateRequest, prompt_tokens: int) -> dict[str, Any]:
        s = request.sampling
        if s.seed is not None and self._max_concurrent != 1:
            raise BridgeError(
                "bad_request",
                "seed needs engineArgs.max_concurrent = 1 (torch's generator is global to the process)",
                details={"param": "seed"},
            )
        max_new = s.max_tokens
        if self._max_context is not None:
            room = self._max_context - prompt_tokens
            if room < 1:
                raise BridgeError(
                    "context_length_exceeded",
                    f"the prompt ({prompt_tokens} tokens) leaves no room in the model's "
                    f"{self._max_context}-token context",
                    details={"maxContextTokens": self._max_context, "requestedTokens": prompt_tokens},
                )
            max_new = room if max_new is None else min(max_new, room)
        elif max_new is None:
            raise BridgeError(
                "bad_request", "the model config has no max_position_embeddings; set sampling.maxTokens"
            )
        kwargs: dict[str, Any] = {"max_new_tokens": max_new}
        if s.temperature == 0:
            kwargs["do_sample"] = False
        elif s.temperature is not None or s.top_p is not None or s.top_k is not None:
            kwargs["do_sample"] = True
            if s.temperature is not None:
                kwargs["temperature"] = s.temperature
            if s.top_p is not None:
                kwargs["top_p"] = s.top_p
            if s.top_k is not None:
                kwargs["top_k"] = s.top_k
        if getattr(self._tokenizer, "pad_token_id", None) is None:
            eos = getattr(self._tokenizer, "eos_token_id", None)
            if eos is not None:
                kwargs["pad_token_id"] = eos  # avoids generate()'s per-call warning
        return kwargs

    # engine interface ------------------------------------------------------------------------
    async def generate(self, request: GenerateRequest) -> AsyncIterator[Delta]:
        inputs = self.encode(request)
        prompt_tokens = int(inputs["input_ids"].shape[-1])
        kwargs = self.generate_kwargs(request, prompt_tokens)
        stops = StopMatcher(request.sampling.stop)
        async with self._slots:
            job = self._job_cls(asyncio.get_running_loop(), self._tokenizer)
            self._jobs[request.id] = job
            thread = threading.Thread(
                target=self._run, args=(job, inputs, kwargs, request.sampling.seed), name=f"generate-{request.id}",
                daemon=True,
            )
            self._threads.add(thread)
            try:
                thread.start()
                finish = "stop"
                while True:
                    item = await job.queue.get()
                    if item is _END:
                        break
                    if isinstance(item, BaseException):
                        raise map_transformers_error(item)
                    text, count = item
                    text = stops.push(text)
                    if stops.matched:
                        job.cancel.set()
                        yield Delta(text, count, finish_reason="stop",
                                    usage=Usage(prompt_tokens, job.generated))
                        return
                    if text or count:
                        yield Delta(text, count)
                if job.generated >= kwargs["max_new_tokens"] and job.last_id not in self._eos_ids:
                    finish = "length"
                tail = stops.push(job.decoder.flush())
                tail += "" if stops.matched else stops.flush()
                yield Delta(tail, 0, finish_reason=finish, usage=Usage(prompt_tokens, job.generated))
            finally:
                # Cancelled, failed or finished: stop the thread and keep the slot until it is out
                # of generate(), so the next request never shares the model with a zombie.
                job.cancel.set()
                await asyncio.wait({job.done}, timeout=JOIN_TIMEOUT)
                self._jobs.pop(request.id, None)

    def _run(self, job: _Job, inputs: dict[str, Any], kwargs: dict[str, Any], seed: int | None) -> None:
        loop = job.loop
        try:
            if seed is not None:
                self._torch.manual_seed(seed)
            criteria = self._criteria_list([self._criteria_cls(job.cancel)])
            self._model.generate(**inputs, **kwargs, streamer=job, stopping_criteria=criteria)
            loop.call_soon_threadsafe(job.queue.put_nowait, _END)
        except BaseException as exc:  # reported to the consumer; the thread must never die silently
            try:
                loop.call_soon_threadsafe(job.queue.put_nowait, exc)
            except RuntimeError:
                pass  # the loop is closed: the worker is exiting
        finally:
            self._threads.discard(threading.current_thread())
            try:
                loop.call_soon_threadsafe(_resolve, job.done)
            except RuntimeError:
                pass

    async def abort(self, request_id: str) -> None:
        job = self._jobs.get(request_id)
        if job is None:
            return
        job.cancel.set()
        await asyncio.wait({job.done}, timeout=JOIN_TIMEOUT)

    async def close(self) -> None:
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        if jobs:
            await asyncio.wait({job.done for job in jobs}, timeout=JOIN_TIMEOUT)
        cuda = getattr(self._torch, "cuda", None)
        if cuda is not None and self._device.startswith("cuda"):
            cuda.empty_cache()


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for source in (getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                   getattr(tokenizer, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, (list, tuple)):
            ids.update(i for i in source if isinstance(i, int))
    return frozenset(ids)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _generation_classes(transformers: Any) -> dict[str, Any]:
    """Top-level exports where present, else the generation submodules they live in."""
    found: dict[str, Any] = {}
    for name, module in (
        ("StoppingCriteria", "transformers.generation.stopping_criteria"),
        ("StoppingCriteriaList", "transformers.generation.stopping_criteria"),
        ("BaseStreamer", "transformers.generation.streamers"),
    ):
        cls = getattr(transformers, name, None)
        if cls is None:
            cls = getattr(importlib.import_module(module), name)
        found[name] = cls
    return found


def _job_class(base_streamer: Any) -> Any:
    # A real BaseStreamer subclass, in case generate() checks the streamer's type.
    return type("JobStreamer", (_Job, base_streamer), {})


def _cancel_criteria_class(torch: Any, stopping_criteria: Any) -> Any:
    class CancelCriteria(stopping_criteria):
        """Stops every row once the request is cancelled; checked once per decoding step."""

        def __init__(self, event: threading.Event) -> None:
            self.event = event

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)

    return CancelCriteria


def _version_tuple(version: str) -> tuple[int, int]:
    parts = version.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def _dtype(torch: Any, value: Any) -> Any:
    if value is None or value == "auto":
        return "auto"
    dtype = getattr(torch, str(value), None)
    if not isinstance(dtype, torch.dtype):
        raise BridgeError("bad_request", f"unknown torch dtype {value!r}", details={"param": "engineArgs.dtype"})
    return dtype


async def create_engine(
    *, model: str | None, revision: str | None, engine_args: dict[str, Any]
) -> TransformersEngine:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BridgeError(
            "not_found",
            f"the transformers engine needs torch and transformers for {sys.executable} ({describe(exc)})",
            details={"resource": "transformers"},
        ) from exc
    options = dict(engine_args)
    name = model or options.pop("model", None)
    options.pop("model", None)
    if not name:
        raise BridgeError("bad_request", "the transformers engine needs a model: call loadWeights or set engineArgs.model")
    device = options.pop("device", None) or ("cuda" if torch.cuda.is_available() else "cpu")
    max_concurrent = options.pop("max_concurrent", 1)
    if not isinstance(max_concurrent, int) or max_concurrent < 1:
        raise BridgeError("bad_request", "engineArgs.max_concurrent must be a positive integer")
    dtype = _dtype(torch, options.pop("dtype", "auto"))
    dtype_key = "dtype" if _version_tuple(transformers.__version__) >= (4, 56) else "torch_dtype"
    common: dict[str, Any] = {}
    if revision is not None:
        common["revision"] = revision
    for key in ("trust_remote_code", "local_files_only", "cache_dir"):
        if key in options:
            common[key] = options[key]

    def load() -> tuple[Any, Any]:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name, **common)
        loaded = transformers.AutoModelForCausalLM.from_pretrained(name, **{dtype_key: dtype, **options})
        if "device_map" not in options:
            loaded = loaded.to(device)
        return tokenizer, loaded.eval()

    try:
        tokenizer, loaded = await asyncio.to_thread(load)
    except BridgeError:
        raise
    except OSError as exc:  # missing files / unknown repo
        raise BridgeError("not_found", f"cannot load {name!r}: {describe(exc)}", details={"resource": name}) from exc
    except Exception as exc:
        raise map_transformers_error(exc) from exc
    return TransformersEngine(torch, transformers, loaded, tokenizer, name, str(device), max_concurrent)
