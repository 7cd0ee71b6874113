"""The vllm adapter against FAKE vllm packages (fakes/vllm_v1: current V1 AsyncLLM;
fakes/vllm_v0: 0.3-era AsyncLLMEngine), faithful to shared/reference/vllm-api.md."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inferkit_bridge.engine import GenerateRequest, Sampling
from inferkit_bridge.errors import BridgeError

REPLY = "Bonjour, ça va? Très bien."


def request(rid: str = "r", *, prompt: str | None = None, messages: list | None = None, **kw: Any) -> GenerateRequest:
    if prompt is None and messages is None:
        messages = [{"role": "user", "content": "salut"}]
    return GenerateRequest(id=rid, messages=messages, prompt=prompt, **kw)


async def create(**engine_args: Any) -> Any:
    from inferkit_bridge.adapters.vllm_adapter import create_engine

    return await create_engine(model="/models/tiny", revision=None, engine_args={"max_model_len": 64, **engine_args})


async def drain(engine: Any, req: GenerateRequest) -> list[Any]:
    return [d async for d in engine.generate(req)]


def test_engine_args_pass_through_including_parallelism(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create(tensor_parallel_size=2, pipeline_parallel_size=2, distributed_executor_backend="ray",
                              gpu_memory_utilization=0.5, dtype="bfloat16", enforce_eager=True)
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncLLM.last_args
        assert (args.model, args.tensor_parallel_size, args.pipeline_parallel_size) == ("/models/tiny", 2, 2)
        assert (args.distributed_executor_backend, args.gpu_memory_utilization, args.dtype) == ("ray", 0.5, "bfloat16")
        assert args.enforce_eager is True and args.max_model_len == 64
        assert engine.info().to_json() == {"name": "vllm", "model": "/models/tiny", "maxContext": 64, "chatTemplate": True,
                                           "device": None, "capabilities": {"responseFormat": True, "continuation": True,
                                                                            "penalties": True}}

    asyncio.run(main())


def test_start_up_errors_are_typed(fake_vllm_v1: None) -> None:
    async def main() -> None:
        with pytest.raises(BridgeError, match="unknown vLLM engine arguments: tensor_paralel_size") as info:
            await create(tensor_paralel_size=2)
        assert info.value.kind == "bad_request"
        with pytest.raises(BridgeError, match="World size \\(2\\) is larger") as info:
            await create(tensor_parallel_size=2)  # more GPUs than the node has, without Ray
        assert info.value.kind == "bad_request"
        from inferkit_bridge.adapters.vllm_adapter import create_engine

        with pytest.raises(BridgeError, match="needs a model"):
            await create_engine(model=None, revision=None, engine_args={})

    asyncio.run(main())


def test_chat_request_streams_delta_outputs(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        deltas = await drain(engine, request())
        assert "".join(d.text for d in deltas) == REPLY
        assert len(deltas) > 5  # streamed, not one blob
        last = deltas[-1]
        assert last.finish_reason == "stop"
        expected_prompt = len("<|user|>salut\n<|assistant|>".encode()) + 1  # + BOS from the template
        assert last.usage.input_tokens == expected_prompt
        assert last.usage.output_tokens == sum(d.tokens for d in deltas) == len(REPLY.encode()) + 1  # + EOS
        assert last.usage.cached_tokens == 0
        assert all("\ufffd" not in d.text for d in deltas)

    asyncio.run(main())


def test_sampling_is_mapped_and_max_tokens_gives_length(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        req = request(sampling=Sampling(temperature=0.2, top_p=0.9, top_k=5, max_tokens=4, seed=7,
                                        presence_penalty=0.5, frequency_penalty=-0.5))
        params = engine.sampling_params(req)
        from vllm.sampling_params import RequestOutputKind

        assert (params.temperature, params.top_p, params.top_k, params.max_tokens, params.seed) == (0.2, 0.9, 5, 4, 7)
        assert (params.presence_penalty, params.frequency_penalty) == (0.5, -0.5)
        assert params.output_kind == RequestOutputKind.DELTA
        deltas = await drain(engine, req)
        assert "".join(d.text for d in deltas) == "Bonj"
        assert deltas[-1].finish_reason == "length" and deltas[-1].usage.output_tokens == 4
        # maxTokens unset means "up to max_model_len", not vLLM's default of 16
        assert engine.sampling_params(request()).max_tokens is None

    asyncio.run(main())


def test_stop_strings_and_plain_prompts(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        deltas = await drain(engine, request(prompt="hello", sampling=Sampling(stop=("va?",))))
        assert "".join(d.text for d in deltas) == "Bonjour, ça "
        assert deltas[-1].finish_reason == "stop"
        assert deltas[-1].usage.input_tokens == len("hello") + 1  # a str prompt gets BOS

    asyncio.run(main())


def test_response_format_becomes_structured_outputs(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        schema = {"type": "object"}
        params = engine.sampling_params(request(response_format={"type": "json_schema", "name": "x", "schema": schema}))
        assert params.structured_outputs.json == schema
        params = engine.sampling_params(request(response_format={"type": "json_object"}))
        assert params.structured_outputs.json_object is True

    asyncio.run(main())


@pytest.mark.parametrize(
    "req, kind, text",
    [
        (request(sampling=Sampling(temperature=3.0)), "bad_request", "temperature must be at most 2"),
        (request(sampling=Sampling(top_p=0.0)), "bad_request", "top_p"),
        (request(sampling=Sampling(presence_penalty=5.0)), "bad_request", "presence_penalty"),
        (request(prompt="x" * 80), "context_length_exceeded", "is longer than the maximum model length of 64"),
        (request(prompt="x" * 63), "context_length_exceeded", "plus the number of requested output tokens"),
        (request(messages=[{"role": "user", "content": [{"type": "image_url", "url": "http://x"}]}]),
         "bad_request", "text content only"),
    ],
)
def test_request_errors_are_mapped(fake_vllm_v1: None, req: GenerateRequest, kind: str, text: str) -> None:
    async def main() -> None:
        engine = await create()
        with pytest.raises(BridgeError, match=text) as info:
            await drain(engine, req)
        assert info.value.kind == kind
        assert not info.value.fatal

    asyncio.run(main())


def test_continuation_uses_continue_final_message_without_a_generation_prompt(fake_vllm_v1: None) -> None:
    """vllm-api.md: chat requests are rendered with the engine's HF tokenizer; a prefix message is
    continued (continue_final_message=True, add_generation_prompt=False) and the fake engine goes
    on with the reply that message began."""
    async def main() -> None:
        engine = await create()
        tokenizer = engine._tokenizer
        messages = [{"role": "user", "content": "salut"}, {"role": "assistant", "content": "Bonjour, ça", "prefix": True}]
        deltas = await drain(engine, request(messages=messages, continuation=True))
        assert "".join(d.text for d in deltas) == " va? Très bien."
        call = tokenizer.template_calls[-1]
        assert (call["continue_final_message"], call["add_generation_prompt"], call["tokenize"]) == (True, False, True)
        assert call["conversation"][-1] == {"role": "assistant", "content": "Bonjour, ça"}
        prompt = "<|user|>salut\n<|assistant|>Bonjour, ça"
        assert deltas[-1].usage.input_tokens == 1 + len(prompt.encode())  # BOS + the open final message
        await drain(engine, request())
        call = tokenizer.template_calls[-1]
        assert (call["continue_final_message"], call["add_generation_prompt"]) == (False, True)

    asyncio.run(main())


def test_vllm_without_structured_outputs_does_not_declare_response_format(fake_vllm_v1: None) -> None:
    async def main() -> None:
        import vllm.sampling_params as sp

        engine = await create()
        saved = sp.StructuredOutputsParams
        del sp.StructuredOutputsParams
        try:
            assert engine.info().capabilities == {"continuation", "penalties"}
        finally:
            sp.StructuredOutputsParams = saved

    asyncio.run(main())


def test_context_error_details_and_parameter(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        with pytest.raises(BridgeError) as info:
            await drain(engine, request(prompt="x" * 80))
        assert info.value.details == {"requestedTokens": 81, "maxContextTokens": 64}
        with pytest.raises(BridgeError) as info:
            await drain(engine, request(sampling=Sampling(temperature=3.0)))
        assert info.value.details == {"param": "temperature"}

    asyncio.run(main())


def test_generate_error_is_retryable_server_error(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        with pytest.raises(BridgeError) as info:
            await drain(engine, request(prompt="!generror"))
        assert info.value.kind == "server_error" and info.value.retryable
        assert "scheduler step failed" in info.value.message

    asyncio.run(main())


def test_dead_engine_is_fatal_runtime_crashed_and_health_says_so(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        await engine.health()
        with pytest.raises(BridgeError) as info:
            await drain(engine, request(prompt="!die"))
        assert info.value.kind == "runtime_crashed" and info.value.fatal
        assert "EngineCore encountered an issue" in info.value.message
        with pytest.raises(BridgeError) as info:
            await engine.health()
        assert info.value.fatal
        with pytest.raises(BridgeError) as info:
            await drain(engine, request())  # generate on a dead engine
        assert info.value.kind == "runtime_crashed"

    asyncio.run(main())


def test_no_chat_template_is_a_bad_request(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        engine._tokenizer.chat_template = None
        assert engine.info().chat_template is False
        with pytest.raises(BridgeError, match="no chat template"):
            await drain(engine, request())

    asyncio.run(main())


def test_cancel_mid_stream_aborts_in_the_engine(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create(max_model_len=100_000)
        inner = engine._engine
        stream = engine.generate(request("long", prompt="!long"))
        seen = 0

        async def consume() -> None:
            nonlocal seen
            async for _ in stream:
                seen += 1

        task = asyncio.ensure_future(consume())
        for _ in range(100_000):  # bounded: a broken stream must fail the test, not hang it
            if seen >= 3 or task.done():
                break
            await asyncio.sleep(0)
        assert seen >= 3, task.exception() if task.done() else "no deltas"
        assert inner.live_request_ids() == ["long"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await stream.aclose()
        await engine.abort("long")  # what the bridge does next: a no-op for an id already gone
        assert inner.live_request_ids() == []
        assert inner.aborted_ids == ["long"]  # generate() aborted on cancel
        assert engine.stats()["live"] == 0

    asyncio.run(main())


def test_abort_pushes_a_final_abort_output_which_is_not_reported_as_success(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create(max_model_len=100_000)
        stream = engine.generate(request("x", prompt="!long"))
        await stream.__anext__()
        await engine._engine.abort("x")  # someone else (pause_generation) aborted it
        with pytest.raises(BridgeError) as info:
            async for _ in stream:
                pass
        assert info.value.kind == "server_error" and info.value.retryable

    asyncio.run(main())


def test_close_shuts_the_engine_down(fake_vllm_v1: None) -> None:
    async def main() -> None:
        engine = await create()
        await engine.close()
        assert engine._engine.errored

    asyncio.run(main())


def test_old_async_llm_engine_fallback(fake_vllm_v0: None) -> None:
    async def main() -> None:
        engine = await create(tensor_parallel_size=1)
        assert type(engine._engine).__name__ == "AsyncLLMEngine"
        assert engine._legacy_token_ids is True and engine._delta_kind is None
        deltas = await drain(engine, request())  # chat -> token ids via prompt_token_ids=
        assert "".join(d.text for d in deltas) == REPLY  # cumulative outputs turned into deltas
        assert all(d.tokens <= 2 for d in deltas)
        assert deltas[-1].finish_reason == "stop" and deltas[-1].usage.output_tokens == len(REPLY.encode()) + 1
        deltas = await drain(engine, request(prompt="hi", sampling=Sampling(max_tokens=3)))
        assert "".join(d.text for d in deltas) == "Bon" and deltas[-1].finish_reason == "length"
        with pytest.raises(BridgeError, match="unknown vLLM engine arguments: distributed_executor_backend"):
            await create(distributed_executor_backend="ray")

    asyncio.run(main())


def test_old_engine_duplicate_ids_and_shutdown(fake_vllm_v0: None) -> None:
    async def main() -> None:
        engine = await create()
        first = engine.generate(request("same"))
        await first.__anext__()
        with pytest.raises(BridgeError, match="duplicate request id") as info:
            await drain(engine, request("same"))
        assert info.value.kind == "bad_request"
        await first.aclose()
        await engine.close()
        with pytest.raises(BridgeError) as info:
            await engine.abort("gone")  # the V0 background loop is stopped: AsyncEngineDeadError
        assert info.value.kind == "runtime_crashed" and info.value.fatal

    asyncio.run(main())
