#!/usr/bin/env python3
"""Exports one of our Hugging Face checkpoints to GGUF v3 with F32 tensors, for llama.cpp.

Usage: python3 scripts/export_gguf.py MODEL_DIR OUT.gguf

Follows llama.cpp's converter (reference §9, §11): `llama`/`mistral` become GGUF arch `llama`,
whose RoPE pairs adjacent dimensions, so q/k rows are permuted back from the HF split-halves
order; `qwen2`/`qwen3` keep NEOX RoPE and are written unpermuted. llama3 rope scaling becomes a
`rope_freqs.weight` tensor. The byte-level BPE vocabulary, chat template and sampling defaults go
in as llama.cpp's `gpt2` tokenizer metadata (gguf_tokenizer_meta.py).
"""
import json
import math
import os
import struct
import sys

import numpy as np

import gguf_tokenizer_meta
from safetensors_io import read_checkpoint

ALIGNMENT = 32
GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32 = 0
GGUF_ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class GGUFWriter:
    def __init__(self):
        self.kv = []
        self.tensors = []

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def add_tensor(self, name, array):
        if len(name) >= 64:
            raise ValueError(f"GGUF tensor name too long: {name}")
        self.tensors.append((name, np.ascontiguousarray(array, dtype="<f4")))

    @staticmethod
    def _value(vtype, value):
        if vtype == GGUF_UINT32:
            return struct.pack("<I", value)
        if vtype == GGUF_INT32:
            return struct.pack("<i", value)
        if vtype == GGUF_FLOAT32:
            return struct.pack("<f", value)
        if vtype == GGUF_BOOL:
            return struct.pack("<B", 1 if value else 0)
        if vtype == GGUF_STRING:
            return _str(value)
        raise ValueError(vtype)

    def write(self, path):
        out = bytearray()
        out += struct.pack("<IIQQ", 0x46554747, 3, len(self.tensors), len(self.kv))
        for key, vtype, value in self.kv:
            out += _str(key)
            if isinstance(vtype, tuple):
                elem = vtype[1]
                out += struct.pack("<IIQ", GGUF_ARRAY, elem, len(value))
                for v in value:
                    out += self._value(elem, v)
            else:
                out += struct.pack("<I", vtype) + self._value(vtype, value)
        offset = 0
        for name, arr in self.tensors:
            # ggml order: dims[0] is the innermost (contiguous) dimension.
            dims = list(reversed(arr.shape))
            out += _str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            out += struct.pack("<IQ", GGML_F32, offset)
            offset += arr.nbytes + (-arr.nbytes) % ALIGNMENT
        out += b"\x00" * ((-len(out)) % ALIGNMENT)
        with open(path, "wb") as f:
            f.write(out)
            for _, arr in self.tensors:
                f.write(arr.tobytes())
                f.write(b"\x00" * ((-arr.nbytes) % ALIGNMENT))


def undo_hf_permute(w, n_head):
    """HF split-halves rows back to Meta's interleaved rows (llama.cpp `LlamaModel.permute`)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_freqs(scaling, theta, head_dim):
    """Per-frequency divisors that llama.cpp applies to theta_i (`rope_freqs.weight`)."""
    factor = scaling.get("factor", 8.0)
    low, high = scaling.get("low_freq_factor", 1.0), scaling.get("high_freq_factor", 4.0)
    orig = scaling.get("original_max_position_embeddings", 8192)
    low_wl, high_wl = orig / low, orig / high
    out = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / (theta ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wl:
            out.append(1.0)
        elif wavelen > low_wl:
            out.append(factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def export(model_dir, out_path):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    model_type = cfg["model_type"]
    if model_type not in GGUF_ARCH:
        raise ValueError(f"unsupported model_type {model_type}")
    arch = GGUF_ARCH[model_type]
    w = read_checkpoint(model_dir)
    h = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_head
    head_dim = cfg.get("head_dim") or h // n_head
    theta = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    vocab = cfg["vocab_size"]

    g = GGUFWriter()
    g.add("general.architecture", GGUF_STRING, arch)
    g.add("general.name", GGUF_STRING, os.path.basename(os.path.normpath(model_dir)))
    g.add("general.file_type", GGUF_UINT32, 0)
    g.add(f"{arch}.context_length", GGUF_UINT32, cfg.get("max_position_embeddings", 2048))
    g.add(f"{arch}.embedding_length", GGUF_UINT32, h)
    g.add(f"{arch}.block_count", GGUF_UINT32, cfg["num_hidden_layers"])
    g.add(f"{arch}.feed_forward_length", GGUF_UINT32, cfg["intermediate_size"])
    g.add(f"{arch}.attention.head_count", GGUF_UINT32, n_head)
    g.add(f"{arch}.attention.head_count_kv", GGUF_UINT32, n_kv)
    g.add(f"{arch}.attention.layer_norm_rms_epsilon", GGUF_FLOAT32, cfg["rms_norm_eps"])
    g.add(f"{arch}.rope.freq_base", GGUF_FLOAT32, theta)
    g.add(f"{arch}.rope.dimension_count", GGUF_UINT32, head_dim)
    g.add(f"{arch}.attention.key_length", GGUF_UINT32, head_dim)
    g.add(f"{arch}.attention.value_length", GGUF_UINT32, head_dim)
    g.add(f"{arch}.vocab_size", GGUF_UINT32, vocab)

    for key, vtype, value in gguf_tokenizer_meta.hf_tokenizer_kv(model_dir, cfg):
        g.add(key, vtype, value)

    permute = arch == "llama"
    scaling = cfg.get("rope_scaling")
    if scaling and (scaling.get("rope_type") or scaling.get("type")) == "llama3":
        g.add_tensor("rope_freqs.weight", llama3_rope_freqs(scaling, theta, head_dim))
    g.add_tensor("token_embd.weight", w["model.embed_tokens.weight"])
    g.add_tensor("output_norm.weight", w["model.norm.weight"])
    if "lm_head.weight" in w and not cfg.get("tie_word_embeddings", False):
        g.add_tensor("output.weight", w["lm_head.weight"])
    names = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.q_norm.weight": "attn_q_norm.weight",
        "self_attn.k_norm.weight": "attn_k_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for i in range(cfg["num_hidden_layers"]):
        for hf, gg in names.items():
            t = w.get(f"model.layers.{i}.{hf}")
            if t is None:
                continue
            if permute and hf.startswith("self_attn.q_proj"):
                t = undo_hf_permute(t, n_head)
            elif permute and hf.startswith("self_attn.k_proj"):
                t = undo_hf_permute(t, n_kv)
            g.add_tensor(f"blk.{i}.{gg}", t)
    g.write(out_path)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    export(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
