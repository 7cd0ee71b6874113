"""The transformers adapter against FAKE torch + transformers (fakes/hf), faithful to
shared/reference/transformers-api.md: streamer put/end order, stopping criteria per row,
apply_chat_template return shapes per major version, dtype kwarg by version."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from inferkit_bridge.engine import GenerateRequest, Sampling
from inferkit_bridge.errors import BridgeError

REPLY = "Héllo wörld, this is a fake model."


def request(rid: str = "r", *, prompt: str | None = None, messages: list | None = None, **kw: Any) -> GenerateRequest:
    if prompt is None and messages is None:
        messages = [{"role": "user", "content": "hi"}]
    return GenerateRequest(id=rid, messages=messages, prompt=prompt, **kw)


async def create(model: str = "/models/tiny-llama", **engine_args: Any) -> Any:
    from inferkit_bridge.adapters.transformers_adapter import create_engine

    return await create_engine(model=model, revision=None, engine_args=engine_args)


async def drain(engine: Any, req: GenerateRequest) -> list[Any]:
    return [d async for d in engine.generate(req)]


@pytest.fixture
def hf(fake_hf: None) -> Any:
    import transformers

    transformers.FakeCausalLM.reply = REPLY
    transformers.FakeCausalLM.step_delay = 0.0
    transformers.FakeCausalLM.instances.clear()
    transformers.AutoTokenizer.chat_template = "TEMPLATE"
    return transformers


def test_loading_uses_the_dtype_keyword_of_the_installed_version(hf: Any) -> None:
    async def main() -> None:
        import torch

        engine = await create(dtype="bfloat16", device="cuda:0", attn_implementation="sdpa", local_files_only=True)
        model = hf.FakeCausalLM.instances[-1]
        assert model.load_kwargs == {"dtype": torch.bfloat16, "attn_implementation": "sdpa", "local_files_only": True}
        assert model.device == "cuda:0" and model.training is False
        assert hf.AutoTokenizer.last_kwargs == {"local_files_only": True}
        assert engine.info().to_json() == {"name": "transformers", "model": "/models/tiny-llama", "maxContext": 64,
                                           "chatTemplate": True, "device": "cuda:0",
                                           "capabilities": {"continuation": True}}
        hf.__version__ = "4.55.2"
        await create()
        assert hf.FakeCausalLM.instances[-1].load_kwargs == {"torch_dtype": "auto"}
        assert hf.FakeCausalLM.instances[-1].device == "cpu"  # torch.cuda.is_available() is False

    asyncio.run(main())


def test_start_up_errors(hf: Any) -> None:
    async def main() -> None:
        with pytest.raises(BridgeError, match="cannot load 'missing/model'") as info:
            await create("missing/model")
        assert info.value.kind == "not_found"
        with pytest.raises(BridgeError, match="unknown torch dtype"):
            await create(dtype="float7")
        with pytest.raises(BridgeError, match="max_concurrent"):
            await create(max_concurrent=0)

    asyncio.run(main())


def test_chat_generation_streams_whole_characters_with_token_counts(hf: Any) -> None:
    async def main() -> None:
        engine = await create()
        deltas = await drain(engine, request())
        assert "".join(d.text for d in deltas) == REPLY
        assert all("\ufffd" not in d.text for d in deltas)
        assert len(deltas) > 10
        last = deltas[-1]
        assert last.finish_reason == "stop"
        assert sum(d.tokens for d in deltas) == len(REPLY.encode()) + 1  # + EOS
        assert last.usage.output_tokens == len(REPLY.encode()) + 1
        assert last.usage.input_tokens == 1 + len("<|user|>hi\n<|assistant|>".encode())
        call = hf.FakeCausalLM.instances[-1].generate_calls[-1]
        assert call["max_new_tokens"] == 64 - last.usage.input_tokens  # room left in the context
        assert "do_sample" not in call  # temperature unset: the model's generation_config decides
        assert call["pad_token_id"] == 2

    asyncio.run(main())


def test_v4_tokenizer_return_shapes_work_too(hf: Any) -> None:
    async def main() -> None:
        hf.__version__ = "4.57.6"
        engine = await create()
        assert "".join(d.text for d in await drain(engine, request())) == REPLY

    asyncio.run(main())


def test_sampling_mapping_and_length_finish(hf: Any) -> None:
    async def main() -> None:
        engine = await create()
        deltas = await drain(engine, request(prompt="x", sampling=Sampling(temperature=0.7, top_p=0.9, top_k=3,
                                                                            max_tokens=5)))
        assert "".join(d.text for d in deltas) == "Héll"  # 5 bytes, é is two
        assert deltas[-1].finish_reason == "length" and deltas[-1].usage.output_tokens == 5
        call = hf.FakeCausalLM.instances[-1].generate_calls[-1]
        assert (call["do_sample"], call["temperature"], call["top_p"], call["top_k"], call["max_new_tokens"]) == (
            True, 0.7, 0.9, 3, 5)
        await drain(engine, request(prompt="x", sampling=Sampling(temperature=0)))
        assert hf.FakeCausalLM.instances[-1].generate_calls[-1]["do_sample"] is False

    asyncio.run(main())


def test_eos_on_the_last_allowed_token_is_stop_not_length(hf: Any) -> None:
    async def main() -> None:
        engine = await create()
        n = len(REPLY.encode()) + 1
        deltas = await drain(engine, request(prompt="x", sampling=Sampling(max_tokens=n)))
        assert deltas[-1].finish_reason == "stop"

    asyncio.run(main())


def test_stop_strings_cut_the_text_and_stop_generation(hf: Any) -> None:
    async def main() -> None:
        hf.FakeCausalLM.reply = REPLY + " and so on" * 1000
        hf.FakeCausalLM.step_delay = 0.0005
        hf.FakeCausalLM.max_position_embeddings = 20_000
        try:
            engine = await create()
            deltas = await drain(engine, request(prompt="x", sampling=Sampling(stop=("this",))))
        finally:
            hf.FakeCausalLM.max_position_embeddings = 64
        assert "".join(d.text for d in deltas) == "Héllo wörld, "
        assert deltas[-1].finish_reason == "stop"
        steps = hf.FakeCausalLM.instances[-1].steps_run[-1]
        assert steps < len(hf.FakeCausalLM.reply)  # the cancel criterion ended generate() early

    asyncio.run(main())


def test_cancel_stops_the_generation_thread(hf: Any) -> None:
    async def main() -> None:
        hf.FakeCausalLM.reply = "z" * 5000
        hf.FakeCausalLM.step_delay = 0.001
        hf.FakeCausalLM.max_position_embeddings = 10_000
        try:
            engine = await create()
            stream = engine.generate(request("c", prompt="go"))
            seen = 0

            async def consume() -> None:
                nonlocal seen
                async for _ in stream:
                    seen += 1

            task = asyncio.ensure_future(consume())
            for _ in range(5000):  # bounded: a broken stream must fail the test, not hang it
                if seen >= 3 or task.done():
                    break
                await asyncio.sleep(0.001)
            assert seen >= 3, task.exception() if task.done() else "no deltas"
            assert engine.stats()["running"] == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await stream.aclose()
            await engine.abort("c")
            assert engine.stats() == {"running": 0, "threads": 0}
            steps = hf.FakeCausalLM.instances[-1].steps_run
            assert len(steps) == 1 and steps[0] < 5000
        finally:
            hf.FakeCausalLM.max_position_embeddings = 64

    asyncio.run(main())


def test_requests_queue_for_the_model_one_at_a_time(hf: Any) -> None:
    async def main() -> None:
        engine = await create()
        results = await asyncio.gather(*(drain(engine, request(f"q{i}", prompt="x")) for i in range(3)))
        assert ["".join(d.text for d in r) for r in results] == [REPLY] * 3
        assert engine.stats()["running"] == 0

    asyncio.run(main())


@pytest.mark.parametrize(
    "req, kind, text, fatal",
    [
        (request(prompt="!cuda"), "cuda_context_poisoned", "device-side assert", True),
        (request(prompt="!oom"), "server_error", "out of device memory", False),
        (request(prompt="x" * 70), "context_length_exceeded", "leaves no room", False),
    ],
)
def test_errors_are_mapped(hf: Any, req: GenerateRequest, kind: str, text: str, fatal: bool) -> None:
    async def main() -> None:
        engine = await create()
        with pytest.raises(BridgeError, match=text) as info:
            await drain(engine, req)
        assert (info.value.kind, info.value.fatal) == (kind, fatal)
        assert engine.stats()["running"] == 0

    asyncio.run(main())


@pytest.mark.parametrize(
    "req, param",
    [
        (request(prompt="x", sampling=Sampling(presence_penalty=0.5)), "sampling.presencePenalty"),
        (request(prompt="x", response_format={"type": "json_object"}), "responseFormat"),
        (request(tools=[{"name": "f"}]), "tools"),
        (request(messages=[{"role": "user", "content": [{"type": "image_url", "url": "http://x"}]}]),
         "messages[0].content[0]"),
    ],
)
def test_what_transformers_does_not_declare_is_refused_by_the_bridge(hf: Any, req: GenerateRequest, param: str) -> None:
    from inferkit_bridge.capabilities import refuse_undeclared

    async def main() -> None:
        engine = await create()
        assert engine.info().capabilities == {"continuation"}
        with pytest.raises(BridgeError) as info:
            refuse_undeclared(req, engine.info().capabilities, "transformers")
        assert (info.value.kind, info.value.details) == ("bad_request", {"param": param})

    asyncio.run(main())


def test_continuation_renders_the_final_message_open(hf: Any) -> None:
    """A prefix message: continue_final_message=True without a generation prompt; the fake model
    continues its reply from the text the assistant message already holds."""
    async def main() -> None:
        engine = await create()
        tokenizer = engine._tokenizer
        messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Héllo wörld,", "prefix": True}]
        deltas = await drain(engine, request(messages=messages, continuation=True))
        assert "".join(d.text for d in deltas) == " this is a fake model."
        flags = tokenizer.template_calls[-1]
        assert (flags["continue_final_message"], flags["add_generation_prompt"]) == (True, False)
        assert flags["conversation"][-1] == {"role": "assistant", "content": "Héllo wörld,"}  # no prefix key
        prompt = "<|user|>hi\n<|assistant|>Héllo wörld,"
        assert deltas[-1].usage.input_tokens == 1 + len(prompt.encode())  # BOS + the open final message
        await drain(engine, request())
        flags = tokenizer.template_calls[-1]
        assert (flags["continue_final_message"], flags["add_generation_prompt"]) == (False, True)

    asyncio.run(main())


def test_a_tokenizer_without_continue_final_message_does_not_claim_continuation(hf: Any) -> None:
    """transformers before 4.45 has no continue_final_message: the flag would reach the template
    as an unknown variable and a new turn would start, so continuation is not declared."""
    async def main() -> None:
        engine = await create()
        original = type(engine._tokenizer).apply_chat_template

        def old_signature(self: Any, conversation: Any, add_generation_prompt: bool = False, tokenize: bool = True,
                          return_dict: bool = False, return_tensors: Any = None, **kwargs: Any) -> Any:
            return original(self, conversation, add_generation_prompt=add_generation_prompt, tokenize=tokenize,
                            return_dict=return_dict, return_tensors=return_tensors)

        engine._tokenizer.apply_chat_template = old_signature.__get__(engine._tokenizer)
        assert "continuation" not in engine.info().capabilities

    asyncio.run(main())


def test_seed_needs_one_request_at_a_time(hf: Any) -> None:
    async def main() -> None:
        import torch

        engine = await create()
        await drain(engine, request(prompt="x", sampling=Sampling(seed=42)))
        assert torch.seeds[-1] == 42
        engine = await create(max_concurrent=2)
        with pytest.raises(BridgeError, match="seed needs"):
            await drain(engine, request(prompt="x", sampling=Sampling(seed=1)))

    asyncio.run(main())


def test_no_chat_template(hf: Any) -> None:
    async def main() -> None:
        hf.AutoTokenizer.chat_template = None
        engine = await create()
        assert engine.info().chat_template is False
        with pytest.raises(BridgeError, match="no chat template") as info:
            await drain(engine, request())
        assert info.value.kind == "bad_request"
        assert "".join(d.text for d in await drain(engine, request(prompt="raw"))) == REPLY

    asyncio.run(main())


def test_incremental_decoder_holds_back_split_characters(hf: Any) -> None:
    from fake_byte_tokenizer import FakeByteTokenizer

    from inferkit_bridge.adapters.transformers_adapter import IncrementalDecoder

    decoder = IncrementalDecoder(FakeByteTokenizer())
    ids = [b + 3 for b in "a🎉b".encode()]
    pieces = [decoder.push([i]) for i in ids]
    assert pieces == ["a", "", "", "", "🎉", "b"]
    assert decoder.flush() == ""
    decoder = IncrementalDecoder(FakeByteTokenizer())
    assert decoder.push([b + 3 for b in "é".encode()][:1]) == ""
    assert decoder.flush() == "\ufffd"  # an incomplete character at the very end is not lost silently


def test_close_releases_device_memory(hf: Any) -> None:
    async def main() -> None:
        import torch

        engine = await create(device="cuda")
        before = torch.cuda.emptied
        await engine.close()
        assert torch.cuda.emptied == before + 1

    asyncio.run(main())
