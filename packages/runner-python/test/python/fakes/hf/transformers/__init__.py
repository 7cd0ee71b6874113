"""FAKE transformers (5.x unless `__version__` is patched) per transformers-api.md §1-§5.

FakeCausalLM "generates" FakeCausalLM.reply byte by byte (then EOS; after an open assistant message,
the rest of the reply it began) with the generate() loop
order of the real one: streamer.put(prompt) first, then per step put(new ids) and the
stopping criteria (ORed per row); streamer.end() at the end. Prompt markers: "!cuda" raises a
sticky CUDA RuntimeError on the first step, "!oom" torch.cuda.OutOfMemoryError.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import torch
from fake_byte_tokenizer import EOS, FakeByteTokenizer, continue_reply

__version__ = "5.18.0"


class StoppingCriteria:
    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("StoppingCriteria needs to be subclassed")


class StoppingCriteriaList(list):
    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        is_done = torch.full((input_ids.shape[0],), False, device=input_ids.device, dtype=torch.bool)
        for criteria in self:
            is_done = is_done | criteria(input_ids, scores, **kwargs)
        return is_done


class _Config:
    def __init__(self, max_position_embeddings: int) -> None:
        self.max_position_embeddings = max_position_embeddings


class _GenerationConfig:
    eos_token_id = EOS


_GENERATE_KWARGS = frozenset({
    "input_ids", "attention_mask", "max_new_tokens", "max_length", "do_sample", "temperature", "top_p", "top_k",
    "pad_token_id", "eos_token_id", "max_time", "repetition_penalty",
})


class FakeCausalLM:
    # FAKE_HF_* variables steer a fake model that lives in another process (the bridge worker).
    reply = "Héllo wörld, this is a fake model." * int(os.environ.get("FAKE_HF_REPLY_REPEAT", "1"))
    step_delay = float(os.environ.get("FAKE_HF_STEP_DELAY", "0"))
    max_position_embeddings = 64
    instances: list["FakeCausalLM"] = []

    def __init__(self, path: str, kwargs: dict[str, Any]) -> None:
        self.path = path
        self.load_kwargs = kwargs
        self.device = "cpu"
        self.config = _Config(self.max_position_embeddings)
        self.generation_config = _GenerationConfig()
        self.generate_calls: list[dict[str, Any]] = []
        self.steps_run: list[int] = []
        self.training = True
        FakeCausalLM.instances.append(self)

    def to(self, device: Any) -> "FakeCausalLM":
        self.device = str(device)
        return self

    def eval(self) -> "FakeCausalLM":
        self.training = False
        return self

    def generate(self, inputs: Any = None, generation_config: Any = None, logits_processor: Any = None,
                 stopping_criteria: Any = None, prefix_allowed_tokens_fn: Any = None, synced_gpus: Any = None,
                 assistant_model: Any = None, streamer: Any = None, **kwargs: Any) -> Any:
        self.generate_calls.append(dict(kwargs))
        unused = sorted(set(kwargs) - _GENERATE_KWARGS)
        if unused:  # generate() validates model kwargs the same way
            raise ValueError(
                f"The following `model_kwargs` are not used by the model: {unused} (note: typos in the generate "
                "arguments will also show up in this list)"
            )
        input_ids = kwargs.pop("input_ids", inputs)
        kwargs.pop("attention_mask", None)
        if input_ids.device != self.device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found {input_ids.device} and {self.device}")
        do_sample = kwargs.get("do_sample", False)
        temperature = kwargs.get("temperature", 1.0)
        if do_sample and temperature is not None and temperature <= 0:
            raise ValueError(
                f"`temperature` (={temperature}) has to be a strictly positive float, otherwise your next token "
                "scores will be invalid. If you're looking for greedy decoding strategies, set `do_sample=False`."
            )
        max_new = kwargs.get("max_new_tokens")
        prompt = input_ids.tolist()[0]
        if max_new is None:
            max_new = max(0, 20 - len(prompt))
        text = FakeByteTokenizer().decode(prompt, skip_special_tokens=True)
        if streamer is not None:
            streamer.put(input_ids.cpu())
        script = [b + 3 for b in continue_reply(text, self.reply).encode("utf-8")] + [EOS]
        ids = list(prompt)
        steps = 0
        started = time.monotonic()
        max_time = kwargs.get("max_time")
        for token in script[:max_new]:
            if max_time is not None and time.monotonic() - started > max_time:
                break  # MaxTimeCriteria
            if "!cuda" in text:
                raise RuntimeError("CUDA error: device-side assert triggered")
            if "!oom" in text:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            if self.step_delay:
                time.sleep(self.step_delay)
            ids.append(token)
            steps += 1
            if streamer is not None:
                streamer.put(torch.tensor([token]))
            if token == EOS:
                break
            if stopping_criteria is not None and stopping_criteria(torch.tensor([ids], device=self.device), None).all():
                break
        self.steps_run.append(steps)
        if streamer is not None:
            streamer.end()
        return torch.tensor([ids], device=self.device)


class AutoModelForCausalLM:
    @staticmethod
    def from_pretrained(path: str, *args: Any, **kwargs: Any) -> FakeCausalLM:
        if path.startswith("missing"):
            raise OSError(f"{path} is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'")
        model = FakeCausalLM(path, kwargs)
        config_file = os.path.join(path, "config.json")
        if os.path.exists(config_file):
            with open(config_file) as f:
                model.config = _Config(json.load(f)["max_position_embeddings"])
        return model


class LlamaConfig:
    def __init__(self, **kwargs: Any) -> None:  # v5 configs are keyword-only
        self.__dict__.update(kwargs)
        self.max_position_embeddings = kwargs.get("max_position_embeddings", 2048)


class _Rows:
    def __init__(self) -> None:
        self.zeroed: list[Any] = []

    def __getitem__(self, index: Any) -> "_Rows":
        self.zeroed.append(index)
        return self

    def zero_(self) -> "_Rows":
        return self


class _Linear:
    def __init__(self) -> None:
        self.weight = _Rows()


class LlamaForCausalLM(FakeCausalLM):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__("<random init>", {})
        self.config = _Config(config.max_position_embeddings)
        self.lm_head = _Linear()

    def save_pretrained(self, save_directory: str, **kwargs: Any) -> None:
        os.makedirs(save_directory, exist_ok=True)
        with open(os.path.join(save_directory, "config.json"), "w") as f:
            json.dump({"model_type": "llama", "max_position_embeddings": self.config.max_position_embeddings}, f)
        with open(os.path.join(save_directory, "model.safetensors"), "wb") as f:
            f.write(b"FAKE")


class PreTrainedTokenizerFast(FakeByteTokenizer):
    def __init__(self, tokenizer_object: Any = None, model_input_names: Any = None, **special_tokens: Any) -> None:
        names = tuple(model_input_names) if model_input_names else ("input_ids", "token_type_ids", "attention_mask")
        super().__init__(major_version=int(__version__.split(".")[0]), chat_template=None, tensor_factory=torch.tensor,
                         model_input_names=names)
        self.special_tokens = special_tokens

    def save_pretrained(self, save_directory: str, **kwargs: Any) -> None:
        os.makedirs(save_directory, exist_ok=True)
        with open(os.path.join(save_directory, "tokenizer.json"), "w") as f:
            json.dump({"fake": True}, f)


class AutoTokenizer:
    chat_template: str | None = FakeByteTokenizer().chat_template
    last_kwargs: dict[str, Any] = {}

    @classmethod
    def from_pretrained(cls, path: str, *args: Any, **kwargs: Any) -> FakeByteTokenizer:
        if path.startswith("missing"):
            raise OSError(f"Can't load tokenizer for '{path}'.")
        cls.last_kwargs = kwargs
        major = int(__version__.split(".")[0])
        return FakeByteTokenizer(major_version=major, chat_template=cls.chat_template, tensor_factory=torch.tensor)
