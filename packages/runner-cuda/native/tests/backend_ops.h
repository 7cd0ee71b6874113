// The CUDA backend's ops one at a time, on host data, for test_backend_ops.cpp: each function
// copies its inputs to the device, runs the op's launcher from engine/cuda/*.cuh exactly as the
// CUDA backend calls it, and copies the result back (16-bit results widened to f32). Defined in
// backend_ops_cuda.cu in CUDA builds and in backend_ops_no_cuda.cpp otherwise (where every call
// reports "built without CUDA").
//
// Weights and caches in F16/BF16 travel as raw 16-bit patterns (`const void*` + DType).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sampling.h"
#include "status.h"
#include "tensor.h"

namespace inferkit {
namespace backend_ops {

// Whether this binary has the CUDA ops and a device runs them; `why` says why not.
bool cuda_ops_available(std::string* why);
// The device's name ("NVIDIA H200"), for the report.
std::string cuda_device_name();

// kEmbedding: out[t, :] = table[tokens[t], :] (table [vocab, dim] of `type`).
Status cuda_embedding(const void* table, DType type, int vocab, int dim,
                      const std::vector<int32_t>& tokens, std::vector<float>* out);

// kRmsNorm: out[r, :] = w * x[i, :] * rsqrt(mean(x[i, :]^2) + eps), i = row_index ? row_index[r] : r,
// written as `out_type` (F32, BF16 or F16).
Status cuda_rmsnorm(const std::vector<float>& x, const std::vector<float>& w, int rows, int dim,
                    float eps, DType out_type, const std::vector<int32_t>* row_index,
                    std::vector<float>* out);

// kSwiGlu: out[r, i] = silu(gate_up[r, i]) * gate_up[r, inter + i], written as `out_type`.
Status cuda_swiglu(const std::vector<float>& gate_up, int rows, int inter, DType out_type,
                   std::vector<float>* out);

// kMatMul on the matrix-vector (decode) path: out[b, n] (+)= W[n, :] . x[b, :] (+ bias[n]),
// W [n, k] of `wtype`; x as `input` says (0 plain, 1 SwiGLU of [gate | up] rows of 2k, 2 RMSNorm
// with norm_w and eps). With `accumulate`, *out holds the initial values.
Status cuda_matvec(const void* w, DType wtype, int n, int k, const std::vector<float>& in,
                   int in_stride, int rows, const std::vector<float>* bias, int input,
                   const std::vector<float>* norm_w, float eps, bool accumulate,
                   std::vector<float>* out);

// kMatMul on the tensor-core (prefill) path: y[m, n] (+)= x[m, :] . W[n, :] (+ bias[n]), x
// rounded to `wtype` (BF16 or F16) first, as the backend's 16-bit activations are. `split_k`
// gives the kernel the split-K workspace. With `accumulate`, *y holds the initial values.
Status cuda_matmul(const std::vector<float>& x, const void* w, DType wtype, int m, int n, int k,
                   const std::vector<float>* bias, bool accumulate, bool split_k,
                   std::vector<float>* y);

// kRope (+ kQkNorm): qkv is [tokens, (nq + 2 nkv) * hd]; q is rotated in place, rotated k and raw
// v are stored in a KV cache of `cache_type` (F32 or BF16) and read back as [tokens, nkv * hd].
// Token t is at positions[t] of sequence slots[t]. cos/sin: [max_pos, hd / 2].
struct RopeCase {
  int tokens = 0, nq = 0, nkv = 0, hd = 0, max_pos = 0;
  std::vector<int32_t> positions, slots;
  std::vector<float> cos_table, sin_table;
  const std::vector<float>* q_norm = nullptr;
  const std::vector<float>* k_norm = nullptr;
  float eps = 1e-6f;
  DType cache_type = DType::kF32;
};
Status cuda_rope_kv(const RopeCase& c, std::vector<float>* qkv, std::vector<float>* k_out,
                    std::vector<float>* v_out);

// kAttention: token t (query q[t, nq * hd]) of sequence slots[t] at positions[t] attends to
// positions [0, positions[t]] (or the last `window`) of that sequence's keys and values, given
// as k/v[slot][pos][kv head][hd] (f32, stored in a cache of `cache_type`). `prefill`: the
// tiled kernel (tokens of one sequence consecutive, positions ascending), else the split
// (flash-decoding) kernel. Output [tokens, nq * hd] as `out_type` (F32; BF16/F16 with a BF16 cache).
struct AttentionCase {
  int tokens = 0, nq = 0, nkv = 0, hd = 0, slots_n = 0, max_pos = 0, window = 0;
  bool prefill = false;
  std::vector<int32_t> positions, slots;
  std::vector<float> q, k, v;  // k/v: [slots_n, max_pos, nkv, hd]
  DType cache_type = DType::kF32;
  DType out_type = DType::kF32;
};
Status cuda_attention(const AttentionCase& c, std::vector<float>* out);
// Whether the attention kernels are instantiated for this head size.
bool cuda_attention_supports(int head_dim);

// kSample: one token per row of logits [rows, vocab], by the algorithm of sampling.h.
Status cuda_sample(const std::vector<float>& logits, int rows, int vocab,
                   const std::vector<SamplingParams>& params, const std::vector<uint64_t>& steps,
                   std::vector<int32_t>* tokens);

}  // namespace backend_ops
}  // namespace inferkit
