"""Checks of the generator, exporter and reference that do not need the engine."""
import json
import math
import os
import struct
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_model  # noqa: E402
import export_gguf  # noqa: E402
import gen_tiny_models  # noqa: E402
import model_spec  # noqa: E402
import reference_forward  # noqa: E402
from safetensors_io import bf16_bits_to_f32, f32_to_bf16_bits, read_checkpoint, read_safetensors, write_safetensors  # noqa: E402


def test_bf16_rounds_to_nearest_even():
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e-39], dtype=np.float32)
    back = bf16_bits_to_f32(f32_to_bf16_bits(x))
    # 1 + 2^-8 is exactly half-way between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
    assert back.tolist()[:4] == [1.0, 1.0, 1.015625, -2.5]


def test_safetensors_layout_and_validation(tmp_path):
    p = tmp_path / "t.safetensors"
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    write_safetensors(p, {"b": a, "a": a[0]}, "F16")
    raw = p.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"format": "pt"}
    assert header["a"]["data_offsets"] == [0, 6] and header["b"]["data_offsets"] == [6, 18]
    got = read_safetensors(p)
    assert np.array_equal(got["b"], a)
    p.write_bytes(raw[:-2])
    with pytest.raises(ValueError, match="b"):
        read_safetensors(p)


@pytest.mark.parametrize("size", [320, 2000])
def test_tokenizer_is_deterministic_and_laid_out(size):
    v1, m1, added = model_spec.make_tokenizer(size)
    assert (v1, m1, added) == model_spec.make_tokenizer(size)
    # Every id in [0, size) exactly once; bytes keep their own value as id; specials come last.
    assert sorted(v1.values()) == list(range(size))
    assert all(v1[model_spec.bpe.BYTE_CHARS[b]] == b for b in range(256))
    assert [v1[s] for s in model_spec.SPECIAL_TOKENS] == list(range(size - 4, size))
    assert added[-4:] == model_spec.SPECIAL_TOKENS
    # 2000 is more than the corpus has pairs for: the rest is reserved fillers, marked as added tokens.
    assert (size == 2000) == any(t.startswith("<|reserved_") for t in added)
    enc = model_spec.bpe.Encoder(v1, m1, model_spec.SPECIAL_TOKENS)
    text = "héllo wörld 😀<|im_end|>"
    assert enc.decode(enc.encode(text)) == text


def test_generated_models_are_byte_identical(tmp_path):
    spec = gen_tiny_models.TINY_MODELS["qwen2-bias"]
    model_spec.write_model(tmp_path / "a", spec, spec["seed"])
    model_spec.write_model(tmp_path / "b", spec, spec["seed"])
    for f in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_llama3_rope_freqs_agree_with_the_reference_inv_freq():
    cfg = {"rope_theta": 500000.0, "rope_scaling": gen_tiny_models.TINY_MODELS["llama3-rope"]["rope_scaling"]}
    inv = 1.0 / (500000.0 ** (np.arange(0, 16, 2) / 16))
    divisors = export_gguf.llama3_rope_freqs(cfg["rope_scaling"], 500000.0, 16)
    assert np.allclose(inv / divisors, reference_forward.rope_inv_freq(cfg, 16), rtol=1e-6)
    # All three bands occur in the test model: kept (1), smoothed, and divided by the factor.
    assert divisors[0] == 1.0 and 1.0 < divisors[1] < 8.0 and divisors[-1] == 8.0


def test_undo_permute_turns_split_halves_into_adjacent_pairs():
    n_head, d = 2, 8
    rows = np.arange(n_head * d, dtype=np.float32)[:, None]
    out = export_gguf.undo_hf_permute(rows, n_head)[:, 0]
    # Within a head, HF row i pairs with i + d/2; after the permutation they sit side by side.
    for h in range(n_head):
        for i in range(d // 2):
            assert out[h * d + 2 * i] == h * d + i
            assert out[h * d + 2 * i + 1] == h * d + i + d // 2


def _read_gguf(path):
    raw = open(path, "rb").read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<IIQQ", raw, 0)
    assert magic == 0x46554747 and version == 3
    off = 24

    def string():
        nonlocal off
        (n,) = struct.unpack_from("<Q", raw, off)
        off += 8 + n
        return raw[off - n:off].decode()

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    kv = {}
    for _ in range(n_kv):
        key = string()
        (t,) = struct.unpack_from("<I", raw, off)
        off += 4
        if t == 8:
            kv[key] = string()
        elif t == 9:
            et, count = struct.unpack_from("<IQ", raw, off)
            off += 12
            vals = []
            for _ in range(count):
                if et == 8:
                    vals.append(string())
                else:
                    vals.append(raw[off:off + sizes[et]])
                    off += sizes[et]
            kv[key] = vals
        else:
            kv[key] = raw[off:off + sizes[t]]
            off += sizes[t]
    tensors = {}
    for _ in range(n_tensors):
        name = string()
        (nd,) = struct.unpack_from("<I", raw, off)
        dims = struct.unpack_from(f"<{nd}Q", raw, off + 4)
        typ, toff = struct.unpack_from("<IQ", raw, off + 4 + 8 * nd)
        off += 4 + 8 * nd + 12
        tensors[name] = (dims, typ, toff)
    data = off + (-off) % 32
    return kv, tensors, raw, data


@pytest.mark.parametrize("name", ["llama-gqa", "qwen3-qknorm", "llama3-rope"])
def test_gguf_export_round_trips_tensors(tmp_path, name):
    spec = gen_tiny_models.TINY_MODELS[name]
    d = tmp_path / name
    model_spec.write_model(d, spec, spec["seed"], spec.get("dtype", "F32"), spec.get("shards", 1))
    out = tmp_path / f"{name}.gguf"
    export_gguf.export(str(d), str(out))
    kv, tensors, raw, data = _read_gguf(out)
    w = read_checkpoint(str(d))
    cfg = json.load(open(d / "config.json"))
    arch = kv["general.architecture"]
    assert len(kv["tokenizer.ggml.tokens"]) == cfg["vocab_size"]
    dims, typ, toff = tensors["blk.0.attn_v.weight"]
    assert typ == 0 and toff % 32 == 0
    v = w["model.layers.0.self_attn.v_proj.weight"]
    assert dims == tuple(reversed(v.shape))
    got = np.frombuffer(raw, dtype="<f4", count=v.size, offset=data + toff).reshape(v.shape)
    assert np.array_equal(got, v)
    assert ("output.weight" in tensors) == (not cfg["tie_word_embeddings"])
    assert ("rope_freqs.weight" in tensors) == (cfg.get("rope_scaling") is not None)
    assert ("blk.1.attn_q_norm.weight" in tensors) == (arch == "qwen3")
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    assert struct.unpack("<I", kv[f"{arch}.rope.dimension_count"])[0] == hd


def test_reference_attention_is_causal():
    spec = gen_tiny_models.TINY_MODELS["llama-gqa"]
    w = model_spec.make_weights(spec, spec["seed"])
    cfg = model_spec.make_config(spec, "F32")
    a = reference_forward.forward(cfg, w, [1, 2, 3, 4])
    b = reference_forward.forward(cfg, w, [1, 2, 3, 9])
    assert np.allclose(a[:3], b[:3]) and not np.allclose(a[3], b[3])
    assert math.isfinite(float(a.sum()))


def test_parity_reference_files_match_the_forward(tmp_path):
    spec = gen_tiny_models.TINY_MODELS["qwen2-bias"]
    d = tmp_path / "m"
    model_spec.write_model(d, spec, spec["seed"])
    reference_forward.write_parity(str(d), "numpy", prompt_lengths=(3, 5), steps=4)
    lines = (d / "reference.txt").read_text().splitlines()
    assert lines[0] == f"vocab {spec['vocab']} prompts 2"
    logits = np.fromfile(d / "reference_logits.f32", dtype="<f4")
    cfg = json.load(open(d / "config.json"))
    w = read_checkpoint(str(d))
    for i, n in enumerate((3, 5)):
        ids, cont, offset, margins = lines[1 + 4 * i:5 + 4 * i]
        ids = [int(x) for x in ids.split()]
        assert len(ids) == n
        assert [int(x) for x in cont.split()] == reference_forward.greedy(cfg, w, ids, 4)
        want = reference_forward.forward(cfg, w, ids).astype("<f4").ravel()
        assert np.array_equal(logits[int(offset):int(offset) + want.size], want)
        assert len(margins.split()) == 4 and all(float(m) >= 0 for m in margins.split())


def test_bench_model_writes_once_per_stamp(tmp_path):
    assert bench_model.write(str(tmp_path), "tiny", gguf=True)
    cfg = json.load(open(tmp_path / "hf" / "config.json"))
    assert cfg["tie_word_embeddings"] and cfg["rope_scaling"]["rope_type"] == "llama3" and cfg["torch_dtype"] == "bfloat16"
    assert (tmp_path / "model.gguf").stat().st_size > 0
    assert not bench_model.write(str(tmp_path), "tiny", gguf=True)
    # Another shape or option is another stamp.
    (tmp_path / "spec.json").write_text("{}")
    assert bench_model.write(str(tmp_path), "tiny", gguf=False)
