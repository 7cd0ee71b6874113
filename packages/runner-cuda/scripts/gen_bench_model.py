#!/usr/bin/env python3
"""Writes the ~125M-parameter Llama-shaped F32 benchmark checkpoint and its GGUF export.

Usage: python3 scripts/gen_bench_model.py OUT_DIR
Shape: dim 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab 32000, untied lm_head
(124.7M parameters, ~500 MB per format). Skips the work when OUT_DIR already holds this exact spec.
"""
import hashlib
import json
import os
import sys

import export_gguf
import model_spec

BENCH_SPEC = dict(arch="llama", hidden=768, layers=12, heads=12, kv_heads=4, ffn=2048, vocab=32000,
                  eps=1e-5, theta=10000.0, tied=False, max_pos=2048, chat_template=model_spec.LLAMA_TEMPLATE)
SEED = 1234


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    stamp_path = os.path.join(out, "spec.json")
    # The stamp covers the generator code too: a change there must regenerate the weights.
    code = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("model_spec.py", "byte_bpe.py", "safetensors_io.py", "export_gguf.py"):
        with open(os.path.join(here, name), "rb") as f:
            code.update(f.read())
    stamp = json.dumps({"spec": BENCH_SPEC, "seed": SEED, "code": code.hexdigest()}, sort_keys=True)
    gguf = os.path.join(out, "model.gguf")
    if os.path.exists(stamp_path) and os.path.exists(gguf):
        with open(stamp_path) as f:
            if f.read() == stamp:
                return
    model_dir = os.path.join(out, "hf")
    model_spec.write_model(model_dir, BENCH_SPEC, SEED)
    export_gguf.export(model_dir, gguf)
    with open(stamp_path, "w") as f:
        f.write(stamp)


if __name__ == "__main__":
    main()
