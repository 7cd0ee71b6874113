// test_backend_ops: every op of the backend interface (engine/backend.h, enum Op) run on the CUDA
// backend and compared with the CPU backend by normalized mean squared error, after ggml's
// tests/test-backend-ops.cpp:
//
//   NMSE(out, ref) = sum_i (out_i - ref_i)^2 / sum_i ref_i^2,   a case passes when NMSE <= its max.
//
// "CPU" is the CPU backend's own code where it is callable on its own (the matmul and attention
// kernels of engine/cpu/kernels.h, every instruction-set variant; the sampler of sampling.h; the
// whole forward step through the engine), and elsewhere (embedding, RMSNorm, q/k norm + RoPE,
// SwiGLU) the CPU backend's formula in double precision. Inputs are random (fixed seeds), shapes
// odd on purpose (rows past the matvec batch, n not a tile multiple, several sequences).
//
//   test_backend_ops [--backend cpu|cuda|all] [--op SUBSTRING] [--require-cuda] [--list]
//
// --backend cpu: the CPU kernels against the double reference (runs everywhere; what CTest runs
// in a CPU-only build). --backend cuda: every CUDA op against the CPU side; in a build without
// CUDA, or with no device, it exits 77 (CTest SKIP_RETURN_CODE) unless --require-cuda (then 1:
// the GPU harness, native/tools/gpu-check.sh, must not pass without a GPU). Exit 1 on any failure.
//
// Adding an op: write `cases_<op>()` pushing Case{op, name, backend, max_nmse, run}, where run()
// computes the candidate and the reference and returns compare(...); add the CUDA side to
// backend_ops.h / backend_ops_cuda.cu; list it in main().
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "backend_ops.h"
#include "cpu/kernels.h"
#include "engine.h"
#include "sampling.h"
#include "tiny_model.h"

using namespace inferkit;

namespace {

struct Result {
  bool ok = false;
  double nmse = 0;
  std::string error;     // the op failed to run (a Status), or a mismatch description
};

struct Case {
  const char* op;        // the backend.h Op it covers ("matmul", "attention", ...)
  std::string name;      // op(parameters)
  const char* backend;   // "cpu" or "cuda"
  double max_nmse;
  std::function<Result()> run;
};

double nmse(const std::vector<float>& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(out[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

Result compare(const Status& st, const std::vector<float>& out, const std::vector<double>& ref) {
  Result r;
  if (!st.ok()) {
    r.error = st.to_string();
    return r;
  }
  if (out.size() != ref.size()) {
    r.error = "output has " + std::to_string(out.size()) + " values, expected " + std::to_string(ref.size());
    return r;
  }
  for (float v : out) {
    if (!std::isfinite(v)) {
      r.error = "non-finite output";
      return r;
    }
  }
  r.nmse = nmse(out, ref);
  r.ok = true;
  return r;
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Values rounded to `t` (what a 16-bit tensor holds), and their raw bits.
float round_to(float v, DType t) {
  if (t == DType::kBF16) return cpu::bf16_to_f32(cpu::f32_to_bf16(v));
  if (t == DType::kF16) return cpu::f16_to_f32(cpu::f32_to_f16(v));
  return v;
}
std::vector<float> rounded(const std::vector<float>& v, DType t) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = round_to(v[i], t);
  return out;
}
std::vector<uint8_t> raw(const std::vector<float>& v, DType t) {
  std::vector<uint8_t> out(v.size() * dtype_block_bytes(t));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t == DType::kF32) {
      std::memcpy(out.data() + 4 * i, &v[i], 4);
    } else {
      const uint16_t h = t == DType::kBF16 ? cpu::f32_to_bf16(v[i]) : cpu::f32_to_f16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

std::string dt(DType t) {
  std::string s = dtype_name(t);
  for (char& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

constexpr double kF32 = 1e-9;        // f32 arithmetic against double
constexpr double kTensorCore = 1e-7; // ggml's default: f32 accumulation of 16-bit products
constexpr double k16Out = 1e-5;      // results stored as bf16/f16 (relative rounding 2^-9)

// ---- double references (the CPU backend's formulas) ------------------------------------------

std::vector<double> ref_rmsnorm(const std::vector<float>& x, const std::vector<float>& w, int rows, int dim, float eps,
                                const std::vector<int32_t>* idx) {
  std::vector<double> out(static_cast<size_t>(rows) * dim);
  for (int r = 0; r < rows; ++r) {
    const int src = idx ? (*idx)[r] : r;
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += static_cast<double>(x[src * dim + i]) * x[src * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int i = 0; i < dim; ++i) out[static_cast<size_t>(r) * dim + i] = w[i] * (x[src * dim + i] * inv);
  }
  return out;
}

double silu(double g) { return g / (1.0 + std::exp(-g)); }

// y[b, n] = sum_k w[n, k] x[b, k] (+ bias) with w already rounded to its type.
std::vector<double> ref_linear(const std::vector<double>& x, int rows, int k, const std::vector<float>& w, int n,
                               const std::vector<float>* bias) {
  std::vector<double> y(static_cast<size_t>(rows) * n);
  for (int b = 0; b < rows; ++b)
    for (int j = 0; j < n; ++j) {
      double s = bias ? (*bias)[j] : 0.0;
      for (int i = 0; i < k; ++i) s += static_cast<double>(w[static_cast<size_t>(j) * k + i]) * x[static_cast<size_t>(b) * k + i];
      y[static_cast<size_t>(b) * n + j] = s;
    }
  return y;
}

// ---- cases --------------------------------------------------------------------------------------

const DType kWeightTypes[] = {DType::kF32, DType::kBF16, DType::kF16};

void cases_embedding(std::vector<Case>* out) {
  for (DType t : kWeightTypes) {
    const int vocab = 97, dim = 72;
    out->push_back({"embedding", "embedding(type=" + dt(t) + ",vocab=97,dim=72,tokens=13)", "cuda", 0.0, [=] {
      const std::vector<float> table = rounded(random_vec(static_cast<size_t>(vocab) * dim, 1), t);
      std::vector<int32_t> tokens = {0, 96, 5, 5, 40, 1, 95, 2, 3, 60, 61, 0, 17};
      std::vector<double> ref;
      for (int32_t tok : tokens) for (int i = 0; i < dim; ++i) ref.push_back(table[static_cast<size_t>(tok) * dim + i]);
      std::vector<float> got;
      const std::vector<uint8_t> bits = raw(table, t);
      return compare(backend_ops::cuda_embedding(bits.data(), t, vocab, dim, tokens, &got), got, ref);
    }});
  }
}

void cases_rmsnorm(std::vector<Case>* out) {
  for (DType ot : kWeightTypes) {
    for (bool gather : {false, true}) {
      const int rows = 7, dim = 264;
      out->push_back({"rmsnorm", "rmsnorm(out=" + dt(ot) + ",rows=7,dim=264,gather=" + std::to_string(gather) + ")", "cuda",
                      ot == DType::kF32 ? kF32 : k16Out, [=] {
        const std::vector<float> x = random_vec(static_cast<size_t>(rows) * dim, 2, -3.f, 3.f);
        const std::vector<float> w = random_vec(dim, 3, 0.5f, 1.5f);
        const std::vector<int32_t> idx = {6, 0, 3};
        const std::vector<int32_t>* pidx = gather ? &idx : nullptr;
        const int out_rows = gather ? 3 : rows;
        std::vector<float> got;
        const Status st = backend_ops::cuda_rmsnorm(x, w, out_rows, dim, 1e-5f, ot, pidx, &got);
        return compare(st, got, ref_rmsnorm(x, w, out_rows, dim, 1e-5f, pidx));
      }});
    }
  }
}

void cases_swiglu(std::vector<Case>* out) {
  for (DType ot : kWeightTypes) {
    const int rows = 9, inter = 200;
    out->push_back({"swiglu", "swiglu(out=" + dt(ot) + ",rows=9,inter=200)", "cuda", ot == DType::kF32 ? kF32 : k16Out, [=] {
      const std::vector<float> gu = random_vec(static_cast<size_t>(rows) * 2 * inter, 4, -4.f, 4.f);
      std::vector<double> ref(static_cast<size_t>(rows) * inter);
      for (int r = 0; r < rows; ++r)
        for (int i = 0; i < inter; ++i)
          ref[static_cast<size_t>(r) * inter + i] = silu(gu[static_cast<size_t>(r) * 2 * inter + i]) * gu[static_cast<size_t>(r) * 2 * inter + inter + i];
      std::vector<float> got;
      return compare(backend_ops::cuda_swiglu(gu, rows, inter, ot, &got), got, ref);
    }});
  }
}

// The CPU backend's matmul kernel (one instruction-set variant) on the same rounded weights.
std::vector<float> cpu_matmul(const cpu::Kernels& k, const std::vector<float>& x, int rows, int kdim,
                              const std::vector<uint8_t>& w, DType t, int n, const std::vector<float>* bias) {
  std::vector<float> y(static_cast<size_t>(rows) * n);
  std::vector<float> scratch(static_cast<size_t>(cpu::matmul_scratch_floats(kdim)));
  k.matmul(x.data(), kdim, rows, w.data(), t, kdim, 0, n, y.data(), n, scratch.data());
  if (bias) for (int b = 0; b < rows; ++b) for (int j = 0; j < n; ++j) y[static_cast<size_t>(b) * n + j] += (*bias)[j];
  return y;
}

void cases_matmul(std::vector<Case>* out) {
  // CPU kernels (every compiled variant) against the double reference.
  for (const char* variant : {"generic", "avx2", "avx512"}) {
    const cpu::Kernels* k = cpu::kernels_by_name(variant);
    if (k == nullptr) continue;
    for (DType t : kWeightTypes) {
      for (int rows : {1, 5, 33}) {
        const int kd = 136, n = 75;
        out->push_back({"matmul", std::string("matmul(kernels=") + variant + ",type=" + dt(t) + ",rows=" + std::to_string(rows) + ",n=75,k=136)",
                        "cpu", kF32, [=] {
          const std::vector<float> w = rounded(random_vec(static_cast<size_t>(n) * kd, 5), t);
          const std::vector<float> x = random_vec(static_cast<size_t>(rows) * kd, 6);
          const std::vector<float> bias = random_vec(n, 7);
          const std::vector<float> got = cpu_matmul(*k, x, rows, kd, raw(w, t), t, n, &bias);
          return compare(Status::Ok(), got, ref_linear(widen(x), rows, kd, w, n, &bias));
        }});
      }
    }
  }
  // CUDA matrix-vector path (decode): plain, fused SwiGLU and fused RMSNorm inputs, against the
  // CPU kernel on the same input (SwiGLU / RMSNorm applied in double first).
  const cpu::Kernels& best = cpu::best_kernels();
  for (DType t : kWeightTypes) {
    for (int rows : {1, 4, 6}) {
      for (int input : {0, 1, 2}) {
        for (bool acc : {false, true}) {
          const int kd = 264, n = 131;
          const char* in_name = input == 0 ? "plain" : input == 1 ? "swiglu" : "rmsnorm";
          out->push_back({"matmul", "matvec(type=" + dt(t) + ",rows=" + std::to_string(rows) + ",n=131,k=264,input=" + in_name + ",acc=" + std::to_string(acc) + ")",
                          "cuda", kF32, [=, &best] {
            const std::vector<float> w = rounded(random_vec(static_cast<size_t>(n) * kd, 8), t);
            const int stride = input == 1 ? 2 * kd : kd;
            const std::vector<float> in = random_vec(static_cast<size_t>(rows) * stride, 9, -2.f, 2.f);
            const std::vector<float> nw = random_vec(kd, 10, 0.5f, 1.5f);
            const std::vector<float> bias = random_vec(n, 11);
            std::vector<double> x(static_cast<size_t>(rows) * kd);
            if (input == 2) {
              x = ref_rmsnorm(in, nw, rows, kd, 1e-5f, nullptr);
            } else {
              for (int b = 0; b < rows; ++b)
                for (int i = 0; i < kd; ++i)
                  x[static_cast<size_t>(b) * kd + i] = input == 1 ? silu(in[static_cast<size_t>(b) * stride + i]) * in[static_cast<size_t>(b) * stride + kd + i]
                                                                  : in[static_cast<size_t>(b) * stride + i];
            }
            std::vector<float> xf(x.begin(), x.end());
            std::vector<float> cpu_y = cpu_matmul(best, xf, rows, kd, raw(w, t), t, n, &bias);
            const std::vector<float> init = random_vec(static_cast<size_t>(rows) * n, 12);
            std::vector<double> ref(cpu_y.begin(), cpu_y.end());
            if (acc) for (size_t i = 0; i < ref.size(); ++i) ref[i] += init[i];
            std::vector<float> got = init;
            const std::vector<uint8_t> bits = raw(w, t);
            const Status st = backend_ops::cuda_matvec(bits.data(), t, n, kd, in, stride, rows, &bias, input, &nw, 1e-5f, acc, &got);
            return compare(st, got, ref);
          }});
        }
      }
    }
  }
  // CUDA tensor-core path (prefill): x rounded to the weight type on both sides.
  for (DType t : {DType::kBF16, DType::kF16}) {
    for (int m : {5, 37, 130}) {
      for (bool split : {false, true}) {
        const int kd = 264, n = 200;
        out->push_back({"matmul", "matmul_tc(type=" + dt(t) + ",m=" + std::to_string(m) + ",n=200,k=264,split_k=" + std::to_string(split) + ",acc=1)",
                        "cuda", kTensorCore, [=, &best] {
          const std::vector<float> w = rounded(random_vec(static_cast<size_t>(n) * kd, 13), t);
          const std::vector<float> x = random_vec(static_cast<size_t>(m) * kd, 14);
          const std::vector<float> bias = random_vec(n, 15);
          const std::vector<float> init = random_vec(static_cast<size_t>(m) * n, 16);
          const std::vector<float> cpu_y = cpu_matmul(best, rounded(x, t), m, kd, raw(w, t), t, n, &bias);
          std::vector<double> ref(cpu_y.begin(), cpu_y.end());
          for (size_t i = 0; i < ref.size(); ++i) ref[i] += init[i];
          std::vector<float> got = init;
          const std::vector<uint8_t> bits = raw(w, t);
          return compare(backend_ops::cuda_matmul(x, bits.data(), t, m, n, kd, &bias, true, split, &got), got, ref);
        }});
      }
    }
  }
}

// cos/sin tables as the backends build them: f32 angle, cos/sin in double.
void rope_tables(int max_pos, int hd, float theta, std::vector<float>* c, std::vector<float>* s) {
  const int half = hd / 2;
  c->resize(static_cast<size_t>(max_pos) * half);
  s->resize(c->size());
  for (int p = 0; p < max_pos; ++p)
    for (int i = 0; i < half; ++i) {
      const float inv = static_cast<float>(1.0 / std::pow(theta, 2.0 * i / hd));
      const float angle = static_cast<float>(p) * inv;
      (*c)[static_cast<size_t>(p) * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      (*s)[static_cast<size_t>(p) * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
}

void cases_rope(std::vector<Case>* out) {
  for (DType cache : {DType::kF32, DType::kBF16}) {
    for (bool qk_norm : {false, true}) {
      for (int hd : {32, 64, 128}) {
        out->push_back({qk_norm ? "qk_norm" : "rope", std::string(qk_norm ? "qk_norm+rope" : "rope") + "(cache=" + dt(cache) + ",hd=" + std::to_string(hd) + ",nq=6,nkv=2,tokens=7)",
                        "cuda", cache == DType::kF32 ? kF32 : k16Out, [=] {
          backend_ops::RopeCase c;
          c.tokens = 7;
          c.nq = 6;
          c.nkv = 2;
          c.hd = hd;
          c.max_pos = 40;
          c.positions = {0, 1, 2, 3, 39, 17, 5};
          c.slots = {0, 0, 0, 0, 1, 2, 1};
          c.cache_type = cache;
          rope_tables(c.max_pos, hd, 10000.f, &c.cos_table, &c.sin_table);
          const std::vector<float> qn = random_vec(hd, 17, 0.5f, 1.5f), kn = random_vec(hd, 18, 0.5f, 1.5f);
          if (qk_norm) {
            c.q_norm = &qn;
            c.k_norm = &kn;
          }
          const int heads = c.nq + 2 * c.nkv;
          std::vector<float> qkv = random_vec(static_cast<size_t>(c.tokens) * heads * hd, 19, -2.f, 2.f);
          // Reference: q rotated in place, then the cache's k (rotated) and v (raw), per token.
          std::vector<double> ref;
          std::vector<double> ref_k, ref_v;
          const int half = hd / 2;
          for (int t = 0; t < c.tokens; ++t) {
            for (int h = 0; h < heads; ++h) {
              const float* x = qkv.data() + (static_cast<size_t>(t) * heads + h) * hd;
              std::vector<double> v(x, x + hd);
              if (h < c.nq + c.nkv) {
                const std::vector<float>* nw = h < c.nq ? c.q_norm : c.k_norm;
                if (nw != nullptr) {
                  double ss = 0;
                  for (double e : v) ss += e * e;
                  const double inv = 1.0 / std::sqrt(ss / hd + c.eps);
                  for (int i = 0; i < hd; ++i) v[i] = (*nw)[i] * (v[i] * inv);
                }
                std::vector<double> r(hd);
                for (int i = 0; i < half; ++i) {
                  const double co = c.cos_table[static_cast<size_t>(c.positions[t]) * half + i];
                  const double si = c.sin_table[static_cast<size_t>(c.positions[t]) * half + i];
                  r[i] = v[i] * co - v[i + half] * si;
                  r[i + half] = v[i + half] * co + v[i] * si;
                }
                v = r;
              }
              std::vector<double>& dst = h < c.nq ? ref : h < c.nq + c.nkv ? ref_k : ref_v;
              for (double e : v) dst.push_back(h < c.nq ? e : round_to(static_cast<float>(e), cache));
            }
          }
          std::vector<float> k_out, v_out;
          const Status st = backend_ops::cuda_rope_kv(c, &qkv, &k_out, &v_out);
          // One comparison over q (left in qkv), the cached k and the cached v.
          std::vector<float> got;
          for (int t = 0; st.ok() && t < c.tokens; ++t)
            got.insert(got.end(), qkv.begin() + static_cast<size_t>(t) * heads * hd, qkv.begin() + (static_cast<size_t>(t) * heads + c.nq) * hd);
          got.insert(got.end(), k_out.begin(), k_out.end());
          got.insert(got.end(), v_out.begin(), v_out.end());
          ref.insert(ref.end(), ref_k.begin(), ref_k.end());
          ref.insert(ref.end(), ref_v.begin(), ref_v.end());
          return compare(st, got, ref);
        }});
      }
    }
  }
}

// Attention on the CPU backend's kernels: per token and kv head, scores (attn_scores over K
// transposed), softmax as the CPU backend does it, then attn_values.
std::vector<float> cpu_attention(const cpu::Kernels& k, const backend_ops::AttentionCase& c, const std::vector<float>& kk,
                                 const std::vector<float>& vv) {
  const int D = c.hd, rep = c.nq / c.nkv, S = c.max_pos;
  std::vector<float> out(static_cast<size_t>(c.tokens) * c.nq * D);
  std::vector<float> kt(static_cast<size_t>(D) * S), vc(static_cast<size_t>(S) * D), scores(static_cast<size_t>(rep) * S);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  for (int t = 0; t < c.tokens; ++t) {
    const int p = c.positions[t];
    const int start = c.window > 0 ? std::max(0, p - c.window + 1) : 0;
    const int len = p - start + 1;
    for (int g = 0; g < c.nkv; ++g) {
      for (int j = 0; j < S; ++j)
        for (int d = 0; d < D; ++d) {
          const size_t src = ((static_cast<size_t>(c.slots[t]) * S + j) * c.nkv + g) * D + d;
          kt[static_cast<size_t>(d) * S + j] = kk[src];
          vc[static_cast<size_t>(j) * D + d] = vv[src];
        }
      const float* q = c.q.data() + static_cast<size_t>(t) * c.nq * D + static_cast<size_t>(g) * rep * D;
      k.attn_scores(q, rep, D, kt.data() + start, S, len, scale, scores.data(), len);
      for (int r = 0; r < rep; ++r) {
        float* s = scores.data() + static_cast<size_t>(r) * len;
        float mx = s[0];
        for (int j = 1; j < len; ++j) mx = std::max(mx, s[j]);
        float sum = 0;
        for (int j = 0; j < len; ++j) {
          s[j] = std::exp(s[j] - mx);
          sum += s[j];
        }
        for (int j = 0; j < len; ++j) s[j] /= sum;
      }
      k.attn_values(scores.data(), len, rep, len, vc.data() + static_cast<size_t>(start) * D, D, D,
                    out.data() + static_cast<size_t>(t) * c.nq * D + static_cast<size_t>(g) * rep * D, false);
    }
  }
  return out;
}

std::vector<double> ref_attention(const backend_ops::AttentionCase& c, const std::vector<float>& kk, const std::vector<float>& vv) {
  const int D = c.hd, rep = c.nq / c.nkv, S = c.max_pos;
  std::vector<double> out(static_cast<size_t>(c.tokens) * c.nq * D, 0.0);
  for (int t = 0; t < c.tokens; ++t) {
    const int p = c.positions[t];
    const int start = c.window > 0 ? std::max(0, p - c.window + 1) : 0;
    for (int h = 0; h < c.nq; ++h) {
      const int g = h / rep;
      std::vector<double> s;
      for (int j = start; j <= p; ++j) {
        double dot = 0;
        for (int d = 0; d < D; ++d)
          dot += static_cast<double>(c.q[(static_cast<size_t>(t) * c.nq + h) * D + d]) * kk[((static_cast<size_t>(c.slots[t]) * S + j) * c.nkv + g) * D + d];
        s.push_back(dot / std::sqrt(static_cast<double>(D)));
      }
      const double mx = *std::max_element(s.begin(), s.end());
      double sum = 0;
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (size_t j = 0; j < s.size(); ++j)
        for (int d = 0; d < D; ++d)
          out[(static_cast<size_t>(t) * c.nq + h) * D + d] += s[j] / sum * vv[((static_cast<size_t>(c.slots[t]) * S + start + static_cast<int>(j)) * c.nkv + g) * D + d];
    }
  }
  return out;
}

backend_ops::AttentionCase attention_case(int hd, bool prefill, int window, DType cache, DType out_type) {
  backend_ops::AttentionCase c;
  c.nq = 8;
  c.nkv = 2;
  c.hd = hd;
  c.slots_n = 3;
  c.max_pos = 150;
  c.window = window;
  c.prefill = prefill;
  c.cache_type = cache;
  c.out_type = out_type;
  if (prefill) {
    // Two sequences' chunks: positions 0..69 of slot 0, 100..129 of slot 2.
    for (int p = 0; p < 70; ++p) { c.positions.push_back(p); c.slots.push_back(0); }
    for (int p = 100; p < 130; ++p) { c.positions.push_back(p); c.slots.push_back(2); }
  } else {
    c.positions = {0, 149, 37};
    c.slots = {1, 0, 2};
  }
  c.tokens = static_cast<int>(c.positions.size());
  c.q = random_vec(static_cast<size_t>(c.tokens) * c.nq * hd, 20);
  c.k = random_vec(static_cast<size_t>(c.slots_n) * c.max_pos * c.nkv * hd, 21);
  c.v = random_vec(c.k.size(), 22);
  return c;
}

void cases_attention(std::vector<Case>* out) {
  for (const char* variant : {"generic", "avx2", "avx512"}) {
    const cpu::Kernels* k = cpu::kernels_by_name(variant);
    if (k == nullptr) continue;
    for (bool prefill : {false, true}) {
      out->push_back({"attention", std::string("attention(kernels=") + variant + ",hd=64," + (prefill ? "prefill" : "decode") + ")", "cpu", kF32, [=] {
        const backend_ops::AttentionCase c = attention_case(64, prefill, 0, DType::kF32, DType::kF32);
        return compare(Status::Ok(), cpu_attention(*k, c, c.k, c.v), ref_attention(c, c.k, c.v));
      }});
    }
  }
  const cpu::Kernels& best = cpu::best_kernels();
  struct Types { DType cache, out; };
  for (Types ty : {Types{DType::kF32, DType::kF32}, Types{DType::kBF16, DType::kF32}, Types{DType::kBF16, DType::kBF16}, Types{DType::kBF16, DType::kF16}}) {
    for (int hd : {16, 32, 64, 128}) {
      for (bool prefill : {false, true}) {
        for (int window : {0, 20}) {
          out->push_back({"attention", "attention(cache=" + dt(ty.cache) + ",out=" + dt(ty.out) + ",hd=" + std::to_string(hd) + "," + (prefill ? "prefill" : "decode") + ",window=" + std::to_string(window) + ")",
                          "cuda", ty.out == DType::kF32 ? kF32 : k16Out, [=, &best] {
            backend_ops::AttentionCase c = attention_case(hd, prefill, window, ty.cache, ty.out);
            // The CPU side sees the cache's values (rounded to its type), as the kernel does.
            const std::vector<float> kk = rounded(c.k, ty.cache), vv = rounded(c.v, ty.cache);
            const std::vector<float> cpu = cpu_attention(best, c, kk, vv);
            std::vector<float> got;
            if (!backend_ops::cuda_attention_supports(hd)) return Result{false, 0, "no kernel for head_dim " + std::to_string(hd)};
            return compare(backend_ops::cuda_attention(c, &got), got, widen(cpu));
          }});
        }
      }
    }
  }
}

void cases_sample(std::vector<Case>* out) {
  out->push_back({"sample", "sample(rows=64,vocab=1000,greedy|temperature|top_k|top_p|nan|inf)", "cuda", 0.0, [] {
    const int rows = 64, vocab = 1000;
    std::vector<float> logits = random_vec(static_cast<size_t>(rows) * vocab, 23, -5.f, 5.f);
    std::vector<SamplingParams> params(rows);
    std::vector<uint64_t> steps(rows);
    for (int r = 0; r < rows; ++r) {
      SamplingParams& p = params[r];
      p.seed = 1000 + r;
      steps[r] = static_cast<uint64_t>(r) * 7;
      switch (r % 6) {
        case 0: break;                                            // greedy
        case 1: p.temperature = 0.8f; break;
        case 2: p.temperature = 1.2f; p.top_k = 40; break;
        case 3: p.temperature = 0.7f; p.top_p = 0.9f; break;
        case 4: p.temperature = 1.0f; p.top_k = 5; p.top_p = 0.5f; break;
        case 5: p.temperature = 0.9f; break;
      }
    }
    // Rows the samplers must refuse (kNonFiniteLogits): one NaN, all NaN, +infinity.
    logits[static_cast<size_t>(10) * vocab + 3] = std::nanf("");
    for (int i = 0; i < vocab; ++i) logits[static_cast<size_t>(11) * vocab + i] = std::nanf("");
    logits[static_cast<size_t>(12) * vocab + 999] = INFINITY;
    // A masked row (-infinity everywhere but two ids) is still sampled.
    for (int i = 0; i < vocab; ++i) logits[static_cast<size_t>(13) * vocab + i] = i == 7 || i == 8 ? 1.f : -INFINITY;
    std::vector<int32_t> got;
    const Status st = backend_ops::cuda_sample(logits, rows, vocab, params, steps, &got);
    Result r;
    if (!st.ok()) {
      r.error = st.to_string();
      return r;
    }
    SamplerScratch scratch;
    int mismatches = 0;
    std::string first;
    for (int i = 0; i < rows; ++i) {
      const int32_t want = sample_token(logits.data() + static_cast<size_t>(i) * vocab, vocab, params[i], steps[i], &scratch);
      if (got[i] != want) {
        if (mismatches++ == 0) first = "row " + std::to_string(i) + ": cuda " + std::to_string(got[i]) + ", cpu " + std::to_string(want);
      }
    }
    r.ok = mismatches == 0;
    r.nmse = mismatches;
    if (!r.ok) r.error = std::to_string(mismatches) + " of 64 rows differ from the CPU sampler (first: " + first + ")";
    return r;
  }});
}

// The whole step through the Backend interface: the engine's logits for every position of a
// prompt on a tiny random model, CPU backend vs CUDA backend (and the CPU one against the double
// reference forward).
void cases_forward(std::vector<Case>* out, const std::string& tmp) {
  for (DType t : kWeightTypes) {
    for (const char* arch : {"llama", "qwen3"}) {
      const std::string name = std::string("forward(arch=") + arch + ",weights=" + dt(t) + ",tokens=37)";
      auto model = [=]() {
        tiny::Spec s;
        s.arch = arch;
        s.vocab = 160;
        s.hidden = 128;
        s.intermediate = 256;
        s.heads = 4;
        s.kv_heads = 2;
        s.head_dim = std::string(arch) == "qwen3" ? 64 : 0;
        s.dtype = dtype_name(t);
        s.seed = 31;
        return tiny::make_model(s);
      };
      std::vector<int32_t> prompt;
      for (int i = 0; i < 37; ++i) prompt.push_back((i * 37 + 11) % 160);
      auto logits_on = [=](Device d, const std::string& dir, std::vector<float>* l) {
        Engine e;
        EngineOptions o;
        o.device = d;
        o.threads = 2;
        o.max_batch = 2;
        o.max_seq_len = 64;
        Status st = e.load(dir, o);
        if (st.ok()) st = e.logits(prompt, l);
        e.close();
        return st;
      };
      out->push_back({"forward", name, "cpu", t == DType::kF32 ? kF32 : 1e-8, [=] {
        const tiny::Model m = model();
        const std::string dir = tmp + "/" + arch + "-" + dt(t) + "-cpu";
        tiny::write_model(m, dir);
        std::vector<float> l;
        const Status st = logits_on(Device::kCpu, dir, &l);
        Result r = compare(st, l, tiny::reference_logits(m, prompt));
        tiny::remove_tree(dir);
        return r;
      }});
      // 16-bit weights: the CUDA backend rounds activations to 16 bits before tensor-core
      // matmuls and the CPU backend does not (tools/README.md, "Tolerances").
      out->push_back({"forward", name, "cuda", t == DType::kF32 ? 1e-8 : 1e-3, [=] {
        const tiny::Model m = model();
        const std::string dir = tmp + "/" + arch + "-" + dt(t) + "-cuda";
        tiny::write_model(m, dir);
        std::vector<float> cpu, gpu;
        Status st = logits_on(Device::kCpu, dir, &cpu);
        if (st.ok()) st = logits_on(Device::kCuda, dir, &gpu);
        Result r = compare(st, gpu, widen(cpu));
        tiny::remove_tree(dir);
        return r;
      }});
    }
  }
}

int usage() {
  std::fprintf(stderr, "usage: test_backend_ops [--backend cpu|cuda|all] [--op SUBSTRING] [--require-cuda] [--list]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "all", filter;
  bool require_cuda = false, list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--backend" && i + 1 < argc) backend = argv[++i];
    else if (a == "--op" && i + 1 < argc) filter = argv[++i];
    else if (a == "--require-cuda") require_cuda = true;
    else if (a == "--list") list = true;
    else return usage();
  }
  if (backend != "cpu" && backend != "cuda" && backend != "all") return usage();

  const std::string tmp = tiny::make_temp_dir("backend-ops");
  std::vector<Case> cases;
  cases_embedding(&cases);
  cases_rmsnorm(&cases);
  cases_matmul(&cases);
  cases_rope(&cases);
  cases_attention(&cases);
  cases_swiglu(&cases);
  cases_sample(&cases);
  cases_forward(&cases, tmp);

  std::string why;
  const bool cuda = built_with_cuda() && backend_ops::cuda_ops_available(&why);
  if (!built_with_cuda()) why = "built without CUDA";
  if (list) {
    for (const Case& c : cases) std::printf("%-4s %-10s %s\n", c.backend, c.op, c.name.c_str());
    tiny::remove_tree(tmp);
    return 0;
  }
  if (backend == "cuda" && !cuda) {
    std::printf("test_backend_ops: cuda: %s\n", why.c_str());
    tiny::remove_tree(tmp);
    return require_cuda ? 1 : 77;
  }
  std::printf("test_backend_ops: cpu kernels %s; cuda %s\n", cpu::best_kernels().name,
              cuda ? backend_ops::cuda_device_name().c_str() : ("skipped (" + why + ")").c_str());
  int run = 0, failed = 0, skipped = 0;
  for (const Case& c : cases) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos && std::string(c.op).find(filter) == std::string::npos) continue;
    if (backend != "all" && backend != c.backend) continue;
    if (std::string(c.backend) == "cuda" && !cuda) {
      ++skipped;
      continue;
    }
    ++run;
    const Result r = c.run();
    const bool pass = r.ok && r.nmse <= c.max_nmse;
    if (!pass) ++failed;
    if (!r.ok) std::printf("  %-4s %-100s FAIL: %s\n", c.backend, c.name.c_str(), r.error.c_str());
    else std::printf("  %-4s %-100s nmse=%.3e <= %.0e %s\n", c.backend, c.name.c_str(), r.nmse, c.max_nmse, pass ? "OK" : "FAIL");
  }
  tiny::remove_tree(tmp);
  std::printf("test_backend_ops: %d run, %d failed, %d skipped%s\n", run, failed, skipped,
              skipped > 0 ? (" (cuda: " + why + ")").c_str() : "");
  if (require_cuda && !cuda) return 1;
  return failed > 0 ? 1 : 0;
}
