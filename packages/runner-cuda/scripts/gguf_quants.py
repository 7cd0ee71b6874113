"""ggml tensor types for GGUF files: numpy quantizers and dequantizers.

Block layouts are ggml's (llama.cpp ggml/src/ggml-common.h); every block is little-endian and
packed (no padding). QK_K = 256 is the k-quant super-block.

  Q8_0  34 B / 32:   f16 d; int8 qs[32]                          x = d * qs[j]
  Q4_0  18 B / 32:   f16 d; uint8 qs[16]                         x[j] = d * ((qs[j] & 15) - 8),
                                                                  x[j + 16] = d * ((qs[j] >> 4) - 8)
  Q4_K 144 B / 256:  f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128]
                     8 sub-blocks of 32 with a 6-bit scale sc and min m (packed by pack_scale_min_k4);
                     chunk c (64 values) = qs[32c:32c+32]: low nibbles are sub-block 2c, high
                     nibbles 2c+1; x = d * sc * q - dmin * m
  Q5_K 176 B / 256:  f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]
                     as Q4_K plus a fifth bit: value l of chunk c takes bit 2c (low sub-block) or
                     2c+1 (high sub-block) of qh[l] as 16
  Q6_K 210 B / 256:  uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d
                     16 sub-blocks of 16 with int8 scales; half h (128 values) uses ql[64h:64h+64],
                     qh[32h:32h+32], scales[8h:8h+8]; for l in 0..31:
                       q[l]    = (ql[l] & 15)      | ((qh[l] >> 0) & 3) << 4
                       q[l+32] = (ql[l+32] & 15)   | ((qh[l] >> 2) & 3) << 4
                       q[l+64] = (ql[l] >> 4)      | ((qh[l] >> 4) & 3) << 4
                       q[l+96] = (ql[l+32] >> 4)   | ((qh[l] >> 6) & 3) << 4
                     x = d * scales[value / 16] * (q - 32)

The quantizers follow ggml's reference quantizers (quantize_row_*_ref in ggml-quants.c:
make_qkx2_quants for Q4_K/Q5_K, make_qx_quants for Q6_K), vectorised over all blocks of a tensor.
Float summation order differs from the C code, so a scale can differ in its last bits from what
llama.cpp's quantizer would write; the layout and the dequantized meaning are the same, which is
what matters here: both engines read the very same file.
"""
import numpy as np

from safetensors_io import bf16_bits_to_f32, f32_to_bf16_bits

QK_K = 256

# ggml_type ids (ggml.h).
F32, F16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K, BF16 = 0, 1, 2, 8, 12, 13, 14, 30

TYPE_NAMES = {F32: "F32", F16: "F16", BF16: "BF16", Q8_0: "Q8_0", Q4_0: "Q4_0", Q4_K: "Q4_K", Q5_K: "Q5_K", Q6_K: "Q6_K"}
TYPE_BY_NAME = {v.lower(): k for k, v in TYPE_NAMES.items()}

# (values per block, bytes per block)
BLOCK = {F32: (1, 4), F16: (1, 2), BF16: (1, 2), Q8_0: (32, 34), Q4_0: (32, 18), Q4_K: (256, 144),
         Q5_K: (256, 176), Q6_K: (256, 210)}


def row_bytes(ggml_type, n):
    block, size = BLOCK[ggml_type]
    if n % block:
        raise ValueError(f"{TYPE_NAMES[ggml_type]} rows need a multiple of {block} values, got {n}")
    return n // block * size


def _f16(a):
    return np.asarray(a, dtype=np.float32).astype(np.float16)


def _f16_bytes(a):
    return _f16(a).reshape(-1, 1).view(np.uint8)


def _rint(a):
    # ggml's nearest_int rounds half to even, as np.rint does.
    return np.rint(a).astype(np.int32)


def _blocks(x, n):
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape[-1] % n:
        raise ValueError(f"the last dimension ({x.shape[-1]}) must be a multiple of {n}")
    return x.reshape(-1, n)


# ------------------------------------------------------------------ Q8_0 / Q4_0

def quantize_q8_0(x):
    b = _blocks(x, 32)
    amax = np.abs(b).max(axis=1)
    d = amax / np.float32(127)
    idv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    qs = _rint(b * idv[:, None]).astype(np.int8)
    out = np.concatenate([_f16_bytes(d), qs.view(np.uint8)], axis=1)
    return out.reshape(-1)


def dequantize_q8_0(raw, n):
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 34)
    d = b[:, :2].copy().view(np.float16).astype(np.float32)
    qs = b[:, 2:].copy().view(np.int8).astype(np.float32)
    return (d * qs).reshape(-1)[:n]


def quantize_q4_0(x):
    b = _blocks(x, 32)
    idx = np.abs(b).argmax(axis=1)
    mx = b[np.arange(len(b)), idx]
    d = mx / np.float32(-8)
    idv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    # ggml: MIN(15, (int8_t)(x * id + 8.5f)), a truncating conversion.
    q = np.minimum(15, np.trunc(b * idv[:, None] + np.float32(8.5)).astype(np.int32)).astype(np.uint8)
    qs = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([_f16_bytes(d), qs], axis=1).reshape(-1)


def dequantize_q4_0(raw, n):
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    d = b[:, :2].copy().view(np.float16).astype(np.float32)
    qs = b[:, 2:]
    q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32) - 8
    return (d * q).reshape(-1)[:n]


# ------------------------------------------------------------------ k-quant helpers

def _make_qkx2(x, w, nmax, rmin, rdelta, nstep):
    """ggml make_qkx2_quants over rows of x: (scale, -min, L) with x ~ scale * L + min, min <= 0."""
    mn = np.minimum(x.min(axis=1), 0).astype(np.float32)
    mx = x.max(axis=1)
    flat = mx == mn
    rng = np.where(flat, np.float32(1), mx - mn).astype(np.float32)
    sum_w = w.sum(axis=1)
    sum_x = (w * x).sum(axis=1)
    iscale = np.float32(nmax) / rng
    scale = np.float32(1) / iscale
    L = np.clip(_rint(iscale[:, None] * (x - mn[:, None])), 0, nmax)
    best = (w * (scale[:, None] * L + mn[:, None] - x) ** 2).sum(axis=1)
    for step in range(nstep + 1):
        iscale = np.float32(rmin + rdelta * step + nmax) / rng
        la = np.clip(_rint(iscale[:, None] * (x - mn[:, None])), 0, nmax).astype(np.float32)
        sum_l = (w * la).sum(axis=1)
        sum_l2 = (w * la * la).sum(axis=1)
        sum_xl = (w * la * x).sum(axis=1)
        D = sum_w * sum_l2 - sum_l * sum_l
        ok = D > 0
        Ds = np.where(ok, D, 1)
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / Ds
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / Ds
        pos = this_min > 0
        this_min = np.where(pos, 0, this_min)
        this_scale = np.where(pos, sum_xl / np.where(sum_l2 > 0, sum_l2, 1), this_scale)
        cur = (w * (this_scale[:, None] * la + this_min[:, None] - x) ** 2).sum(axis=1)
        better = ok & (cur < best)
        L = np.where(better[:, None], la.astype(np.int32), L)
        best = np.where(better, cur, best)
        scale = np.where(better, this_scale, scale)
        mn = np.where(better, this_min, mn)
    scale = np.where(flat, 0, scale).astype(np.float32)
    L = np.where(flat[:, None], 0, L)
    return scale, (-mn).astype(np.float32), L


def pack_scale_min_k4(ls, lm):
    """6-bit scales and mins of 8 sub-blocks -> the 12 bytes of Q4_K/Q5_K (ggml get_scale_min_k4)."""
    ls = ls.astype(np.uint8)
    lm = lm.astype(np.uint8)
    out = np.zeros((ls.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    out[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (ls[:, 4:8] & 15) | ((lm[:, 4:8] & 15) << 4)
    return out


def unpack_scale_min_k4(s):
    sc = np.zeros((s.shape[0], 8), dtype=np.uint8)
    m = np.zeros((s.shape[0], 8), dtype=np.uint8)
    sc[:, 0:4] = s[:, 0:4] & 63
    m[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, m


def _quantize_k_affine(x, nmax, rmin, nstep):
    """Shared Q4_K/Q5_K quantization: returns (d, dmin, packed scales, L[nb, 256])."""
    b = _blocks(x, QK_K)
    nb = b.shape[0]
    sub = b.reshape(-1, 32)
    av = np.sqrt((sub * sub).sum(axis=1) / 32)
    w = av[:, None] + np.abs(sub)
    scales, mins, _ = _make_qkx2(sub, w, nmax, rmin, np.float32(0.1), nstep)
    scales = scales.reshape(nb, 8)
    mins = mins.reshape(nb, 8)
    max_scale = scales.max(axis=1)
    max_min = mins.max(axis=1)
    inv_scale = np.divide(np.float32(63), max_scale, out=np.zeros_like(max_scale), where=max_scale > 0)
    inv_min = np.divide(np.float32(63), max_min, out=np.zeros_like(max_min), where=max_min > 0)
    ls = np.minimum(63, _rint(inv_scale[:, None] * scales))
    lm = np.minimum(63, _rint(inv_min[:, None] * mins))
    d = _f16(max_scale / np.float32(63))
    dmin = _f16(max_min / np.float32(63))
    dd = d.astype(np.float32)[:, None] * ls.astype(np.float32)
    dm = dmin.astype(np.float32)[:, None] * lm.astype(np.float32)
    subv = b.reshape(nb, 8, 32)
    ddv = np.where(dd == 0, 1, dd)
    L = np.clip(_rint((subv + dm[:, :, None]) / ddv[:, :, None]), 0, nmax)
    L = np.where((dd == 0)[:, :, None], 0, L).reshape(nb, QK_K).astype(np.uint8)
    return d, dmin, pack_scale_min_k4(ls, lm), L


def _kscale_values(raw, nb, size):
    b = np.frombuffer(raw, dtype=np.uint8).reshape(nb, size)
    d = b[:, 0:2].copy().view(np.float16).astype(np.float32)
    dmin = b[:, 2:4].copy().view(np.float16).astype(np.float32)
    sc, m = unpack_scale_min_k4(b[:, 4:16])
    return b, d * sc.astype(np.float32), dmin * m.astype(np.float32)


# ------------------------------------------------------------------ Q4_K

def quantize_q4_k(x):
    d, dmin, scales, L = _quantize_k_affine(x, 15, -1.0, 20)
    nb = L.shape[0]
    # Chunk c of 64 values: low nibble = value l, high nibble = value l + 32.
    Lc = L.reshape(nb, 4, 2, 32)
    qs = (Lc[:, :, 0, :] | (Lc[:, :, 1, :] << 4)).reshape(nb, 128)
    return np.concatenate([_f16_bytes(d), _f16_bytes(dmin), scales, qs], axis=1).reshape(-1)


def dequantize_q4_k(raw, n):
    nb = len(raw) // 144
    b, ds, ms = _kscale_values(raw, nb, 144)
    qs = b[:, 16:144].reshape(nb, 4, 32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(nb, 8, 32).astype(np.float32)
    return (ds[:, :, None] * q - ms[:, :, None]).reshape(-1)[:n]


# ------------------------------------------------------------------ Q5_K

def quantize_q5_k(x):
    d, dmin, scales, L = _quantize_k_affine(x, 31, -0.5, 15)
    nb = L.shape[0]
    Lc = L.reshape(nb, 4, 2, 32)
    lo = Lc & 15
    hi = (Lc >> 4) & 1
    qs = (lo[:, :, 0, :] | (lo[:, :, 1, :] << 4)).reshape(nb, 128)
    qh = np.zeros((nb, 32), dtype=np.uint8)
    for c in range(4):
        qh |= (hi[:, c, 0, :] << (2 * c)) | (hi[:, c, 1, :] << (2 * c + 1))
    return np.concatenate([_f16_bytes(d), _f16_bytes(dmin), scales, qh, qs], axis=1).reshape(-1)


def dequantize_q5_k(raw, n):
    nb = len(raw) // 176
    b, ds, ms = _kscale_values(raw, nb, 176)
    qh = b[:, 16:48]
    qs = b[:, 48:176].reshape(nb, 4, 32)
    parts = []
    for c in range(4):
        parts.append((qs[:, c] & 15) + (((qh >> (2 * c)) & 1) << 4))
        parts.append((qs[:, c] >> 4) + (((qh >> (2 * c + 1)) & 1) << 4))
    q = np.stack(parts, axis=1).astype(np.float32)
    return (ds[:, :, None] * q - ms[:, :, None]).reshape(-1)[:n]


# ------------------------------------------------------------------ Q6_K

def _make_qx(x, nmax):
    """ggml make_qx_quants(n, nmax, x, L, rmse_type=1, NULL) over rows: (scale, L in [0, 2 nmax))."""
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(len(x)), idx]
    zero = np.abs(mx) < np.float32(1e-15)
    mxs = np.where(zero, 1, mx).astype(np.float32)
    w = x * x

    def attempt(iscale):
        l = np.clip(_rint(iscale[:, None] * x), -nmax, nmax - 1)
        lf = l.astype(np.float32)
        return l, (w * x * lf).sum(axis=1), (w * lf * lf).sum(axis=1)

    L, sumlx, suml2 = attempt(np.float32(-nmax) / mxs)
    scale = np.divide(sumlx, suml2, out=np.zeros_like(sumlx), where=suml2 != 0)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        l, slx, sl2 = attempt(-(np.float32(nmax) + np.float32(0.1) * step) / mxs)
        better = (sl2 > 0) & (slx * slx > best * sl2)
        L = np.where(better[:, None], l, L)
        scale = np.where(better, slx / np.where(sl2 > 0, sl2, 1), scale)
        best = np.where(better, scale * slx, best)
    scale = np.where(zero, 0, scale).astype(np.float32)
    return scale, np.where(zero[:, None], 0, L) + nmax


def quantize_q6_k(x):
    b = _blocks(x, QK_K)
    nb = b.shape[0]
    scales, _ = _make_qx(b.reshape(-1, 16), 32)
    scales = scales.reshape(nb, 16)
    idx = np.abs(scales).argmax(axis=1)
    max_scale = scales[np.arange(nb), idx]
    zero = np.abs(max_scale) < np.float32(1e-15)
    iscale = np.float32(-128) / np.where(zero, 1, max_scale).astype(np.float32)
    d = _f16(np.where(zero, 0, np.float32(1) / iscale))
    sc = np.minimum(127, _rint(iscale[:, None] * scales)).astype(np.int8)
    sc = np.where(zero[:, None], 0, sc).astype(np.int8)
    dd = d.astype(np.float32)[:, None] * sc.astype(np.float32)
    ddv = np.where(dd == 0, 1, dd)
    L = np.clip(_rint(b.reshape(nb, 16, 16) / ddv[:, :, None]), -32, 31) + 32
    L = np.where((dd == 0)[:, :, None], 32, L).reshape(nb, 2, 4, 32).astype(np.uint8)
    # Half h: ql[l] = L[l] | L[l+64] << 4, ql[l+32] = L[l+32] | L[l+96] << 4, qh packs the top 2 bits.
    ql = np.concatenate([L[:, :, 0] & 15 | ((L[:, :, 2] & 15) << 4), L[:, :, 1] & 15 | ((L[:, :, 3] & 15) << 4)], axis=2)
    qh = (L[:, :, 0] >> 4) | ((L[:, :, 1] >> 4) << 2) | ((L[:, :, 2] >> 4) << 4) | ((L[:, :, 3] >> 4) << 6)
    return np.concatenate([ql.reshape(nb, 128), qh.reshape(nb, 64), sc.view(np.uint8), _f16_bytes(d)], axis=1).reshape(-1)


def dequantize_q6_k(raw, n):
    nb = len(raw) // 210
    b = np.frombuffer(raw, dtype=np.uint8).reshape(nb, 210)
    ql = b[:, 0:128].reshape(nb, 2, 64)
    qh = b[:, 128:192].reshape(nb, 2, 32)
    sc = b[:, 192:208].copy().view(np.int8).astype(np.float32)
    d = b[:, 208:210].copy().view(np.float16).astype(np.float32)
    q = np.stack([
        (ql[:, :, 0:32] & 15) | (((qh >> 0) & 3) << 4),
        (ql[:, :, 32:64] & 15) | (((qh >> 2) & 3) << 4),
        (ql[:, :, 0:32] >> 4) | (((qh >> 4) & 3) << 4),
        (ql[:, :, 32:64] >> 4) | (((qh >> 6) & 3) << 4),
    ], axis=2).reshape(nb, 16, 16).astype(np.float32) - 32
    return ((d * sc)[:, :, None] * q).reshape(-1)[:n]


# ------------------------------------------------------------------ dispatch

def quantize(x, ggml_type):
    """float array (last dimension = one row) -> the bytes GGUF stores for it."""
    x = np.asarray(x, dtype=np.float32)
    if ggml_type == F32:
        return np.ascontiguousarray(x, dtype="<f4").view(np.uint8).reshape(-1)
    if ggml_type == F16:
        return np.ascontiguousarray(x, dtype="<f2").view(np.uint8).reshape(-1)
    if ggml_type == BF16:
        return f32_to_bf16_bits(x).astype("<u2").view(np.uint8).reshape(-1)
    row_bytes(ggml_type, x.shape[-1])
    fn = {Q8_0: quantize_q8_0, Q4_0: quantize_q4_0, Q4_K: quantize_q4_k, Q5_K: quantize_q5_k, Q6_K: quantize_q6_k}[ggml_type]
    # A few hundred thousand values at a time: the k-quant searches make a dozen temporaries the
    # size of their input, which stay in cache this way (and a 1 GB embedding takes no 5 GB).
    rows = x.reshape(-1, x.shape[-1])
    step = max(1, (1 << 18) // rows.shape[1])
    return np.concatenate([fn(rows[i:i + step]) for i in range(0, rows.shape[0], step)])


def dequantize(raw, ggml_type, shape):
    """The bytes of one tensor -> float32 array of `shape` (row-major, last dimension = a row)."""
    n = int(np.prod(shape))
    raw = np.frombuffer(raw, dtype=np.uint8)
    if ggml_type == F32:
        out = raw.view("<f4").astype(np.float32)
    elif ggml_type == F16:
        out = raw.view("<f2").astype(np.float32)
    elif ggml_type == BF16:
        out = bf16_bits_to_f32(raw.view("<u2"))
    else:
        out = {Q8_0: dequantize_q8_0, Q4_0: dequantize_q4_0, Q4_K: dequantize_q4_k, Q5_K: dequantize_q5_k,
               Q6_K: dequantize_q6_k}[ggml_type](raw.tobytes(), n)
    return out.reshape(shape)
