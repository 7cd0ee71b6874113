/*
Causal GQA attention over the paged KV cache (BF16 K/V, f32 q and output).

Build: part of tools/CMakeLists.txt (target wb_attention), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine attention.cu -o attention

version 1: one thread per (token, q head), scores for the whole context in global scratch, then
           softmax and the weighted sum: the direct transcription of the math.
version 2: the engine's decode kernel (engine/cuda/attention.cu): flash-decoding, one block per
           (kv head, token, split) scoring the whole GQA group, log-sum-exp merge of the splits.
version 3: the engine's prefill kernel: query tiles x key tiles of 32 through shared memory with
           an online softmax per row, on CUDA cores in F32.
version 4: the engine's tensor-core prefill (INFERKIT_CUDA_EXPERIMENTAL=1, BF16 caches):
           flash-attention-2 with mma.sync m16n8k16, every q head of a GQA group (up to 128
           query rows a block) sharing each staged K/V tile, keys 64 (32 at head_dim 128) a
           stage through a two-buffer cp.async pipeline, P repacked from the S accumulators.

Version 4 rounds q and the softmax weights P to BF16, so it is checked against a reference fed
the same BF16-rounded q, with a per-element bound instead of a flat tolerance: each weight is
off by at most u = 2^-8 relative (round to nearest), and the kernel divides by the sum of the
rounded weights, so its output is still a convex combination of the value rows and
|out - ref| <= u / (1 - u) * max_j |v_j - ref| over the visible keys j, plus 1e-4 for the F32
accumulation and exp2 approximation. (A flat tolerance wide enough for the worst element,
u / (1 - u) * 2 max|v| = 7.8e-3 with values in [-1, 1], would let through errors that large in
rows whose visible values nearly agree, where the bound is far tighter.) The error against the
F32-q reference, which adds q's rounding, is printed beside it for the record.

Run: ./attention  (validates decode and prefill for head_dim 16/32/64/128 against a double
precision reference, with sliding windows, GQA groups of 4 and 7 and plain multi-head, a
prefill chunk that starts at position 0 and ones that continue a cached sequence, one-row
tiles; then times the Llama-3.2-1B shape, and prefill at head_dim 128)
*/
#include <numeric>
#include <random>

#include "common.h"
#include "cuda/attention.cu"

using namespace inferkit::cuda;

struct Problem {
  int nq, nkv, hd, slots, max_seq, window;
  std::vector<int> blocks;             // block table [slots * max_blocks]
  int max_blocks;
  std::vector<float> k, v;             // logical [slot][pos][kvh][hd], bf16-rounded
  std::vector<bf16> kpool, vpool;
};

Problem make_problem(int nq, int nkv, int hd, int slots, int max_seq, int window, uint64_t seed) {
  Problem p{nq, nkv, hd, slots, max_seq, window, {}, (max_seq + kKvBlockTokens - 1) / kKvBlockTokens, {}, {}, {}, {}};
  const int nblocks = p.slots * p.max_blocks;
  std::vector<int> perm(nblocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(static_cast<unsigned>(seed)));
  p.blocks = perm;  // slot s, block i -> pool block perm[s * max_blocks + i]
  const size_t logical = static_cast<size_t>(slots) * max_seq * nkv * hd;
  p.k = random_floats(logical, seed + 1);
  p.v = random_floats(logical, seed + 2);
  for (float& x : p.k) x = bf16_round(x);
  for (float& x : p.v) x = bf16_round(x);
  p.kpool.resize(static_cast<size_t>(nblocks) * nkv * kKvBlockTokens * hd);
  p.vpool.resize(p.kpool.size());
  for (int s = 0; s < slots; ++s)
    for (int pos = 0; pos < max_seq; ++pos)
      for (int h = 0; h < nkv; ++h)
        for (int d = 0; d < hd; ++d) {
          const size_t src = ((static_cast<size_t>(s) * max_seq + pos) * nkv + h) * hd + d;
          const int64_t blk = p.blocks[s * p.max_blocks + pos / kKvBlockTokens];
          const size_t dst = ((blk * nkv + h) * kKvBlockTokens + pos % kKvBlockTokens) * hd + d;
          p.kpool[dst] = __float2bfloat16(p.k[src]);
          p.vpool[dst] = __float2bfloat16(p.v[src]);
        }
  return p;
}

// ---------------------------------------------------------------------------------------------
// CPU reference

// spread (optional): per output element, max over the visible keys j of |v_j - out|, what a
// relative error in the softmax weights can move the output by (see version 4 above).
void attention_cpu(const Problem& p, const std::vector<float>& q, const std::vector<int>& pos,
                   const std::vector<int>& slot, std::vector<double>* out,
                   std::vector<double>* spread = nullptr) {
  const int T = static_cast<int>(pos.size()), G = p.nq / p.nkv;
  out->assign(static_cast<size_t>(T) * p.nq * p.hd, 0.0);
  if (spread) spread->assign(out->size(), 0.0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(p.hd));
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < p.nq; ++h) {
      const int kvh = h / G, lo = p.window > 0 ? std::max(0, pos[t] - p.window + 1) : 0;
      std::vector<double> s;
      for (int j = lo; j <= pos[t]; ++j) {
        double d = 0;
        for (int i = 0; i < p.hd; ++i)
          d += q[(static_cast<size_t>(t) * p.nq + h) * p.hd + i] *
               p.k[((static_cast<size_t>(slot[t]) * p.max_seq + j) * p.nkv + kvh) * p.hd + i];
        s.push_back(d * scale);
      }
      const double m = *std::max_element(s.begin(), s.end());
      double l = 0;
      for (double& x : s) { x = std::exp(x - m); l += x; }
      for (int i = 0; i < p.hd; ++i) {
        double o = 0;
        for (int j = lo; j <= pos[t]; ++j)
          o += s[j - lo] * p.v[((static_cast<size_t>(slot[t]) * p.max_seq + j) * p.nkv + kvh) * p.hd + i];
        const size_t at = (static_cast<size_t>(t) * p.nq + h) * p.hd + i;
        (*out)[at] = o / l;
        if (spread)
          for (int j = lo; j <= pos[t]; ++j)
            (*spread)[at] = std::max((*spread)[at], std::fabs(p.v[((static_cast<size_t>(slot[t]) * p.max_seq + j) * p.nkv + kvh) * p.hd + i] - o / l));
      }
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels

__global__ void attention_kernel1(const float* q, const int* pos, const int* slot, const int* blocks,
                                  int max_blocks, const bf16* kpool, const bf16* vpool, int nq, int nkv,
                                  int hd, float* scratch, int max_seq, float* out) {
  const int t = blockIdx.x, h = threadIdx.x;
  if (h >= nq) return;
  KvView kv{blocks, max_blocks, nkv, hd};
  const int32_t* row = blocks + slot[t] * max_blocks;
  const int kvh = h / (nq / nkv), n = pos[t] + 1;
  float* s = scratch + (static_cast<size_t>(t) * nq + h) * max_seq;
  const float* qh = q + (static_cast<size_t>(t) * nq + h) * hd;
  float m = -INFINITY;
  for (int j = 0; j < n; ++j) {
    const bf16* kr = kpool + kv_offset(kv, row, j, kvh);
    float d = 0.f;
    for (int i = 0; i < hd; ++i) d += qh[i] * __bfloat162float(kr[i]);
    s[j] = d * rsqrtf(static_cast<float>(hd));
    m = fmaxf(m, s[j]);
  }
  float l = 0.f;
  for (int j = 0; j < n; ++j) { s[j] = __expf(s[j] - m); l += s[j]; }
  for (int i = 0; i < hd; ++i) {
    float o = 0.f;
    for (int j = 0; j < n; ++j) o += s[j] * __bfloat162float(vpool[kv_offset(kv, row, j, kvh) + i]);
    out[(static_cast<size_t>(t) * nq + h) * hd + i] = o / l;
  }
}

// ---------------------------------------------------------------------------------------------

struct Dev {
  float* q; int* pos; int* slot; int* blocks; bf16* kpool; bf16* vpool; void* out; void* ws; PrefillTile* tiles;
};

std::vector<PrefillTile> make_tiles(const std::vector<int>& pos, const std::vector<int>& slot, int hd) {
  std::vector<PrefillTile> tiles;
  const int rows = prefill_tile_rows(hd);
  for (int i = 0; i < static_cast<int>(pos.size());) {
    int j = i + 1;
    while (j < static_cast<int>(pos.size()) && slot[j] == slot[i]) ++j;
    for (int r = i; r < j; r += rows) tiles.push_back({r, std::min(j, r + rows) - r, pos[r], pos[std::min(j, r + rows) - 1]});
    i = j;
  }
  return tiles;
}

template <typename OT> float out_to_f32(OT v) { return static_cast<float>(v); }
template <> float out_to_f32<bf16>(bf16 v) { return __bfloat162float(v); }

// Version 4's check (see the header): |got - ref| <= (u / (1 - u) * spread + 1e-4) * (1 + uo)
// + uo * |ref|, where uo is the output type's own rounding (0 for f32, 2^-8 for BF16).
bool validate_bounded(const char* what, const std::vector<float>& got, const std::vector<double>& ref,
                      const std::vector<double>& spread, double uo) {
  const double u = std::ldexp(1.0, -8);
  int bad = 0;
  double max_err = 0, worst = 0, num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = got[i], r = ref[i];
    const double err = std::fabs(g - r);
    const double tol = (u / (1 - u) * spread[i] + 1e-4) * (1 + uo) + uo * std::fabs(r);
    num += (g - r) * (g - r);
    den += r * r;
    if (!(err <= tol)) {
      if (bad < 5) std::printf("  mismatch %s[%zu]: got %.6g want %.6g (bound %.3g)\n", what, i, g, r, tol);
      ++bad;
    }
    max_err = std::isfinite(err) ? std::max(max_err, err) : INFINITY;
    worst = std::isfinite(err) ? std::max(worst, err / tol) : INFINITY;
  }
  std::printf("%s %s: max abs err %.3g, rel L2 %.3g, worst err/bound %.2f, %d/%zu outside bound\n",
              bad ? "FAIL" : "OK", what, max_err, den > 0 ? std::sqrt(num / den) : 0.0, worst, bad, ref.size());
  return bad == 0;
}

// version 2: decode; 3: prefill (CUDA cores); 4: prefill on tensor cores. OT is the output type.
template <typename OT = float>
bool check(const Problem& p, const std::vector<int>& pos, const std::vector<int>& slot, int version, const char* label) {
  const int T = static_cast<int>(pos.size());
  const std::vector<float> q = random_floats(static_cast<size_t>(T) * p.nq * p.hd, 99);
  std::vector<double> ref, spread, ref_f32q;
  if (version == 4) {
    // The kernel gets q as is and rounds it itself; the reference gets it rounded the same way.
    attention_cpu(p, q, pos, slot, &ref_f32q);
    std::vector<float> q16(q);
    for (float& x : q16) x = bf16_round(x);
    attention_cpu(p, q16, pos, slot, &ref, &spread);
  } else {
    attention_cpu(p, q, pos, slot, &ref);
  }
  Dev d{};
  d.q = to_device(q); d.pos = to_device(pos); d.slot = to_device(slot); d.blocks = to_device(p.blocks);
  d.kpool = to_device(p.kpool); d.vpool = to_device(p.vpool);
  WB_CHECK(cudaMalloc(&d.out, ref.size() * sizeof(OT)));
  WB_CHECK(cudaMemset(d.out, 0xFF, ref.size() * sizeof(OT)));  // NaN: an unwritten output fails
  KvView kv{d.blocks, p.max_blocks, p.nkv, p.hd};
  AttentionArgs a{d.q, p.nq * p.hd, d.pos, d.slot, T, p.nq, 1.f / std::sqrt(static_cast<float>(p.hd)), p.window, d.out};
  const int max_ctx = *std::max_element(pos.begin(), pos.end()) + 1;
  if (version >= 3) {
    const auto tiles = make_tiles(pos, slot, p.hd);
    d.tiles = to_device(tiles);
    experimental_kernels() = version == 4;  // the engine's switch picks the prefill kernel
    WB_CHECK((launch_attention_prefill<bf16, OT>(a, kv, d.kpool, d.vpool, d.tiles, static_cast<int>(tiles.size()), 0)));
    experimental_kernels() = false;
  } else {
    WB_CHECK(cudaMalloc(&d.ws, attention_decode_workspace_bytes(T, p.nq, p.hd, p.max_seq, p.nq / p.nkv)));
    WB_CHECK((launch_attention_decode<bf16, OT>(a, kv, d.kpool, d.vpool, max_ctx, d.ws, 0)));
  }
  WB_CHECK(cudaDeviceSynchronize());
  const std::vector<OT> raw = to_host(static_cast<const OT*>(d.out), ref.size());
  std::vector<float> got(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) got[i] = out_to_f32(raw[i]);
  bool ok;
  if (version == 4) {
    ok = validate_bounded(label, got, ref, spread, std::is_same_v<OT, float> ? 0.0 : std::ldexp(1.0, -8));
    double max_err = 0, num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double e = got[i] - ref_f32q[i];
      max_err = std::max(max_err, std::fabs(e));
      num += e * e;
      den += ref_f32q[i] * ref_f32q[i];
    }
    std::printf("   (against the F32-q reference: max abs err %.3g, rel L2 %.3g)\n", max_err, std::sqrt(num / den));
  } else {
    ok = validate(label, got, ref, 2e-3, 2e-3);
  }
  cudaFree(d.q); cudaFree(d.pos); cudaFree(d.slot); cudaFree(d.blocks); cudaFree(d.kpool); cudaFree(d.vpool);
  cudaFree(d.out); cudaFree(d.ws); cudaFree(d.tiles);
  return ok;
}

// Times versions 3 and 4 on one causal sequence of T tokens from position 0.
void time_prefill(int nq, int nkv, int hd, int T) {
  Problem p = make_problem(nq, nkv, hd, 1, T, 0, 6);
  std::vector<int> pos(T), slot(T, 0);
  std::iota(pos.begin(), pos.end(), 0);
  const auto tiles = make_tiles(pos, slot, hd);
  float* dq = to_device(random_floats(static_cast<size_t>(T) * nq * hd, 2)); int* dp = to_device(pos); int* ds = to_device(slot);
  int* db = to_device(p.blocks); bf16* dk = to_device(p.kpool); bf16* dv = to_device(p.vpool);
  PrefillTile* dt = to_device(tiles);
  float* dout;
  WB_CHECK(cudaMalloc(&dout, static_cast<size_t>(T) * nq * hd * 4));
  KvView kv{db, p.max_blocks, nkv, hd};
  AttentionArgs a{dq, nq * hd, dp, ds, T, nq, 1.f / std::sqrt(static_cast<float>(hd)), 0, dout};
  const double flop = 4.0 * nq * hd * (static_cast<double>(T) * (T + 1) / 2);
  for (int version : {3, 4}) {
    experimental_kernels() = version == 4;
    const float ms = time_kernel([&] { WB_CHECK((launch_attention_prefill<bf16, float>(a, kv, dk, dv, dt, static_cast<int>(tiles.size()), 0))); }, 5, 1);
    std::printf("time kernel%d prefill T=%d heads %d/%d hd=%d: %.3f ms, %.1f TFLOP/s (causal)\n", version, T, nq, nkv, hd, ms, flop / (ms * 1e-3) / 1e12);
  }
  experimental_kernels() = false;
  cudaFree(dq); cudaFree(dp); cudaFree(ds); cudaFree(db); cudaFree(dk); cudaFree(dv); cudaFree(dt); cudaFree(dout);
}

int main() {
  bool ok = true;
  // Prefill batch: one sequence from position 0 (50 rows: a partial last tile at every tile
  // size), one continuing at 30 and one at 100 (earlier keys already cached; 100 sits inside a
  // 16-token cache block), the last long enough for several key stages and window skips.
  std::vector<int> pf_pos, pf_slot;
  for (int i = 0; i < 50; ++i) { pf_pos.push_back(i); pf_slot.push_back(0); }
  pf_pos.push_back(77); pf_slot.push_back(2);  // one-row tiles: decode tokens in a mixed batch
  for (int i = 30; i < 70; ++i) { pf_pos.push_back(i); pf_slot.push_back(3); }
  pf_pos.push_back(0); pf_slot.push_back(4);
  for (int i = 100; i <= 300; ++i) { pf_pos.push_back(i); pf_slot.push_back(1); }
  // q/kv heads: GQA group 4, group 7 (head chunks that leave a warp slab idle), multi-head.
  const int heads[3][2] = {{8, 2}, {14, 2}, {4, 4}};
  for (int hd : {16, 32, 64, 128}) {
    for (int window : {0, 20, 70}) {
      std::printf("== head_dim %d, window %d\n", hd, window);
      char label[96];
      {
        Problem p = make_problem(8, 2, hd, 5, 320, window, 7 + hd);
        snprintf(label, sizeof label, "kernel2 decode hd=%d window=%d", hd, window);
        ok = check(p, {0, 15, 16, 100, 300}, {0, 1, 2, 3, 4}, 2, label) && ok;
      }
      for (const auto& h : heads) {
        Problem p = make_problem(h[0], h[1], hd, 5, 320, window, 7 + hd);
        for (int version : {3, 4}) {
          snprintf(label, sizeof label, "kernel%d prefill hd=%d window=%d heads %d/%d", version, hd, window, h[0], h[1]);
          ok = check(p, pf_pos, pf_slot, version, label) && ok;
        }
      }
    }
  }
  // Version 4 with a BF16 output (what the engine writes when the weights are 16-bit).
  {
    Problem p = make_problem(32, 8, 64, 5, 320, 0, 11);
    ok = check<bf16>(p, pf_pos, pf_slot, 4, "kernel4 prefill hd=64 window=0 heads 32/8, bf16 out") && ok;
  }
  // The version-1 kernel against the reference once, for the record.
  {
    Problem p = make_problem(8, 2, 64, 2, 128, 0, 3);
    const std::vector<int> pos = {50, 127}, slot = {0, 1};
    const std::vector<float> q = random_floats(2 * 8 * 64, 99);
    std::vector<double> ref;
    attention_cpu(p, q, pos, slot, &ref);
    float* dq = to_device(q); int* dp = to_device(pos); int* ds = to_device(slot); int* db = to_device(p.blocks);
    bf16* dk = to_device(p.kpool); bf16* dv = to_device(p.vpool);
    float *dout, *scratch;
    WB_CHECK(cudaMalloc(&dout, ref.size() * 4));
    WB_CHECK(cudaMalloc(&scratch, 2 * 8 * 128 * 4));
    attention_kernel1<<<2, 32>>>(dq, dp, ds, db, p.max_blocks, dk, dv, 8, 2, 64, scratch, 128, dout);
    WB_CHECK(cudaDeviceSynchronize());
    ok = validate("kernel1 decode hd=64", to_host(dout, ref.size()), ref, 2e-3, 2e-3) && ok;
  }

  // Timing at the Llama-3.2-1B shape: 32 q heads, 8 kv heads, head_dim 64.
  for (int ctx : {256, 2048}) {
    for (int B : {1, 64}) {
      Problem p = make_problem(32, 8, 64, B, ctx, 0, 5);
      std::vector<int> pos(B, ctx - 1), slot(B);
      std::iota(slot.begin(), slot.end(), 0);
      const std::vector<float> q = random_floats(static_cast<size_t>(B) * 32 * 64, 1);
      float* dq = to_device(q); int* dp = to_device(pos); int* ds = to_device(slot); int* db = to_device(p.blocks);
      bf16* dk = to_device(p.kpool); bf16* dv = to_device(p.vpool);
      float* dout; void* ws;
      WB_CHECK(cudaMalloc(&dout, static_cast<size_t>(B) * 32 * 64 * 4));
      WB_CHECK(cudaMalloc(&ws, attention_decode_workspace_bytes(B, 32, 64, ctx, 4)));
      KvView kv{db, p.max_blocks, 8, 64};
      AttentionArgs a{dq, 32 * 64, dp, ds, B, 32, 0.125f, 0, dout};
      const float ms = time_kernel([&] { WB_CHECK((launch_attention_decode<bf16, float>(a, kv, dk, dv, ctx, ws, 0))); });
      const double bytes = 2.0 * B * ctx * 8 * 64 * 2;
      std::printf("time kernel2 decode B=%d ctx=%d: %.4f ms, %.0f GB/s of K/V\n", B, ctx, ms, bytes / (ms * 1e-3) / 1e9);
      cudaFree(dq); cudaFree(dp); cudaFree(ds); cudaFree(db); cudaFree(dk); cudaFree(dv); cudaFree(dout); cudaFree(ws);
    }
  }
  // Llama-3.2-1B (head_dim 64) and Llama-3.1-8B (head_dim 128) attention shapes.
  time_prefill(32, 8, 64, 2048);
  time_prefill(32, 8, 128, 2048);
  std::printf("%s\n", ok ? "OK attention" : "FAIL attention");
  return ok ? 0 : 1;
}
