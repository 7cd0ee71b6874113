#!/usr/bin/env python3
"""Writes the tiny GGUF test models: one random-weight checkpoint per architecture, exported in
every weight type the engine reads.

Usage: python3 scripts/gen_gguf_models.py OUT_DIR
Writes OUT_DIR/<model>/ (the F32 Hugging Face checkpoint) and OUT_DIR/<model>-<type>.gguf for
each type in GGUF_TYPES. Every matrix dimension is a multiple of 256, the k-quant super-block, so
each file holds exactly its type (llama.cpp's quantizer would fall back to other types for rows
that do not divide). Byte-identical from fixed seeds; about 0.8M parameters per model.

One layer, on purpose: these models compare the engine with llama.cpp, and both quantize every
matmul input to 8 bits. A float rounding-order difference (theirs and ours sum in different
orders, as llama.cpp's own batch and single-token kernels do) sometimes moves an input across a
rounding boundary, changing one 8-bit value. In one layer that touches only the position where it
happens; in a deeper model it reaches every later position through the next layer's attention,
and random weights (flat next-token distributions) turn that into top-1 flips. Layer indexing
and multi-layer math are checked by the F32 exports of the multi-layer tiny models.
"""
import json
import os
import sys

import export_gguf
import model_spec

_BASE = dict(hidden=256, layers=1, heads=4, kv_heads=2, ffn=512, vocab=320, eps=1e-5, theta=10000.0, tied=False)

GGUF_MODELS = {
    # Llama: q/k rows permuted for llama.cpp's adjacent-pair RoPE, GQA, untied lm_head.
    "llama": dict(_BASE, arch="llama", seed=11, chat_template=model_spec.LLAMA_TEMPLATE),
    # Qwen2: q/k/v biases, tied embeddings (token_embd is also the lm_head), NEOX RoPE.
    "qwen2": dict(_BASE, arch="qwen2", seed=12, tied=True, theta=1000000.0, eps=1e-6,
                  chat_template=model_spec.CHATML_TEMPLATE),
    # Qwen3: q/k RMSNorm and a head_dim override (128, not hidden/heads = 64).
    "qwen3": dict(_BASE, arch="qwen3", seed=13, head_dim=128, tied=True, theta=1000000.0, eps=1e-6,
                  chat_template=model_spec.CHATML_TEMPLATE),
}

GGUF_TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "q4_k_m"]


def gguf_path(out, model, ftype):
    return os.path.join(out, f"{model}-{ftype}.gguf")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, spec in GGUF_MODELS.items():
        model_dir = os.path.join(out, name)
        model_spec.write_model(model_dir, spec, spec["seed"])
        for ftype in GGUF_TYPES:
            export_gguf.export(model_dir, gguf_path(out, name, ftype), ftype)
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump({"models": sorted(GGUF_MODELS), "types": GGUF_TYPES}, f)


if __name__ == "__main__":
    main()
