// Host emulation of the engine's GGUF block-type kernels (engine/cuda/quant_kernels.cuh, its
// text copied unchanged by extract.cmake): the decode matvec (every block type, 1 to 4 rows,
// plain / fused pre-norm / fused SwiGLU input, bias, accumulate), the BF16 dequantization for the
// tensor-core matmul, and the dequantizing embedding, checked against the CPU backend's
// dequantization (cpu::Kernels::convert_row) with a double-precision product.
//
//   emu_quant        (every case; a few seconds)
#include <random>

#include "emu_shim.h"
#include "quant_kernels.cuh"
#include "cpu/kernels.h"

using namespace inferkit;
using inferkit::cuda::MatvecInput;
using inferkit::cuda::QType;
using inferkit::cuda::bf16;

namespace {

int g_failures = 0;

void expect(bool ok, const char* what, double got, double want) {
  if (ok) return;
  if (g_failures++ < 20) std::fprintf(stderr, "FAILED %s: got %.9g want %.9g\n", what, got, want);
}

// Random valid blocks (every bit pattern of values and packed scales, small finite f16 scales).
std::vector<uint8_t> random_rows(DType t, int rows, int64_t K, std::mt19937& rng) {
  const size_t rb = dtype_row_bytes(t, K);
  std::vector<uint8_t> w(rb * rows);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.001f, 0.02f);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const size_t bb = dtype_block_bytes(t);
  for (size_t off = 0; off < w.size(); off += bb) {
    const uint16_t d = cpu::f32_to_f16(scale(rng)), dmin = cpu::f32_to_f16(scale(rng));
    if (t == DType::kQ6_K) {
      std::memcpy(&w[off + 208], &d, 2);
    } else {
      std::memcpy(&w[off], &d, 2);
      if (t == DType::kQ4_K || t == DType::kQ5_K) std::memcpy(&w[off + 2], &dmin, 2);
    }
  }
  return w;
}

template <QType Q, int NB, MatvecInput IN>
void check_matvec(DType t, const std::vector<uint8_t>& w, const std::vector<float>& wf, int N, int K,
                  std::mt19937& rng) {
  std::normal_distribution<float> nd(0, 1);
  const int in_cols = IN == MatvecInput::kSwiGLU ? 2 * K : K;
  std::vector<float> in(static_cast<size_t>(NB) * in_cols), bias(N), norm(K), out(static_cast<size_t>(NB) * N);
  for (auto& v : in) v = nd(rng);
  for (auto& v : bias) v = nd(rng);
  for (auto& v : norm) v = 1 + 0.1f * nd(rng);
  for (auto& v : out) v = nd(rng);
  const std::vector<float> before = out;
  const bool accumulate = IN != MatvecInput::kPlain;
  const float eps = 1e-5f;
  const unsigned blocks = static_cast<unsigned>((N + 7) / 8);
  emu::launch(cuda::matvec_q_kernel<Q, NB, IN>, dim3(blocks), dim3(256), 0, 1, w.data(), dtype_row_bytes(t, K),
              static_cast<const float*>(in.data()), in_cols, static_cast<const float*>(bias.data()), out.data(), N, N, K,
              accumulate, static_cast<const float*>(norm.data()), eps);
  for (int b = 0; b < NB; ++b) {
    const float* row = in.data() + static_cast<size_t>(b) * in_cols;
    double inv = 1;
    if (IN == MatvecInput::kRmsNorm) {
      double ss = 0;
      for (int k = 0; k < K; ++k) ss += static_cast<double>(row[k]) * row[k];
      inv = 1 / std::sqrt(ss / K + eps);
    }
    for (int n = 0; n < N; ++n) {
      double acc = 0, mag = 0;
      for (int k = 0; k < K; ++k) {
        double x = row[k];
        if (IN == MatvecInput::kRmsNorm) x = x * inv * norm[k];
        if (IN == MatvecInput::kSwiGLU) x = x / (1 + std::exp(-x)) * row[K + k];
        acc += wf[static_cast<size_t>(n) * K + k] * x;
        mag += std::fabs(wf[static_cast<size_t>(n) * K + k] * x);
      }
      const double want = acc + bias[n] + (accumulate ? before[static_cast<size_t>(b) * N + n] : 0.0);
      const double got = out[static_cast<size_t>(b) * N + n];
      expect(std::fabs(got - want) <= 1e-5 * (mag + std::fabs(bias[n]) + 1), "matvec", got, want);
    }
  }
}

template <QType Q>
void check_type(DType t, std::mt19937& rng) {
  const int K = 512, N = 37;
  const std::vector<uint8_t> w = random_rows(t, N, K, rng);
  std::vector<float> wf(static_cast<size_t>(N) * K);
  const cpu::Kernels& g = *cpu::kernels_by_name("generic");
  for (int n = 0; n < N; ++n) g.convert_row(w.data() + n * dtype_row_bytes(t, K), t, wf.data() + static_cast<size_t>(n) * K, K);

  check_matvec<Q, 1, MatvecInput::kPlain>(t, w, wf, N, K, rng);
  check_matvec<Q, 2, MatvecInput::kRmsNorm>(t, w, wf, N, K, rng);
  check_matvec<Q, 3, MatvecInput::kSwiGLU>(t, w, wf, N, K, rng);
  check_matvec<Q, 4, MatvecInput::kPlain>(t, w, wf, N, K, rng);

  // Dequantized to BF16: exactly the CPU's values rounded to nearest even (the host, unlike a
  // device, does not fuse d * q - m into one FMA).
  std::vector<bf16> dq(static_cast<size_t>(N) * K);
  const int64_t items = static_cast<int64_t>(N) * (K / 8);
  emu::launch(cuda::dequantize_bf16_kernel<Q>, dim3(static_cast<unsigned>((items + 127) / 128)), dim3(128), 0, 1,
              w.data(), dtype_row_bytes(t, K), N, K, dq.data());
  for (size_t i = 0; i < dq.size(); ++i) {
    const float want = __bfloat162float(__float2bfloat16(wf[i]));
    expect(__bfloat162float(dq[i]) == want, "dequantize", __bfloat162float(dq[i]), want);
  }

  // Embedding rows 5, 0, 36.
  const int32_t tokens[3] = {5, 0, 36};
  std::vector<float> emb(3 * static_cast<size_t>(K));
  emu::launch(cuda::embedding_q_kernel<Q>, dim3(3), dim3(128), 0, 1, w.data(), dtype_row_bytes(t, K),
              static_cast<const int32_t*>(tokens), emb.data(), K);
  for (int r = 0; r < 3; ++r) {
    for (int k = 0; k < K; ++k) {
      const float want = wf[static_cast<size_t>(tokens[r]) * K + k], got = emb[static_cast<size_t>(r) * K + k];
      expect(std::fabs(got - want) <= 1e-6f * std::fabs(want), "embedding", got, want);
    }
  }
  std::printf("emu_quant: %s matvec (4 input/row shapes), dequantize, embedding %s\n", dtype_name(t),
              g_failures ? "FAILED" : "ok");
}

}  // namespace

int main() {
  std::mt19937 rng(21);
  check_type<QType::kQ8_0>(DType::kQ8_0, rng);
  check_type<QType::kQ4_0>(DType::kQ4_0, rng);
  check_type<QType::kQ4_K>(DType::kQ4_K, rng);
  check_type<QType::kQ5_K>(DType::kQ5_K, rng);
  check_type<QType::kQ6_K>(DType::kQ6_K, rng);
  return g_failures == 0 ? 0 : 1;
}
