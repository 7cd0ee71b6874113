/*
RoPE (HF rotate_half: dim i paired with i + d/2) with optional per-head q/k RMSNorm, fused with
the write of k and v into the paged BF16 KV cache.

Build: part of tools/CMakeLists.txt (target wb_rope), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine rope.cu -o rope

version 1: the engine kernel (engine/cuda/rope.cu): one block per token, one warp per head.
(Earlier separate norm / rotate / copy passes were folded into this one before the workbench
existed; there is a single version.)

Run: ./rope  (validates q, the cached k and v against a double-precision reference with
llama3-scaled frequencies, with and without q/k norm, for head_dim 16 and 128, then times)
*/
#include <numeric>

#include "common.h"
#include "cuda/rope.cu"

using namespace inferkit::cuda;

// llama3 inv_freq (HF _compute_llama3_parameters), orig context 64 so every band occurs.
std::vector<double> llama3_inv_freq(int hd) {
  std::vector<double> f(hd / 2);
  const double orig = 64, low = 1, high = 4, factor = 8, pi = 3.14159265358979323846;
  for (int i = 0; i < hd / 2; ++i) {
    double x = 1.0 / std::pow(500000.0, 2.0 * i / hd);
    const double wl = 2 * pi / x;
    if (wl > orig / low) x /= factor;
    else if (wl >= orig / high) {
      const double sm = (orig / wl - low) / (high - low);
      x = (1 - sm) * x / factor + sm * x;
    }
    f[i] = x;
  }
  return f;
}

bool run_case(int hd, bool qk_norm) {
  const int T = 6, nq = 4, nkv = 2, slots = 3, max_seq = 128, half = hd / 2;
  const int max_blocks = max_seq / kKvBlockTokens, width = (nq + 2 * nkv) * hd;
  const std::vector<int> pos = {0, 1, 17, 63, 64, 127}, slot = {0, 0, 1, 1, 2, 2};
  std::vector<int> blocks(slots * max_blocks);
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i] = static_cast<int>((i * 5 + 3) % blocks.size());
  const std::vector<float> qkv = random_floats(static_cast<size_t>(T) * width, 31);
  const std::vector<float> qn = random_floats(hd, 32, 0.5f), kn = random_floats(hd, 33, 0.5f);
  std::vector<double> inv = llama3_inv_freq(hd);
  std::vector<float> cos_t(static_cast<size_t>(max_seq) * half), sin_t(cos_t.size());
  for (int p = 0; p < max_seq; ++p)
    for (int i = 0; i < half; ++i) {
      const float ang = static_cast<float>(p) * static_cast<float>(inv[i]);
      cos_t[p * half + i] = static_cast<float>(std::cos(static_cast<double>(ang)));
      sin_t[p * half + i] = static_cast<float>(std::sin(static_cast<double>(ang)));
    }
  // Reference
  std::vector<double> ref_q(static_cast<size_t>(T) * nq * hd), ref_k(static_cast<size_t>(T) * nkv * hd), ref_v(ref_k.size());
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < nq + 2 * nkv; ++h) {
      const float* x = qkv.data() + static_cast<size_t>(t) * width + h * hd;
      std::vector<double> y(x, x + hd);
      if (h < nq + nkv && qk_norm) {
        double ss = 0;
        for (double v : y) ss += v * v;
        const double sc = 1.0 / std::sqrt(ss / hd + 1e-6);
        for (int i = 0; i < hd; ++i) y[i] = y[i] * sc * (h < nq ? qn[i] : kn[i]);
      }
      if (h < nq + nkv) {
        std::vector<double> r(hd);
        for (int i = 0; i < half; ++i) {
          const double c = cos_t[pos[t] * half + i], s = sin_t[pos[t] * half + i];
          r[i] = y[i] * c - y[i + half] * s;
          r[i + half] = y[i + half] * c + y[i] * s;
        }
        y = r;
      }
      double* dst = h < nq ? &ref_q[(static_cast<size_t>(t) * nq + h) * hd]
                  : h < nq + nkv ? &ref_k[(static_cast<size_t>(t) * nkv + h - nq) * hd]
                                 : &ref_v[(static_cast<size_t>(t) * nkv + h - nq - nkv) * hd];
      for (int i = 0; i < hd; ++i) dst[i] = y[i];
    }
  // Device
  float* dqkv = to_device(qkv);
  int* dpos = to_device(pos);
  int* dslot = to_device(slot);
  int* dblk = to_device(blocks);
  float* dqn = to_device(qn);
  float* dkn = to_device(kn);
  float* dcos = to_device(cos_t);
  float* dsin = to_device(sin_t);
  const size_t pool = static_cast<size_t>(slots) * max_blocks * nkv * kKvBlockTokens * hd;
  bf16 *dk, *dv;
  WB_CHECK(cudaMalloc(&dk, pool * 2));
  WB_CHECK(cudaMalloc(&dv, pool * 2));
  RopeArgs a{dqkv, dpos, dslot, qk_norm ? dqn : nullptr, qk_norm ? dkn : nullptr, dcos, dsin, 1e-6f, T, nq};
  KvView kv{dblk, max_blocks, nkv, hd};
  WB_CHECK(launch_rope_kv_write<bf16>(a, kv, dk, dv, 0));
  const std::vector<float> out = to_host(dqkv, qkv.size());
  const std::vector<bf16> kp = to_host(dk, pool), vp = to_host(dv, pool);
  std::vector<float> got_q(ref_q.size()), got_k(ref_k.size()), got_v(ref_v.size());
  std::vector<double> ref_k16(ref_k.size()), ref_v16(ref_v.size());
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < nq; ++h)
      for (int i = 0; i < hd; ++i) got_q[(t * nq + h) * hd + i] = out[static_cast<size_t>(t) * width + h * hd + i];
    for (int h = 0; h < nkv; ++h)
      for (int i = 0; i < hd; ++i) {
        const int64_t blk = blocks[slot[t] * max_blocks + pos[t] / kKvBlockTokens];
        const size_t off = ((blk * nkv + h) * kKvBlockTokens + pos[t] % kKvBlockTokens) * hd + i;
        const size_t j = (static_cast<size_t>(t) * nkv + h) * hd + i;
        got_k[j] = __bfloat162float(kp[off]);
        got_v[j] = __bfloat162float(vp[off]);
        ref_k16[j] = bf16_round(static_cast<float>(ref_k[j]));
        ref_v16[j] = bf16_round(static_cast<float>(ref_v[j]));
      }
  }
  char l[64];
  bool ok = true;
  snprintf(l, sizeof l, "q hd=%d qk_norm=%d", hd, qk_norm);
  ok = validate(l, got_q, ref_q, 1e-5, 1e-5) && ok;
  snprintf(l, sizeof l, "cached k hd=%d qk_norm=%d", hd, qk_norm);
  ok = validate(l, got_k, ref_k16, 1e-2, 8e-3) && ok;
  snprintf(l, sizeof l, "cached v hd=%d qk_norm=%d", hd, qk_norm);
  ok = validate(l, got_v, ref_v16, 1e-6, 0) && ok;
  cudaFree(dqkv); cudaFree(dpos); cudaFree(dslot); cudaFree(dblk); cudaFree(dqn); cudaFree(dkn);
  cudaFree(dcos); cudaFree(dsin); cudaFree(dk); cudaFree(dv);
  return ok;
}

int main() {
  bool ok = true;
  for (int hd : {16, 64, 128})
    for (bool n : {false, true}) ok = run_case(hd, n) && ok;
  // Timing: a 2048-token prefill at the Llama-3.2-1B shape (32 q + 8 k + 8 v heads of 64).
  {
    const int T = 2048, hd = 64, nq = 32, nkv = 8, width = (nq + 2 * nkv) * hd, max_blocks = T / kKvBlockTokens;
    std::vector<int> pos(T), slot(T, 0), blocks(max_blocks);
    std::iota(pos.begin(), pos.end(), 0);
    std::iota(blocks.begin(), blocks.end(), 0);
    float* dqkv = to_device(random_floats(static_cast<size_t>(T) * width, 1));
    int* dpos = to_device(pos); int* dslot = to_device(slot); int* dblk = to_device(blocks);
    float* dcos = to_device(random_floats(static_cast<size_t>(T) * hd / 2, 2));
    float* dsin = to_device(random_floats(static_cast<size_t>(T) * hd / 2, 3));
    bf16 *dk, *dv;
    WB_CHECK(cudaMalloc(&dk, static_cast<size_t>(T) * nkv * hd * 2));
    WB_CHECK(cudaMalloc(&dv, static_cast<size_t>(T) * nkv * hd * 2));
    RopeArgs a{dqkv, dpos, dslot, nullptr, nullptr, dcos, dsin, 1e-6f, T, nq};
    KvView kv{dblk, max_blocks, nkv, hd};
    const float ms = time_kernel([&] { WB_CHECK(launch_rope_kv_write<bf16>(a, kv, dk, dv, 0)); });
    const double bytes = static_cast<double>(T) * ((nq + nkv) * hd * 4 * 2 + nkv * hd * 4 + 2 * nkv * hd * 2);
    std::printf("time kernel1 T=%d: %.4f ms, %.0f GB/s\n", T, ms, bytes / (ms * 1e-3) / 1e9);
  }
  std::printf("%s\n", ok ? "OK rope" : "FAIL rope");
  return ok ? 0 : 1;
}
