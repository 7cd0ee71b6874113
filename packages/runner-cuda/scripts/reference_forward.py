#!/usr/bin/env python3
"""Independent numpy forward pass written from the Hugging Face model definitions
(LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM), computed in float64.

Usage: python3 scripts/reference_forward.py MODEL_DIR TOKENS [--out FILE] [--greedy N]
       python3 scripts/reference_forward.py --cases CASES.json
  TOKENS   comma-separated token ids
  --out    write the logits of every position as little-endian float32 [T, vocab] (default: stdout JSON
           of the last position)
  --greedy also decode N tokens greedily (no KV cache, full recompute) and print them as JSON
  --cases  many forwards in one process: a JSON list of {"model_dir", "tokens", "out"}
"""
import argparse
import json
import math
import os
import sys

import numpy as np

from safetensors_io import read_checkpoint


def load_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


def rope_inv_freq(cfg, head_dim):
    """HF `_compute_default_rope_parameters` / `_compute_llama3_parameters`."""
    params = cfg.get("rope_parameters") or {}
    theta = cfg.get("rope_theta") or params.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    scaling = cfg.get("rope_scaling") or (params if params.get("rope_type") not in (None, "default") else None)
    if not scaling:
        return inv
    kind = scaling.get("rope_type") or scaling.get("type")
    if kind == "linear":
        return inv / scaling["factor"]
    if kind != "llama3":
        raise ValueError(f"reference: unsupported rope_type {kind}")
    factor = scaling.get("factor", 8.0)
    low, high = scaling.get("low_freq_factor", 1.0), scaling.get("high_freq_factor", 4.0)
    orig = scaling.get("original_max_position_embeddings", 8192)
    low_wl, high_wl = orig / low, orig / high
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > low_wl, inv / factor, inv)
    smooth = (orig / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
    return np.where(medium, smoothed, scaled)


def rms_norm(x, w, eps):
    return w * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def rotate_half(x):
    d = x.shape[-1] // 2
    return np.concatenate([-x[..., d:], x[..., :d]], axis=-1)


def forward(cfg, w, tokens):
    """Returns float64 logits [T, vocab] for the whole sequence (causal attention)."""
    arch = cfg["model_type"]
    h = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_heads
    hd = cfg.get("head_dim") or h // n_heads
    eps = cfg["rms_norm_eps"]
    t = len(tokens)
    g = {k: v.astype(np.float64) for k, v in w.items()}

    inv = rope_inv_freq(cfg, hd)
    freqs = np.outer(np.arange(t, dtype=np.float64), inv)
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]

    x = g["model.embed_tokens.weight"][np.asarray(tokens)]
    mask = np.triu(np.full((t, t), -np.inf), k=1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        n = rms_norm(x, g[p + "input_layernorm.weight"], eps)

        def proj(name):
            y = n @ g[p + f"self_attn.{name}.weight"].T
            b = g.get(p + f"self_attn.{name}.bias")
            return y if b is None else y + b

        q = proj("q_proj").reshape(t, n_heads, hd)
        k = proj("k_proj").reshape(t, n_kv, hd)
        v = proj("v_proj").reshape(t, n_kv, hd)
        if arch == "qwen3":
            q = rms_norm(q, g[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, g[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = n_heads // n_kv
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", probs, v).reshape(t, n_heads * hd)
        x = x + attn @ g[p + "self_attn.o_proj.weight"].T

        n = rms_norm(x, g[p + "post_attention_layernorm.weight"], eps)
        gate = n @ g[p + "mlp.gate_proj.weight"].T
        up = n @ g[p + "mlp.up_proj.weight"].T
        x = x + ((gate / (1 + np.exp(-gate))) * up) @ g[p + "mlp.down_proj.weight"].T

    x = rms_norm(x, g["model.norm.weight"], eps)
    head = g.get("lm_head.weight")
    if head is None:
        head = g["model.embed_tokens.weight"]
    return x @ head.T


def greedy(cfg, w, tokens, n):
    seq = list(tokens)
    for _ in range(n):
        seq.append(int(np.argmax(forward(cfg, w, seq)[-1])))
    return seq[len(tokens):]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("tokens", nargs="?")
    ap.add_argument("--out")
    ap.add_argument("--greedy", type=int, default=0)
    ap.add_argument("--cases")
    args = ap.parse_args()
    if args.cases:
        with open(args.cases) as f:
            cases = json.load(f)
        models = {}
        for c in cases:
            if c["model_dir"] not in models:
                models[c["model_dir"]] = (load_config(c["model_dir"]), read_checkpoint(c["model_dir"]))
            cfg, w = models[c["model_dir"]]
            forward(cfg, w, c["tokens"]).astype("<f4").tofile(c["out"])
        return
    if args.model_dir is None or args.tokens is None:
        ap.error("MODEL_DIR and TOKENS are required without --cases")
    cfg = load_config(args.model_dir)
    w = read_checkpoint(args.model_dir)
    tokens = [int(s) for s in args.tokens.split(",") if s]
    logits = forward(cfg, w, tokens)
    result = {}
    if args.out:
        logits.astype("<f4").tofile(args.out)
    else:
        result["last"] = logits[-1].tolist()
    if args.greedy:
        result["greedy"] = greedy(cfg, w, tokens, args.greedy)
    if result:
        json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
