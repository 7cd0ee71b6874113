#!/usr/bin/env python3
"""Writes a Llama-3.2-1B-shaped checkpoint with random BF16 weights (no download).

Usage: python3 make_bench_model.py OUT_DIR [--tiny]

Shape (Llama-3.2-1B): vocab 128256, hidden 2048, 16 layers, 32 heads, 8 KV heads (head_dim 64),
FFN 8192, tied embeddings, rope_theta 500000 with llama3 scaling (factor 32). Weights are
N(0, 0.02) drawn on the GPU when there is one, norms are 1. --tiny writes the same layout at a
toy size so the script can be checked on a machine without a GPU.
"""
import json
import os
import struct
import sys

import torch

FULL = dict(vocab=128256, hidden=2048, inter=8192, layers=16, heads=32, kv_heads=8)
TINY = dict(vocab=512, hidden=64, inter=128, layers=2, heads=4, kv_heads=2)


def save_safetensors(path, tensors):
    # Minimal writer (the format is 8-byte header length, JSON header, raw little-endian data)
    # so the script does not need the safetensors package.
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        dtype = {torch.bfloat16: "BF16", torch.float32: "F32"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    s = TINY if "--tiny" in sys.argv else FULL
    out = args[0]
    os.makedirs(out, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    g = torch.Generator(device=dev).manual_seed(0)
    hd = s["hidden"] // s["heads"]

    def w(*shape):
        return (torch.randn(*shape, generator=g, device=dev, dtype=torch.float32) * 0.02).to(torch.bfloat16)

    def ones(n):
        return torch.ones(n, dtype=torch.bfloat16, device=dev)

    t = {"model.embed_tokens.weight": w(s["vocab"], s["hidden"]), "model.norm.weight": ones(s["hidden"])}
    for i in range(s["layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = ones(s["hidden"])
        t[p + "post_attention_layernorm.weight"] = ones(s["hidden"])
        t[p + "self_attn.q_proj.weight"] = w(s["heads"] * hd, s["hidden"])
        t[p + "self_attn.k_proj.weight"] = w(s["kv_heads"] * hd, s["hidden"])
        t[p + "self_attn.v_proj.weight"] = w(s["kv_heads"] * hd, s["hidden"])
        t[p + "self_attn.o_proj.weight"] = w(s["hidden"], s["heads"] * hd)
        t[p + "mlp.gate_proj.weight"] = w(s["inter"], s["hidden"])
        t[p + "mlp.up_proj.weight"] = w(s["inter"], s["hidden"])
        t[p + "mlp.down_proj.weight"] = w(s["hidden"], s["inter"])
    save_safetensors(os.path.join(out, "model.safetensors"), t)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": s["vocab"],
        "hidden_size": s["hidden"], "intermediate_size": s["inter"], "num_hidden_layers": s["layers"],
        "num_attention_heads": s["heads"], "num_key_value_heads": s["kv_heads"], "head_dim": hd,
        "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        "tie_word_embeddings": True, "attention_bias": False, "mlp_bias": False,
        "bos_token_id": 128000 if s is FULL else 1, "eos_token_id": 128001 if s is FULL else 2,
        "torch_dtype": "bfloat16",
        "initializer_range": 0.02, "use_cache": True,
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    n = sum(x.numel() for x in t.values())
    print(f"wrote {n / 1e9:.3f}B parameters ({n * 2 / 1e9:.2f} GB BF16) to {out}", flush=True)


if __name__ == "__main__":
    main()
