"""The `tokenizer.*` (and sampling) metadata of a GGUF file, as llama.cpp reads it.

`hf_tokenizer_kv` turns one of our Hugging Face checkpoints (byte-level BPE `tokenizer.json`,
`tokenizer_config.json`, `generation_config.json`) into a `gpt2` GGUF tokenizer; `spm_kv` writes
a SentencePiece-style `llama` vocabulary (pieces with scores, `<0xXX>` byte tokens, token types).
Both return `(key, type, value)` triples for a GGUF writer's `add`; an array type is
`(GGUF_ARRAY, element_type)`.
"""
import json
import os

# GGUF value type ids (the GGUF spec's numbering).
GGUF_INT32, GGUF_UINT32, GGUF_FLOAT32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 5, 4, 6, 7, 8, 9

# llama.cpp's token types (`llama_token_type`).
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6


def _read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _chat_template(tok_cfg, model_dir):
    ct = tok_cfg.get("chat_template")
    if isinstance(ct, list):
        named = [t for t in ct if t.get("name") == "default"] or ct
        ct = named[0].get("template") if named else None
    if ct is None and os.path.exists(os.path.join(model_dir, "chat_template.jinja")):
        with open(os.path.join(model_dir, "chat_template.jinja"), encoding="utf-8") as f:
            ct = f.read()
    return ct


def hf_tokenizer_kv(model_dir, cfg):
    """A byte-level BPE tokenizer with the GPT-2 split, as llama.cpp's `gpt2` model / `gpt-2` pre-tokenizer."""
    tok = _read_json(os.path.join(model_dir, "tokenizer.json"))
    tok_cfg = _read_json(os.path.join(model_dir, "tokenizer_config.json"), {})
    gen = _read_json(os.path.join(model_dir, "generation_config.json"), {})
    pre = tok.get("pre_tokenizer") or {}
    if pre.get("type") != "ByteLevel" or pre.get("use_regex", True) is not True:
        raise ValueError("only byte-level BPE tokenizers with the GPT-2 split are exported")
    vocab = cfg["vocab_size"]
    # Ids in order; added tokens (specials) are control tokens.
    tokens = [None] * vocab
    for t, i in tok["model"]["vocab"].items():
        tokens[i] = t
    types = [TOKEN_NORMAL] * vocab
    for a in tok["added_tokens"]:
        tokens[a["id"]] = a["content"]
        types[a["id"]] = TOKEN_CONTROL if a.get("special", False) else TOKEN_USER_DEFINED
    for i in range(vocab):
        if tokens[i] is None:
            tokens[i] = f"<|unused_{i}|>"
            types[i] = TOKEN_UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    kv = [
        ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
        ("tokenizer.ggml.pre", GGUF_STRING, "gpt-2"),
        ("tokenizer.ggml.tokens", (GGUF_ARRAY, GGUF_STRING), tokens),
        ("tokenizer.ggml.token_type", (GGUF_ARRAY, GGUF_INT32), types),
        ("tokenizer.ggml.merges", (GGUF_ARRAY, GGUF_STRING), merges),
    ]
    first = lambda v: v[0] if isinstance(v, list) else v  # noqa: E731
    if cfg.get("bos_token_id") is not None:
        kv.append(("tokenizer.ggml.bos_token_id", GGUF_UINT32, first(cfg["bos_token_id"])))
    if cfg.get("eos_token_id") is not None:
        kv.append(("tokenizer.ggml.eos_token_id", GGUF_UINT32, first(cfg["eos_token_id"])))
    kv.append(("tokenizer.ggml.add_bos_token", GGUF_BOOL, bool(tok_cfg.get("add_bos_token", False))))
    kv.append(("tokenizer.ggml.add_eos_token", GGUF_BOOL, bool(tok_cfg.get("add_eos_token", False))))
    template = _chat_template(tok_cfg, model_dir)
    if template:
        kv.append(("tokenizer.chat_template", GGUF_STRING, template))
    # convert_hf_to_gguf writes generation_config's sampling defaults the same way.
    if gen.get("do_sample") is True:
        if isinstance(gen.get("temperature"), (int, float)):
            kv.append(("general.sampling.temp", GGUF_FLOAT32, float(gen["temperature"])))
        if isinstance(gen.get("top_k"), int):
            kv.append(("general.sampling.top_k", GGUF_INT32, gen["top_k"]))
        if isinstance(gen.get("top_p"), (int, float)):
            kv.append(("general.sampling.top_p", GGUF_FLOAT32, float(gen["top_p"])))
    return kv


def spm_kv(pieces, scores, types, bos_id, eos_id, unk_id, add_bos=True, add_space_prefix=None, chat_template=None):
    """A SentencePiece vocabulary (`llama` tokenizer model): pieces in id order with scores and types."""
    if not (len(pieces) == len(scores) == len(types)):
        raise ValueError("pieces, scores and types differ in length")
    kv = [
        ("tokenizer.ggml.model", GGUF_STRING, "llama"),
        ("tokenizer.ggml.pre", GGUF_STRING, "default"),
        ("tokenizer.ggml.tokens", (GGUF_ARRAY, GGUF_STRING), list(pieces)),
        ("tokenizer.ggml.scores", (GGUF_ARRAY, GGUF_FLOAT32), [float(s) for s in scores]),
        ("tokenizer.ggml.token_type", (GGUF_ARRAY, GGUF_INT32), list(types)),
        ("tokenizer.ggml.bos_token_id", GGUF_UINT32, bos_id),
        ("tokenizer.ggml.eos_token_id", GGUF_UINT32, eos_id),
        ("tokenizer.ggml.unknown_token_id", GGUF_UINT32, unk_id),
        ("tokenizer.ggml.add_bos_token", GGUF_BOOL, add_bos),
        ("tokenizer.ggml.add_eos_token", GGUF_BOOL, False),
    ]
    if add_space_prefix is not None:
        kv.append(("tokenizer.ggml.add_space_prefix", GGUF_BOOL, add_space_prefix))
    if chat_template:
        kv.append(("tokenizer.chat_template", GGUF_STRING, chat_template))
    return kv
