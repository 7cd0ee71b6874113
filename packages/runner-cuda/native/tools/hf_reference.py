#!/usr/bin/env python3
"""Builds tiny random Hugging Face models (no download) and records their reference outputs.

Usage: python3 hf_reference.py OUT_DIR

For each model, OUT_DIR/<name>/ gets what save_pretrained writes (config.json,
generation_config.json, model.safetensors in F32) plus:
  reference.txt          "vocab V prompts P", then per prompt four lines: prompt ids, the HF greedy
                         continuation (do_sample=False), the offset in floats of its logits, and
                         HF's top-1 minus top-2 logit at each generated step (to tell a near tie,
                         which float rounding may decide either way, from a real divergence)
  reference_logits.f32   little-endian f32 logits [len(prompt), V] per prompt, concatenated
The forward runs on the CPU in float32 (no TF32), so the reference is plain f32 arithmetic.
"""
import os
import sys

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

GREEDY_TOKENS = 24
PROMPT_LENGTHS = (7, 16, 33, 64)

MODELS = {
    # GQA (4 query heads, 2 KV heads, head_dim 32), untied lm_head, Llama 3 rope scaling with a
    # short original context so all three frequency bands occur within 128 positions.
    "hf-llama3": lambda: LlamaForCausalLM(LlamaConfig(
        vocab_size=256, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        initializer_range=0.05, bos_token_id=1, eos_token_id=2)),
    # q/k/v biases, tied embeddings, MQA with head_dim 64.
    "hf-qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(
        vocab_size=256, hidden_size=128, intermediate_size=320, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
        initializer_range=0.05, bos_token_id=1, eos_token_id=2)),
}


def randomize_non_matrix_params(model, gen):
    # HF initialises norms to 1 and biases to 0; random values make the reference exercise them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}", flush=True)
    for name, build in MODELS.items():
        model = build().eval().float()
        randomize_non_matrix_params(model, gen)
        # Plain argmax decoding for the reference: no EOS stop and no min_new_tokens (which
        # would mask EOS; the engine under test has no such processor).
        model.generation_config.eos_token_id = None
        model.generation_config.pad_token_id = 0
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        model.save_pretrained(d)
        vocab = model.config.vocab_size
        lines, chunks, offset = [], [], 0
        for n in PROMPT_LENGTHS:
            ids = torch.randint(3, vocab, (1, n), generator=gen)
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0].float().contiguous()
                gen_out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                         max_new_tokens=GREEDY_TOKENS, do_sample=False,
                                         pad_token_id=0, output_logits=True,
                                         return_dict_in_generate=True)
            cont = gen_out.sequences[0, n:].tolist()
            margins = []
            for step_logits in gen_out.logits:
                top2 = torch.topk(step_logits[0].float(), 2).values
                margins.append(f"{(top2[0] - top2[1]).item():.9g}")
            lines += [" ".join(map(str, ids[0].tolist())), " ".join(map(str, cont)), str(offset),
                      " ".join(margins)]
            chunks.append(logits.numpy().astype("<f4").tobytes())
            offset += logits.numel()
        with open(os.path.join(d, "reference.txt"), "w") as f:
            f.write(f"vocab {vocab} prompts {len(PROMPT_LENGTHS)}\n" + "\n".join(lines) + "\n")
        with open(os.path.join(d, "reference_logits.f32"), "wb") as f:
            for c in chunks:
                f.write(c)
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters -> {d}", flush=True)


if __name__ == "__main__":
    main()
