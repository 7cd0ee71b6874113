"""Checks of the stdlib half of the training pipeline (no PyTorch needed): the corpus is a pure
function of its seed, and the BPE trainer, encoder and tokenizer.json writer agree with each
other and with the committed tokenizer."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import bpe  # noqa: E402
import corpus  # noqa: E402

MODEL_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
SPECIALS = [corpus.END_OF_TEXT, corpus.IM_START, corpus.IM_END]


def test_corpus_is_a_function_of_the_seed():
    assert corpus.generate(7, 50) == corpus.generate(7, 50)
    assert corpus.generate(7, 50) != corpus.generate(8, 50)
    docs = corpus.generate(1234, 200)
    assert all(d.endswith(corpus.END_OF_TEXT) for d in docs)
    # All three document kinds occur.
    assert any(d.startswith(corpus.IM_START) for d in docs)
    assert any("\n" in d and ": Hi " in d for d in docs)
    assert any(d.startswith(("Once upon a time", "One day", "There was once")) for d in docs)


def test_chat_documents_are_well_formed_chatml():
    for d in corpus.generate(99, 300):
        if not d.startswith(corpus.IM_START):
            continue
        body = d[: -len(corpus.END_OF_TEXT)]
        turns = body.split(corpus.IM_START)[1:]
        assert turns, d
        for t in turns:
            role, _, rest = t.partition("\n")
            assert role in ("system", "user", "assistant")
            assert rest.endswith(corpus.IM_END + "\n")
        assert turns[-1].startswith("assistant\n")


def test_bpe_training_is_deterministic_and_round_trips():
    docs = corpus.generate(5, 400)
    v1, m1 = bpe.train(docs, 600, SPECIALS)
    v2, m2 = bpe.train(list(docs), 600, SPECIALS)
    assert (v1, m1) == (v2, m2)
    assert len(v1) == 600
    assert [v1[s] for s in SPECIALS] == [0, 1, 2]
    enc = bpe.Encoder(v1, m1, SPECIALS)
    for text in docs[:50] + ["Zoë’s café — 12 °C, 東京 🚀\n\tand  spaces  ", "", "<|im_start|>user\nhi<|im_end|>\n"]:
        assert enc.decode(enc.encode(text)) == text
    # Special tokens are single ids, never split into bytes.
    assert enc.encode("<|im_end|>") == [v1["<|im_end|>"]]


def test_committed_tokenizer_matches_its_trainer():
    with open(os.path.join(MODEL_DIR, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    assert tj["model"]["type"] == "BPE"
    assert tj["pre_tokenizer"]["type"] == "ByteLevel"
    assert [t["content"] for t in tj["added_tokens"]] == SPECIALS
    vocab = tj["model"]["vocab"]
    merges = [tuple(m) for m in tj["model"]["merges"]]
    # Retraining with the committed run's settings (seed 1234, first 8,000 documents) gives
    # the committed tokenizer back exactly.
    docs = corpus.generate(1234, 8000)
    v, m = bpe.train(docs, 2048, SPECIALS)
    assert v == vocab
    assert m == merges
    with open(os.path.join(MODEL_DIR, "parity", "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    enc = bpe.Encoder(vocab, merges, SPECIALS)
    for case in expected["cases"]:
        text = case.get("text", case.get("rendered"))
        assert enc.encode(text) == case["prompt_ids"]
