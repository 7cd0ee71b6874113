"""Random-weight Llama-family checkpoints in the Hugging Face layout (config, weights, tokenizer).

Weights are drawn with a fixed seed, so every run writes byte-identical files.
"""
import importlib.util
import json
import os

import numpy as np

from safetensors_io import write_safetensors, write_sharded


def _load_bpe():
    # The repository's one byte-level BPE trainer lives with the model it was written for.
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "models", "inferkit-tiny", "scripts", "bpe.py")
    spec = importlib.util.spec_from_file_location("inferkit_bpe", os.path.normpath(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bpe = _load_bpe()
BPE_SOURCE = bpe.__file__

# Byte-level tokens make multi-byte UTF-8 characters span several tokens, which is exactly what
# the incremental detokenizer has to survive, and llama.cpp accepts the same vocabulary as a
# `gpt2` GGUF tokenizer.
SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"]

TOKENIZER_CORPUS = (
    "The quick brown fox jumps over the lazy dog. Hello world! This is a test of the tokenizer. "
    "In the beginning there was the word, and the word was there. Then they went to the store. "
    "héllo wörld, ça va? naïve café. 日本語のテキスト。 emoji 😀 and 🎉 are multi byte. "
    "1234567890 numbers and 42 answers. "
)


def make_tokenizer(vocab_size):
    """Returns (vocab: token -> id, merges, added tokens) for a `vocab_size` checkpoint.

    Layout: the 256 byte tokens keep ids 0-255 (so byte b is id b), then the learnt merges,
    then `<|reserved_N|>` fillers when the corpus runs out of pairs, then SPECIAL_TOKENS last.
    """
    n_learnt = vocab_size - len(SPECIAL_TOKENS)
    if n_learnt < 256:
        raise ValueError("vocab_size too small for the byte alphabet and the special tokens")
    vocab, merges = bpe.train([TOKENIZER_CORPUS], n_learnt, [], min_frequency=1)
    added = [f"<|reserved_{i}|>" for i in range(n_learnt - len(vocab))] + SPECIAL_TOKENS
    for t in added:
        vocab[t] = len(vocab)
    return vocab, merges, added

ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
}

CHATML_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] | trim }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_weights(spec, seed):
    """Returns dict tensor name -> float32 array, scaled so logits are O(1) and greedy decoding varies."""
    rng = np.random.default_rng(seed)
    h, v, f = spec["hidden"], spec["vocab"], spec["ffn"]
    hd = spec.get("head_dim") or h // spec["heads"]
    nq, nkv = spec["heads"] * hd, spec["kv_heads"] * hd

    def linear(out_dim, in_dim):
        x = rng.standard_normal((out_dim, in_dim), dtype=np.float32)
        x /= np.float32(np.sqrt(in_dim))
        return x

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)

    def bias(n):
        return (0.1 * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)

    # A tied lm_head reads the residual stream with the embedding matrix, so a large embedding makes the
    # current token win every step; a small one keeps greedy decoding varied.
    embed_std = 0.05 if spec["tied"] else 0.5
    w = {"model.embed_tokens.weight": (embed_std * rng.standard_normal((v, h), dtype=np.float32)).astype(np.float32)}
    for i in range(spec["layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(h)
        w[p + "self_attn.q_proj.weight"] = linear(nq, h)
        w[p + "self_attn.k_proj.weight"] = linear(nkv, h)
        w[p + "self_attn.v_proj.weight"] = linear(nkv, h)
        w[p + "self_attn.o_proj.weight"] = linear(h, nq)
        if spec["arch"] == "qwen2":
            w[p + "self_attn.q_proj.bias"] = bias(nq)
            w[p + "self_attn.k_proj.bias"] = bias(nkv)
            w[p + "self_attn.v_proj.bias"] = bias(nkv)
        if spec["arch"] == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        w[p + "mlp.gate_proj.weight"] = linear(f, h)
        w[p + "mlp.up_proj.weight"] = linear(f, h)
        w[p + "mlp.down_proj.weight"] = linear(h, f)
    w["model.norm.weight"] = norm(h)
    if not spec["tied"]:
        w["lm_head.weight"] = linear(v, h)
    # Byte tokens 0x80-0xFF alone are fragments of multi-byte characters; random logits pick them
    # half the time and the output is mostly U+FFFD. Damping their output rows keeps generated
    # text readable (so tests can pick stop strings from it) without changing any shape or code path.
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    head[0x80:0x100] *= np.float32(0.25)
    return w


def lazy_weights(spec, seed):
    """make_weights' tensors (llama/mistral specs) as (name -> callable, name -> shape): each tensor
    is drawn from its own generator, seeded by (seed, index), when called, so a model larger than
    memory can be written tensor by tensor (export_gguf.write_gguf). Same scales as make_weights,
    not the same values."""
    h, v, f = spec["hidden"], spec["vocab"], spec["ffn"]
    hd = spec.get("head_dim") or h // spec["heads"]
    nq, nkv = spec["heads"] * hd, spec["kv_heads"] * hd
    embed_std = 0.05 if spec["tied"] else 0.5
    sources, shapes = {}, {}

    def add(name, shape, kind):
        index = len(shapes)
        shapes[name] = shape

        def make():
            rng = np.random.default_rng([seed, index])
            x = rng.standard_normal(shape, dtype=np.float32)
            if kind == "norm":
                return (1.0 + 0.1 * x).astype(np.float32)
            if kind == "embed":
                x *= np.float32(embed_std)
            else:
                x /= np.float32(np.sqrt(shape[1]))
            if name == ("model.embed_tokens.weight" if spec["tied"] else "lm_head.weight"):
                x[0x80:0x100] *= np.float32(0.25)  # as make_weights damps the byte tokens
            return x
        sources[name] = make

    add("model.embed_tokens.weight", (v, h), "embed")
    for i in range(spec["layers"]):
        p = f"model.layers.{i}."
        add(p + "input_layernorm.weight", (h,), "norm")
        add(p + "self_attn.q_proj.weight", (nq, h), "linear")
        add(p + "self_attn.k_proj.weight", (nkv, h), "linear")
        add(p + "self_attn.v_proj.weight", (nkv, h), "linear")
        add(p + "self_attn.o_proj.weight", (h, nq), "linear")
        add(p + "post_attention_layernorm.weight", (h,), "norm")
        add(p + "mlp.gate_proj.weight", (f, h), "linear")
        add(p + "mlp.up_proj.weight", (f, h), "linear")
        add(p + "mlp.down_proj.weight", (h, f), "linear")
    add("model.norm.weight", (h,), "norm")
    if not spec["tied"]:
        add("lm_head.weight", (v, h), "linear")
    return sources, shapes


def make_config(spec, dtype):
    bos = spec["vocab"] - len(SPECIAL_TOKENS)
    cfg = {
        "architectures": [ARCHITECTURES[spec["arch"]]],
        "model_type": spec["arch"],
        "vocab_size": spec["vocab"],
        "hidden_size": spec["hidden"],
        "intermediate_size": spec["ffn"],
        "num_hidden_layers": spec["layers"],
        "num_attention_heads": spec["heads"],
        "num_key_value_heads": spec["kv_heads"],
        "hidden_act": "silu",
        "max_position_embeddings": spec.get("max_pos", 256),
        "initializer_range": 0.02,
        "rms_norm_eps": spec["eps"],
        "rope_theta": spec["theta"],
        "rope_scaling": spec.get("rope_scaling"),
        "tie_word_embeddings": spec["tied"],
        "bos_token_id": bos,
        "eos_token_id": bos + 1,
        "use_cache": True,
        "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
        "transformers_version": "4.57.6",
    }
    if spec.get("head_dim"):
        cfg["head_dim"] = spec["head_dim"]
    if spec["arch"] in ("llama", "qwen3"):
        cfg["attention_bias"] = False
        cfg["attention_dropout"] = 0.0
    if spec["arch"] == "llama":
        cfg["mlp_bias"] = False
        cfg["pretraining_tp"] = 1
    if spec["arch"] in ("qwen2", "qwen3", "mistral"):
        cfg["sliding_window"] = None
    if spec["arch"] in ("qwen2", "qwen3"):
        cfg["use_sliding_window"] = False
        cfg["max_window_layers"] = spec["layers"]
    return cfg


def write_model(out_dir, spec, seed, dtype="F32", shards=1, weights=None):
    """Writes a complete checkpoint directory; returns the float32 weights it was built from."""
    os.makedirs(out_dir, exist_ok=True)
    w = weights if weights is not None else make_weights(spec, seed)
    if shards > 1:
        write_sharded(out_dir, w, dtype, shards)
    else:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), w, dtype)
    cfg = make_config(spec, dtype)
    bos = cfg["bos_token_id"]
    im_end = bos + 3
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": bos, "eos_token_id": [bos + 1, im_end], "do_sample": False,
                   "transformers_version": "4.57.6"}, f, indent=2)
    vocab, merges, added = make_tokenizer(spec["vocab"])
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(bpe.tokenizer_json(vocab, merges, added), f, ensure_ascii=False)
    tok_cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|im_end|>",
        "pad_token": "<|end_of_text|>",
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": cfg["max_position_embeddings"],
    }
    template = spec.get("chat_template")
    if template:
        tok_cfg["chat_template"] = template
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tok_cfg, f, indent=2, ensure_ascii=False)
    return w
