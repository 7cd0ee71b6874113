/*
Causal GQA attention over the paged KV cache (BF16 K/V, f32 q and output).

Build: part of tools/CMakeLists.txt (target wb_attention), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine attention.cu -o attention

version 1: one thread per (token, q head), scores for the whole context in global scratch, then
           softmax and the weighted sum: the direct transcription of the math.
version 2: the engine's decode kernel (engine/cuda/attention.cu): flash-decoding, one block per
           (kv head, token, split) scoring the whole GQA group, log-sum-exp merge of the splits.
version 3: the engine's prefill kernel: query tiles x key tiles of 32 through shared memory with
           an online softmax per row.

Run: ./attention  (validates decode and prefill for head_dim 16/32/64/128 against a double
precision reference, including a sliding window, then times the Llama-3.2-1B shape)
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

void attention_cpu(const Problem& p, const std::vector<float>& q, const std::vector<int>& pos,
                   const std::vector<int>& slot, std::vector<double>* out) {
  const int T = static_cast<int>(pos.size()), G = p.nq / p.nkv;
  out->assign(static_cast<size_t>(T) * p.nq * p.hd, 0.0);
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
        (*out)[(static_cast<size_t>(t) * p.nq + h) * p.hd + i] = o / l;
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
  float* q; int* pos; int* slot; int* blocks; bf16* kpool; bf16* vpool; float* out; void* ws; PrefillTile* tiles;
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

bool check(const Problem& p, const std::vector<int>& pos, const std::vector<int>& slot, bool prefill, const char* label) {
  const int T = static_cast<int>(pos.size());
  const std::vector<float> q = random_floats(static_cast<size_t>(T) * p.nq * p.hd, 99);
  std::vector<double> ref;
  attention_cpu(p, q, pos, slot, &ref);
  Dev d{};
  d.q = to_device(q); d.pos = to_device(pos); d.slot = to_device(slot); d.blocks = to_device(p.blocks);
  d.kpool = to_device(p.kpool); d.vpool = to_device(p.vpool);
  WB_CHECK(cudaMalloc(&d.out, ref.size() * sizeof(float)));
  WB_CHECK(cudaMemset(d.out, 0xFF, ref.size() * sizeof(float)));
  KvView kv{d.blocks, p.max_blocks, p.nkv, p.hd};
  AttentionArgs a{d.q, p.nq * p.hd, d.pos, d.slot, T, p.nq, 1.f / std::sqrt(static_cast<float>(p.hd)), p.window, d.out};
  const int max_ctx = *std::max_element(pos.begin(), pos.end()) + 1;
  if (prefill) {
    const auto tiles = make_tiles(pos, slot, p.hd);
    d.tiles = to_device(tiles);
    WB_CHECK((launch_attention_prefill<bf16, float>(a, kv, d.kpool, d.vpool, d.tiles, static_cast<int>(tiles.size()), 0)));
  } else {
    WB_CHECK(cudaMalloc(&d.ws, attention_decode_workspace_bytes(T, p.nq, p.hd, p.max_seq, p.nq / p.nkv)));
    WB_CHECK((launch_attention_decode<bf16, float>(a, kv, d.kpool, d.vpool, max_ctx, d.ws, 0)));
  }
  WB_CHECK(cudaDeviceSynchronize());
  const bool ok = validate(label, to_host(d.out, ref.size()), ref, 2e-3, 2e-3);
  cudaFree(d.q); cudaFree(d.pos); cudaFree(d.slot); cudaFree(d.blocks); cudaFree(d.kpool); cudaFree(d.vpool);
  cudaFree(d.out); cudaFree(d.ws); cudaFree(d.tiles);
  return ok;
}

int main() {
  bool ok = true;
  for (int hd : {16, 32, 64, 128}) {
    for (int window : {0, 20}) {
      std::printf("== head_dim %d, window %d\n", hd, window);
      Problem p = make_problem(8, 2, hd, 5, 320, window, 7 + hd);
      char label[96];
      snprintf(label, sizeof label, "kernel2 decode hd=%d window=%d", hd, window);
      ok = check(p, {0, 15, 16, 100, 300}, {0, 1, 2, 3, 4}, false, label) && ok;
      // Two sequences: one from position 0, one continuing at 30 (earlier keys already cached).
      std::vector<int> pos, slot;
      for (int i = 0; i < 50; ++i) { pos.push_back(i); slot.push_back(0); }
      for (int i = 30; i < 70; ++i) { pos.push_back(i); slot.push_back(3); }
      snprintf(label, sizeof label, "kernel3 prefill hd=%d window=%d", hd, window);
      ok = check(p, pos, slot, true, label) && ok;
    }
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
  {
    const int T = 2048;
    Problem p = make_problem(32, 8, 64, 1, T, 0, 6);
    std::vector<int> pos(T), slot(T, 0);
    std::iota(pos.begin(), pos.end(), 0);
    const auto tiles = make_tiles(pos, slot, 64);
    float* dq = to_device(random_floats(static_cast<size_t>(T) * 32 * 64, 2)); int* dp = to_device(pos); int* ds = to_device(slot);
    int* db = to_device(p.blocks); bf16* dk = to_device(p.kpool); bf16* dv = to_device(p.vpool);
    PrefillTile* dt = to_device(tiles);
    float* dout;
    WB_CHECK(cudaMalloc(&dout, static_cast<size_t>(T) * 32 * 64 * 4));
    KvView kv{db, p.max_blocks, 8, 64};
    AttentionArgs a{dq, 32 * 64, dp, ds, T, 32, 0.125f, 0, dout};
    const float ms = time_kernel([&] { WB_CHECK((launch_attention_prefill<bf16, float>(a, kv, dk, dv, dt, static_cast<int>(tiles.size()), 0))); }, 5, 1);
    const double flop = 4.0 * 32 * 64 * (static_cast<double>(T) * (T + 1) / 2);
    std::printf("time kernel3 prefill T=%d: %.3f ms, %.1f TFLOP/s (causal)\n", T, ms, flop / (ms * 1e-3) / 1e12);
  }
  std::printf("%s\n", ok ? "OK attention" : "FAIL attention");
  return ok ? 0 : 1;
}
