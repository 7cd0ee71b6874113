#!/usr/bin/env python3
"""Writes a random-weight benchmark checkpoint (no download), and optionally its GGUF export.

Usage: python3 scripts/bench_model.py OUT_DIR [--shape NAME] [--gguf]

  OUT_DIR/hf/         the Hugging Face checkpoint (config, safetensors, tokenizer)
  OUT_DIR/model.gguf  with --gguf: its GGUF export (export_gguf.py)
  OUT_DIR/spec.json   stamp: shape, seed and generator code; an unchanged stamp skips the work

Shapes:
  llama-125m    (default) dim 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab 32000, untied
                lm_head, F32: 124.7M parameters, ~500 MB per format. The CPU bench (bench/run.mjs).
  llama-3.2-1b  Llama-3.2-1B's shape: vocab 128256, hidden 2048, 16 layers, 32 heads, 8 KV heads,
                FFN 8192, tied embeddings, rope_theta 500000 with llama3 scaling (factor 32), BF16.
                The GPU harness bench (native/tools/gpu-check.sh).
  tiny          the llama-3.2-1b layout at a toy size, for a dry run of the GPU harness without a GPU.
"""
import argparse
import hashlib
import json
import os

import export_gguf
import model_spec

_LLAMA3_SCALING = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192}

SHAPES = {
    "llama-125m": dict(arch="llama", hidden=768, layers=12, heads=12, kv_heads=4, ffn=2048, vocab=32000,
                       eps=1e-5, theta=10000.0, tied=False, max_pos=2048, dtype="F32",
                       chat_template=model_spec.LLAMA_TEMPLATE),
    "llama-3.2-1b": dict(arch="llama", hidden=2048, layers=16, heads=32, kv_heads=8, ffn=8192, vocab=128256,
                         eps=1e-5, theta=500000.0, rope_scaling=_LLAMA3_SCALING, tied=True, max_pos=131072,
                         dtype="BF16", chat_template=model_spec.LLAMA_TEMPLATE),
    "tiny": dict(arch="llama", hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=512,
                 eps=1e-5, theta=500000.0, rope_scaling=_LLAMA3_SCALING, tied=True, max_pos=131072,
                 dtype="BF16", chat_template=model_spec.LLAMA_TEMPLATE),
}
SEED = 1234


def generator_digest():
    """Hash of the code that decides the files, so a change there regenerates them."""
    code = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for path in [os.path.join(here, n) for n in ("bench_model.py", "model_spec.py", "safetensors_io.py", "export_gguf.py")] + [model_spec.BPE_SOURCE]:
        with open(path, "rb") as f:
            code.update(f.read())
    return code.hexdigest()


def write(out, shape, gguf):
    """Writes OUT/hf (and OUT/model.gguf); returns False when the stamp says it is already there."""
    spec = SHAPES[shape]
    stamp_path = os.path.join(out, "spec.json")
    stamp = json.dumps({"shape": shape, "spec": spec, "seed": SEED, "gguf": gguf, "code": generator_digest()}, sort_keys=True)
    model_dir = os.path.join(out, "hf")
    gguf_path = os.path.join(out, "model.gguf")
    if os.path.exists(stamp_path) and os.path.exists(os.path.join(model_dir, "config.json")) and (not gguf or os.path.exists(gguf_path)):
        with open(stamp_path) as f:
            if f.read() == stamp:
                return False
    model_spec.write_model(model_dir, spec, SEED, spec["dtype"])
    if gguf:
        export_gguf.export(model_dir, gguf_path)
    with open(stamp_path, "w") as f:
        f.write(stamp)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama-125m")
    ap.add_argument("--gguf", action="store_true", help="also write OUT_DIR/model.gguf")
    args = ap.parse_args()
    wrote = write(args.out_dir, args.shape, args.gguf)
    print(f"{args.shape}: {'wrote' if wrote else 'already up to date in'} {args.out_dir}", flush=True)


if __name__ == "__main__":
    main()
