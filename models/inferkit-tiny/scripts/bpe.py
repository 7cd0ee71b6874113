"""Byte-level BPE: training, encoding and the Hugging Face `tokenizer.json` writer.

This is the GPT-2 scheme that `tokenizers` calls ByteLevel + BPE: text is split by the GPT-2
pre-tokenizer regex, each piece's UTF-8 bytes are mapped to printable characters
(`bytes_to_unicode`), and merges are learned over those characters. Special tokens are cut
out before pre-tokenization, as `tokenizers` does with `added_tokens`. Standard library only.

The repository's one byte-level BPE trainer: this model's tokenizer is trained with it
(`train.py`), and so are the tokenizers of runner-cuda's random-weight test and benchmark
checkpoints (`packages/runner-cuda/scripts/model_spec.py`, which lays the ids out its own way).
"""

import collections
import json
import re

# GPT-2's pattern. Python's `re` has no \p{L}/\p{N}: `[^\W\d_]` is "a letter", `\d` stands in
# for \p{N} and `(?:[^\s\w]|_)` for [^\s\p{L}\p{N}]. They agree on the ASCII training corpus;
# the Node test checks that `@huggingface/tokenizers` encodes sample texts to the same ids.
PRETOKENIZE = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
)


def bytes_to_unicode():
    """GPT-2's reversible byte → printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(printable, (chr(c) for c in chars)))


BYTE_CHARS = bytes_to_unicode()


def _split_special(text, specials):
    if not specials:
        return [(False, text)]
    pattern = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")")
    out = []
    for i, part in enumerate(pattern.split(text)):
        if part:
            out.append((i % 2 == 1, part))
    return out


def _pieces(text):
    for m in PRETOKENIZE.finditer(text):
        yield "".join(BYTE_CHARS[b] for b in m.group(0).encode("utf-8"))


def train(texts, vocab_size, specials, min_frequency=2):
    """Learns merges until the vocabulary (specials + 256 bytes + merges) reaches vocab_size
    or no pair occurs min_frequency times. Returns (vocab: token → id, merges: [(a, b)])."""
    words = collections.Counter()
    for text in texts:
        for is_special, part in _split_special(text, specials):
            if not is_special:
                words.update(_pieces(part))
    vocab = {}
    for s in specials:
        vocab[s] = len(vocab)
    for b in range(256):
        vocab[BYTE_CHARS[b]] = len(vocab)
    splits = {w: list(w) for w in words}
    merges = []
    while len(vocab) < vocab_size:
        pairs = collections.Counter()
        for w, count in words.items():
            sym = splits[w]
            for i in range(len(sym) - 1):
                pairs[(sym[i], sym[i + 1])] += count
        if not pairs:
            break
        # Ties break on the pair itself so training is deterministic regardless of dict order.
        best, count = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        if count < min_frequency:
            break
        a, b = best
        merged = a + b
        merges.append((a, b))
        # Two different pairs can spell the same token ("a"+"bc", "ab"+"c"): it keeps its first id.
        if merged not in vocab:
            vocab[merged] = len(vocab)
        for w in words:
            sym = splits[w]
            if len(sym) < 2:
                continue
            i = 0
            out = []
            while i < len(sym):
                if i < len(sym) - 1 and sym[i] == a and sym[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            splits[w] = out
    return vocab, merges


class Encoder:
    def __init__(self, vocab, merges, specials):
        self.vocab = vocab
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.specials = specials
        self.inverse = {i: t for t, i in vocab.items()}
        self.byte_of = {c: b for b, c in BYTE_CHARS.items()}
        self.cache = {}

    def _bpe(self, piece):
        cached = self.cache.get(piece)
        if cached is not None:
            return cached
        sym = list(piece)
        while len(sym) > 1:
            best = None
            for i in range(len(sym) - 1):
                r = self.ranks.get((sym[i], sym[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            sym = sym[:i] + [sym[i] + sym[i + 1]] + sym[i + 2:]
        ids = [self.vocab[s] for s in sym]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        ids = []
        for is_special, part in _split_special(text, self.specials):
            if is_special:
                ids.append(self.vocab[part])
            else:
                for piece in _pieces(part):
                    ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            tok = self.inverse[i]
            if tok in self.specials:
                out.extend(tok.encode("utf-8"))
            else:
                out.extend(self.byte_of[c] for c in tok)
        return out.decode("utf-8", errors="replace")


def tokenizer_json(vocab, merges, specials):
    """The `tokenizer.json` document that `tokenizers` (Rust/Python) and `@huggingface/tokenizers` load."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for s in specials
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
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
            "merges": [[a, b] for a, b in merges],
        },
    }


def write_tokenizer_json(path, vocab, merges, specials):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges, specials), f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
