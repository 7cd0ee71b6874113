// The CUDA side of test_backend_ops (see backend_ops.h): one launcher call per function, with
// device buffers that live for that call only. Errors come back as Status, never exit().
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend_ops.h"
#include "cpu/kernels.h"
#include "cuda/activation.cuh"
#include "cuda/attention.cuh"
#include "cuda/embedding.cuh"
#include "cuda/matmul.cuh"
#include "cuda/matvec.cuh"
#include "cuda/rmsnorm.cuh"
#include "cuda/rope.cuh"
#include "cuda/sampling.cuh"

namespace inferkit {
namespace backend_ops {

namespace {

using cuda::bf16;
using cuda::f16;

#define BO_CUDA(expr)                                                                          \
  do {                                                                                         \
    const cudaError_t e_ = (expr);                                                             \
    if (e_ != cudaSuccess)                                                                     \
      return Status::Internal(std::string(#expr) + ": " + cudaGetErrorString(e_) + " at " +    \
                              __FILE__ + ":" + std::to_string(__LINE__));                     \
  } while (0)

// A device allocation freed when it goes out of scope.
class DevBuf {
 public:
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() {
    if (p_ != nullptr) cudaFree(p_);
  }
  Status alloc(size_t bytes) {
    BO_CUDA(cudaMalloc(&p_, std::max<size_t>(bytes, 16)));
    BO_CUDA(cudaMemset(p_, 0, std::max<size_t>(bytes, 16)));
    bytes_ = bytes;
    return Status::Ok();
  }
  Status upload(const void* src, size_t bytes) {
    if (Status st = alloc(bytes); !st.ok()) return st;
    if (bytes > 0) BO_CUDA(cudaMemcpy(p_, src, bytes, cudaMemcpyHostToDevice));
    return Status::Ok();
  }
  template <typename T>
  Status upload(const std::vector<T>& v) { return upload(v.data(), v.size() * sizeof(T)); }
  Status download(void* dst, size_t bytes) const {
    if (bytes > 0) BO_CUDA(cudaMemcpy(dst, p_, bytes, cudaMemcpyDeviceToHost));
    return Status::Ok();
  }
  template <typename T>
  T* as() const { return static_cast<T*>(p_); }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

#define BO_OK(expr)                     \
  do {                                  \
    const Status st_ = (expr);          \
    if (!st_.ok()) return st_;          \
  } while (0)

// f32 values as the raw bits of `type` (the host side of a 16-bit device buffer).
std::vector<uint8_t> encode(const std::vector<float>& v, DType type) {
  std::vector<uint8_t> out(v.size() * dtype_block_bytes(type));
  for (size_t i = 0; i < v.size(); ++i) {
    if (type == DType::kF32) {
      std::memcpy(out.data() + 4 * i, &v[i], 4);
    } else {
      const uint16_t h = type == DType::kBF16 ? cpu::f32_to_bf16(v[i]) : cpu::f32_to_f16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

std::vector<float> decode(const std::vector<uint8_t>& raw, DType type) {
  const size_t n = raw.size() / dtype_block_bytes(type);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (type == DType::kF32) {
      std::memcpy(&out[i], raw.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      out[i] = type == DType::kBF16 ? cpu::bf16_to_f32(h) : cpu::f16_to_f32(h);
    }
  }
  return out;
}

Status download_as_f32(const DevBuf& buf, size_t n, DType type, std::vector<float>* out) {
  std::vector<uint8_t> raw(n * dtype_block_bytes(type));
  BO_OK(buf.download(raw.data(), raw.size()));
  *out = decode(raw, type);
  return Status::Ok();
}

Status bad_type(const char* op, DType t) {
  return Status::BadRequest(std::string(op) + ": no kernel for " + dtype_name(t));
}

}  // namespace

bool cuda_ops_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = cudaGetErrorString(e);
    return false;
  }
  if (n == 0) {
    if (why) *why = "no CUDA device";
    return false;
  }
  return true;
}

std::string cuda_device_name() {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "cuda:0";
  return std::string("cuda:0 ") + p.name;
}

Status cuda_embedding(const void* table, DType type, int vocab, int dim,
                      const std::vector<int32_t>& tokens, std::vector<float>* out) {
  DevBuf d_table, d_tokens, d_out;
  BO_OK(d_table.upload(table, static_cast<size_t>(vocab) * dim * dtype_block_bytes(type)));
  BO_OK(d_tokens.upload(tokens));
  BO_OK(d_out.alloc(tokens.size() * dim * sizeof(float)));
  const int n = static_cast<int>(tokens.size());
  switch (type) {
    case DType::kF32: BO_CUDA(cuda::launch_embedding(d_table.as<float>(), d_tokens.as<int32_t>(), d_out.as<float>(), n, dim, nullptr)); break;
    case DType::kBF16: BO_CUDA(cuda::launch_embedding(d_table.as<bf16>(), d_tokens.as<int32_t>(), d_out.as<float>(), n, dim, nullptr)); break;
    case DType::kF16: BO_CUDA(cuda::launch_embedding(d_table.as<f16>(), d_tokens.as<int32_t>(), d_out.as<float>(), n, dim, nullptr)); break;
    default: return bad_type("embedding", type);
  }
  BO_CUDA(cudaDeviceSynchronize());
  out->resize(tokens.size() * dim);
  return d_out.download(out->data(), out->size() * sizeof(float));
}

Status cuda_rmsnorm(const std::vector<float>& x, const std::vector<float>& w, int rows, int dim,
                    float eps, DType out_type, const std::vector<int32_t>* row_index,
                    std::vector<float>* out) {
  DevBuf d_x, d_w, d_out, d_idx;
  BO_OK(d_x.upload(x));
  BO_OK(d_w.upload(w));
  BO_OK(d_out.alloc(static_cast<size_t>(rows) * dim * dtype_block_bytes(out_type)));
  const int32_t* idx = nullptr;
  if (row_index != nullptr) {
    BO_OK(d_idx.upload(*row_index));
    idx = d_idx.as<int32_t>();
  }
  switch (out_type) {
    case DType::kF32: BO_CUDA(cuda::launch_rmsnorm(d_x.as<float>(), d_w.as<float>(), d_out.as<float>(), rows, dim, eps, nullptr, idx)); break;
    case DType::kBF16: BO_CUDA(cuda::launch_rmsnorm(d_x.as<float>(), d_w.as<float>(), d_out.as<bf16>(), rows, dim, eps, nullptr, idx)); break;
    case DType::kF16: BO_CUDA(cuda::launch_rmsnorm(d_x.as<float>(), d_w.as<float>(), d_out.as<f16>(), rows, dim, eps, nullptr, idx)); break;
    default: return bad_type("rmsnorm", out_type);
  }
  BO_CUDA(cudaDeviceSynchronize());
  return download_as_f32(d_out, static_cast<size_t>(rows) * dim, out_type, out);
}

Status cuda_swiglu(const std::vector<float>& gate_up, int rows, int inter, DType out_type,
                   std::vector<float>* out) {
  DevBuf d_in, d_out;
  BO_OK(d_in.upload(gate_up));
  BO_OK(d_out.alloc(static_cast<size_t>(rows) * inter * dtype_block_bytes(out_type)));
  switch (out_type) {
    case DType::kF32: BO_CUDA(cuda::launch_swiglu(d_in.as<float>(), d_out.as<float>(), rows, inter, nullptr)); break;
    case DType::kBF16: BO_CUDA(cuda::launch_swiglu(d_in.as<float>(), d_out.as<bf16>(), rows, inter, nullptr)); break;
    case DType::kF16: BO_CUDA(cuda::launch_swiglu(d_in.as<float>(), d_out.as<f16>(), rows, inter, nullptr)); break;
    default: return bad_type("swiglu", out_type);
  }
  BO_CUDA(cudaDeviceSynchronize());
  return download_as_f32(d_out, static_cast<size_t>(rows) * inter, out_type, out);
}

Status cuda_matvec(const void* w, DType wtype, int n, int k, const std::vector<float>& in,
                   int in_stride, int rows, const std::vector<float>* bias, int input,
                   const std::vector<float>* norm_w, float eps, bool accumulate,
                   std::vector<float>* out) {
  DevBuf d_w, d_in, d_bias, d_out, d_norm;
  BO_OK(d_w.upload(w, static_cast<size_t>(n) * k * dtype_block_bytes(wtype)));
  BO_OK(d_in.upload(in));
  if (bias != nullptr) BO_OK(d_bias.upload(*bias));
  if (norm_w != nullptr) BO_OK(d_norm.upload(*norm_w));
  out->resize(static_cast<size_t>(rows) * n);
  if (accumulate) BO_OK(d_out.upload(*out));
  else BO_OK(d_out.alloc(out->size() * sizeof(float)));
  cuda::MatvecArgs a;
  a.weight = d_w.as<void>();
  a.in = d_in.as<float>();
  a.in_stride = in_stride;
  a.bias = bias != nullptr ? d_bias.as<float>() : nullptr;
  a.out = d_out.as<float>();
  a.out_stride = n;
  a.rows = rows;
  a.n = n;
  a.k = k;
  a.accumulate = accumulate;
  a.input = input == 1 ? cuda::MatvecInput::kSwiGLU : input == 2 ? cuda::MatvecInput::kRmsNorm : cuda::MatvecInput::kPlain;
  a.norm_weight = norm_w != nullptr ? d_norm.as<float>() : nullptr;
  a.norm_eps = eps;
  switch (wtype) {
    case DType::kF32: BO_CUDA(cuda::launch_matvec<float>(a, nullptr)); break;
    case DType::kBF16: BO_CUDA(cuda::launch_matvec<bf16>(a, nullptr)); break;
    case DType::kF16: BO_CUDA(cuda::launch_matvec<f16>(a, nullptr)); break;
    default: return bad_type("matvec", wtype);
  }
  BO_CUDA(cudaDeviceSynchronize());
  return d_out.download(out->data(), out->size() * sizeof(float));
}

Status cuda_matmul(const std::vector<float>& x, const void* w, DType wtype, int m, int n, int k,
                   const std::vector<float>* bias, bool accumulate, bool split_k,
                   std::vector<float>* y) {
  if (wtype != DType::kBF16 && wtype != DType::kF16) return bad_type("matmul", wtype);
  DevBuf d_x, d_w, d_bias, d_y, d_ws;
  BO_OK(d_x.upload(encode(x, wtype)));
  BO_OK(d_w.upload(w, static_cast<size_t>(n) * k * dtype_block_bytes(wtype)));
  if (bias != nullptr) BO_OK(d_bias.upload(*bias));
  y->resize(static_cast<size_t>(m) * n);
  if (accumulate) BO_OK(d_y.upload(*y));
  else BO_OK(d_y.alloc(y->size() * sizeof(float)));
  cuda::MatmulArgs a;
  a.x = d_x.as<void>();
  a.ldx = k;
  a.weight = d_w.as<void>();
  a.bias = bias != nullptr ? d_bias.as<float>() : nullptr;
  a.y = d_y.as<float>();
  a.ldy = n;
  a.m = m;
  a.n = n;
  a.k = k;
  a.accumulate = accumulate;
  if (split_k) {
    BO_OK(d_ws.alloc(cuda::kMatmulWorkspaceFloats * sizeof(float)));
    a.workspace = d_ws.as<float>();
    a.workspace_floats = cuda::kMatmulWorkspaceFloats;
  }
  if (wtype == DType::kBF16) BO_CUDA(cuda::launch_matmul<bf16>(a, nullptr));
  else BO_CUDA(cuda::launch_matmul<f16>(a, nullptr));
  BO_CUDA(cudaDeviceSynchronize());
  return d_y.download(y->data(), y->size() * sizeof(float));
}

namespace {

// A paged KV cache for `slots` sequences of `max_pos` positions: block b of slot s is pool block
// s * max_blocks + b (block tables written here), laid out as kv_cache.cuh says.
struct Cache {
  int slots = 0, max_blocks = 0, nkv = 0, hd = 0;
  DType type = DType::kF32;
  DevBuf k_pool, v_pool, tables;

  size_t elems() const { return static_cast<size_t>(slots) * max_blocks * nkv * cuda::kKvBlockTokens * hd; }
  size_t offset(int slot, int pos, int head) const {
    const size_t blk = static_cast<size_t>(slot) * max_blocks + pos / cuda::kKvBlockTokens;
    return ((blk * nkv + head) * cuda::kKvBlockTokens + pos % cuda::kKvBlockTokens) * hd;
  }
  Status init(int slots_n, int max_pos, int nkv_, int hd_, DType t) {
    slots = slots_n;
    max_blocks = (max_pos + cuda::kKvBlockTokens - 1) / cuda::kKvBlockTokens;
    nkv = nkv_;
    hd = hd_;
    type = t;
    std::vector<int32_t> table(static_cast<size_t>(slots) * max_blocks);
    for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(i);
    BO_OK(tables.upload(table));
    BO_OK(k_pool.alloc(elems() * dtype_block_bytes(type)));
    return v_pool.alloc(elems() * dtype_block_bytes(type));
  }
  cuda::KvView view() const { return cuda::KvView{tables.as<int32_t>(), max_blocks, nkv, hd}; }
  // Writes k/v given as [slot][pos][head][hd] (positions < max_pos) into the pools.
  Status fill(const std::vector<float>& k, const std::vector<float>& v, int max_pos) {
    std::vector<float> kp(elems()), vp(elems());
    for (int s = 0; s < slots; ++s)
      for (int p = 0; p < max_pos; ++p)
        for (int h = 0; h < nkv; ++h) {
          const size_t src = ((static_cast<size_t>(s) * max_pos + p) * nkv + h) * hd;
          std::copy_n(k.begin() + src, hd, kp.begin() + offset(s, p, h));
          std::copy_n(v.begin() + src, hd, vp.begin() + offset(s, p, h));
        }
    const std::vector<uint8_t> kr = encode(kp, type), vr = encode(vp, type);
    BO_OK(k_pool.alloc(kr.size()));
    BO_CUDA(cudaMemcpy(k_pool.as<void>(), kr.data(), kr.size(), cudaMemcpyHostToDevice));
    BO_OK(v_pool.alloc(vr.size()));
    BO_CUDA(cudaMemcpy(v_pool.as<void>(), vr.data(), vr.size(), cudaMemcpyHostToDevice));
    return Status::Ok();
  }
  Status read(std::vector<float>* k, std::vector<float>* v) const {
    BO_OK(download_as_f32(k_pool, elems(), type, k));
    return download_as_f32(v_pool, elems(), type, v);
  }
};

}  // namespace

Status cuda_rope_kv(const RopeCase& c, std::vector<float>* qkv, std::vector<float>* k_out,
                    std::vector<float>* v_out) {
  if (c.cache_type != DType::kF32 && c.cache_type != DType::kBF16) return bad_type("rope", c.cache_type);
  const int slots_n = 1 + *std::max_element(c.slots.begin(), c.slots.end());
  Cache cache;
  BO_OK(cache.init(slots_n, c.max_pos, c.nkv, c.hd, c.cache_type));
  DevBuf d_qkv, d_pos, d_slots, d_qn, d_kn, d_cos, d_sin;
  BO_OK(d_qkv.upload(*qkv));
  BO_OK(d_pos.upload(c.positions));
  BO_OK(d_slots.upload(c.slots));
  BO_OK(d_cos.upload(c.cos_table));
  BO_OK(d_sin.upload(c.sin_table));
  if (c.q_norm != nullptr) BO_OK(d_qn.upload(*c.q_norm));
  if (c.k_norm != nullptr) BO_OK(d_kn.upload(*c.k_norm));
  cuda::RopeArgs r;
  r.qkv = d_qkv.as<float>();
  r.positions = d_pos.as<int32_t>();
  r.slots = d_slots.as<int32_t>();
  r.q_norm = c.q_norm != nullptr ? d_qn.as<float>() : nullptr;
  r.k_norm = c.k_norm != nullptr ? d_kn.as<float>() : nullptr;
  r.cos_table = d_cos.as<float>();
  r.sin_table = d_sin.as<float>();
  r.norm_eps = c.eps;
  r.num_tokens = c.tokens;
  r.num_q_heads = c.nq;
  if (c.cache_type == DType::kF32) BO_CUDA(cuda::launch_rope_kv_write<float>(r, cache.view(), cache.k_pool.as<float>(), cache.v_pool.as<float>(), nullptr));
  else BO_CUDA(cuda::launch_rope_kv_write<bf16>(r, cache.view(), cache.k_pool.as<bf16>(), cache.v_pool.as<bf16>(), nullptr));
  BO_CUDA(cudaDeviceSynchronize());
  BO_OK(d_qkv.download(qkv->data(), qkv->size() * sizeof(float)));
  std::vector<float> kp, vp;
  BO_OK(cache.read(&kp, &vp));
  k_out->assign(static_cast<size_t>(c.tokens) * c.nkv * c.hd, 0.f);
  v_out->assign(k_out->size(), 0.f);
  for (int t = 0; t < c.tokens; ++t)
    for (int h = 0; h < c.nkv; ++h) {
      const size_t at = cache.offset(c.slots[t], c.positions[t], h);
      std::copy_n(kp.begin() + at, c.hd, k_out->begin() + (static_cast<size_t>(t) * c.nkv + h) * c.hd);
      std::copy_n(vp.begin() + at, c.hd, v_out->begin() + (static_cast<size_t>(t) * c.nkv + h) * c.hd);
    }
  return Status::Ok();
}

bool cuda_attention_supports(int head_dim) { return cuda::attention_supports_head_dim(head_dim); }

namespace {

template <typename KT, typename OT>
Status launch_attention(const AttentionCase& c, const cuda::AttentionArgs& a, const Cache& cache) {
  const int group = c.nq / c.nkv;
  if (!c.prefill) {
    const int max_ctx = *std::max_element(c.positions.begin(), c.positions.end()) + 1;
    DevBuf ws;
    BO_OK(ws.alloc(cuda::attention_decode_workspace_bytes(c.tokens, c.nq, c.hd, max_ctx, group)));
    BO_CUDA((cuda::launch_attention_decode<KT, OT>(a, cache.view(), cache.k_pool.as<KT>(), cache.v_pool.as<KT>(), max_ctx, ws.as<void>(), nullptr)));
    return Status::Ok();
  }
  // Tiles as the backend cuts them: runs of one sequence, at most prefill_tile_rows rows each.
  std::vector<cuda::PrefillTile> tiles;
  const int tile_rows = cuda::prefill_tile_rows(c.hd);
  for (int i = 0; i < c.tokens;) {
    int j = i + 1;
    while (j < c.tokens && c.slots[j] == c.slots[i]) ++j;
    for (int r = i; r < j; r += tile_rows) {
      const int e = std::min(j, r + tile_rows);
      tiles.push_back({r, e - r, c.positions[r], c.positions[e - 1]});
    }
    i = j;
  }
  DevBuf d_tiles;
  BO_OK(d_tiles.upload(tiles));
  BO_CUDA((cuda::launch_attention_prefill<KT, OT>(a, cache.view(), cache.k_pool.as<KT>(), cache.v_pool.as<KT>(), d_tiles.as<cuda::PrefillTile>(), static_cast<int>(tiles.size()), nullptr)));
  return Status::Ok();
}

}  // namespace

Status cuda_attention(const AttentionCase& c, std::vector<float>* out) {
  if (!cuda::attention_supports_head_dim(c.hd)) return Status::BadRequest("attention: head_dim " + std::to_string(c.hd) + " has no kernel");
  Cache cache;
  BO_OK(cache.init(c.slots_n, c.max_pos, c.nkv, c.hd, c.cache_type));
  BO_OK(cache.fill(c.k, c.v, c.max_pos));
  DevBuf d_q, d_pos, d_slots, d_out;
  BO_OK(d_q.upload(c.q));
  BO_OK(d_pos.upload(c.positions));
  BO_OK(d_slots.upload(c.slots));
  const size_t n_out = static_cast<size_t>(c.tokens) * c.nq * c.hd;
  BO_OK(d_out.alloc(n_out * dtype_block_bytes(c.out_type)));
  cuda::AttentionArgs a;
  a.q = d_q.as<float>();
  a.q_stride = c.nq * c.hd;
  a.positions = d_pos.as<int32_t>();
  a.slots = d_slots.as<int32_t>();
  a.num_tokens = c.tokens;
  a.num_q_heads = c.nq;
  a.scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
  a.window = c.window;
  a.out = d_out.as<void>();
  if (c.cache_type == DType::kF32 && c.out_type == DType::kF32) BO_OK((launch_attention<float, float>(c, a, cache)));
  else if (c.cache_type == DType::kBF16 && c.out_type == DType::kF32) BO_OK((launch_attention<bf16, float>(c, a, cache)));
  else if (c.cache_type == DType::kBF16 && c.out_type == DType::kBF16) BO_OK((launch_attention<bf16, bf16>(c, a, cache)));
  else if (c.cache_type == DType::kBF16 && c.out_type == DType::kF16) BO_OK((launch_attention<bf16, f16>(c, a, cache)));
  else return Status::BadRequest(std::string("attention: no kernel for a ") + dtype_name(c.cache_type) + " cache with " + dtype_name(c.out_type) + " output");
  BO_CUDA(cudaDeviceSynchronize());
  return download_as_f32(d_out, n_out, c.out_type, out);
}

Status cuda_sample(const std::vector<float>& logits, int rows, int vocab,
                   const std::vector<SamplingParams>& params, const std::vector<uint64_t>& steps,
                   std::vector<int32_t>* tokens) {
  DevBuf d_logits, d_params, d_steps, d_tokens;
  BO_OK(d_logits.upload(logits));
  BO_OK(d_params.upload(params));
  BO_OK(d_steps.upload(steps));
  BO_OK(d_tokens.alloc(static_cast<size_t>(rows) * sizeof(int32_t)));
  BO_CUDA(cuda::launch_sample(d_logits.as<float>(), rows, vocab, d_params.as<SamplingParams>(), d_steps.as<uint64_t>(), d_tokens.as<int32_t>(), nullptr));
  BO_CUDA(cudaDeviceSynchronize());
  tokens->resize(rows);
  return d_tokens.download(tokens->data(), tokens->size() * sizeof(int32_t));
}

}  // namespace backend_ops
}  // namespace inferkit
