"""FAKE tokenizers: the constructors gpu_check.py calls (transformers-api.md §2), nothing more."""

from __future__ import annotations

from typing import Any


class Tokenizer:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.pre_tokenizer: Any = None


class _Models:
    class WordLevel:
        def __init__(self, vocab: dict[str, int], unk_token: str) -> None:
            if unk_token not in vocab:
                raise Exception("WordLevel error: Missing [UNK] token from the vocabulary")
            self.vocab = vocab
            self.unk_token = unk_token


class _PreTokenizers:
    class Whitespace:
        pass


models = _Models()
pre_tokenizers = _PreTokenizers()
