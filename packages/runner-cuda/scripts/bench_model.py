#!/usr/bin/env python3
"""Writes a random-weight benchmark checkpoint (no download), and optionally its GGUF export.

Usage: python3 scripts/bench_model.py OUT_DIR [--shape NAME] [--gguf] [--gguf-types T,...] [--gguf-only]

  OUT_DIR/hf/         the Hugging Face checkpoint (config, safetensors, tokenizer)
  OUT_DIR/model.gguf  with --gguf: its GGUF export (export_gguf.py)
  OUT_DIR/model-T.gguf  with --gguf-types: a GGUF of each type T (export_gguf --type values, e.g.
                      q8_0,q4_k_m); written from the checkpoint, or with --gguf-only straight from
                      the random generator tensor by tensor (model_spec.lazy_weights: other values
                      than the checkpoint's, no 5 GB of F32 in memory for llama-3.2-1b)
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
import gguf_tokenizer_meta
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
    names = ("bench_model.py", "model_spec.py", "safetensors_io.py", "export_gguf.py", "gguf_quants.py", "gguf_tokenizer_meta.py")
    for path in [os.path.join(here, n) for n in names] + [model_spec.BPE_SOURCE]:
        with open(path, "rb") as f:
            code.update(f.read())
    return code.hexdigest()


def write(out, shape, gguf, gguf_types=(), gguf_only=False):
    """Writes OUT/hf (and the GGUF files asked for); returns False when the stamp says they are there."""
    spec = SHAPES[shape]
    stamp_path = os.path.join(out, "spec.json")
    stamp = json.dumps({"shape": shape, "spec": spec, "seed": SEED, "gguf": gguf, "gguf_types": sorted(gguf_types),
                        "gguf_only": gguf_only, "code": generator_digest()}, sort_keys=True)
    model_dir = os.path.join(out, "hf")
    gguf_path = os.path.join(out, "model.gguf")
    wanted = [os.path.join(out, f"model-{t}.gguf") for t in gguf_types] + ([gguf_path] if gguf else [])
    if os.path.exists(stamp_path) and os.path.exists(os.path.join(model_dir, "config.json")) and all(map(os.path.exists, wanted)):
        with open(stamp_path) as f:
            if f.read() == stamp:
                return False
    if gguf_only:
        # Config and tokenizer files only; the weights go straight into each GGUF.
        model_spec.write_model(model_dir, spec, SEED, spec["dtype"], weights={})
        os.remove(os.path.join(model_dir, "model.safetensors"))
    else:
        model_spec.write_model(model_dir, spec, SEED, spec["dtype"])
    if gguf:
        export_gguf.export(model_dir, gguf_path)
    for t, path in zip(gguf_types, wanted):
        if gguf_only:
            with open(os.path.join(model_dir, "config.json")) as f:
                cfg = json.load(f)
            export_gguf.write_gguf(path, cfg, gguf_tokenizer_meta.hf_tokenizer_kv(model_dir, cfg),
                                   model_spec.lazy_weights(spec, SEED), t, shape)
        else:
            export_gguf.export(model_dir, path, t)
    with open(stamp_path, "w") as f:
        f.write(stamp)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama-125m")
    ap.add_argument("--gguf", action="store_true", help="also write OUT_DIR/model.gguf")
    ap.add_argument("--gguf-types", default="", help="comma-separated: also write OUT_DIR/model-<type>.gguf for each")
    ap.add_argument("--gguf-only", action="store_true", help="no checkpoint weights: GGUF files straight from the generator")
    args = ap.parse_args()
    types = [t for t in args.gguf_types.split(",") if t]
    for t in types:
        if t not in export_gguf.FILE_TYPES:
            ap.error(f"unknown GGUF type {t} (one of {', '.join(export_gguf.FILE_TYPES)})")
    if args.gguf_only and (args.gguf or not types):
        ap.error("--gguf-only writes the --gguf-types files only")
    wrote = write(args.out_dir, args.shape, args.gguf, types, args.gguf_only)
    print(f"{args.shape}: {'wrote' if wrote else 'already up to date in'} {args.out_dir}", flush=True)


if __name__ == "__main__":
    main()
