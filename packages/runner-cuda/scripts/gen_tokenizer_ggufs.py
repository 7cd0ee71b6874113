#!/usr/bin/env python3
"""Writes small GGUF files whose point is their vocabulary, for the tokenizer-conversion tests.

Usage: python3 scripts/gen_tokenizer_ggufs.py OUT_DIR

- `bpe-<pre>.gguf`: one byte-level BPE vocabulary (the repository's trainer, models/inferkit-tiny/scripts/bpe.py, on a multilingual
  corpus) under several `tokenizer.ggml.pre` values, each selecting another llama.cpp split.
- `spm.gguf`, `spm-no-prefix.gguf`: a SentencePiece-style `llama` vocabulary built here (no
  sentencepiece package is needed): `<unk>`, `<s>`, `</s>`, the 256 `<0xXX>` byte tokens, every
  character seen at least twice, and pieces learnt by merging the most frequent pairs of
  `▁`-prefixed words, scored -rank as SentencePiece's BPE trainer does.

Weights are a tiny random F32 Llama (llama.cpp needs a loadable model to tokenize). Everything is
seeded: the same files every run.
"""
import os
import sys
from collections import Counter

import numpy as np

import gguf_tokenizer_meta as meta
from export_gguf import GGUF_FLOAT32, GGUF_STRING, GGUF_UINT32, GGUFWriter
from model_spec import bpe

# Written for these tests: several scripts, emoji, numbers, code and whitespace runs.
CORPUS = """
The quick brown fox jumps over the lazy dog. It's a test; we'll see what they've done, isn't it?
Hello world! Hello again, world. The world is wide and the sea is deep.
Numbers: 1234567890, 3.14159, 2024-05-17, 1,000,000 and 42 answers to 7 questions.
Le café est très bon, n'est-ce pas? Où est la bibliothèque? Ça va très bien, merci.
Die Straße ist lang und grün. Über allen Gipfeln ist Ruh. Größe, Mädchen, schön.
¿Dónde está el baño? El niño come manzanas. Mañana será otro día.
Привет, мир! Как дела? Москва — столица России. Спасибо большое.
Γειά σου κόσμε! Η θάλασσα είναι μπλε. Ευχαριστώ πολύ.
你好，世界！今天天气很好。我们一起去学习中文吧。中文很有意思。
こんにちは世界。日本語のテキストです。東京はとても大きい町です。ありがとうございます。
안녕하세요 세계! 한국어를 공부합니다. 감사합니다.
مرحبا بالعالم! كيف حالك؟ شكرا جزيلا.
नमस्ते दुनिया! आप कैसे हैं? धन्यवाद।
Emoji: 😀 😃 😄 🎉 🎉 👍 👍🏽 ❤️ 🇫🇷 🇯🇵 👨‍👩‍👧 and 🚀 to the moon 🌕.
def main(argv):
    for i in range(10):
        print(f"value {i}: {argv[i]!r}")
    return {"key": [1, 2, 3], 'other': None}
    x = a + b * (c - d) / e  # comment
    if (x >= 10 && y <= 20) || z != 0 { return; }
Tabs\tand  double  spaces   and    more     spaces.
Lines
with

blank lines and trailing spaces   
The end. The end! The end?
"""

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]
# A user-defined token (split out of text, kept in decoded text) and two whole words that no merge
# produces: only `ignore_merges` pre-tokenizers (llama3) emit them as one token.
USER_DEFINED = ["<tool_call>"]
UNMERGED_WORDS = ["Ġxyzzy", "plugh"]

BPE_PRE = {
    "gpt2": "gpt-2",
    "llama3": "llama-bpe",
    "qwen2": "qwen2",
    "default": "default",
    "starcoder": "starcoder",
    "falcon": "falcon",
}

LLAMA2_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + eos_token }}"
    "{% endif %}{% endfor %}"
)


def tiny_llama(g, vocab, seed):
    """Architecture keys and random F32 weights of a one-layer Llama with tied embeddings."""
    rng = np.random.default_rng(seed)
    h, heads, kv_heads, ffn = 32, 2, 1, 64
    hd = h // heads
    g.add("general.architecture", GGUF_STRING, "llama")
    g.add("general.name", GGUF_STRING, "tokenizer-test")
    g.add("general.file_type", GGUF_UINT32, 0)
    for key, value in [("context_length", 256), ("embedding_length", h), ("block_count", 1), ("feed_forward_length", ffn),
                       ("attention.head_count", heads), ("attention.head_count_kv", kv_heads), ("rope.dimension_count", hd),
                       ("vocab_size", vocab)]:
        g.add(f"llama.{key}", GGUF_UINT32, value)
    g.add("llama.attention.layer_norm_rms_epsilon", GGUF_FLOAT32, 1e-5)
    g.add("llama.rope.freq_base", GGUF_FLOAT32, 10000.0)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) / np.float32(np.sqrt(cols))).astype(np.float32)

    g.add_tensor("token_embd.weight", mat(vocab, h))
    g.add_tensor("output_norm.weight", np.ones(h, dtype=np.float32))
    g.add_tensor("blk.0.attn_norm.weight", np.ones(h, dtype=np.float32))
    g.add_tensor("blk.0.ffn_norm.weight", np.ones(h, dtype=np.float32))
    g.add_tensor("blk.0.attn_q.weight", mat(heads * hd, h))
    g.add_tensor("blk.0.attn_k.weight", mat(kv_heads * hd, h))
    g.add_tensor("blk.0.attn_v.weight", mat(kv_heads * hd, h))
    g.add_tensor("blk.0.attn_output.weight", mat(h, heads * hd))
    g.add_tensor("blk.0.ffn_gate.weight", mat(ffn, h))
    g.add_tensor("blk.0.ffn_up.weight", mat(ffn, h))
    g.add_tensor("blk.0.ffn_down.weight", mat(h, ffn))


def write(path, vocab, tokenizer_kv, seed):
    g = GGUFWriter()
    tiny_llama(g, vocab, seed)
    for key, vtype, value in tokenizer_kv:
        g.add(key, vtype, value)
    g.write(path)


def bpe_vocabulary():
    """(tokens, types, merges): the byte-level BPE trainer on CORPUS, plus specials and test tokens."""
    learnt, pairs = bpe.train([CORPUS], 1400, [], min_frequency=1)
    tokens = sorted(learnt, key=learnt.get)
    merges = [f"{a} {b}" for a, b in pairs]
    types = [meta.TOKEN_NORMAL] * len(tokens)
    for t in UNMERGED_WORDS:
        tokens.append(t)
        types.append(meta.TOKEN_NORMAL)
    for t in USER_DEFINED:
        tokens.append(t)
        types.append(meta.TOKEN_USER_DEFINED)
    tokens.append("<|unused_0|>")
    types.append(meta.TOKEN_UNUSED)
    for t in SPECIALS:
        tokens.append(t)
        types.append(meta.TOKEN_CONTROL)
    return tokens, types, merges


def bpe_kv(tokens, types, merges, pre):
    bos, eos = tokens.index("<|begin_of_text|>"), tokens.index("<|end_of_text|>")
    return [
        ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
        ("tokenizer.ggml.pre", GGUF_STRING, pre),
        ("tokenizer.ggml.tokens", (meta.GGUF_ARRAY, GGUF_STRING), tokens),
        ("tokenizer.ggml.token_type", (meta.GGUF_ARRAY, meta.GGUF_INT32), types),
        ("tokenizer.ggml.merges", (meta.GGUF_ARRAY, GGUF_STRING), merges),
        ("tokenizer.ggml.bos_token_id", GGUF_UINT32, bos),
        ("tokenizer.ggml.eos_token_id", GGUF_UINT32, eos),
        ("tokenizer.ggml.add_bos_token", meta.GGUF_BOOL, pre == "llama-bpe"),
    ]


def spm_vocabulary(n_merges=1200):
    """(pieces, scores, types) of a SentencePiece-BPE-style vocabulary learnt on CORPUS."""
    words = Counter()
    for line in CORPUS.split("\n"):
        for w in line.split():
            words[tuple("\u2581" + w)] += 1
    chars = Counter()
    for w, c in words.items():
        for ch in w:
            chars[ch] += c
    alphabet = sorted(ch for ch, c in chars.items() if c >= 2)
    known = set(alphabet)
    learnt = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                if a in known and b in known:
                    pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        merged = a + b
        if merged not in known:
            known.add(merged)
            learnt.append(merged)
        new_words = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [meta.TOKEN_UNKNOWN, meta.TOKEN_CONTROL, meta.TOKEN_CONTROL] + [meta.TOKEN_BYTE] * 256
    scores = [0.0] * len(pieces)
    # SentencePiece scores merged pieces by merge order and puts single characters after them.
    for i, p in enumerate(learnt):
        pieces.append(p)
        types.append(meta.TOKEN_NORMAL)
        scores.append(-float(i))
    for i, ch in enumerate(alphabet):
        pieces.append(ch)
        types.append(meta.TOKEN_NORMAL)
        scores.append(-float(len(learnt) + i))
    # Two pieces with one score, so that "zqz" has two overlapping candidate merges of equal
    # score: llama.cpp takes the leftmost, which no strict merge order reproduces on its own.
    for ch in "qz":
        if ch not in pieces:
            pieces.append(ch)
            types.append(meta.TOKEN_NORMAL)
            scores.append(-float(len(pieces)))
    for piece in ("qz", "zq"):
        pieces.append(piece)
        types.append(meta.TOKEN_NORMAL)
        scores.append(-3.5)
    for t, ty in [("<|im_start|>", meta.TOKEN_CONTROL), ("<|im_end|>", meta.TOKEN_CONTROL), ("<tool_call>", meta.TOKEN_USER_DEFINED)]:
        pieces.append(t)
        types.append(ty)
        scores.append(0.0)
    return pieces, scores, types


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    tokens, types, merges = bpe_vocabulary()
    for name, pre in BPE_PRE.items():
        write(os.path.join(out, f"bpe-{name}.gguf"), len(tokens), bpe_kv(tokens, types, merges, pre), seed=7)
    pieces, scores, stypes = spm_vocabulary()
    write(os.path.join(out, "spm.gguf"), len(pieces),
          meta.spm_kv(pieces, scores, stypes, bos_id=1, eos_id=2, unk_id=0, chat_template=LLAMA2_TEMPLATE), seed=8)
    write(os.path.join(out, "spm-no-prefix.gguf"), len(pieces),
          meta.spm_kv(pieces, scores, stypes, bos_id=1, eos_id=2, unk_id=0, add_bos=False, add_space_prefix=False), seed=8)


if __name__ == "__main__":
    main()
