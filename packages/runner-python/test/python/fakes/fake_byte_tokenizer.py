"""FAKE of a Hugging Face tokenizer, shared by the fake vllm and fake transformers packages.

Byte-level: token id = byte + 3, BOS = 1, EOS = 2, no pad token. Decoding uses
errors="replace", so a multi-byte character cut in half decodes to U+FFFD like a real
byte-level BPE tokenizer. `apply_chat_template` follows transformers-api.md §2: the v4 default
is `return_dict=False`, v5 returns a BatchEncoding by default; no template -> ValueError;
`continue_final_message=True` leaves the final message open (the rendered text ends with its
content) and cannot be combined with `add_generation_prompt`. Every call's flags are recorded in
`template_calls` for the tests.
"""

from __future__ import annotations

from typing import Any

BOS = 1
EOS = 2
OFFSET = 3
TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>"
GENERATION_PROMPT = "<|assistant|>"


def continue_reply(prompt: str, reply: str) -> str:
    """What the fake models say: the whole reply after a generation prompt; after an open
    assistant message (a continuation) the rest of the reply that message began."""
    if prompt.endswith(GENERATION_PROMPT):
        return reply
    for k in range(len(reply), 0, -1):
        if prompt.endswith(reply[:k]):
            return reply[k:]
    return reply


class BatchEncoding(dict):
    """FAKE of transformers.BatchEncoding: a dict with attribute access and .to(device)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def to(self, device: str) -> "BatchEncoding":
        return BatchEncoding({k: v.to(device) if hasattr(v, "to") else v for k, v in self.items()})


class FakeByteTokenizer:
    bos_token_id = BOS
    eos_token_id = EOS
    pad_token_id = None

    def __init__(self, major_version: int = 5, chat_template: str | None = TEMPLATE, tensor_factory: Any = None,
                 model_input_names: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")) -> None:
        # The generic tokenizer class defaults to returning token_type_ids as well.
        self.major_version = major_version
        self.chat_template = chat_template
        self._tensor = tensor_factory
        self.model_input_names = list(model_input_names)
        self.template_calls: list[dict[str, Any]] = []

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = [b + OFFSET for b in text.encode("utf-8")]
        return [BOS, *ids] if add_special_tokens else ids

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        out = bytearray()
        for i in ids:
            if i >= OFFSET:
                out.append(i - OFFSET)
            elif not skip_special_tokens:
                out += b"<s>" if i == BOS else b"</s>"
        return out.decode("utf-8", errors="replace")

    def _wrap(self, ids: list[int], return_tensors: str | None, return_dict: bool) -> Any:
        columns = {"input_ids": ids, "token_type_ids": [0] * len(ids), "attention_mask": [1] * len(ids)}
        if return_tensors == "pt":
            if self._tensor is None:
                raise ValueError("return_tensors='pt' needs torch")
            columns = {k: self._tensor([v]) for k, v in columns.items()}
        if return_dict:
            return BatchEncoding({k: v for k, v in columns.items() if k in self.model_input_names})
        return columns["input_ids"]

    def __call__(self, text: str, return_tensors: str | None = None, add_special_tokens: bool = True) -> BatchEncoding:
        return self._wrap(self.encode(text, add_special_tokens), return_tensors, True)

    def apply_chat_template(
        self,
        conversation: list[dict[str, Any]],
        tools: Any = None,
        documents: Any = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        tokenize: bool = True,
        padding: bool = False,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        self.template_calls.append({
            "conversation": [dict(m) for m in conversation],
            "add_generation_prompt": add_generation_prompt,
            "continue_final_message": continue_final_message,
            "tokenize": tokenize,
        })
        if return_dict is None:
            return_dict = self.major_version >= 5
        if not (chat_template or self.chat_template):
            raise ValueError(
                "Cannot use chat template functions because tokenizer.chat_template is not set and no template "
                "argument was passed! For information about writing templates and setting the "
                "tokenizer.chat_template attribute, please see the documentation at "
                "https://huggingface.co/docs/transformers/main/en/chat_templating"
            )
        if add_generation_prompt and continue_final_message:
            raise ValueError("continue_final_message and add_generation_prompt are not compatible.")
        if not conversation and self.major_version >= 5:
            raise ValueError("conversation is empty")
        if self.major_version < 5 and return_dict and not tokenize:
            raise ValueError("`return_dict=True` is incompatible with `tokenize=False`, because there is no dict of tokenizer outputs to return.")
        text = "".join(f"<|{m['role']}|>{m['content']}\n" for m in conversation)
        if continue_final_message:
            final = conversation[-1]["content"] if conversation else ""
            at = text.rfind(final) if final else -1
            if at == -1:
                raise ValueError(
                    "continue_final_message is set but the final message does not appear in the chat after "
                    "applying the chat template! This can happen if the chat template deletes portions of the "
                    "final message. Please verify the chat template and final message in your chat to ensure "
                    "they are compatible."
                )
            text = text[: at + len(final)]
        if add_generation_prompt:
            text += GENERATION_PROMPT
        if not tokenize:
            return text
        # The template carries BOS; the tokenizing path adds no special tokens of its own.
        return self._wrap([BOS, *self.encode(text, add_special_tokens=False)], return_tensors, return_dict)
