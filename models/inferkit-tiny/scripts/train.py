"""Trains inferkit's embedded model and writes a Hugging Face Llama checkpoint.

    /usr/bin/python3 models/inferkit-tiny/scripts/train.py --out models/inferkit-tiny

Steps, all seeded: generate the corpus (corpus.py), train the byte-level BPE tokenizer
(bpe.py), train a small Llama (RMSNorm, RoPE in HF "split halves" form, grouped-query
attention, SwiGLU) on one CPU thread, then write config.json, model.safetensors (HF tensor
names, float32), generation_config.json, tokenizer.json, tokenizer_config.json,
training_log.json and parity/expected.json — the logits and greedy continuations this
script's own float32 forward pass computes for fixed prompts, which the engine's CPU
backend must reproduce.

Needs PyTorch (Debian's python3-torch) and the standard library; no transformers.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402

SPECIALS = [corpus.END_OF_TEXT, corpus.IM_START, corpus.IM_END]

# ChatML, the format the corpus's chat documents use. The generation prompt opens the
# assistant turn; `<|im_end|>` closes it and is an end-of-sequence token.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

PARITY_PROMPTS = [
    {"name": "story_opening", "text": "Once upon a time, there was a little cat named"},
    {"name": "chat_story", "messages": [{"role": "user", "content": "Tell me a story about a dog."}]},
    {"name": "chat_fact", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What color is the sky?"},
    ]},
    {"name": "dialogue", "text": "Mia: Hi Tom! How are you today?\nTom:"},
]


def render_chat(messages):
    """The Python twin of CHAT_TEMPLATE with add_generation_prompt=True."""
    out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return out + "<|im_start|>assistant\n"


# --------------------------------------------------------------------------------------
# Model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rope_tables(head_dim, max_pos, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(max_pos, dtype=torch.float32), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, h, kv, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        self.h, self.kv, self.hd = h, kv, hd
        self.q_proj = nn.Linear(d, h * hd, bias=False)
        self.k_proj = nn.Linear(d, kv * hd, bias=False)
        self.v_proj = nn.Linear(d, kv * hd, bias=False)
        self.o_proj = nn.Linear(h * hd, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) * (self.hd ** -0.5) + mask
        y = att.softmax(-1) @ v
        return self.o_proj(y.transpose(1, 2).reshape(b, t, self.h * self.hd))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, i = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, i, bias=False)
        self.up_proj = nn.Linear(d, i, bias=False)
        self.down_proj = nn.Linear(i, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class Llama(nn.Module):
    """Module names mirror transformers' LlamaForCausalLM so state_dict() keys are HF names."""

    def __init__(self, cfg):
        super().__init__()
        self.model = Inner(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        cos, sin = rope_tables(cfg["head_dim"], cfg["max_position_embeddings"], cfg["rope_theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.model.embed_tokens(ids)
        cos, sin = self.cos[:t], self.sin[:t]
        mask = torch.full((t, t), float("-inf")).triu(1)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.model.norm(x))


def init_weights(model, std, n_layers):
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            continue
        # GPT-2's scaled init for the projections that write into the residual stream.
        s = std / math.sqrt(2 * n_layers) if name.endswith(("o_proj.weight", "down_proj.weight")) else std
        nn.init.normal_(p, mean=0.0, std=s)


# --------------------------------------------------------------------------------------
# Files


def write_safetensors(path, tensors):
    """safetensors layout: u64 LE header length, JSON header (names → dtype/shape/offsets,
    plus __metadata__), then the raw little-endian data. Tensors are float32, sorted by name."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        data = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# --------------------------------------------------------------------------------------
# Data


def build_dataset(docs, encoder):
    ids = []
    starts = []
    for d in docs:
        starts.append(len(ids))
        ids.extend(encoder.encode(d))
    return torch.tensor(ids, dtype=torch.long), torch.tensor(starts, dtype=torch.long)


def batch(data, starts, gen, batch_size, seq_len):
    # Windows begin at document starts, so the model also sees texts that open at position 0
    # without a preceding <|endoftext|> (how a chat prompt reaches it).
    usable = starts[starts < len(data) - seq_len - 1]
    pick = usable[torch.randint(len(usable), (batch_size,), generator=gen)]
    rows = torch.stack([data[s:s + seq_len + 1] for s in pick.tolist()])
    return rows[:, :-1], rows[:, 1:]


# --------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--docs", type=int, default=60000)
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=768)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-minutes", type=float, default=38.0,
                   help="stop early (and record it) if training would overrun the time budget")
    p.add_argument("--stop-after-steps", type=int, default=0,
                   help="end after this many steps while keeping the --steps schedule: replays a run that "
                        "--max-minutes cut short, exactly")
    p.add_argument("--time-steps", type=int, default=0, help="only time this many steps, write nothing")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()
    os.makedirs(os.path.join(args.out, "parity"), exist_ok=True)

    docs = corpus.generate(args.seed, args.docs)
    vocab, merges = bpe.train(docs[:8000], args.vocab_size, SPECIALS)
    encoder = bpe.Encoder(vocab, merges, SPECIALS)
    data, starts = build_dataset(docs, encoder)
    print(f"corpus: {len(docs)} docs, {len(data)} tokens, vocab {len(vocab)} ({len(merges)} merges), "
          f"{time.time() - t0:.1f}s", flush=True)

    vocab_size = len(vocab)
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.hidden // args.heads,
        "hidden_act": "silu",
        "max_position_embeddings": 1024,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "pretraining_tp": 1,
        "tie_word_embeddings": False,
        "bos_token_id": vocab[corpus.END_OF_TEXT],
        "eos_token_id": [vocab[corpus.IM_END], vocab[corpus.END_OF_TEXT]],
        "use_cache": True,
        "torch_dtype": "float32",
        "transformers_version": "4.57.6",
    }
    model = Llama(cfg)
    init_weights(model, cfg["initializer_range"], args.layers)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)

    steps = args.time_steps or args.steps
    losses = []
    stopped_early = False
    t_train = time.time()
    model.train()
    for step in range(steps):
        if step < args.warmup:
            lr = args.lr * (step + 1) / args.warmup
        else:
            progress = (step - args.warmup) / max(1, args.steps - args.warmup)
            lr = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch(data, starts, gen, args.batch_size, args.seq_len)
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        elapsed = time.time() - t_train
        if step % 20 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  lr {lr:.2e}  {elapsed / (step + 1):.2f}s/step  "
                  f"{elapsed / 60:.1f}min", flush=True)
        if args.stop_after_steps and step + 1 >= args.stop_after_steps and step < steps - 1:
            print(f"stopping after {step + 1} steps (--stop-after-steps)", flush=True)
            break
        if elapsed > args.max_minutes * 60 and step < steps - 1:
            print(f"time budget of {args.max_minutes} min reached at step {step}; stopping", flush=True)
            stopped_early = True
            break
    train_seconds = time.time() - t_train
    if args.time_steps:
        print(f"timed {len(losses)} steps: {train_seconds / len(losses):.3f}s/step")
        return

    model.eval()
    out = args.out
    write_safetensors(os.path.join(out, "model.safetensors"), model.state_dict())
    write_json(os.path.join(out, "config.json"), cfg)
    write_json(os.path.join(out, "generation_config.json"), {
        "bos_token_id": cfg["bos_token_id"],
        "eos_token_id": cfg["eos_token_id"],
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.95,
        "max_new_tokens": 200,
        "transformers_version": cfg["transformers_version"],
    })
    bpe.write_tokenizer_json(os.path.join(out, "tokenizer.json"), vocab, merges, SPECIALS)
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": cfg["max_position_embeddings"],
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": None,
        "eos_token": corpus.IM_END,
        "pad_token": corpus.END_OF_TEXT,
        "unk_token": None,
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": {
            str(vocab[s]): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                            "single_word": False, "special": True}
            for s in SPECIALS
        },
        "chat_template": CHAT_TEMPLATE,
    })

    with torch.no_grad():
        fixtures = parity_fixtures(model, encoder, cfg)
    write_json(os.path.join(out, "parity", "expected.json"), fixtures)

    tail = losses[-50:]
    write_json(os.path.join(out, "training_log.json"), {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "seed": args.seed,
        "torch_version": torch.__version__,
        "threads": args.threads,
        "parameters": n_params,
        "corpus_documents": len(docs),
        "corpus_tokens": int(len(data)),
        "steps_run": len(losses),
        "steps_planned": args.steps,
        "stopped_early_on_time_budget": stopped_early,
        "tokens_seen": len(losses) * args.batch_size * args.seq_len,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - t0, 1),
        "final_loss_mean_last_50": round(sum(tail) / len(tail), 4),
        "loss_every_20_steps": [round(l, 4) for l in losses[::20]],
    })
    print(f"done: {len(losses)} steps in {train_seconds / 60:.1f} min, final loss (mean of last 50) "
          f"{sum(tail) / len(tail):.4f}", flush=True)
    for f in fixtures["cases"]:
        print(f"--- {f['name']}: {encoder.decode(f['greedy_ids'])!r}")


def parity_fixtures(model, encoder, cfg, greedy_tokens=32):
    eos = set(cfg["eos_token_id"])
    cases = []
    for prompt in PARITY_PROMPTS:
        text = prompt["text"] if "text" in prompt else render_chat(prompt["messages"])
        ids = encoder.encode(text)
        logits = model(torch.tensor([ids]))[0]
        last = logits[-1]
        # Greedy decoding by full recomputation: no KV cache on this side, so the engine's
        # cached decode path is checked against a plain forward.
        seq = list(ids)
        greedy = []
        margins = []
        for _ in range(greedy_tokens):
            row = model(torch.tensor([seq]))[0, -1]
            top2 = torch.topk(row, 2)
            nxt = int(top2.indices[0])
            margins.append(float(top2.values[0] - top2.values[1]))
            greedy.append(nxt)
            seq.append(nxt)
            if nxt in eos:
                break
        case = {
            "name": prompt["name"],
            "prompt_ids": ids,
            "last_logits": [round(float(v), 6) for v in last],
            "first_position_logits_top5": [[int(i), round(float(v), 6)] for v, i in zip(*torch.topk(logits[0], 5))],
            "greedy_ids": greedy,
            "greedy_text": encoder.decode(greedy),
            # Smallest gap between the best and second-best logit along the greedy path: a
            # tolerance check on the engine is only meaningful where this is larger than it.
            "greedy_min_margin": round(min(margins), 6),
        }
        if "text" in prompt:
            case["text"] = prompt["text"]
        else:
            case["messages"] = prompt["messages"]
            case["rendered"] = text
        cases.append(case)
    return {
        "description": "float32 PyTorch forward of model.safetensors, written by scripts/train.py",
        "dtype": "float32",
        "cases": cases,
    }


if __name__ == "__main__":
    main()
