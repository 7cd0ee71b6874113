"""The GGUF quantizers (scripts/gguf_quants.py) and the typed exporter.

Layouts are checked against scalar transcriptions of ggml's dequantize_row_* (ggml-quants.c),
written out loop by loop here so they share no code with the vectorised implementation; llama.cpp
itself loads the generated files in the vitest parity suite.
"""
import os
import struct
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import export_gguf  # noqa: E402
import gen_gguf_models  # noqa: E402
import gguf_quants as gq  # noqa: E402
import model_spec  # noqa: E402
from safetensors_io import read_checkpoint  # noqa: E402


def f16(raw, off):
    return float(np.frombuffer(raw[off:off + 2], dtype="<f2")[0])


# ----------------------------------------------------------------- scalar ggml transcriptions

def ggml_dequant_q8_0(raw):
    out = []
    for b in range(len(raw) // 34):
        blk = raw[34 * b:34 * b + 34]
        d = f16(blk, 0)
        out += [d * v for v in struct.unpack("<32b", blk[2:])]
    return np.array(out, dtype=np.float32)


def ggml_dequant_q4_0(raw):
    out = []
    for b in range(len(raw) // 18):
        blk = raw[18 * b:18 * b + 18]
        d = f16(blk, 0)
        y = [0.0] * 32
        for j in range(16):
            y[j] = ((blk[2 + j] & 0x0F) - 8) * d
            y[j + 16] = ((blk[2 + j] >> 4) - 8) * d
        out += y
    return np.array(out, dtype=np.float32)


def get_scale_min_k4(j, q):
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


def ggml_dequant_q4_k(raw):
    out = []
    for b in range(len(raw) // 144):
        blk = raw[144 * b:144 * b + 144]
        d, dmin = f16(blk, 0), f16(blk, 2)
        scales, q = blk[4:16], blk[16:144]
        is_ = 0
        for j in range(0, 256, 64):
            sc, m = get_scale_min_k4(is_, scales)
            d1, m1 = d * sc, dmin * m
            sc, m = get_scale_min_k4(is_ + 1, scales)
            d2, m2 = d * sc, dmin * m
            out += [d1 * (q[l] & 0xF) - m1 for l in range(32)]
            out += [d2 * (q[l] >> 4) - m2 for l in range(32)]
            q = q[32:]
            is_ += 2
    return np.array(out, dtype=np.float32)


def ggml_dequant_q5_k(raw):
    out = []
    for b in range(len(raw) // 176):
        blk = raw[176 * b:176 * b + 176]
        d, dmin = f16(blk, 0), f16(blk, 2)
        scales, qh, ql = blk[4:16], blk[16:48], blk[48:176]
        is_, u1, u2 = 0, 1, 2
        for j in range(0, 256, 64):
            sc, m = get_scale_min_k4(is_, scales)
            d1, m1 = d * sc, dmin * m
            sc, m = get_scale_min_k4(is_ + 1, scales)
            d2, m2 = d * sc, dmin * m
            out += [d1 * ((ql[l] & 0xF) + (16 if qh[l] & u1 else 0)) - m1 for l in range(32)]
            out += [d2 * ((ql[l] >> 4) + (16 if qh[l] & u2 else 0)) - m2 for l in range(32)]
            ql = ql[32:]
            is_ += 2
            u1 <<= 2
            u2 <<= 2
    return np.array(out, dtype=np.float32)


def ggml_dequant_q6_k(raw):
    out = []
    for b in range(len(raw) // 210):
        blk = raw[210 * b:210 * b + 210]
        ql, qh = blk[0:128], blk[128:192]
        sc = struct.unpack("<16b", blk[192:208])
        d = f16(blk, 208)
        y = [0.0] * 256
        for n in range(2):
            for l in range(32):
                is_ = l // 16
                q1 = ((ql[64 * n + l] & 0xF) | (((qh[32 * n + l] >> 0) & 3) << 4)) - 32
                q2 = ((ql[64 * n + l + 32] & 0xF) | (((qh[32 * n + l] >> 2) & 3) << 4)) - 32
                q3 = ((ql[64 * n + l] >> 4) | (((qh[32 * n + l] >> 4) & 3) << 4)) - 32
                q4 = ((ql[64 * n + l + 32] >> 4) | (((qh[32 * n + l] >> 6) & 3) << 4)) - 32
                y[128 * n + l] = d * sc[8 * n + is_] * q1
                y[128 * n + l + 32] = d * sc[8 * n + is_ + 2] * q2
                y[128 * n + l + 64] = d * sc[8 * n + is_ + 4] * q3
                y[128 * n + l + 96] = d * sc[8 * n + is_ + 6] * q4
        out += y
    return np.array(out, dtype=np.float32)


SCALAR = {gq.Q8_0: ggml_dequant_q8_0, gq.Q4_0: ggml_dequant_q4_0, gq.Q4_K: ggml_dequant_q4_k,
          gq.Q5_K: ggml_dequant_q5_k, gq.Q6_K: ggml_dequant_q6_k}

# Relative RMS error (rmse / rms) of a round trip on Gaussian data: what each format's bits allow
# with ggml's quantizers (measured 0.0054, 0.086, 0.071, 0.036, 0.018), with some headroom.
RT_BOUND = {gq.Q8_0: 0.007, gq.Q4_0: 0.10, gq.Q4_K: 0.085, gq.Q5_K: 0.045, gq.Q6_K: 0.022,
            gq.F16: 3e-4, gq.BF16: 2.5e-3, gq.F32: 0.0}


def gaussian(rows, cols, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


def test_block_sizes_match_ggml():
    # sizeof(block_q8_0) == 2 + 32, block_q4_0 == 2 + 16, block_q4_K == 2*2 + 12 + 128,
    # block_q5_K == 2*2 + 12 + 32 + 128, block_q6_K == 128 + 64 + 16 + 2.
    assert gq.BLOCK[gq.Q8_0] == (32, 34) and gq.BLOCK[gq.Q4_0] == (32, 18)
    assert gq.BLOCK[gq.Q4_K] == (256, 144) and gq.BLOCK[gq.Q5_K] == (256, 176) and gq.BLOCK[gq.Q6_K] == (256, 210)
    assert gq.row_bytes(gq.Q4_K, 512) == 288
    with pytest.raises(ValueError, match="multiple of 256"):
        gq.row_bytes(gq.Q6_K, 320)


@pytest.mark.parametrize("t", sorted(SCALAR))
def test_vectorised_dequantizer_matches_the_ggml_transcription(t):
    x = gaussian(3, 512, seed=t)
    x[1] *= 1e-3   # small magnitudes
    x[2, :256] = 0  # an all-zero super-block
    raw = gq.quantize(x, t)
    assert raw.nbytes == 3 * gq.row_bytes(t, 512)
    ours = gq.dequantize(raw, t, x.shape)
    ref = SCALAR[t](raw.tobytes()).reshape(x.shape)
    assert np.allclose(ours, ref, rtol=1e-6, atol=1e-12)
    assert np.all(ref[2, :256] == 0)


@pytest.mark.parametrize("t", sorted(RT_BOUND))
def test_round_trip_error_bounds(t):
    x = gaussian(64, 1024, seed=100 + t)
    y = gq.dequantize(gq.quantize(x, t), t, x.shape)
    rel = float(np.sqrt(np.mean((y - x) ** 2)) / np.sqrt(np.mean(x ** 2)))
    assert rel <= RT_BOUND[t], rel
    if t != gq.F32:
        assert rel > 0


def test_q8_0_block_layout_and_per_value_bound():
    x = np.linspace(-2.0, 1.0, 32, dtype=np.float32)
    raw = gq.quantize(x, gq.Q8_0).tobytes()
    d = f16(raw, 0)
    assert d == pytest.approx(2.0 / 127, rel=1e-3)  # amax / 127, stored as f16
    qs = struct.unpack("<32b", raw[2:])
    assert qs[0] == -127 and qs[-1] == round(1.0 / (2.0 / 127))
    # Each value is off by at most half a step (plus the f16 rounding of d).
    assert np.max(np.abs(ggml_dequant_q8_0(raw) - x)) <= d / 2 + 127 * abs(d - 2.0 / 127) + 1e-7


def test_q4_0_nibble_order():
    # Element j sits in the low nibble of qs[j], element j + 16 in the high nibble.
    x = np.zeros(32, dtype=np.float32)
    x[0], x[16], x[5] = -8.0, 4.0, 1.0
    raw = gq.quantize(x, gq.Q4_0).tobytes()
    d = f16(raw, 0)
    assert d == 1.0  # max (by magnitude, signed) / -8
    assert raw[2] & 0xF == 0 and raw[2] >> 4 == 12  # -8 -> 0, 4 -> 12
    assert raw[2 + 5] & 0xF == 9


def test_k4_scale_packing_round_trips():
    rng = np.random.default_rng(7)
    ls = rng.integers(0, 64, size=(50, 8))
    lm = rng.integers(0, 64, size=(50, 8))
    packed = gq.pack_scale_min_k4(ls, lm)
    sc, m = gq.unpack_scale_min_k4(packed)
    assert np.array_equal(sc, ls) and np.array_equal(m, lm)
    for row in range(5):
        for j in range(8):
            assert get_scale_min_k4(j, packed[row].tolist()) == (ls[row, j], lm[row, j])


def test_q6_k_sign_and_offset():
    # Values with one large negative: the super-block scale takes its sign (ggml: -128 / max_scale).
    x = gaussian(1, 256, seed=3)[0] * 0.1
    x[37] = -5.0
    raw = gq.quantize(x, gq.Q6_K).tobytes()
    y = ggml_dequant_q6_k(raw)
    assert abs(y[37] + 5.0) < 0.05
    assert np.sqrt(np.mean((y - x) ** 2)) < 0.02


@pytest.mark.parametrize("ftype", ["q8_0", "q4_k_m", "bf16"])
def test_exporter_writes_each_type(tmp_path, ftype):
    spec = gen_gguf_models.GGUF_MODELS["llama"]
    d = tmp_path / "m"
    model_spec.write_model(d, spec, spec["seed"])
    out = tmp_path / "m.gguf"
    export_gguf.export(str(d), str(out), ftype)
    meta, tensors = export_gguf.read_gguf(str(out))
    assert meta["general.file_type"] == export_gguf.FILE_TYPES[ftype]
    n_layers = spec["layers"]
    for name, (t, shape, raw) in tensors.items():
        assert len(raw) == gq.row_bytes(t, shape[-1]) * int(np.prod(shape[:-1]))
        if len(shape) == 1:
            assert t == gq.F32, name
    types = {n: t for n, (t, _, _) in tensors.items()}
    if ftype == "q4_k_m":
        assert types["output.weight"] == gq.Q6_K and types["token_embd.weight"] == gq.Q4_K
        assert types["blk.0.attn_q.weight"] == gq.Q4_K
        for i in range(n_layers):
            want = gq.Q6_K if export_gguf.use_more_bits(i, n_layers) else gq.Q4_K
            assert types[f"blk.{i}.attn_v.weight"] == want and types[f"blk.{i}.ffn_down.weight"] == want
        assert gq.Q6_K in types.values() and list(types.values()).count(gq.Q6_K) < len(types) // 2
    else:
        assert types["blk.0.ffn_up.weight"] == gq.TYPE_BY_NAME[ftype]
    # Dequantized and un-permuted, the weights are the checkpoint's within the type's error.
    _, back = export_gguf.hf_weights_from_gguf(str(out))
    w = read_checkpoint(str(d))
    q = w["model.layers.0.self_attn.q_proj.weight"]
    err = np.sqrt(np.mean((back["model.layers.0.self_attn.q_proj.weight"] - q) ** 2)) / np.sqrt(np.mean(q ** 2))
    assert err < 0.1


def test_f32_export_round_trips_exactly(tmp_path):
    spec = gen_gguf_models.GGUF_MODELS["qwen3"]
    d = tmp_path / "m"
    model_spec.write_model(d, spec, spec["seed"])
    export_gguf.export(str(d), str(tmp_path / "m.gguf"))
    _, back = export_gguf.hf_weights_from_gguf(str(tmp_path / "m.gguf"))
    w = read_checkpoint(str(d))
    assert set(back) == set(w) - {"lm_head.weight"}
    for k in back:
        assert np.array_equal(back[k], w[k]), k


def test_writer_streams_callables(tmp_path):
    g = export_gguf.GGUFWriter()
    g.add("general.architecture", export_gguf.GGUF_STRING, "llama")
    calls = []

    def make():
        calls.append(1)
        return gaussian(2, 256)

    g.add_tensor("a.weight", make, gq.Q4_K, shape=(2, 256))
    assert calls == []  # nothing produced before write()
    g.write(str(tmp_path / "s.gguf"))
    assert calls == [1]
    _, tensors = export_gguf.read_gguf(str(tmp_path / "s.gguf"))
    t, shape, raw = tensors["a.weight"]
    assert t == gq.Q4_K and shape == (2, 256) and len(raw) == 288
