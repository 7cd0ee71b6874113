#!/usr/bin/env python3
"""Hugging Face transformers baseline for the GPU bench: the same checkpoint, PyTorch eager
attention, BF16, on the same GPU, in the same run as inferkit's numbers.

Usage: python3 hf_bench.py MODEL_DIR OUT.json [--batches 1,8,32,64] [--new-tokens 64]
           [--prompt 128] [--prefill 2048]

Decode tok/s at batch B = B * (N - 1) / (t(generate N new tokens) - t(generate 1 new token)),
greedy, with min_new_tokens = N so no row stops early; each time is the median of 3 runs after
one warm-up. Prefill tok/s = prefill tokens / median time of one forward pass over them.
"""
import json
import statistics
import sys
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def arg(name, default):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def timed(fn, reps=3):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    model_dir, out = sys.argv[1], sys.argv[2]
    batches = [int(b) for b in arg("--batches", "1,8,32,64").split(",")]
    new_tokens = int(arg("--new-tokens", "64"))
    prompt = int(arg("--prompt", "128"))
    prefill = int(arg("--prefill", "2048"))
    report = {"check": "hf-bench", "transformers": transformers.__version__, "torch": torch.__version__,
              "device": torch.cuda.get_device_name(0), "attn_implementation": "eager", "dtype": "bfloat16",
              "prompt_tokens": prompt, "new_tokens": new_tokens, "decode": []}
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map="cuda:0",
                                                 attn_implementation="eager").eval()
    report["load_seconds"] = time.perf_counter() - t0
    vocab = model.config.vocab_size
    g = torch.Generator(device="cuda").manual_seed(0)
    with torch.no_grad():
        ids = torch.randint(0, vocab, (1, prefill), device="cuda", generator=g)
        t = timed(lambda: model(input_ids=ids, use_cache=False))
        report["prefill_tokens"] = prefill
        report["prefill_tok_s"] = prefill / t
        print(f"hf prefill {prefill} tokens: {t * 1e3:.1f} ms = {prefill / t:.0f} tok/s", flush=True)
        for b in batches:
            ids = torch.randint(0, vocab, (b, prompt), device="cuda", generator=g)
            mask = torch.ones_like(ids)

            def gen(n):
                return lambda: model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n,
                                              min_new_tokens=n, do_sample=False, pad_token_id=0)
            t1 = timed(gen(1))
            tn = timed(gen(new_tokens))
            tps = b * (new_tokens - 1) / (tn - t1)
            report["decode"].append({"batch": b, "tok_s": tps, "step_ms": (tn - t1) / (new_tokens - 1) * 1e3,
                                     "generate_seconds": tn})
            print(f"hf decode batch {b:2d}: {(tn - t1) / (new_tokens - 1) * 1e3:.2f} ms/step = {tps:.0f} tok/s", flush=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
