// CPU kernels (every instruction-set variant this machine has, against scalar code), dtype
// conversions, the thread pool and the sampler.
#include <atomic>
#include <cmath>
#include <map>
#include <random>

#include "cpu/kernels.h"
#include "cpu/thread_pool.h"
#include "kernel_variants.h"
#include "sampling.h"
#include "test_harness.h"

using namespace inferkit;
using namespace inferkit::cpu;

namespace {

}  // namespace

TEST(matmul_all_variants_all_dtypes) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Kernels* k : available_kernels()) {
    for (int K : {1, 7, 16, 33, 130}) {
      for (int T : {1, 2, 3, 5, 8, 9}) {
        const int rows = 37;
        std::vector<float> x(T * K), w(rows * K);
        for (auto& v : x) v = u(rng);
        for (auto& v : w) v = u(rng);
        std::vector<uint16_t> wh(w.size()), wb(w.size());
        for (size_t i = 0; i < w.size(); ++i) {
          wh[i] = f32_to_f16(w[i]);
          wb[i] = f32_to_bf16(w[i]);
        }
        std::vector<float> scratch(matmul_scratch_floats(K));
        for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
          const void* wp = dt == DType::kF32 ? static_cast<const void*>(w.data())
                           : dt == DType::kF16 ? static_cast<const void*>(wh.data()) : wb.data();
          std::vector<float> y(T * rows, -999.0f);
          // Two row ranges, like two threads splitting the output.
          k->matmul(x.data(), K, T, wp, dt, K, 0, 20, y.data(), rows, scratch.data());
          k->matmul(x.data(), K, T, wp, dt, K, 20, rows, y.data(), rows, scratch.data());
          double maxerr = 0;
          for (int t = 0; t < T; ++t) {
            for (int r = 0; r < rows; ++r) {
              double ref = 0;
              for (int i = 0; i < K; ++i) {
                float wv = dt == DType::kF32 ? w[r * K + i]
                           : dt == DType::kF16 ? f16_to_f32(wh[r * K + i]) : bf16_to_f32(wb[r * K + i]);
                ref += static_cast<double>(x[t * K + i]) * wv;
              }
              maxerr = std::max(maxerr, std::fabs(ref - y[t * rows + r]));
            }
          }
          if (!(maxerr < 1e-4)) std::fprintf(stderr, "%s K=%d T=%d dtype=%s err=%g\n", k->name, K, T, dtype_name(dt), maxerr);
          CHECK(maxerr < 1e-4);
        }
      }
    }
  }
}

TEST(dot_axpy_convert) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Kernels* k : available_kernels()) {
    for (int n : {1, 3, 8, 17, 64, 129}) {
      std::vector<float> a(n), b(n), y(n), y2(n);
      for (int i = 0; i < n; ++i) { a[i] = u(rng); b[i] = u(rng); y[i] = y2[i] = u(rng); }
      double ref = 0;
      for (int i = 0; i < n; ++i) ref += static_cast<double>(a[i]) * b[i];
      CHECK_NEAR(k->dot(a.data(), b.data(), n), ref, 1e-5);
      k->axpy(0.5f, a.data(), y.data(), n);
      for (int i = 0; i < n; ++i) CHECK_NEAR(y[i], y2[i] + 0.5f * a[i], 1e-6);
      std::vector<uint16_t> h(n);
      for (int i = 0; i < n; ++i) h[i] = f32_to_f16(a[i]);
      std::vector<float> back(n);
      k->convert_row(h.data(), DType::kF16, back.data(), n);
      for (int i = 0; i < n; ++i) CHECK_EQ(back[i], f16_to_f32(h[i]));
    }
  }
}

TEST(attention_kernels_all_variants) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (const Kernels* k : available_kernels()) {
    for (int D : {8, 20, 64, 128}) {
      for (int nq : {1, 3, 9}) {
        const int len = 37 + D, stride = 3 * D + 5;
        std::vector<float> q(nq * D), kv(len * stride), p(nq * len), scores(nq * len), out(nq * D);
        for (auto& v : q) v = u(rng);
        for (auto& v : kv) v = u(rng);
        for (auto& v : p) v = u(rng);
        // K transposed: row d holds the positions, rows `tstride` apart.
        const int tstride = len + 11;
        std::vector<float> kt(D * tstride, 0.0f);
        for (int j = 0; j < len; ++j)
          for (int d = 0; d < D; ++d) kt[d * tstride + j + 3] = kv[j * stride + 2 + d];
        k->attn_scores(q.data(), nq, D, kt.data() + 3, tstride, len, 0.5f, scores.data(), len);
        k->attn_values(p.data(), len, nq, len, kv.data() + 2, stride, D, out.data(), false);
        double e1 = 0, e2 = 0;
        for (int r = 0; r < nq; ++r) {
          for (int j = 0; j < len; ++j) {
            double ref = 0;
            for (int d = 0; d < D; ++d) ref += static_cast<double>(q[r * D + d]) * kv[j * stride + 2 + d];
            e1 = std::max(e1, std::fabs(0.5 * ref - scores[r * len + j]));
          }
          for (int d = 0; d < D; ++d) {
            double ref = 0;
            for (int j = 0; j < len; ++j) ref += static_cast<double>(p[r * len + j]) * kv[j * stride + 2 + d];
            e2 = std::max(e2, std::fabs(ref - out[r * D + d]));
          }
        }
        CHECK(e1 < 1e-4);
        CHECK(e2 < 1e-4);
        // The same in pieces of 16 positions, as over KV cache blocks: scores written at their
        // offsets of rows `len` apart, values accumulated piece by piece.
        std::vector<float> scores2(nq * len, NAN), out2(nq * D, NAN);
        for (int j0 = 0; j0 < len; j0 += 16) {
          const int n = std::min(16, len - j0);
          k->attn_scores(q.data(), nq, D, kt.data() + 3 + j0, tstride, n, 0.5f, scores2.data() + j0, len);
          k->attn_values(p.data() + j0, len, nq, n, kv.data() + 2 + static_cast<size_t>(j0) * stride, stride, D,
                         out2.data(), j0 > 0);
        }
        // NaN (a position never written) fails the comparison.
        bool same_scores = true, same_out = true;
        for (int i = 0; i < nq * len; ++i) same_scores = same_scores && std::fabs(scores2[i] - scores[i]) <= 1e-5f;
        for (int i = 0; i < nq * D; ++i) same_out = same_out && std::fabs(out2[i] - out[i]) <= 1e-4f;
        CHECK(same_scores);
        CHECK(same_out);
      }
    }
  }
}

TEST(half_conversions) {
  CHECK_EQ(f16_to_f32(0x3C00), 1.0f);
  CHECK_EQ(f16_to_f32(0xC000), -2.0f);
  CHECK_EQ(f16_to_f32(0x7BFF), 65504.0f);
  CHECK_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(std::isinf(f16_to_f32(0x7C00)));
  CHECK(std::isnan(f16_to_f32(0x7E00)));
  CHECK_EQ(f32_to_f16(1.0f), 0x3C00);
  CHECK_EQ(f32_to_f16(65504.0f), 0x7BFF);
  CHECK_EQ(f32_to_f16(1e6f), 0x7C00);
  CHECK_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  // Every finite half survives the round trip.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if (((h >> 10) & 0x1F) == 0x1F) continue;
    CHECK_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), static_cast<uint16_t>(h));
  }
  CHECK_EQ(bf16_to_f32(0x3F80), 1.0f);
  CHECK_EQ(f32_to_bf16(1.0f), 0x3F80);
  CHECK_EQ(f32_to_bf16(1.00390625f), 0x3F80);  // tie rounds to even
  CHECK_EQ(f32_to_bf16(1.01171875f), 0x3F82);
}

TEST(thread_pool_covers_every_index_once) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 16, 100, 1000}) {
      for (int64_t align : {1, 16}) {
        std::vector<std::atomic<int>> hits(n);
        for (auto& h : hits) h = 0;
        pool.parallel_for(n, align, ThreadPool::kMinParallelWork, [&](int64_t b, int64_t e, int t) {
          CHECK(t >= 0 && t < threads);
          CHECK(b % align == 0);
          for (int64_t i = b; i < e; ++i) hits[i]++;
        });
        for (auto& h : hits) CHECK_EQ(h.load(), 1);
      }
    }
    // Small work stays on the calling thread.
    int calls = 0;
    pool.parallel_for(1000, 1, ThreadPool::kMinParallelWork - 1, [&](int64_t b, int64_t e, int t) {
      CHECK(b == 0 && e == 1000 && t == 0);
      ++calls;
    });
    CHECK_EQ(calls, 1);
    if (threads > 1) {
      std::atomic<int> parts{0};
      pool.parallel_for(1000, 1, ThreadPool::kMinParallelWork, [&](int64_t, int64_t, int) { parts++; });
      CHECK_EQ(parts.load(), threads);
    }
  }
}

TEST(silu_mul_and_softmax_all_variants) {
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(-12, 12);
  for (const Kernels* k : available_kernels()) {
    for (int n : {1, 5, 16, 17, 100, 2051}) {
      std::vector<float> g(n), up(n);
      for (int i = 0; i < n; ++i) { g[i] = u(rng); up[i] = u(rng); }
      // The clamped range's edges and beyond, within the vectors and in the tail.
      const float edges[] = {0.0f, -0.0f, 87.5f, -87.5f, 88.0f, -88.0f, 100.0f, -100.0f, 1e-8f};
      for (int i = 0; i < n && i < 9; ++i) g[n - 1 - i] = edges[i];
      std::vector<float> y = g;
      k->silu_mul(y.data(), up.data(), n);
      bool ok = true;
      for (int i = 0; i < n; ++i) {
        const double x = g[i], ref = x / (1.0 + std::exp(-x)) * up[i];
        // A few ulp of the result (the exp within 2 ulp, then a divide and two multiplies).
        ok = ok && std::fabs(y[i] - ref) <= 4e-7 * std::fabs(ref) + 1e-30;
        if (!ok) { std::fprintf(stderr, "%s silu_mul n=%d x=%g got %.9g want %.9g\n", k->name, n, x, y[i], ref); break; }
      }
      CHECK(ok);
      std::vector<float> sm(n);
      for (int i = 0; i < n; ++i) sm[i] = 4 * u(rng);
      if (n > 3) sm[n - 2] = -1e30f;  // far below the max: exp underflows
      std::vector<float> in = sm;
      k->softmax(sm.data(), n);
      float mx = in[0];
      for (float v : in) mx = std::max(mx, v);
      // exp of the float difference: its rounding is the input's, not the kernel's error.
      auto e = [mx](float v) { return std::exp(static_cast<double>(v - mx)); };
      double z = 0;
      for (float v : in) z += e(v);
      bool sm_ok = true;
      double total = 0;
      for (int i = 0; i < n; ++i) {
        const double ref = e(in[i]) / z;
        total += sm[i];
        const bool good = std::fabs(sm[i] - ref) <= 1e-6 * ref + 1e-30;
        if (!good && sm_ok) std::fprintf(stderr, "%s softmax n=%d i=%d x=%g got %.9g want %.9g\n", k->name, n, i, in[i], sm[i], ref);
        sm_ok = sm_ok && good;
      }
      CHECK(sm_ok);
      CHECK_NEAR(total, 1.0, 1e-5);
    }
    // NaN stays NaN.
    std::vector<float> nan_row(19, 1.0f), ones(19, 1.0f);
    nan_row[3] = std::nanf("");
    nan_row[18] = std::nanf("");
    k->silu_mul(nan_row.data(), ones.data(), 19);
    CHECK(std::isnan(nan_row[3]) && std::isnan(nan_row[18]) && !std::isnan(nan_row[0]));
  }
}

TEST(sampler_greedy_over_a_vocabulary) {
  // The greedy path scans in lanes of 16: maxima, ties and broken values in the lanes and in
  // the tail give the same token as one plain scan (the lowest id among the largest).
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0, 3);
  SamplerScratch s;
  SamplingParams greedy;
  const int vocab = 32000 + 7;
  for (int pos : {0, 15, 16, 5000, 31999, 32000, 32006}) {
    std::vector<float> logits(vocab);
    for (auto& v : logits) v = nd(rng);
    logits[pos] = 100.0f;
    CHECK_EQ(sample_token(logits.data(), vocab, greedy, 0, &s), pos);
    logits[vocab - 1] = 100.0f;  // a tie: the lower id wins
    CHECK_EQ(sample_token(logits.data(), vocab, greedy, 0, &s), pos);
    std::vector<float> broken = logits;
    broken[pos == 0 ? 1 : pos - 1] = std::nanf("");
    CHECK_EQ(sample_token(broken.data(), vocab, greedy, 0, &s), kNonFiniteLogits);
    broken = logits;
    broken[vocab - 3] = INFINITY;
    CHECK_EQ(sample_token(broken.data(), vocab, greedy, 0, &s), kNonFiniteLogits);
  }
  std::vector<float> masked(vocab, -INFINITY);
  CHECK_EQ(sample_token(masked.data(), vocab, greedy, 0, &s), 0);
  masked[20001] = -5.0f;
  CHECK_EQ(sample_token(masked.data(), vocab, greedy, 0, &s), 20001);
}

TEST(sampler_greedy_and_truncation) {
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f, 1.5f};
  SamplerScratch s;
  SamplingParams greedy;
  CHECK_EQ(sample_token(logits.data(), 5, greedy, 0, &s), 1);  // lowest id on ties
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 2;
  for (uint64_t step = 0; step < 200; ++step) {
    int t = sample_token(logits.data(), 5, p, step, &s);
    CHECK(t == 1 || t == 3);
  }
  p.top_k = 0;
  p.top_p = 0.5f;  // the two 2.0 logits hold ~0.6 of the mass; the first one reaches 0.5? no: 0.3
  for (uint64_t step = 0; step < 200; ++step) {
    int t = sample_token(logits.data(), 5, p, step, &s);
    CHECK(t == 1 || t == 3);
  }
}

TEST(sampler_refuses_non_finite_rows) {
  SamplerScratch s;
  SamplingParams greedy;
  SamplingParams hot;
  hot.temperature = 1.0f;
  SamplingParams top;
  top.temperature = 0.7f;
  top.top_k = 2;
  for (const SamplingParams& p : {greedy, hot, top}) {
    std::vector<float> one_nan = {0.1f, 2.0f, std::nanf(""), 1.0f};
    CHECK_EQ(sample_token(one_nan.data(), 4, p, 0, &s), kNonFiniteLogits);
    std::vector<float> all_nan(4, std::nanf(""));
    CHECK_EQ(sample_token(all_nan.data(), 4, p, 0, &s), kNonFiniteLogits);
    std::vector<float> overflow = {0.1f, INFINITY, 1.0f, 0.0f};
    CHECK_EQ(sample_token(overflow.data(), 4, p, 0, &s), kNonFiniteLogits);
    // -infinity masks a token; it is not broken.
    std::vector<float> masked = {-INFINITY, 2.0f, -INFINITY, 1.0f};
    const int t = sample_token(masked.data(), 4, p, 0, &s);
    CHECK(t == 1 || t == 3);
  }
}

TEST(sampler_distribution_follows_softmax) {
  std::vector<float> logits = {0.0f, 1.0f, 2.0f, -0.5f};
  SamplerScratch s;
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 99;
  std::map<int, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) counts[sample_token(logits.data(), 4, p, i, &s)]++;
  double z = 0;
  for (float l : logits) z += std::exp(l / 0.8);
  for (int v = 0; v < 4; ++v) {
    const double expect = std::exp(logits[v] / 0.8) / z;
    CHECK_NEAR(counts[v] / static_cast<double>(n), expect, 0.01);
  }
  // Same seed and step -> same token; the draw is a pure function of (seed, step).
  CHECK_EQ(sample_token(logits.data(), 4, p, 17, &s), sample_token(logits.data(), 4, p, 17, &s));
  CHECK(rng_uniform(1, 2) != rng_uniform(2, 1));
  for (uint64_t i = 0; i < 1000; ++i) {
    float u = rng_uniform(i * 7919, i);
    CHECK(u >= 0.0f && u < 1.0f);
  }
}

TEST_MAIN()
