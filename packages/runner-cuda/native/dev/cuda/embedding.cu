/*
Embedding gather: out[t, :] = table[tokens[t], :] widened from BF16 to the f32 residual stream.

Build: part of tools/CMakeLists.txt (target wb_embedding), or
  nvcc -O3 -std=c++17 -arch=sm_90 --expt-relaxed-constexpr -I../../engine embedding.cu -o embedding

version 1: the engine kernel (engine/cuda/embedding.cu): one block per token, strided copy. It
           moves a few kB per token, so there is nothing to win with a second version.

Run: ./embedding
*/
#include "common.h"
#include "cuda/embedding.cu"

using namespace inferkit::cuda;

int main() {
  const int vocab = 1000, dim = 2048;
  std::vector<float> table = random_floats(static_cast<size_t>(vocab) * dim, 1);
  for (float& v : table) v = bf16_round(v);
  const std::vector<int32_t> tokens = {0, 999, 5, 5, 512};
  std::vector<double> ref;
  for (int32_t t : tokens)
    for (int i = 0; i < dim; ++i) ref.push_back(table[static_cast<size_t>(t) * dim + i]);
  bf16* dt = to_device(to_bf16(table));
  int32_t* dtok = to_device(tokens);
  float* dout;
  WB_CHECK(cudaMalloc(&dout, ref.size() * 4));
  WB_CHECK(cudaMemset(dout, 0xFF, ref.size() * 4));
  WB_CHECK(launch_embedding<bf16>(dt, dtok, dout, static_cast<int>(tokens.size()), dim, 0));
  const bool ok = validate("kernel1", to_host(dout, ref.size()), ref, 0, 0);
  const float ms = time_kernel([&] { WB_CHECK(launch_embedding<bf16>(dt, dtok, dout, 5, dim, 0)); });
  std::printf("time kernel1 5 tokens: %.4f ms\n", ms);
  std::printf("%s\n", ok ? "OK embedding" : "FAIL embedding");
  return ok ? 0 : 1;
}
