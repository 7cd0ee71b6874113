// The CUDA backend: weights, paged KV cache and activations in device memory; one stream;
// sampling on the device so a decode step moves only token ids back to the host.
//
// Linear layers take one of two paths per step: up to kMatvecMaxRows tokens (decode at small
// batch) stream the weights through the matrix-vector kernel with f32 activations; larger
// steps (prefill, batched decode) convert activations to the weights' 16-bit type and use the
// tensor-core matmul. F32 weights (exact-parity mode) always use the matrix-vector kernel.
//
// q|k|v and gate|up are fused into one weight matrix each at load, so a layer runs two
// projections instead of five; residual adds are fused into the o_proj and down_proj epilogues,
// and on the decode path the RMSNorms are fused into the q|k|v and gate|up projections and
// SiLU(gate) * up into the down projection's input load.
//
// Decode steps replay a captured CUDA graph of the embedding and layer launches (unless
// INFERKIT_CUDA_GRAPHS=0 is in the environment at load): one graph per (rows, attention split
// layout), captured on first use, so the ~150 launches of a 1B-model step leave the host as one.
//
// With INFERKIT_CUDA_EXPERIMENTAL=1, a decode step of up to cuda::kPersistentMaxRows rows with
// 16-bit weights runs instead as one cooperative launch of the persistent step kernel
// (decode_persistent.cuh), logits included; shapes or devices it cannot serve keep this path.
//
// On Hopper every layer kernel is launched with programmatic dependent launch (see
// cuda_common.cuh): the next kernel is scheduled during the previous one's tail, and the
// matrix-vector kernel's first weight loads are already in flight when its input is ready.
//
// Failure handling: every runtime call and launch goes through IK_CUDA (file, line, statement).
// Any CUDA failure during compute() poisons the backend; a sticky one (illegal address, launch
// failure, ...) also marks the context unusable, and the destructor then resets the device
// (cudaDeviceReset) instead of freeing, so the engine's rebuild starts from a fresh context.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "../backend.h"
#include "activation.cuh"
#include "attention.cuh"
#include "cuda_common.cuh"
#include "decode_persistent.cuh"
#include "embedding.cuh"
#include "fault_injection.cuh"
#include "matmul.cuh"
#include "quant.cuh"
#include "quant_kernels.cuh"
#include "matvec.cuh"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "sampling.cuh"

namespace inferkit {

static_assert(cuda::kKvBlockTokens == kKvBlockTokens, "the kernels' KV block is the engine's");

namespace {

using cuda::bf16;
using cuda::f16;

// Tokens per internal chunk of a step: a longer step runs as consecutive chunks (chunked
// prefill), which bounds the activation buffers.
constexpr int kMaxChunkTokens = 2048;
// Output rows whose logits are computed at once; bounds the logits buffer for logits() calls
// over long prompts.
constexpr int kMaxLogitRows = 64;

// What the last poisoned backend's cudaDeviceReset returned (-1: none happened), for the error
// message when the next load cannot get the device back.
std::atomic<int> g_last_reset{-1};

std::string fmt_bytes(size_t b) {
  char buf[64];
  snprintf(buf, sizeof buf, "%zu bytes (%.2f GiB)", b, static_cast<double>(b) / (1024.0 * 1024 * 1024));
  return buf;
}

float host_to_f32(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::kF32: return static_cast<const float*>(p)[i];
    case DType::kBF16: {
      uint32_t u = static_cast<uint32_t>(static_cast<const uint16_t*>(p)[i]) << 16;
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    case DType::kF16: return __half2float(static_cast<const __half*>(p)[i]);
    default: break;  // quantized types never reach here: supports_op() refuses them
  }
  return 0.f;
}

// Device copy of one matrix element type: T is float, bf16 or f16.
template <typename T>
void host_convert(const TensorView& t, T* out) {
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float f = host_to_f32(t.data, t.dtype, i);
    if constexpr (std::is_same_v<T, float>) out[i] = f;
    else if constexpr (std::is_same_v<T, bf16>) out[i] = __float2bfloat16(f);
    else out[i] = __float2half(f);
  }
}

// GGUF llama files store the q/k rows of each head as adjacent (x, y) pairs for llama.cpp's
// RoPE (ModelConfig::rope_interleaved); the kernels rotate HF split halves, so those rows go back
// to HF order on upload. A move of whole rows: correct for every weight type, biases included.
TensorView hf_rope_rows(const TensorView& t, int heads, int head_dim, std::vector<uint8_t>* storage) {
  if (!t.present()) return t;
  const size_t row = t.nbytes / static_cast<size_t>(t.shape[0]);
  storage->resize(t.nbytes);
  const uint8_t* src = static_cast<const uint8_t*>(t.data);
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < half; ++i) {
      for (int k = 0; k < 2; ++k) {
        const size_t from = static_cast<size_t>(h) * head_dim + 2 * i + k;
        const size_t to = static_cast<size_t>(h) * head_dim + i + k * half;
        std::memcpy(storage->data() + to * row, src + from * row, row);
      }
    }
  }
  TensorView out = t;
  out.data = storage->data();
  return out;
}

static_assert(static_cast<int>(DType::kQ8_0) == static_cast<int>(cuda::QType::kQ8_0) &&
                  static_cast<int>(DType::kQ6_K) == static_cast<int>(cuda::QType::kQ6_K),
              "cuda::QType follows DType");

// A projection on the device. Float models: one [rows, cols] matrix of wtype_ (`data`).
// Models with GGUF block types: one segment per source tensor, blocks as stored (or BF16 for a
// float tensor among them), each the row range [row0, row0 + rows) of the output.
struct DevMat {
  void* data = nullptr;
  struct Seg {
    const void* data;
    bool quantized;
    cuda::QType type;  // when quantized
    size_t row_bytes;
    int row0, rows;
  };
  std::vector<Seg> segs;
};

struct DevLayer {
  DevMat qkv;                 // [q_dim + 2 kv_dim, hidden]
  float* qkv_bias = nullptr;  // [q_dim + 2 kv_dim] or null
  DevMat o;                   // [hidden, q_dim]
  float* o_bias = nullptr;
  DevMat gate_up;             // [2 inter, hidden]
  float* gate_up_bias = nullptr;
  DevMat down;                // [hidden, inter]
  float* down_bias = nullptr;
  float* attn_norm = nullptr;
  float* ffn_norm = nullptr;
  float* q_norm = nullptr;
  float* k_norm = nullptr;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend() = default;
  ~CudaBackend() override;

  const char* name() const override { return "cuda"; }
  std::string device_description() const override {
    return description_ + (graphs_enabled_ ? ", CUDA graphs" : "") +
           (cuda::pdl_enabled() ? ", programmatic dependent launch" : "") +
           (cuda::experimental_kernels() ? ", experimental kernels" : "") +
           (pd_plan_.grid > 0 ? ", persistent decode (" + std::to_string(pd_plan_.grid) + " blocks)"
                              : pd_why_.empty() ? "" : ", persistent decode off: " + pd_why_);
  }
  Status load(const ModelConfig& config, const ModelWeights& weights,
              const BackendOptions& options) override;
  Status compute(const StepBatch& batch, const StepOutput& out) override;
  // Float weights; GGUF block types (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) only with
  // INFERKIT_CUDA_EXPERIMENTAL=1 until the GPU harness has passed them (tools/gpu-check.sh,
  // stage parity-gguf): without it, a device 'auto' engine loads such a model on the CPU.
  bool supports_op(Op op, DType weight_dtype) const override {
    (void)op;
    if (!dtype_is_quantized(weight_dtype)) return true;
    const char* x = std::getenv("INFERKIT_CUDA_EXPERIMENTAL");
    return x != nullptr && std::strcmp(x, "1") == 0;
  }
  Status poisoned() const override { return poison_; }
  size_t memory_bytes() const override { return allocated_bytes_; }
  Status inject_fault(FaultKind kind) override {
    if (kind != FaultKind::kStickyFailure) return Status::BadRequest("unknown fault kind");
    fault_armed_ = true;
    return Status::Ok();
  }

 private:
  // Records a failed runtime call; poisons when `in_compute` or the error is sticky.
  Status cuda_fail(cudaError_t e, const char* expr, const char* file, int line, bool in_compute);
  template <typename T>
  Status alloc(T** p, size_t count, const char* what);
  Status upload_f32(const TensorView& t, float** out, const char* what);
  Status upload_matrix(const std::vector<const TensorView*>& parts, DevMat* out);
  Status upload_bias(const std::vector<const TensorView*>& parts, const std::vector<int64_t>& sizes,
                     float** out);
  Status check_batch(const StepBatch& b) const;
  // Brings the device block table up to date with the step's (resolve_block_tables).
  Status upload_block_tables(const StepBatch& b);
  Status run_chunk(const StepBatch& b, int t0, int t1, const StepOutput& out);
  // Launches embedding + every layer for n rows already described in d_meta_ (no sync, no
  // copies), so the sequence can be captured into a graph.
  Status enqueue_layers(int n, bool decode_only, int max_ctx, int num_tiles, bool use_mm);
  Status launch_layers_graph(int n, int max_ctx, bool use_mm);
  Status linear(const DevMat& w, int n, int k, const float* bias, const float* x_f32,
                const void* x16, int ldx, int rows, float* y, int ldy, bool accumulate,
                cuda::MatvecInput input = cuda::MatvecInput::kPlain,
                const float* norm_weight = nullptr);
  template <typename KT>
  Status layer_attention(int layer, int rows, bool decode_only, int max_ctx, int num_tiles,
                         bool use_mm);
  // logits_ready: the persistent decode step already wrote the logits of every output row.
  Status apply_penalties(const StepOutput& out, const std::vector<int>& out_index, int r0, int m);
  Status logits_for(const StepBatch& b, const std::vector<int32_t>& local_rows,
                    const std::vector<int>& out_index, const StepOutput& out, bool logits_ready);
  Status setup_persistent_decode();
  Status launch_persistent_decode(int n, int n_logits);

  // Identity
  int device_ = 0;
  std::string description_;
  cudaStream_t stream_ = nullptr;
  bool loaded_ = false;
  ModelConfig cfg_;
  BackendOptions opt_;
  DType wtype_ = DType::kF32;  // device dtype of every float matrix (and of the activations fed
                               // to the tensor cores); BF16 when the model has block types
  size_t wsize_ = 4;
  bool quantized_ = false;     // GGUF block types: matrices are DevMat segments
  bf16* dq_scratch_ = nullptr; // one dequantized segment for the tensor-core matmul

  // Weights
  DevMat embed_;
  DevMat lm_head_;
  float* final_norm_ = nullptr;
  std::vector<DevLayer> layers_;
  float* rope_cos_ = nullptr;
  float* rope_sin_ = nullptr;

  // Paged KV cache
  void* k_pool_ = nullptr;  // [layers][blocks][kv_heads][16][head_dim]
  void* v_pool_ = nullptr;
  size_t layer_pool_elems_ = 0;
  int blocks_per_slot_ = 0;
  std::vector<int32_t> step_tables_;  // this step's tables, -1 = unassigned
  std::vector<int32_t> table_upload_; // what the device holds: unassigned entries read block 0
  int32_t* d_block_table_ = nullptr;
  bool table_uploaded_ = false;

  // Per-chunk buffers (capacity kMaxChunkTokens rows unless noted)
  int chunk_cap_ = 0;
  int32_t* d_meta_ = nullptr;       // tokens | positions | slots | output rows, [4 * cap]
  int32_t* h_meta_ = nullptr;       // pinned staging for d_meta_
  float* x_ = nullptr;              // residual stream [cap, hidden]
  void* x16_ = nullptr;             // 16-bit matmul input [cap, max(hidden, q_dim, inter)]
  float* qkv_ = nullptr;            // [cap, q_dim + 2 kv_dim]
  float* att_ = nullptr;            // attention output f32 [cap, q_dim]
  float* gate_up_ = nullptr;        // [cap, 2 inter]
  float* mm_ws_ = nullptr;          // matmul split-K partials
  void* attn_ws_ = nullptr;         // attention split-K partials
  size_t attn_ws_bytes_ = 0;
  cuda::PrefillTile* d_tiles_ = nullptr;
  std::vector<cuda::PrefillTile> h_tiles_;
  int tiles_cap_ = 0;
  float* logits_ = nullptr;         // [kMaxLogitRows, vocab]
  float* final_h_ = nullptr;        // [kMaxLogitRows, hidden]
  SamplingParams* d_params_ = nullptr;  // [kMaxLogitRows]
  uint64_t* d_steps_ = nullptr;
  int32_t* d_sampled_ = nullptr;
  int32_t* h_sampled_ = nullptr;    // pinned
  // Penalty lists of one logits pass: [kMaxLogitRows + 1] offsets, pen_capacity_ tokens
  // (every row's distinct context tokens: min(vocab, max_seq_len) each).
  int32_t* d_pen_offsets_ = nullptr;
  PenaltyToken* d_pen_tokens_ = nullptr;
  size_t pen_capacity_ = 0;
  std::vector<int32_t> pen_offsets_;
  std::vector<PenaltyToken> pen_tokens_;
  uint32_t* d_mask_ = nullptr;      // [kMaxLogitRows, token_mask_words(vocab)] (constrained decoding)
  std::vector<uint32_t> h_mask_;    // staging for one chunk's mask rows

  std::vector<void*> device_allocs_;
  std::vector<void*> host_allocs_;
  size_t allocated_bytes_ = 0;

  // Persistent decode step (decode_persistent.cuh), experimental kernels only: plan (grid == 0
  // when off), device copy of the layer pointers, split-K workspace, merge counters, barrier.
  cuda::PersistentDecodePlan pd_plan_;
  std::string pd_why_;
  cuda::PersistentLayer* d_pd_layers_ = nullptr;
  float* pd_ws_ = nullptr;
  unsigned int* pd_counters_ = nullptr;
  cuda::GridBarrierState* pd_barrier_ = nullptr;

  bool graphs_enabled_ = true;
  std::map<std::tuple<int, int, int>, cudaGraphExec_t> graphs_;  // (rows, split_len, splits)

  Status poison_;
  bool context_lost_ = false;
  bool fault_armed_ = false;
};

#define IK_CUDA(expr)                                                                     \
  do {                                                                                    \
    cudaError_t ik_e_ = (expr);                                                           \
    if (ik_e_ != cudaSuccess) return cuda_fail(ik_e_, #expr, __FILE__, __LINE__, true);   \
  } while (0)
#define IK_CUDA_LOAD(expr)                                                                \
  do {                                                                                    \
    cudaError_t ik_e_ = (expr);                                                           \
    if (ik_e_ != cudaSuccess) return cuda_fail(ik_e_, #expr, __FILE__, __LINE__, false);  \
  } while (0)

Status CudaBackend::cuda_fail(cudaError_t e, const char* expr, const char* file, int line,
                              bool in_compute) {
  cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  const char* base = std::strrchr(file, '/');
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(e) + " (" +
                    cudaGetErrorString(e) + ") at " + (base ? base + 1 : file) + ":" +
                    std::to_string(line) + " in `" + expr + "`";
  if (cuda::is_sticky_error(e)) {
    context_lost_ = true;
    poison_ = Status::Poisoned(msg + "; the CUDA context is unusable until the engine is rebuilt");
    return poison_;
  }
  if (in_compute) {
    poison_ = Status::Poisoned(msg + "; device state after the failed step is unknown");
    return poison_;
  }
  return Status::Internal(msg);
}

CudaBackend::~CudaBackend() {
  if (context_lost_) {
    // Frees would fail on a lost context; resetting destroys it with everything in it, and the
    // next backend creates a fresh one.
    cudaSetDevice(device_);
    g_last_reset = static_cast<int>(cudaDeviceReset());
    return;
  }
  if (stream_) cudaStreamSynchronize(stream_);
  for (auto& g : graphs_) cudaGraphExecDestroy(g.second);
  for (void* p : device_allocs_) cudaFree(p);
  for (void* p : host_allocs_) cudaFreeHost(p);
  if (stream_) cudaStreamDestroy(stream_);
}

template <typename T>
Status CudaBackend::alloc(T** p, size_t count, const char* what) {
  const size_t bytes = std::max<size_t>(count * sizeof(T), 16);
  void* raw = nullptr;
  cudaError_t e = cudaMalloc(&raw, bytes);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    return Status::Internal(std::string("CUDA out of memory allocating ") + what + ": needs " +
                            fmt_bytes(bytes) + ", device has " + fmt_bytes(free_b) + " free of " +
                            fmt_bytes(total_b));
  }
  if (e != cudaSuccess) return cuda_fail(e, "cudaMalloc", __FILE__, __LINE__, false);
  device_allocs_.push_back(raw);
  allocated_bytes_ += bytes;
  *p = static_cast<T*>(raw);
  return Status::Ok();
}

Status CudaBackend::upload_f32(const TensorView& t, float** out, const char* what) {
  *out = nullptr;
  if (!t.present()) return Status::Ok();
  std::vector<float> h(static_cast<size_t>(t.numel()));
  host_convert<float>(t, h.data());
  IK_RETURN_IF_ERROR(alloc(out, h.size(), what));
  IK_CUDA_LOAD(cudaMemcpy(*out, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
  return Status::Ok();
}

// Concatenates matrices with equal column counts row-wise into one device matrix of wtype_; in
// a model with block types, one segment per part instead (blocks copied as stored).
Status CudaBackend::upload_matrix(const std::vector<const TensorView*>& parts, DevMat* out) {
  int64_t rows = 0;
  const int64_t cols = parts[0]->cols();
  for (const TensorView* t : parts) rows += t->rows();
  std::vector<unsigned char> staging;
  if (quantized_) {
    int row0 = 0;
    for (const TensorView* t : parts) {
      char* dev = nullptr;
      DevMat::Seg seg{};
      seg.row0 = row0;
      seg.rows = static_cast<int>(t->rows());
      if (dtype_is_quantized(t->dtype)) {
        IK_RETURN_IF_ERROR(alloc(&dev, t->nbytes, t->name.c_str()));
        IK_CUDA_LOAD(cudaMemcpy(dev, t->data, t->nbytes, cudaMemcpyHostToDevice));
        seg.quantized = true;
        seg.type = static_cast<cuda::QType>(static_cast<int>(t->dtype));
        seg.row_bytes = dtype_row_bytes(t->dtype, cols);
      } else {
        const size_t bytes = static_cast<size_t>(t->numel()) * sizeof(bf16);
        IK_RETURN_IF_ERROR(alloc(&dev, bytes, t->name.c_str()));
        staging.resize(bytes);
        host_convert<bf16>(*t, reinterpret_cast<bf16*>(staging.data()));
        IK_CUDA_LOAD(cudaMemcpy(dev, staging.data(), bytes, cudaMemcpyHostToDevice));
        seg.quantized = false;
        seg.row_bytes = static_cast<size_t>(cols) * sizeof(bf16);
      }
      seg.data = dev;
      out->segs.push_back(seg);
      row0 += seg.rows;
    }
    return Status::Ok();
  }
  char* dev = nullptr;
  IK_RETURN_IF_ERROR(alloc(&dev, static_cast<size_t>(rows * cols) * wsize_, parts[0]->name.c_str()));
  size_t off = 0;
  for (const TensorView* t : parts) {
    const size_t bytes = static_cast<size_t>(t->numel()) * wsize_;
    if (t->dtype == wtype_) {
      IK_CUDA_LOAD(cudaMemcpy(dev + off, t->data, bytes, cudaMemcpyHostToDevice));
    } else {
      staging.resize(bytes);
      if (wtype_ == DType::kF32) host_convert<float>(*t, reinterpret_cast<float*>(staging.data()));
      else if (wtype_ == DType::kBF16) host_convert<bf16>(*t, reinterpret_cast<bf16*>(staging.data()));
      else host_convert<f16>(*t, reinterpret_cast<f16*>(staging.data()));
      IK_CUDA_LOAD(cudaMemcpy(dev + off, staging.data(), bytes, cudaMemcpyHostToDevice));
    }
    off += bytes;
  }
  out->data = dev;
  return Status::Ok();
}

// Concatenated biases; a missing part is zeros. Null when every part is missing.
Status CudaBackend::upload_bias(const std::vector<const TensorView*>& parts,
                                const std::vector<int64_t>& sizes, float** out) {
  *out = nullptr;
  bool any = false;
  for (const TensorView* t : parts) any = any || t->present();
  if (!any) return Status::Ok();
  std::vector<float> h;
  for (size_t i = 0; i < parts.size(); ++i) {
    const size_t at = h.size();
    h.resize(at + static_cast<size_t>(sizes[i]), 0.f);
    if (parts[i]->present()) host_convert<float>(*parts[i], h.data() + at);
  }
  IK_RETURN_IF_ERROR(alloc(out, h.size(), "bias"));
  IK_CUDA_LOAD(cudaMemcpy(*out, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
  return Status::Ok();
}

Status CudaBackend::load(const ModelConfig& config, const ModelWeights& w,
                         const BackendOptions& options) {
  if (loaded_) return Status::Internal("cuda backend loaded twice");
  cfg_ = config;
  opt_ = options;
  device_ = options.device_index;
  if (opt_.max_slots < 1 || opt_.max_seq_len < 1)
    return Status::BadRequest("max_slots and max_seq_len must be positive");
  if (opt_.convert_at_load == WeightConversion::kQ8_0)
    return Status::BadRequest("convertAtLoad 'q8_0' is not supported by the CUDA backend (CPU only)");
  const int hd = cfg_.head_dim;
  if (!cuda::attention_supports_head_dim(hd))
    return Status::BadRequest("head_dim " + std::to_string(hd) +
                              " is not supported by the CUDA backend (16, 32, 64 or 128)");
  if (cfg_.hidden_size % 8 || cfg_.intermediate_size % 8 || cfg_.q_dim() % 8)
    return Status::BadRequest("the CUDA backend needs hidden, intermediate and q sizes divisible by 8");
  if (cfg_.num_heads % cfg_.num_kv_heads)
    return Status::BadRequest("num_heads must be a multiple of num_key_value_heads");

  // After a reset that followed a sticky error the device may report itself unavailable while
  // the driver tears the old context down, so retry for up to 10 s. (On an H200 with driver
  // 580.159.04 it stayed unavailable for the whole 10 s: there, only a new process recovers.)
  cudaError_t se = cudaSetDevice(device_);
  for (int i = 0; i < 200 && se == cudaErrorDevicesUnavailable; ++i) {
    cudaGetLastError();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    se = cudaSetDevice(device_);
  }
  if (se != cudaSuccess) {
    Status st = cuda_fail(se, "cudaSetDevice(device_)", __FILE__, __LINE__, false);
    const int r = g_last_reset.load();
    if (r >= 0)
      return Status(st.code(), st.message() + " (after a sticky error the previous backend reset the device; cudaDeviceReset returned " +
                                   cudaGetErrorName(static_cast<cudaError_t>(r)) +
                                   "; the driver keeps a device that hit a sticky error unavailable to this "
                                   "process, so recovering needs a new process)");
    return st;
  }
  cudaDeviceProp prop{};
  IK_CUDA_LOAD(cudaGetDeviceProperties(&prop, device_));
  description_ = "cuda:" + std::to_string(device_) + " " + prop.name + " (" +
                 std::to_string(prop.multiProcessorCount) + " SMs, cc " +
                 std::to_string(prop.major) + "." + std::to_string(prop.minor) + ", " +
                 std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
  IK_CUDA_LOAD(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  graphs_enabled_ = true;
  if (const char* g = std::getenv("INFERKIT_CUDA_GRAPHS")) graphs_enabled_ = std::strcmp(g, "0") != 0;
  // Programmatic dependent launch needs Hopper; INFERKIT_CUDA_PDL=0 turns it off.
  {
    const char* p = std::getenv("INFERKIT_CUDA_PDL");
    cuda::pdl_enabled() = prop.major >= 9 && !(p && std::strcmp(p, "0") == 0);
    const char* x = std::getenv("INFERKIT_CUDA_EXPERIMENTAL");
    cuda::experimental_kernels() = x != nullptr && std::strcmp(x, "1") == 0;
  }

  const std::vector<DType> stored = matrix_dtypes(w);
  quantized_ = false;
  for (DType t : stored) quantized_ = quantized_ || dtype_is_quantized(t);
  const DType src = stored.empty() ? DType::kF32 : stored[0];
  // Block types compute with BF16 activations on the tensor cores (their matrices dequantize
  // to BF16 there) and keep a BF16 KV cache.
  wtype_ = quantized_ ? DType::kBF16 : options.convert_at_load == WeightConversion::kF32 ? DType::kF32 : src;
  wsize_ = dtype_block_bytes(wtype_);  // a float type: one value per block
  const bool kv16 = wtype_ != DType::kF32;
  const size_t kv_elem = kv16 ? 2 : 4;

  // Everything this backend will hold, checked against free memory before the first byte moves.
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_dim(),
                KV = cfg_.kv_dim(), V = cfg_.vocab_size, L = cfg_.num_layers;
  const bool tied = w.lm_head.data == w.embed_tokens.data;
  size_t weight_bytes =
      static_cast<size_t>((V * H) * (tied ? 1 : 2) + L * ((Q + 2 * KV) * H + H * Q + 3 * I * H)) * wsize_;
  size_t dq_scratch_elems = 0;
  if (quantized_) {
    // As stored (float tensors among them as BF16), plus the largest matrix dequantized.
    weight_bytes = 0;
    auto add = [&](const TensorView& t) {
      weight_bytes += dtype_is_quantized(t.dtype) ? t.nbytes : static_cast<size_t>(t.numel()) * sizeof(bf16);
      dq_scratch_elems = std::max(dq_scratch_elems, static_cast<size_t>(t.numel()));
    };
    add(w.embed_tokens);
    if (!tied) add(w.lm_head);
    for (const LayerWeights& l : w.layers) {
      for (const TensorView* t : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) add(*t);
    }
    weight_bytes += dq_scratch_elems * sizeof(bf16);
    for (const TensorView* t : {&w.embed_tokens, &w.lm_head}) {
      if (dtype_is_quantized(t->dtype) && H % 8 != 0) return Status::BadRequest("hidden size must be a multiple of 8");
    }
  }
  blocks_per_slot_ = kv_blocks_per_seq(opt_.max_seq_len);
  if (opt_.kv_blocks == 0) opt_.kv_blocks = opt_.max_slots * blocks_per_slot_;
  if (opt_.kv_blocks < 1) return Status::BadRequest("kv_blocks must be positive");
  const int64_t total_blocks = opt_.kv_blocks;
  layer_pool_elems_ = static_cast<size_t>(total_blocks) * cfg_.num_kv_heads * cuda::kKvBlockTokens * hd;
  const size_t kv_bytes = 2 * static_cast<size_t>(L) * layer_pool_elems_ * kv_elem;
  chunk_cap_ = static_cast<int>(std::min<int64_t>(kMaxChunkTokens,
                                                  static_cast<int64_t>(opt_.max_slots) * opt_.max_seq_len));
  attn_ws_bytes_ = cuda::attention_decode_workspace_bytes(
      opt_.max_slots, cfg_.num_heads, hd, opt_.max_seq_len, cfg_.num_heads / cfg_.num_kv_heads);
  const int64_t x16_cols = std::max({H, Q, I});
  const size_t scratch_bytes =
      static_cast<size_t>(chunk_cap_) * (4 * 4 + 4 * (H + (Q + 2 * KV) + Q + 2 * I) + 2 * x16_cols) +
      attn_ws_bytes_ + cuda::kMatmulWorkspaceFloats * 4 + static_cast<size_t>(kMaxLogitRows) * (V + H) * 4 +
      2 * static_cast<size_t>(opt_.max_seq_len) * (hd / 2) * 4 +
      static_cast<size_t>(kMaxLogitRows) * std::min<int64_t>(V, opt_.max_seq_len) * sizeof(PenaltyToken);
  const size_t need = weight_bytes + kv_bytes + scratch_bytes;
  size_t free_b = 0, total_b = 0;
  IK_CUDA_LOAD(cudaMemGetInfo(&free_b, &total_b));
  if (need > free_b) {
    return Status::Internal("CUDA out of memory: the model needs " + fmt_bytes(need) +
                            " on the device (weights " + fmt_bytes(weight_bytes) + ", KV cache " +
                            fmt_bytes(kv_bytes) + ", activations " + fmt_bytes(scratch_bytes) +
                            "), but " + prop.name + " has " + fmt_bytes(free_b) + " free of " +
                            fmt_bytes(total_b) + "; lower maxBatch or maxSeqLen");
  }

  // Weights
  IK_RETURN_IF_ERROR(upload_matrix({&w.embed_tokens}, &embed_));
  if (tied) lm_head_ = embed_;
  else IK_RETURN_IF_ERROR(upload_matrix({&w.lm_head}, &lm_head_));
  if (dq_scratch_elems > 0) IK_RETURN_IF_ERROR(alloc(&dq_scratch_, dq_scratch_elems, "dequantization scratch"));
  IK_RETURN_IF_ERROR(upload_f32(w.final_norm, &final_norm_, "model.norm.weight"));
  layers_.resize(w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& s = w.layers[i];
    DevLayer& d = layers_[i];
    TensorView q = s.q_proj, k = s.k_proj, qb = s.q_bias, kb = s.k_bias;
    std::vector<uint8_t> q_rows, k_rows, qb_rows, kb_rows;
    if (cfg_.rope_interleaved) {
      q = hf_rope_rows(s.q_proj, cfg_.num_heads, hd, &q_rows);
      k = hf_rope_rows(s.k_proj, cfg_.num_kv_heads, hd, &k_rows);
      qb = hf_rope_rows(s.q_bias, cfg_.num_heads, hd, &qb_rows);
      kb = hf_rope_rows(s.k_bias, cfg_.num_kv_heads, hd, &kb_rows);
    }
    IK_RETURN_IF_ERROR(upload_matrix({&q, &k, &s.v_proj}, &d.qkv));
    IK_RETURN_IF_ERROR(upload_bias({&qb, &kb, &s.v_bias}, {Q, KV, KV}, &d.qkv_bias));
    IK_RETURN_IF_ERROR(upload_matrix({&s.o_proj}, &d.o));
    IK_RETURN_IF_ERROR(upload_bias({&s.o_bias}, {H}, &d.o_bias));
    IK_RETURN_IF_ERROR(upload_matrix({&s.gate_proj, &s.up_proj}, &d.gate_up));
    IK_RETURN_IF_ERROR(upload_bias({&s.gate_bias, &s.up_bias}, {I, I}, &d.gate_up_bias));
    IK_RETURN_IF_ERROR(upload_matrix({&s.down_proj}, &d.down));
    IK_RETURN_IF_ERROR(upload_bias({&s.down_bias}, {H}, &d.down_bias));
    IK_RETURN_IF_ERROR(upload_f32(s.attn_norm, &d.attn_norm, "input_layernorm"));
    IK_RETURN_IF_ERROR(upload_f32(s.ffn_norm, &d.ffn_norm, "post_attention_layernorm"));
    IK_RETURN_IF_ERROR(upload_f32(s.q_norm, &d.q_norm, "q_norm"));
    IK_RETURN_IF_ERROR(upload_f32(s.k_norm, &d.k_norm, "k_norm"));
  }

  // RoPE tables, computed exactly as the CPU backend does.
  {
    const int half = hd / 2;
    const std::vector<float> inv = rope_inv_freq(cfg_);
    std::vector<float> c(static_cast<size_t>(opt_.max_seq_len) * half), s(c.size());
    for (int p = 0; p < opt_.max_seq_len; ++p)
      for (int i = 0; i < half; ++i) {
        const float angle = static_cast<float>(p) * inv[i];
        c[static_cast<size_t>(p) * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
        s[static_cast<size_t>(p) * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
    IK_RETURN_IF_ERROR(alloc(&rope_cos_, c.size(), "rope tables"));
    IK_RETURN_IF_ERROR(alloc(&rope_sin_, s.size(), "rope tables"));
    IK_CUDA_LOAD(cudaMemcpy(rope_cos_, c.data(), c.size() * 4, cudaMemcpyHostToDevice));
    IK_CUDA_LOAD(cudaMemcpy(rope_sin_, s.data(), s.size() * 4, cudaMemcpyHostToDevice));
  }

  // KV cache and block table
  {
    char* kp = nullptr;
    char* vp = nullptr;
    IK_RETURN_IF_ERROR(alloc(&kp, static_cast<size_t>(L) * layer_pool_elems_ * kv_elem, "KV cache"));
    IK_RETURN_IF_ERROR(alloc(&vp, static_cast<size_t>(L) * layer_pool_elems_ * kv_elem, "KV cache"));
    k_pool_ = kp;
    v_pool_ = vp;
    const size_t table_entries = static_cast<size_t>(opt_.max_slots) * blocks_per_slot_;
    table_upload_.assign(table_entries, 0);
    table_uploaded_ = false;
    IK_RETURN_IF_ERROR(alloc(&d_block_table_, table_entries, "block table"));
    // Unassigned entries point at block 0 on the device: a stray read stays in bounds.
    IK_CUDA_LOAD(cudaMemset(d_block_table_, 0, table_entries * sizeof(int32_t)));
  }

  // Activations
  const int cap = chunk_cap_;
  IK_RETURN_IF_ERROR(alloc(&d_meta_, 4 * static_cast<size_t>(cap), "step metadata"));
  {
    void* h = nullptr;
    IK_CUDA_LOAD(cudaMallocHost(&h, 4 * static_cast<size_t>(cap) * sizeof(int32_t)));
    host_allocs_.push_back(h);
    h_meta_ = static_cast<int32_t*>(h);
    IK_CUDA_LOAD(cudaMallocHost(&h, kMaxLogitRows * sizeof(int32_t)));
    host_allocs_.push_back(h);
    h_sampled_ = static_cast<int32_t*>(h);
  }
  IK_RETURN_IF_ERROR(alloc(&x_, static_cast<size_t>(cap) * H, "activations"));
  {
    char* p = nullptr;
    IK_RETURN_IF_ERROR(alloc(&p, static_cast<size_t>(cap) * x16_cols * 2, "activations"));
    x16_ = p;
  }
  IK_RETURN_IF_ERROR(alloc(&qkv_, static_cast<size_t>(cap) * (Q + 2 * KV), "activations"));
  IK_RETURN_IF_ERROR(alloc(&att_, static_cast<size_t>(cap) * Q, "activations"));
  IK_RETURN_IF_ERROR(alloc(&gate_up_, static_cast<size_t>(cap) * 2 * I, "activations"));
  {
    char* p = nullptr;
    IK_RETURN_IF_ERROR(alloc(&p, attn_ws_bytes_, "attention workspace"));
    attn_ws_ = p;
  }
  IK_RETURN_IF_ERROR(alloc(&mm_ws_, cuda::kMatmulWorkspaceFloats, "matmul workspace"));
  tiles_cap_ = cap + opt_.max_slots;
  IK_RETURN_IF_ERROR(alloc(&d_tiles_, static_cast<size_t>(tiles_cap_), "attention tiles"));
  IK_RETURN_IF_ERROR(alloc(&logits_, static_cast<size_t>(kMaxLogitRows) * V, "logits"));
  IK_RETURN_IF_ERROR(alloc(&final_h_, static_cast<size_t>(kMaxLogitRows) * H, "activations"));
  IK_RETURN_IF_ERROR(alloc(&d_params_, kMaxLogitRows, "sampling"));
  IK_RETURN_IF_ERROR(alloc(&d_steps_, kMaxLogitRows, "sampling"));
  IK_RETURN_IF_ERROR(alloc(&d_sampled_, kMaxLogitRows, "sampling"));
  pen_capacity_ = static_cast<size_t>(kMaxLogitRows) * std::min<int64_t>(V, opt_.max_seq_len);
  IK_RETURN_IF_ERROR(alloc(&d_pen_offsets_, kMaxLogitRows + 1, "penalties"));
  IK_RETURN_IF_ERROR(alloc(&d_pen_tokens_, pen_capacity_, "penalties"));
  IK_RETURN_IF_ERROR(alloc(&d_mask_, static_cast<size_t>(kMaxLogitRows) * token_mask_words(static_cast<int>(V)), "token masks"));
  if (cuda::experimental_kernels()) IK_RETURN_IF_ERROR(setup_persistent_decode());
  IK_CUDA_LOAD(cudaDeviceSynchronize());
  loaded_ = true;
  return Status::Ok();
}

// Plans the persistent decode step and allocates what it needs beyond the layered path's
// buffers. A shape or device it cannot serve leaves it off (pd_why_ says why); decode then takes
// the layered path as before.
Status CudaBackend::setup_persistent_decode() {
  if (wtype_ == DType::kF32) {
    pd_why_ = "f32 weights";
    return Status::Ok();
  }
  if (quantized_) {
    pd_why_ = "GGUF block-quantized weights";
    return Status::Ok();
  }
  cuda::PersistentDecodeShape shape{cfg_.hidden_size, cfg_.intermediate_size, cfg_.num_heads,
                                    cfg_.num_kv_heads, cfg_.head_dim, cfg_.vocab_size, opt_.max_seq_len};
  const char* why = nullptr;
  if (wtype_ == DType::kBF16) IK_CUDA_LOAD(cuda::plan_persistent_decode<bf16>(shape, device_, &pd_plan_, &why));
  else IK_CUDA_LOAD(cuda::plan_persistent_decode<f16>(shape, device_, &pd_plan_, &why));
  if (pd_plan_.grid == 0) {
    pd_why_ = why != nullptr ? why : "unsupported";
    return Status::Ok();
  }
  std::vector<cuda::PersistentLayer> h(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    const DevLayer& d = layers_[i];
    h[i] = {d.qkv.data, d.qkv_bias, d.o.data, d.o_bias, d.gate_up.data, d.gate_up_bias, d.down.data, d.down_bias,
            d.attn_norm, d.ffn_norm, d.q_norm, d.k_norm};
  }
  IK_RETURN_IF_ERROR(alloc(&d_pd_layers_, h.size(), "persistent decode layer table"));
  IK_CUDA_LOAD(cudaMemcpy(d_pd_layers_, h.data(), h.size() * sizeof(h[0]), cudaMemcpyHostToDevice));
  IK_RETURN_IF_ERROR(alloc(&pd_ws_, cuda::persistent_decode_workspace_floats(shape, pd_plan_),
                           "persistent decode workspace"));
  const size_t counters = static_cast<size_t>(cuda::kPersistentMaxRows) * cfg_.num_kv_heads;
  IK_RETURN_IF_ERROR(alloc(&pd_counters_, counters, "persistent decode counters"));
  IK_CUDA_LOAD(cudaMemset(pd_counters_, 0, counters * sizeof(unsigned int)));
  IK_RETURN_IF_ERROR(alloc(&pd_barrier_, 1, "persistent decode barrier"));
  IK_CUDA_LOAD(cudaMemset(pd_barrier_, 0, sizeof(cuda::GridBarrierState)));
  return Status::Ok();
}

Status CudaBackend::launch_persistent_decode(int n, int n_logits) {
  cuda::PersistentDecodeArgs a{};
  a.layers = d_pd_layers_;
  a.num_layers = cfg_.num_layers;
  a.embed = embed_.data;
  a.lm_head = lm_head_.data;
  a.final_norm = final_norm_;
  a.hidden = cfg_.hidden_size;
  a.inter = cfg_.intermediate_size;
  a.num_q_heads = cfg_.num_heads;
  a.num_kv_heads = cfg_.num_kv_heads;
  a.head_dim = cfg_.head_dim;
  a.vocab = cfg_.vocab_size;
  a.eps = cfg_.rms_norm_eps;
  a.attn_scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));
  a.window = cfg_.sliding_window;
  a.cos_table = rope_cos_;
  a.sin_table = rope_sin_;
  a.kv = cuda::KvView{d_block_table_, blocks_per_slot_, cfg_.num_kv_heads, cfg_.head_dim};
  a.k_pool = static_cast<bf16*>(k_pool_);
  a.v_pool = static_cast<bf16*>(v_pool_);
  a.layer_pool_elems = static_cast<int64_t>(layer_pool_elems_);
  a.tokens = d_meta_;
  a.positions = d_meta_ + chunk_cap_;
  a.slots = d_meta_ + 2 * chunk_cap_;
  a.rows = n;
  a.logit_rows = d_meta_ + 3 * chunk_cap_;
  a.num_logit_rows = n_logits;
  a.x = x_;
  a.qkv = qkv_;
  a.att = att_;
  a.act = gate_up_;
  a.logits = logits_;
  a.part_o = pd_ws_;
  a.part_ml = pd_ws_ + static_cast<size_t>(cuda::kPersistentMaxRows) * cfg_.num_heads * pd_plan_.max_splits * cfg_.head_dim;
  a.merge_counters = pd_counters_;
  a.barrier = pd_barrier_;
  a.max_splits = pd_plan_.max_splits;
  a.max_split_len = pd_plan_.max_split_len;
  a.kmax = pd_plan_.kmax;
  if (wtype_ == DType::kBF16) IK_CUDA(cuda::launch_persistent_decode<bf16>(a, pd_plan_, stream_));
  else IK_CUDA(cuda::launch_persistent_decode<f16>(a, pd_plan_, stream_));
  return Status::Ok();
}

Status CudaBackend::check_batch(const StepBatch& b) const {
  if (b.n_tokens <= 0 || !b.tokens || !b.positions || !b.slots)
    return Status::BadRequest("empty step batch");
  for (int i = 0; i < b.n_tokens; ++i) {
    if (b.tokens[i] < 0 || b.tokens[i] >= cfg_.vocab_size)
      return Status::BadRequest("token id " + std::to_string(b.tokens[i]) + " is outside the vocabulary");
    if (b.slots[i] < 0 || b.slots[i] >= opt_.max_slots) return Status::BadRequest("bad slot");
    if (b.positions[i] < 0 || b.positions[i] >= opt_.max_seq_len)
      return Status::ContextLength("position " + std::to_string(b.positions[i]) +
                                   " exceeds max_seq_len " + std::to_string(opt_.max_seq_len));
  }
  for (int i = 0; i < b.n_outputs; ++i) {
    if (b.output_rows[i] < 0 || b.output_rows[i] >= b.n_tokens ||
        (i > 0 && b.output_rows[i] <= b.output_rows[i - 1]))
      return Status::BadRequest("output rows must be ascending indexes into the batch");
  }
  return Status::Ok();
}

Status CudaBackend::upload_block_tables(const StepBatch& b) {
  IK_RETURN_IF_ERROR(resolve_block_tables(b, opt_.max_slots, opt_.max_seq_len, opt_.kv_blocks, &step_tables_));
  bool changed = !table_uploaded_;
  for (size_t i = 0; i < step_tables_.size(); ++i) {
    const int32_t e = step_tables_[i] < 0 ? 0 : step_tables_[i];
    changed = changed || e != table_upload_[i];
    table_upload_[i] = e;
  }
  if (changed) {
    // Pageable source: cudaMemcpyAsync returns once the bytes are staged, so the host table can
    // change right after.
    IK_CUDA(cudaMemcpyAsync(d_block_table_, table_upload_.data(), table_upload_.size() * sizeof(int32_t),
                            cudaMemcpyHostToDevice, stream_));
    table_uploaded_ = true;
  }
  return Status::Ok();
}

Status CudaBackend::linear(const DevMat& m, int n, int k, const float* bias, const float* x_f32,
                           const void* x16, int ldx, int rows, float* y, int ldy, bool accumulate,
                           cuda::MatvecInput input, const float* norm_weight) {
  if (!m.segs.empty()) {
    // Block types: each segment writes its rows of y. Decode dequantizes in registers; the
    // tensor-core path dequantizes the segment to BF16 first (prefill is compute-bound: the
    // extra pass over the weights is small next to M x N x K).
    for (const DevMat::Seg& s : m.segs) {
      const float* sb = bias ? bias + s.row0 : nullptr;
      float* sy = y + s.row0;
      if (x16 == nullptr && s.quantized) {
        cuda::MatvecQArgs a{};
        a.type = s.type;
        a.weight = s.data;
        a.row_bytes = s.row_bytes;
        a.in = x_f32;
        a.in_stride = ldx;
        a.bias = sb;
        a.out = sy;
        a.out_stride = ldy;
        a.rows = rows;
        a.n = s.rows;
        a.k = k;
        a.accumulate = accumulate;
        a.input = input;
        a.norm_weight = norm_weight;
        a.norm_eps = cfg_.rms_norm_eps;
        IK_CUDA(cuda::launch_matvec_q(a, stream_));
      } else if (x16 == nullptr) {
        cuda::MatvecArgs a;
        a.weight = s.data;
        a.in = x_f32;
        a.in_stride = ldx;
        a.bias = sb;
        a.out = sy;
        a.out_stride = ldy;
        a.rows = rows;
        a.n = s.rows;
        a.k = k;
        a.accumulate = accumulate;
        a.input = input;
        a.norm_weight = norm_weight;
        a.norm_eps = cfg_.rms_norm_eps;
        IK_CUDA(cuda::launch_matvec<bf16>(a, stream_));
      } else {
        const void* wb = s.data;
        if (s.quantized) {
          IK_CUDA(cuda::launch_dequantize_bf16(s.type, s.data, s.row_bytes, s.rows, k, dq_scratch_, stream_));
          wb = dq_scratch_;
        }
        cuda::MatmulArgs a;
        a.x = x16;
        a.ldx = ldx;
        a.weight = wb;
        a.bias = sb;
        a.y = sy;
        a.ldy = ldy;
        a.m = rows;
        a.n = s.rows;
        a.k = k;
        a.accumulate = accumulate;
        a.workspace = mm_ws_;
        a.workspace_floats = cuda::kMatmulWorkspaceFloats;
        IK_CUDA(cuda::launch_matmul<bf16>(a, stream_));
      }
    }
    return Status::Ok();
  }
  const void* w = m.data;
  if (x16 == nullptr) {
    cuda::MatvecArgs a;
    a.weight = w;
    a.in = x_f32;
    a.in_stride = ldx;
    a.bias = bias;
    a.out = y;
    a.out_stride = ldy;
    a.rows = rows;
    a.n = n;
    a.k = k;
    a.accumulate = accumulate;
    a.input = input;
    a.norm_weight = norm_weight;
    a.norm_eps = cfg_.rms_norm_eps;
    switch (wtype_) {
      case DType::kF32: IK_CUDA(cuda::launch_matvec<float>(a, stream_)); break;
      case DType::kBF16: IK_CUDA(cuda::launch_matvec<bf16>(a, stream_)); break;
      case DType::kF16: IK_CUDA(cuda::launch_matvec<f16>(a, stream_)); break;
      default: return Status::Internal("matvec on a block type without segments");
    }
    return Status::Ok();
  }
  cuda::MatmulArgs a;
  a.x = x16;
  a.ldx = ldx;
  a.weight = w;
  a.bias = bias;
  a.y = y;
  a.ldy = ldy;
  a.m = rows;
  a.n = n;
  a.k = k;
  a.accumulate = accumulate;
  a.workspace = mm_ws_;
  a.workspace_floats = cuda::kMatmulWorkspaceFloats;
  if (wtype_ == DType::kBF16) IK_CUDA(cuda::launch_matmul<bf16>(a, stream_));
  else IK_CUDA(cuda::launch_matmul<f16>(a, stream_));
  return Status::Ok();
}

template <typename KT>
Status CudaBackend::layer_attention(int layer, int rows, bool decode_only, int max_ctx,
                                    int num_tiles, bool use_mm) {
  const int32_t* d_pos = d_meta_ + chunk_cap_;
  const int32_t* d_slots = d_meta_ + 2 * chunk_cap_;
  KT* kpool = static_cast<KT*>(k_pool_) + static_cast<size_t>(layer) * layer_pool_elems_;
  KT* vpool = static_cast<KT*>(v_pool_) + static_cast<size_t>(layer) * layer_pool_elems_;
  const DevLayer& L = layers_[layer];
  cuda::KvView kv{d_block_table_, blocks_per_slot_, cfg_.num_kv_heads, cfg_.head_dim};

  cuda::RopeArgs r;
  r.qkv = qkv_;
  r.positions = d_pos;
  r.slots = d_slots;
  r.q_norm = L.q_norm;
  r.k_norm = L.k_norm;
  r.cos_table = rope_cos_;
  r.sin_table = rope_sin_;
  r.norm_eps = cfg_.rms_norm_eps;
  r.num_tokens = rows;
  r.num_q_heads = cfg_.num_heads;
  IK_CUDA(cuda::launch_rope_kv_write<KT>(r, kv, kpool, vpool, stream_));

  cuda::AttentionArgs a;
  a.q = qkv_;
  a.q_stride = cfg_.q_dim() + 2 * cfg_.kv_dim();
  a.positions = d_pos;
  a.slots = d_slots;
  a.num_tokens = rows;
  a.num_q_heads = cfg_.num_heads;
  a.scale = 1.0f / std::sqrt(static_cast<float>(cfg_.head_dim));
  a.window = cfg_.sliding_window;
  a.out = use_mm ? x16_ : static_cast<void*>(att_);
  if (!use_mm) {
    if (decode_only) IK_CUDA((cuda::launch_attention_decode<KT, float>(a, kv, kpool, vpool, max_ctx, attn_ws_, stream_)));
    else IK_CUDA((cuda::launch_attention_prefill<KT, float>(a, kv, kpool, vpool, d_tiles_, num_tiles, stream_)));
    return Status::Ok();
  }
  if constexpr (!std::is_same_v<KT, float>) {  // 16-bit outputs exist only with 16-bit weights
    if (decode_only) {
      if (wtype_ == DType::kBF16) IK_CUDA((cuda::launch_attention_decode<KT, bf16>(a, kv, kpool, vpool, max_ctx, attn_ws_, stream_)));
      else IK_CUDA((cuda::launch_attention_decode<KT, f16>(a, kv, kpool, vpool, max_ctx, attn_ws_, stream_)));
    } else {
      if (wtype_ == DType::kBF16) IK_CUDA((cuda::launch_attention_prefill<KT, bf16>(a, kv, kpool, vpool, d_tiles_, num_tiles, stream_)));
      else IK_CUDA((cuda::launch_attention_prefill<KT, f16>(a, kv, kpool, vpool, d_tiles_, num_tiles, stream_)));
    }
  }
  return Status::Ok();
}

Status CudaBackend::run_chunk(const StepBatch& b, int t0, int t1, const StepOutput& out) {
  const int n = t1 - t0;
  const bool use_mm = wtype_ != DType::kF32 && n > cuda::kMatvecMaxRows;

  // Output rows that fall in this chunk.
  std::vector<int32_t> local_rows;
  std::vector<int> out_index;
  for (int i = 0; i < b.n_outputs; ++i) {
    if (b.output_rows[i] >= t0 && b.output_rows[i] < t1) {
      local_rows.push_back(b.output_rows[i] - t0);
      out_index.push_back(i);
    }
  }

  // Metadata: tokens | positions | slots | output rows, one pinned copy. The staging buffer is
  // reused by the next chunk, so wait for the previous chunk's work first.
  IK_CUDA(cudaStreamSynchronize(stream_));
  std::memcpy(h_meta_, b.tokens + t0, n * sizeof(int32_t));
  std::memcpy(h_meta_ + chunk_cap_, b.positions + t0, n * sizeof(int32_t));
  std::memcpy(h_meta_ + 2 * chunk_cap_, b.slots + t0, n * sizeof(int32_t));
  std::memcpy(h_meta_ + 3 * chunk_cap_, local_rows.data(), local_rows.size() * sizeof(int32_t));
  IK_CUDA(cudaMemcpyAsync(d_meta_, h_meta_, 4 * chunk_cap_ * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));

  // Decode-only when no slot has two tokens in this chunk; else prefill tiles per slot run.
  bool decode_only = true;
  int max_ctx = 0;
  h_tiles_.clear();
  const int tile_rows = cuda::prefill_tile_rows(cfg_.head_dim);
  for (int i = t0; i < t1;) {
    int j = i + 1;
    while (j < t1 && b.slots[j] == b.slots[i]) ++j;
    if (j - i > 1) decode_only = false;
    for (int r = i; r < j; r += tile_rows) {
      const int e = std::min(j, r + tile_rows);
      h_tiles_.push_back({r - t0, e - r, b.positions[r], b.positions[e - 1]});
    }
    max_ctx = std::max(max_ctx, b.positions[j - 1] + 1);
    i = j;
  }
  const int num_tiles = static_cast<int>(h_tiles_.size());
  if (decode_only && n > opt_.max_slots) decode_only = false;  // workspace is sized per slot
  if (!decode_only) {
    if (num_tiles > tiles_cap_) return Status::Internal("attention tile list overflow");
    IK_CUDA(cudaMemcpyAsync(d_tiles_, h_tiles_.data(), num_tiles * sizeof(cuda::PrefillTile),
                            cudaMemcpyHostToDevice, stream_));
    // h_tiles_ is pageable: the copy is staged before cudaMemcpyAsync returns.
  }
#if defined(INFERKIT_CUDA_FAULT_INJECTION)
  if (fault_armed_) {
    fault_armed_ = false;
    IK_CUDA(cuda::launch_out_of_bounds_store(x_, stream_));
  }
#endif

  // One cooperative launch for the whole step (and its logits) when the step qualifies; it is
  // not captured into a graph: a single launch gains nothing from one.
  const bool persistent = pd_plan_.grid > 0 && decode_only && n <= cuda::kPersistentMaxRows &&
                          pd_plan_.smem[n] > 0 && !fault_armed_;
  const bool graph = graphs_enabled_ && decode_only && !fault_armed_;
  if (persistent) IK_RETURN_IF_ERROR(launch_persistent_decode(n, static_cast<int>(local_rows.size())));
  else if (graph) IK_RETURN_IF_ERROR(launch_layers_graph(n, max_ctx, use_mm));
  else IK_RETURN_IF_ERROR(enqueue_layers(n, decode_only, max_ctx, num_tiles, use_mm));

  if (!local_rows.empty()) IK_RETURN_IF_ERROR(logits_for(b, local_rows, out_index, out, persistent));
  return Status::Ok();
}

Status CudaBackend::enqueue_layers(int n, bool decode_only, int max_ctx, int num_tiles, bool use_mm) {
  const int H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
  const int QKV = Q + 2 * KV;
  const int32_t* d_tokens = d_meta_;
  if (!embed_.segs.empty() && embed_.segs[0].quantized) {
    const DevMat::Seg& e = embed_.segs[0];
    IK_CUDA(cuda::launch_embedding_q(e.type, e.data, e.row_bytes, d_tokens, x_, n, H, stream_));
  } else if (!embed_.segs.empty()) {
    IK_CUDA(cuda::launch_embedding<bf16>(static_cast<const bf16*>(embed_.segs[0].data), d_tokens, x_, n, H, stream_));
  } else {
    switch (wtype_) {
      case DType::kF32: IK_CUDA(cuda::launch_embedding<float>(static_cast<const float*>(embed_.data), d_tokens, x_, n, H, stream_)); break;
      case DType::kBF16: IK_CUDA(cuda::launch_embedding<bf16>(static_cast<const bf16*>(embed_.data), d_tokens, x_, n, H, stream_)); break;
      case DType::kF16: IK_CUDA(cuda::launch_embedding<f16>(static_cast<const f16*>(embed_.data), d_tokens, x_, n, H, stream_)); break;
      default: return Status::Internal("embedding of a block type without segments");
    }
  }

  const float eps = cfg_.rms_norm_eps;
  auto norm_into_input = [&](const float* wnorm) -> Status {
    if (wtype_ == DType::kBF16) IK_CUDA(cuda::launch_rmsnorm<bf16>(x_, wnorm, static_cast<bf16*>(x16_), n, H, eps, stream_));
    else IK_CUDA(cuda::launch_rmsnorm<f16>(x_, wnorm, static_cast<f16*>(x16_), n, H, eps, stream_));
    return Status::Ok();
  };
  const void* in16 = use_mm ? x16_ : nullptr;

  for (int l = 0; l < cfg_.num_layers; ++l) {
    const DevLayer& L = layers_[l];
    // Matrix-vector path: the pre-norms are fused into the projections that consume them.
    if (use_mm) {
      IK_RETURN_IF_ERROR(norm_into_input(L.attn_norm));
      IK_RETURN_IF_ERROR(linear(L.qkv, QKV, H, L.qkv_bias, nullptr, in16, H, n, qkv_, QKV, false));
    } else {
      IK_RETURN_IF_ERROR(linear(L.qkv, QKV, H, L.qkv_bias, x_, nullptr, H, n, qkv_, QKV, false,
                                cuda::MatvecInput::kRmsNorm, L.attn_norm));
    }
    if (wtype_ == DType::kF32) IK_RETURN_IF_ERROR(layer_attention<float>(l, n, decode_only, max_ctx, num_tiles, use_mm));
    else IK_RETURN_IF_ERROR(layer_attention<bf16>(l, n, decode_only, max_ctx, num_tiles, use_mm));
    IK_RETURN_IF_ERROR(linear(L.o, H, Q, L.o_bias, att_, in16, Q, n, x_, H, true));

    if (use_mm) {
      IK_RETURN_IF_ERROR(norm_into_input(L.ffn_norm));
      IK_RETURN_IF_ERROR(linear(L.gate_up, 2 * I, H, L.gate_up_bias, nullptr, in16, H, n, gate_up_, 2 * I, false));
    } else {
      IK_RETURN_IF_ERROR(linear(L.gate_up, 2 * I, H, L.gate_up_bias, x_, nullptr, H, n, gate_up_, 2 * I,
                                false, cuda::MatvecInput::kRmsNorm, L.ffn_norm));
    }
    if (use_mm) {
      if (wtype_ == DType::kBF16) IK_CUDA(cuda::launch_swiglu<bf16>(gate_up_, static_cast<bf16*>(x16_), n, I, stream_));
      else IK_CUDA(cuda::launch_swiglu<f16>(gate_up_, static_cast<f16*>(x16_), n, I, stream_));
      IK_RETURN_IF_ERROR(linear(L.down, H, I, L.down_bias, nullptr, x16_, I, n, x_, H, true));
    } else {
      IK_RETURN_IF_ERROR(linear(L.down, H, I, L.down_bias, gate_up_, nullptr, 2 * I, n, x_, H, true,
                                cuda::MatvecInput::kSwiGLU));
    }
  }

  return Status::Ok();
}

Status CudaBackend::launch_layers_graph(int n, int max_ctx, bool use_mm) {
  const int group = cfg_.num_heads / cfg_.num_kv_heads;
  const int split = cuda::attention_decode_split_len(n, cfg_.num_kv_heads, max_ctx, group);
  const auto key = std::make_tuple(n, split, (max_ctx + split - 1) / split);
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    // Contexts grow a split at a time, so old layouts are rarely reused: keep the cache small.
    if (graphs_.size() >= 32) {
      for (auto& g : graphs_) IK_CUDA(cudaGraphExecDestroy(g.second));
      graphs_.clear();
    }
    IK_CUDA(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    const Status st = enqueue_layers(n, true, max_ctx, 0, use_mm);
    cudaGraph_t g = nullptr;
    const cudaError_t e = cudaStreamEndCapture(stream_, &g);
    if (!st.ok()) {
      if (g) cudaGraphDestroy(g);
      return st;
    }
    IK_CUDA(e);
    cudaGraphExec_t exec = nullptr;
    const cudaError_t ie = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    IK_CUDA(ie);
    it = graphs_.emplace(key, exec).first;
  }
  IK_CUDA(cudaGraphLaunch(it->second, stream_));
  return Status::Ok();
}

Status CudaBackend::logits_for(const StepBatch& b, const std::vector<int32_t>& local_rows,
                               const std::vector<int>& out_index, const StepOutput& out,
                               bool logits_ready) {
  (void)b;
  const int H = cfg_.hidden_size, V = cfg_.vocab_size;
  for (size_t r0 = 0; r0 < local_rows.size(); r0 += kMaxLogitRows) {
    const int m = static_cast<int>(std::min<size_t>(kMaxLogitRows, local_rows.size() - r0));
    const int32_t* d_rows = d_meta_ + 3 * chunk_cap_ + r0;  // uploaded with the chunk metadata
    const bool use_mm = wtype_ != DType::kF32 && m > cuda::kMatvecMaxRows;
    if (logits_ready) {
      // rows <= kPersistentMaxRows < kMaxLogitRows: one pass, logits_ holds every output row
    } else if (!use_mm) {
      IK_CUDA(cuda::launch_rmsnorm<float>(x_, final_norm_, final_h_, m, H, cfg_.rms_norm_eps, stream_, d_rows));
      IK_RETURN_IF_ERROR(linear(lm_head_, V, H, nullptr, final_h_, nullptr, H, m, logits_, V, false));
    } else {
      if (wtype_ == DType::kBF16) IK_CUDA(cuda::launch_rmsnorm<bf16>(x_, final_norm_, static_cast<bf16*>(x16_), m, H, cfg_.rms_norm_eps, stream_, d_rows));
      else IK_CUDA(cuda::launch_rmsnorm<f16>(x_, final_norm_, static_cast<f16*>(x16_), m, H, cfg_.rms_norm_eps, stream_, d_rows));
      IK_RETURN_IF_ERROR(linear(lm_head_, V, H, nullptr, nullptr, x16_, H, m, logits_, V, false));
    }
    if (out.logits) {
      // Rows of this chunk are consecutive in the output (output_rows ascend). Copied before the
      // penalties change logits_: the caller gets the model's logits.
      IK_CUDA(cudaMemcpyAsync(out.logits + static_cast<size_t>(out_index[r0]) * V, logits_,
                              static_cast<size_t>(m) * V * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    }
    if (out.sampled) {
      std::vector<SamplingParams> params(m);
      std::vector<uint64_t> steps(m);
      for (int r = 0; r < m; ++r) {
        params[r] = out.sampling[out_index[r0 + r]];
        steps[r] = out.sample_steps[out_index[r0 + r]];
      }
      IK_CUDA(cudaMemcpyAsync(d_params_, params.data(), m * sizeof(SamplingParams), cudaMemcpyHostToDevice, stream_));
      IK_CUDA(cudaMemcpyAsync(d_steps_, steps.data(), m * sizeof(uint64_t), cudaMemcpyHostToDevice, stream_));
      IK_RETURN_IF_ERROR(apply_penalties(out, out_index, static_cast<int>(r0), m));
      if (out.token_mask) {
        const size_t words = static_cast<size_t>(token_mask_words(V));
        h_mask_.resize(static_cast<size_t>(m) * words);
        for (int r = 0; r < m; ++r)
          std::copy_n(out.token_mask + out_index[r0 + r] * words, words, h_mask_.data() + r * words);
        IK_CUDA(cudaMemcpyAsync(d_mask_, h_mask_.data(), h_mask_.size() * sizeof(uint32_t), cudaMemcpyHostToDevice, stream_));
        IK_CUDA(cuda::launch_apply_token_mask(logits_, m, V, d_mask_, stream_));
      }
      IK_CUDA(cuda::launch_sample(logits_, m, V, d_params_, d_steps_, d_sampled_, stream_));
      IK_CUDA(cudaMemcpyAsync(h_sampled_, d_sampled_, m * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
    }
    IK_CUDA(cudaStreamSynchronize(stream_));
    if (out.sampled)
      for (int r = 0; r < m; ++r) out.sampled[out_index[r0 + r]] = h_sampled_[r];
  }
  return Status::Ok();
}

// The penalty lists of output rows out_index[r0 .. r0 + m) go to the device and are applied to
// logits_ (d_params_ already holds the rows' parameters). The staging vectors are pageable, so
// cudaMemcpyAsync has copied them before it returns.
Status CudaBackend::apply_penalties(const StepOutput& out, const std::vector<int>& out_index,
                                    int r0, int m) {
  if (!out.penalty_offsets) return Status::Ok();
  pen_offsets_.assign(1, 0);
  pen_tokens_.clear();
  for (int r = 0; r < m; ++r) {
    const int row = out_index[r0 + r];
    const int32_t b = out.penalty_offsets[row], e = out.penalty_offsets[row + 1];
    pen_tokens_.insert(pen_tokens_.end(), out.penalty_tokens + b, out.penalty_tokens + e);
    pen_offsets_.push_back(static_cast<int32_t>(pen_tokens_.size()));
  }
  if (pen_tokens_.empty()) return Status::Ok();
  if (pen_tokens_.size() > pen_capacity_) {
    return Status::BadRequest("penalty lists of " + std::to_string(pen_tokens_.size()) +
                              " tokens exceed the " + std::to_string(pen_capacity_) +
                              " the backend holds for " + std::to_string(m) + " rows");
  }
  IK_CUDA(cudaMemcpyAsync(d_pen_offsets_, pen_offsets_.data(), pen_offsets_.size() * sizeof(int32_t),
                          cudaMemcpyHostToDevice, stream_));
  IK_CUDA(cudaMemcpyAsync(d_pen_tokens_, pen_tokens_.data(), pen_tokens_.size() * sizeof(PenaltyToken),
                          cudaMemcpyHostToDevice, stream_));
  IK_CUDA(cuda::launch_apply_penalties(logits_, m, cfg_.vocab_size, d_params_, d_pen_offsets_,
                                       d_pen_tokens_, stream_));
  return Status::Ok();
}

Status CudaBackend::compute(const StepBatch& b, const StepOutput& out) {
  if (!poison_.ok()) return poison_;
  if (!loaded_) return Status::Internal("cuda backend used before load");
  // The runtime's current device is per host thread; the scheduler thread is not the loader.
  IK_CUDA(cudaSetDevice(device_));
#if !defined(INFERKIT_CUDA_FAULT_INJECTION)
  if (fault_armed_) {
    // Without the device-fault build the hook poisons the backend directly, as the CPU one does.
    fault_armed_ = false;
    poison_ = Status::Poisoned("injected sticky failure (test fault hook) in the cuda backend");
    return poison_;
  }
#endif
  IK_RETURN_IF_ERROR(check_batch(b));
  if (out.sampled && (!out.sampling || !out.sample_steps))
    return Status::BadRequest("sampling requested without parameters");
  IK_RETURN_IF_ERROR(check_penalty_rows(out, b.n_outputs, cfg_.vocab_size));
  IK_RETURN_IF_ERROR(upload_block_tables(b));
  // Chunks never split a slot's run of tokens across a decode/prefill decision incorrectly:
  // any split is fine for correctness because every chunk's keys are in the cache before the
  // next chunk attends to them.
  for (int t0 = 0; t0 < b.n_tokens; t0 += chunk_cap_) {
    const int t1 = std::min(b.n_tokens, t0 + chunk_cap_);
    IK_RETURN_IF_ERROR(run_chunk(b, t0, t1, out));
  }
  IK_CUDA(cudaStreamSynchronize(stream_));
  return Status::Ok();
}

}  // namespace

Status create_cuda_backend(std::unique_ptr<Backend>* out) {
  out->reset();
  std::string why;
  if (cuda_device_count(&why) <= 0) return Status::BadRequest("no CUDA device: " + why);
  *out = std::make_unique<CudaBackend>();
  return Status::Ok();
}

int cuda_device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return 0;
  }
  if (n == 0 && why) *why = "the driver reports no CUDA devices";
  return n;
}

}  // namespace inferkit
