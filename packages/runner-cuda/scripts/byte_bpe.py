"""A tiny deterministic byte-level BPE tokenizer (GPT-2 layout) for the test checkpoints.

Byte-level tokens make multi-byte UTF-8 characters span several tokens, which is exactly what
the incremental detokenizer has to survive, and llama.cpp accepts the same vocabulary as a
`gpt2` GGUF tokenizer.
"""
import re
from collections import Counter

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = (
    "The quick brown fox jumps over the lazy dog. Hello world! This is a test of the tokenizer. "
    "In the beginning there was the word, and the word was there. Then they went to the store. "
    "héllo wörld, ça va? naïve café. 日本語のテキスト。 emoji 😀 and 🎉 are multi byte. "
    "1234567890 numbers and 42 answers. <|im_start|> is not merged here. "
)

# A simplified GPT-2 split; merges learnt on it are valid for any pre-tokenizer output.
_SPLIT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+")


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def train(vocab_size, corpus=_CORPUS, split=_SPLIT):
    """Returns (tokens in id order, merges as "a b" strings); specials take the last ids."""
    byte_enc = bytes_to_unicode()
    tokens = [byte_enc[b] for b in range(256)]
    n_merges = vocab_size - 256 - len(SPECIAL_TOKENS)
    if n_merges < 0:
        raise ValueError("vocab_size too small for the byte alphabet")
    words = Counter()
    for piece in split.findall(corpus):
        words[tuple(byte_enc[b] for b in piece.encode("utf-8"))] += 1
    merges = []
    vocab = set(tokens)
    while len(merges) < n_merges:
        pairs = Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        # Highest count first, ties broken by the pair itself, so the result is stable.
        (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        merged = a + b
        merges.append(f"{a} {b}")
        if merged not in vocab:
            vocab.add(merged)
            tokens.append(merged)
        new_words = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] += count
        words = new_words
    # Pad with reserved tokens when the corpus runs out of pairs (large vocabularies).
    filler = 0
    while len(tokens) < vocab_size - len(SPECIAL_TOKENS):
        tokens.append(f"<|reserved_{filler}|>")
        filler += 1
    tokens.extend(SPECIAL_TOKENS)
    return tokens, merges


def tokenizer_json(tokens, merges):
    specials = set(SPECIAL_TOKENS)
    reserved = [i for i, t in enumerate(tokens) if t.startswith("<|reserved_")]
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for i, t in enumerate(tokens)
        if t in specials or i in reserved
    ]
    vocab = {t: i for i, t in enumerate(tokens) if t not in specials and not t.startswith("<|reserved_")}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }
