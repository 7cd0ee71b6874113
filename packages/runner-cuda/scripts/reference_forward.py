#!/usr/bin/env python3
"""Reference logits and greedy continuations of a checkpoint, for the engine's parity checks.

Two engines compute them:
  numpy         (default) an independent forward pass written from the Hugging Face model
                definitions (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM,
                Qwen3ForCausalLM), in float64. numpy only: the vitest parity tests use it.
  transformers  the Hugging Face model itself (AutoModelForCausalLM, float32 on the CPU, no
                TF32): the GPU harness checks the CUDA backend against it (needs torch).

Usage: python3 scripts/reference_forward.py MODEL_DIR TOKENS [--out FILE] [--greedy N]
       python3 scripts/reference_forward.py --cases CASES.json
       python3 scripts/reference_forward.py --parity [--engine numpy|transformers] MODEL_DIR...
  TOKENS   comma-separated token ids
  --out    write the logits of every position as little-endian float32 [T, vocab] (default: stdout JSON
           of the last position)
  --greedy also decode N tokens greedily (no KV cache, full recompute) and print them as JSON
  --cases  many forwards in one process: a JSON list of {"model_dir", "tokens", "out"}
  --parity writes, into each MODEL_DIR, what `gpu_harness parity-hf` reads:
           reference.txt          "vocab V prompts P", then per prompt four lines: prompt ids, the
                                  greedy continuation (no EOS stop), the offset in floats of the
                                  prompt's logits, and the reference's top-1 minus top-2 logit at each
                                  generated step (to tell a near tie, which float rounding may decide
                                  either way, from a real divergence)
           reference_logits.f32   little-endian f32 logits [len(prompt), V] per prompt, concatenated
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


PARITY_PROMPT_LENGTHS = (7, 16, 33, 64)
PARITY_GREEDY_STEPS = 24
PARITY_SEED = 1234


class NumpyEngine:
    """The float64 forward above; greedy steps recompute the whole sequence."""

    def __init__(self, model_dir):
        self.cfg = load_config(model_dir)
        self.w = read_checkpoint(model_dir)
        self.vocab = self.cfg["vocab_size"]

    def logits(self, tokens):
        return forward(self.cfg, self.w, tokens)

    def greedy(self, tokens, n):
        """Returns (continuation, top-1 minus top-2 logit at each step)."""
        seq, margins = list(tokens), []
        for _ in range(n):
            last = forward(self.cfg, self.w, seq)[-1]
            top2 = np.sort(last)[-2:]
            margins.append(float(top2[1] - top2[0]))
            seq.append(int(np.argmax(last)))
        return seq[len(tokens):], margins


class TransformersEngine:
    """The Hugging Face model, float32 on the CPU, decoding with `generate` (plain argmax)."""

    def __init__(self, model_dir):
        import torch
        from transformers import AutoModelForCausalLM

        self.torch = torch
        torch.backends.cuda.matmul.allow_tf32 = False
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval().float()
        # No EOS stop and no min_new_tokens (which would mask EOS): the engine under test
        # decodes plain argmax for exactly as many steps.
        self.model.generation_config.eos_token_id = None
        self.model.generation_config.pad_token_id = 0
        self.vocab = self.model.config.vocab_size

    def logits(self, tokens):
        torch = self.torch
        with torch.no_grad():
            return self.model(input_ids=torch.tensor([tokens])).logits[0].double().numpy()

    def greedy(self, tokens, n):
        torch = self.torch
        ids = torch.tensor([tokens])
        with torch.no_grad():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                      do_sample=False, pad_token_id=0, output_logits=True,
                                      return_dict_in_generate=True)
        margins = []
        for step in out.logits:
            top2 = torch.topk(step[0].float(), 2).values
            margins.append(float(top2[0] - top2[1]))
        return out.sequences[0, len(tokens):].tolist(), margins


ENGINES = {"numpy": NumpyEngine, "transformers": TransformersEngine}


def write_parity(model_dir, engine_name, prompt_lengths=PARITY_PROMPT_LENGTHS, steps=PARITY_GREEDY_STEPS):
    """Writes reference.txt and reference_logits.f32 into model_dir (format: module docstring)."""
    engine = ENGINES[engine_name](model_dir)
    rng = np.random.default_rng(PARITY_SEED)
    lines, offset = [], 0
    with open(os.path.join(model_dir, "reference_logits.f32"), "wb") as f:
        for n in prompt_lengths:
            ids = [int(x) for x in rng.integers(0, engine.vocab, n)]
            logits = engine.logits(ids).astype("<f4")
            cont, margins = engine.greedy(ids, steps)
            lines += [" ".join(map(str, ids)), " ".join(map(str, cont)), str(offset), " ".join(f"{m:.9g}" for m in margins)]
            f.write(logits.tobytes())
            offset += logits.size
    with open(os.path.join(model_dir, "reference.txt"), "w") as f:
        f.write(f"vocab {engine.vocab} prompts {len(prompt_lengths)}\n" + "\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("tokens", nargs="?")
    ap.add_argument("--out")
    ap.add_argument("--greedy", type=int, default=0)
    ap.add_argument("--cases")
    ap.add_argument("--parity", nargs="+", metavar="MODEL_DIR")
    ap.add_argument("--engine", choices=sorted(ENGINES), default="numpy")
    args = ap.parse_args()
    if args.parity:
        for d in args.parity:
            write_parity(d, args.engine)
            print(f"{args.engine} reference -> {d}", flush=True)
        return
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
