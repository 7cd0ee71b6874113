// The CPU backend: the reference implementation and the fallback when no GPU is present.
// Weights are read in place from the mmapped file: F32 directly, F16/BF16 converted per tile in
// the matmul inner loop (or once at load: to F32, or to Q8_0 blocks), GGUF block types
// (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) multiplied in their blocks with the activations quantized to
// 8 bits the way llama.cpp does (kernels_quant.inc). With the AVX-512 VNNI kernels, Q8_0, Q4_K
// and Q6_K matrices are repacked at load into 16-row groups for the multi-row kernels: a copy
// of the same size that replaces the file's pages. Float accumulation is f32. Work is split
// over output rows across the thread pool; batched steps run every token through each weight
// tile while it is in cache.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../backend.h"
#include "../mapped_file.h"
#include "../sampling.h"
#include "kernels.h"
#include "thread_pool.h"

namespace inferkit {

namespace {

using cpu::Kernels;
using cpu::ThreadPool;

// A weight matrix [rows, cols] in its stored or converted dtype.
struct Matrix {
  const void* data = nullptr;
  DType type = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  bool packed = false;  // interleaved 16-row groups (quant_blocks.h) for Kernels::matmul_q_packed
};

struct CpuLayer {
  std::vector<float> attn_norm, ffn_norm, q_norm, k_norm;
  std::vector<float> q_bias, k_bias, v_bias, o_bias, gate_bias, up_bias, down_bias;
  Matrix q, k, v, o, gate, up, down;
};

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }

  std::string device_description() const override {
    return "cpu: " + std::to_string(pool_ ? pool_->size() : 0) + " threads, " +
           (kernels_ ? kernels_->name : "?") + " kernels";
  }

  Status load(const ModelConfig& config, const ModelWeights& w,
              const BackendOptions& options) override;
  Status compute(const StepBatch& batch, const StepOutput& out) override;
  // Every op runs on the CPU, in every weight dtype (sampling on the host).
  bool supports_op(Op, DType) const override { return true; }
  Status poisoned() const override { return poisoned_; }
  size_t memory_bytes() const override { return memory_bytes_; }
  Status inject_fault(FaultKind kind) override {
    if (kind == FaultKind::kStickyFailure) fault_armed_ = true;
    return Status::Ok();
  }

 private:
  Status to_f32(const TensorView& t, std::vector<float>* out);
  Status matrix(const TensorView& t, Matrix* out);
  // Replaces m's rows by a packed copy when the kernels have multi-row kernels for its type.
  void pack(const TensorView& t, Matrix* m);
  Status check_batch(const StepBatch& b) const;
  // Row r of the logits with its penalties applied (a copy in `copy`), or `row` itself.
  const float* penalized_row(const StepOutput& out, int r, const float* row, std::vector<float>* copy);

  struct MatJob {
    const Matrix* m;
    float* y;
    int64_t ldy;
  };
  // Quantizes the n rows of x once per activation format the jobs' block types need.
  void quantize_inputs(const float* x, int64_t ldx, int n, int64_t K, std::initializer_list<MatJob> jobs);
  // Runs all jobs (same input x, n rows) in one parallel region, rows split across workers.
  void matmuls(const float* x, int64_t ldx, int n, std::initializer_list<MatJob> jobs);
  void rmsnorm_rows(const float* x, int n, const float* w, float* y);
  void attention(const StepBatch& b, int layer);
  // Offset of block `block` of layer `layer` in k_cache_ / v_cache_.
  size_t block_base(int layer, int32_t block) const {
    return (static_cast<size_t>(layer) * opt_.kv_blocks + static_cast<size_t>(block)) * kKvBlockTokens *
           static_cast<size_t>(cfg_.kv_dim());
  }

  ModelConfig cfg_;
  BackendOptions opt_;
  const Kernels* kernels_ = nullptr;
  std::unique_ptr<ThreadPool> pool_;
  // Converted or packed weight copies, allocated uninitialized: the threads that fill them take
  // the page faults (zero-filling 1.3 GB on the loading thread first doubled a 1b model's load).
  std::vector<AnonymousMemory> owned_;

  TensorView embed_;
  bool embed_packed_ = false;  // embed_ is lm_head_'s packed copy (tied)
  std::vector<uint8_t> embed_row_;
  std::vector<float> final_norm_;
  Matrix lm_head_;
  std::vector<CpuLayer> layers_;

  // Paged: [layers][kv_blocks] blocks of kKvBlockTokens positions. Within a block K is stored
  // transposed, [kv_heads][head_dim][16], so attention scores are outer products over
  // contiguous positions (no horizontal sums); V is [16][kv_dim].
  AnonymousMemory k_mem_, v_mem_;
  float* k_cache_ = nullptr;
  float* v_cache_ = nullptr;
  int bps_ = 0;                      // block-table row length
  std::vector<int32_t> tables_;      // this step's block tables (resolve_block_tables)
  std::vector<float> rope_cos_, rope_sin_;     // [max_seq_len][head_dim / 2]

  // Per-step activations, grown on demand.
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_, tmp_, out_h_, logits_;
  std::vector<std::vector<float>> thread_scratch_;  // matmul tile conversion
  // Activations quantized for block-type weights, one buffer per format (kQ8_0, kQ8_K).
  cpu::QuantActBuffer act_[2];
  const cpu::QuantAct* act_view_[2] = {nullptr, nullptr};
  std::vector<std::vector<float>> thread_scores_;   // attention scores
  // Per worker: rows of a batch are sampled in parallel.
  std::vector<SamplerScratch> thread_sampler_;
  std::vector<std::vector<float>> thread_penalized_;

  size_t memory_bytes_ = 0;
  bool loaded_ = false;
  bool fault_armed_ = false;
  Status poisoned_;
};

Status CpuBackend::to_f32(const TensorView& t, std::vector<float>* out) {
  out->clear();
  if (!t.present()) return Status::Ok();
  out->resize(static_cast<size_t>(t.numel()));
  kernels_->convert_row(t.data, t.dtype, out->data(), t.numel());
  return Status::Ok();
}

// ggml's quantize_row_q8_0_ref, the values llama.cpp's converter writes: d = amax / 127 stored
// as f16, q = round(x / d) (half away from zero).
static void quantize_row_q8_0(const float* x, cpu::BlockQ8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / cpu::kQK; ++b) {
    const float* v = x + b * cpu::kQK;
    float amax = 0;
    for (int j = 0; j < cpu::kQK; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = cpu::f32_to_f16(d);
    for (int j = 0; j < cpu::kQK; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(v[j] * id));
  }
}

Status CpuBackend::matrix(const TensorView& t, Matrix* out) {
  if (!t.present() || t.shape.size() != 2) {
    return Status::Internal("weight '" + t.name + "' is not a matrix");
  }
  out->rows = t.shape[0];
  out->cols = t.shape[1];
  out->type = t.dtype;
  out->data = t.data;
  const bool is_float = t.dtype == DType::kF32 || t.dtype == DType::kF16 || t.dtype == DType::kBF16;
  const bool widen = opt_.convert_at_load == WeightConversion::kF32 && is_float && t.dtype != DType::kF32;
  const bool to_q8 = opt_.convert_at_load == WeightConversion::kQ8_0 && is_float && out->cols % cpu::kQK == 0;
  if (!widen && !to_q8) {
    pack(t, out);
    return Status::Ok();
  }
  const DType to = widen ? DType::kF32 : DType::kQ8_0;
  const size_t src_row = dtype_row_bytes(t.dtype, out->cols), dst_row = dtype_row_bytes(to, out->cols);
  const size_t copy_bytes = dst_row * static_cast<size_t>(out->rows);
  AnonymousMemory copy = allocate_anonymous(copy_bytes);
  if (!copy) return Status::Internal("cannot allocate " + std::to_string(copy_bytes) + " bytes for weight '" + t.name + "'");
  const uint8_t* src = static_cast<const uint8_t*>(t.data);
  uint8_t* dst = copy.get();
  const int64_t cols = out->cols;
  pool_->parallel_for(out->rows, 1, t.numel(), [&](int64_t b, int64_t e, int) {
    std::vector<float> row(to_q8 ? static_cast<size_t>(cols) : 0);
    for (int64_t r = b; r < e; ++r) {
      if (widen) {
        kernels_->convert_row(src + r * src_row, t.dtype, reinterpret_cast<float*>(dst + r * dst_row), cols);
      } else {
        kernels_->convert_row(src + r * src_row, t.dtype, row.data(), cols);
        quantize_row_q8_0(row.data(), reinterpret_cast<cpu::BlockQ8_0*>(dst + r * dst_row), cols);
      }
    }
  });
  out->data = copy.get();
  out->type = to;
  owned_.push_back(std::move(copy));
  // The file's pages of this tensor are not read again (tied embeddings read the copy too).
  release_mapped_pages(t.data, t.nbytes);
  pack(t, out);
  return Status::Ok();
}

void CpuBackend::pack(const TensorView& t, Matrix* m) {
  const size_t bytes = dtype_row_bytes(m->type, m->cols) * static_cast<size_t>(m->rows);
  const bool owned = !owned_.empty() && m->data == owned_.back().get();
  AnonymousMemory packed;
  if (kernels_->matmul_q_packed && cpu::packable(m->type) && m->rows >= cpu::kPackRows) {
    packed = allocate_anonymous(cpu::packed_bytes(m->type, m->rows, m->cols));
  }
  if (!packed) {  // no multi-row kernels for it (or no memory for a copy): the ggml rows serve
    memory_bytes_ += bytes;
    return;
  }
  const int64_t groups = (m->rows + cpu::kPackRows - 1) / cpu::kPackRows;
  const Matrix& src = *m;
  pool_->parallel_for(groups, 1, src.rows * src.cols * 4, [&](int64_t g0, int64_t g1, int) {
    cpu::pack_rows(src.data, src.type, src.rows, src.cols, g0, g1, packed.get());
  });
  memory_bytes_ += cpu::packed_bytes(m->type, m->rows, m->cols);
  m->data = packed.get();
  m->packed = true;
  // The packed copy replaces the rows it was made from: a converted copy is freed, the file's
  // pages are dropped (tied embeddings read the packed rows too, unpack_row).
  if (owned) owned_.back() = std::move(packed);
  else {
    owned_.push_back(std::move(packed));
    release_mapped_pages(t.data, t.nbytes);
  }
}

Status CpuBackend::load(const ModelConfig& config, const ModelWeights& w,
                        const BackendOptions& options) {
  if (loaded_) return Status::Internal("cpu backend loaded twice");
  cfg_ = config;
  opt_ = options;
  if (opt_.max_slots < 1 || opt_.max_seq_len < 1) {
    return Status::BadRequest("max_slots and max_seq_len must be positive");
  }
  const int threads = opt_.threads > 0 ? opt_.threads : cpu::available_cores();
  opt_.threads = threads;
  kernels_ = &cpu::best_kernels();
  pool_ = std::make_unique<ThreadPool>(threads);

  embed_ = w.embed_tokens;
  IK_RETURN_IF_ERROR(to_f32(w.final_norm, &final_norm_));
  const bool tied = w.lm_head.data == w.embed_tokens.data;
  IK_RETURN_IF_ERROR(matrix(w.lm_head, &lm_head_));
  if (tied) {
    // One copy serves both: the embedding lookups read the lm_head matrix, converted or not.
    embed_.data = lm_head_.data;
    embed_.dtype = lm_head_.type;
    embed_packed_ = lm_head_.packed;
  } else {
    memory_bytes_ += w.embed_tokens.nbytes;
  }

  layers_.resize(w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& s = w.layers[i];
    CpuLayer& d = layers_[i];
    IK_RETURN_IF_ERROR(to_f32(s.attn_norm, &d.attn_norm));
    IK_RETURN_IF_ERROR(to_f32(s.ffn_norm, &d.ffn_norm));
    IK_RETURN_IF_ERROR(to_f32(s.q_norm, &d.q_norm));
    IK_RETURN_IF_ERROR(to_f32(s.k_norm, &d.k_norm));
    IK_RETURN_IF_ERROR(to_f32(s.q_bias, &d.q_bias));
    IK_RETURN_IF_ERROR(to_f32(s.k_bias, &d.k_bias));
    IK_RETURN_IF_ERROR(to_f32(s.v_bias, &d.v_bias));
    IK_RETURN_IF_ERROR(to_f32(s.o_bias, &d.o_bias));
    IK_RETURN_IF_ERROR(to_f32(s.gate_bias, &d.gate_bias));
    IK_RETURN_IF_ERROR(to_f32(s.up_bias, &d.up_bias));
    IK_RETURN_IF_ERROR(to_f32(s.down_bias, &d.down_bias));
    IK_RETURN_IF_ERROR(matrix(s.q_proj, &d.q));
    IK_RETURN_IF_ERROR(matrix(s.k_proj, &d.k));
    IK_RETURN_IF_ERROR(matrix(s.v_proj, &d.v));
    IK_RETURN_IF_ERROR(matrix(s.o_proj, &d.o));
    IK_RETURN_IF_ERROR(matrix(s.gate_proj, &d.gate));
    IK_RETURN_IF_ERROR(matrix(s.up_proj, &d.up));
    IK_RETURN_IF_ERROR(matrix(s.down_proj, &d.down));
  }

  // KV cache: pages are committed by the OS only as blocks are written, so a generous pool
  // costs address space, not memory, until used.
  bps_ = kv_blocks_per_seq(opt_.max_seq_len);
  if (opt_.kv_blocks == 0) opt_.kv_blocks = opt_.max_slots * bps_;
  if (opt_.kv_blocks < 1) return Status::BadRequest("kv_blocks must be positive");
  const size_t per_cache = static_cast<size_t>(cfg_.num_layers) * opt_.kv_blocks *
                           kKvBlockTokens * cfg_.kv_dim();
  const size_t limit = static_cast<size_t>(1) << 40;
  if (per_cache == 0 || per_cache > limit / sizeof(float)) {
    return Status::BadRequest("KV cache of " + std::to_string(per_cache) +
                              " floats is too large; lower maxBatch or maxSeqLen");
  }
  k_mem_ = allocate_anonymous(per_cache * sizeof(float));
  v_mem_ = allocate_anonymous(per_cache * sizeof(float));
  k_cache_ = reinterpret_cast<float*>(k_mem_.get());
  v_cache_ = reinterpret_cast<float*>(v_mem_.get());
  if (!k_cache_ || !v_cache_) {
    return Status::Internal("cannot allocate the KV cache (" +
                            std::to_string(2 * per_cache * sizeof(float)) + " bytes)");
  }
  memory_bytes_ += 2 * per_cache * sizeof(float);

  const int half = cfg_.head_dim / 2;
  std::vector<float> inv = rope_inv_freq(cfg_);
  rope_cos_.resize(static_cast<size_t>(opt_.max_seq_len) * half);
  rope_sin_.resize(rope_cos_.size());
  for (int p = 0; p < opt_.max_seq_len; ++p) {
    for (int i = 0; i < half; ++i) {
      // Angle in f32 like the HF reference (position * inv_freq), cos/sin in double.
      const float angle = static_cast<float>(p) * inv[i];
      rope_cos_[static_cast<size_t>(p) * half + i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      rope_sin_[static_cast<size_t>(p) * half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  thread_scratch_.assign(threads, {});
  thread_scores_.assign(threads, {});
  thread_sampler_.assign(threads, {});
  thread_penalized_.assign(threads, {});
  const int64_t max_k = std::max<int64_t>({cfg_.hidden_size, cfg_.intermediate_size, cfg_.q_dim()});
  for (auto& s : thread_scratch_) s.resize(static_cast<size_t>(cpu::matmul_scratch_floats(max_k)));
  const int rep = cfg_.num_heads / cfg_.num_kv_heads;
  for (auto& s : thread_scores_) s.resize(static_cast<size_t>(rep) * opt_.max_seq_len);
  loaded_ = true;
  return Status::Ok();
}

void CpuBackend::quantize_inputs(const float* x, int64_t ldx, int n, int64_t K,
                                 std::initializer_list<MatJob> jobs) {
  bool need[2] = {false, false};
  for (const MatJob& j : jobs) {
    if (dtype_is_quantized(j.m->type)) need[static_cast<int>(cpu::act_format(j.m->type))] = true;
  }
  for (int f = 0; f < 2; ++f) {
    if (!need[f]) continue;
    const cpu::QuantAct& act = act_[f].prepare(static_cast<cpu::ActFormat>(f), K, n);
    act_view_[f] = &act;
    // About 8 operations per value.
    pool_->parallel_for(n, 1, static_cast<int64_t>(n) * K * 8, [&](int64_t t0, int64_t t1, int) {
      kernels_->quantize_act(x, ldx, static_cast<int>(t0), static_cast<int>(t1), act);
    });
  }
}

void CpuBackend::matmuls(const float* x, int64_t ldx, int n, std::initializer_list<MatJob> jobs) {
  int64_t total = 0, work = 0;
  for (const MatJob& j : jobs) {
    total += j.m->rows;
    work += j.m->rows * j.m->cols * n;
  }
  quantize_inputs(x, ldx, n, jobs.begin()->m->cols, jobs);
  // About 8 chunks per worker, whole 16-row tiles (packed groups): rows of different types
  // (a Q6_K v beside Q4_K q and k) cost different amounts, and a worker the machine delays
  // leaves the rest to the others instead of a wait at the end.
  const int64_t per = static_cast<int64_t>(pool_->size()) * 8 * cpu::kTileRows;
  const int64_t chunk = (total + per - 1) / per * cpu::kTileRows;
  pool_->parallel_chunks(total, chunk, work, [&](int64_t b, int64_t e, int t) {
    int64_t off = 0;
    for (const MatJob& j : jobs) {
      const int64_t lo = std::max(b, off), hi = std::min(e, off + j.m->rows);
      if (lo < hi) {
        if (j.m->packed) {
          kernels_->matmul_q_packed(*act_view_[static_cast<int>(cpu::act_format(j.m->type))], n, j.m->data,
                                    j.m->type, j.m->cols, j.m->rows, lo - off, hi - off, j.y, j.ldy);
        } else if (dtype_is_quantized(j.m->type)) {
          kernels_->matmul_q(*act_view_[static_cast<int>(cpu::act_format(j.m->type))], n, j.m->data, j.m->type,
                             j.m->cols, lo - off, hi - off, j.y, j.ldy);
        } else {
          kernels_->matmul(x, ldx, n, j.m->data, j.m->type, j.m->cols, lo - off, hi - off, j.y,
                           j.ldy, thread_scratch_[t].data());
        }
      }
      off += j.m->rows;
    }
  });
}

// llama.cpp's rms_norm: f32 squares summed in double, the mean and scale in f32. Quantized
// matmuls round their input to 8 bits, so a scale one ulp off flips a value now and then; the
// same arithmetic keeps those inputs identical to llama.cpp's.
static inline void rmsnorm(const float* x, int64_t n, const float* w, float eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(ss / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

void CpuBackend::rmsnorm_rows(const float* x, int n, const float* w, float* y) {
  const int64_t H = cfg_.hidden_size;
  auto body = [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) rmsnorm(x + i * H, H, w, cfg_.rms_norm_eps, y + i * H);
  };
  pool_->parallel_for(n, 1, static_cast<int64_t>(n) * H * 2, body);
}

Status CpuBackend::check_batch(const StepBatch& b) const {
  if (b.n_tokens <= 0 || !b.tokens || !b.positions || !b.slots) {
    return Status::BadRequest("empty step batch");
  }
  for (int i = 0; i < b.n_tokens; ++i) {
    if (b.tokens[i] < 0 || b.tokens[i] >= cfg_.vocab_size) {
      return Status::BadRequest("token id " + std::to_string(b.tokens[i]) +
                                " is outside the vocabulary");
    }
    if (b.slots[i] < 0 || b.slots[i] >= opt_.max_slots) return Status::BadRequest("bad slot");
    if (b.positions[i] < 0 || b.positions[i] >= opt_.max_seq_len) {
      return Status::ContextLength("position " + std::to_string(b.positions[i]) +
                                   " exceeds max_seq_len " + std::to_string(opt_.max_seq_len));
    }
  }
  for (int i = 0; i < b.n_outputs; ++i) {
    if (b.output_rows[i] < 0 || b.output_rows[i] >= b.n_tokens ||
        (i > 0 && b.output_rows[i] <= b.output_rows[i - 1])) {
      return Status::BadRequest("output rows must be ascending indexes into the batch");
    }
  }
  return Status::Ok();
}

void CpuBackend::attention(const StepBatch& b, int layer) {
  const int n = b.n_tokens;
  const int D = cfg_.head_dim, KVH = cfg_.num_kv_heads, rep = cfg_.num_heads / KVH;
  const int64_t KV = cfg_.kv_dim(), Q = cfg_.q_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const Kernels& k = *kernels_;
  // Cost: QK and PV over every cached position of every token's heads.
  int64_t work = 0;
  for (int i = 0; i < n; ++i) work += static_cast<int64_t>(b.positions[i] + 1) * 2 * Q;
  // Causal work grows with the position, so contiguous ranges would give the last worker the
  // longest rows of a prefill; tasks are dealt round-robin instead.
  const int64_t tasks = static_cast<int64_t>(n) * KVH;
  const int workers = work < ThreadPool::kMinParallelWork ? 1 : pool_->size();
  // With a few tokens per worker, whole tokens are dealt (all KV heads in a row): a block's K
  // and V of all heads are then read front to back, which the hardware prefetchers follow.
  const int64_t deal = n >= 2 * workers ? KVH : 1;
  auto body = [&](int th) {
    float* scores = thread_scores_[th].data();
    for (int64_t task = 0; task < tasks; ++task) {
      if ((task / deal) % workers != th) continue;
      const int i = static_cast<int>(task / KVH), g = static_cast<int>(task % KVH);
      const int p = b.positions[i];
      const int start = cfg_.sliding_window > 0 ? std::max(0, p - cfg_.sliding_window + 1) : 0;
      const int len = p - start + 1;
      const int32_t* row = tables_.data() + static_cast<size_t>(b.slots[i]) * bps_;
      const float* qi = q_.data() + i * Q + static_cast<int64_t>(g) * rep * D;
      // Block by block: positions [j0, j1) of block j / 16, scores at j0 - start of each row.
      for (int j0 = start; j0 <= p;) {
        const int j1 = std::min(p + 1, (j0 / kKvBlockTokens + 1) * kKvBlockTokens);
        const float* kt = k_cache_ + block_base(layer, row[j0 / kKvBlockTokens]) +
                          static_cast<size_t>(g) * D * kKvBlockTokens + j0 % kKvBlockTokens;
        k.attn_scores(qi, rep, D, kt, kKvBlockTokens, j1 - j0, scale, scores + (j0 - start), len);
        j0 = j1;
      }
      for (int r = 0; r < rep; ++r) k.softmax(scores + r * len, len);
      float* out = att_.data() + i * Q + static_cast<int64_t>(g) * rep * D;
      for (int j0 = start; j0 <= p;) {
        const int j1 = std::min(p + 1, (j0 / kKvBlockTokens + 1) * kKvBlockTokens);
        const float* vc = v_cache_ + block_base(layer, row[j0 / kKvBlockTokens]) +
                          static_cast<size_t>(j0 % kKvBlockTokens) * KV + g * D;
        k.attn_values(scores + (j0 - start), len, rep, j1 - j0, vc, KV, D, out, j0 != start);
        j0 = j1;
      }
    }
  };
  if (workers == 1) body(0);
  else pool_->run(body);
}

Status CpuBackend::compute(const StepBatch& b, const StepOutput& out) {
  if (!poisoned_.ok()) return poisoned_;
  if (!loaded_) return Status::Internal("cpu backend used before load");
  if (fault_armed_) {
    fault_armed_ = false;
    poisoned_ = Status::Poisoned("injected sticky failure (test fault hook) in the cpu backend");
    return poisoned_;
  }
  IK_RETURN_IF_ERROR(check_batch(b));
  if (out.sampled && (!out.sampling || !out.sample_steps)) {
    return Status::BadRequest("sampling requested without parameters");
  }
  IK_RETURN_IF_ERROR(check_penalty_rows(out, b.n_outputs, cfg_.vocab_size));
  IK_RETURN_IF_ERROR(resolve_block_tables(b, opt_.max_slots, opt_.max_seq_len, opt_.kv_blocks, &tables_));

  const int n = b.n_tokens;
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size, Q = cfg_.q_dim(),
                KV = cfg_.kv_dim(), D = cfg_.head_dim, V = cfg_.vocab_size;
  const int half = cfg_.head_dim / 2;
  auto grow = [](std::vector<float>& v, size_t sz) {
    if (v.size() < sz) v.resize(sz);
  };
  grow(x_, n * H); grow(h_, n * H); grow(q_, n * Q); grow(k_, n * KV); grow(v_, n * KV);
  grow(att_, n * Q); grow(gate_, n * I); grow(up_, n * I); grow(tmp_, n * H);

  const size_t erow = dtype_row_bytes(embed_.dtype, H);
  if (embed_packed_) embed_row_.resize(erow);
  for (int i = 0; i < n; ++i) {
    const uint8_t* row = static_cast<const uint8_t*>(embed_.data) + b.tokens[i] * erow;
    if (embed_packed_) {
      cpu::unpack_row(embed_.data, embed_.dtype, lm_head_.rows, H, b.tokens[i], embed_row_.data());
      row = embed_row_.data();
    }
    kernels_->convert_row(row, embed_.dtype, x_.data() + i * H, H);
  }

  for (int l = 0; l < cfg_.num_layers; ++l) {
    const CpuLayer& L = layers_[l];
    rmsnorm_rows(x_.data(), n, L.attn_norm.data(), h_.data());
    matmuls(h_.data(), H, n, {{&L.q, q_.data(), Q}, {&L.k, k_.data(), KV}, {&L.v, v_.data(), KV}});

    // Per token: biases, q/k norm, RoPE, then K/V into the slot's cache rows.
    auto post_qkv = [&](int64_t b0, int64_t b1, int) {
      for (int64_t i = b0; i < b1; ++i) {
        float* qi = q_.data() + i * Q;
        float* ki = k_.data() + i * KV;
        float* vi = v_.data() + i * KV;
        if (!L.q_bias.empty()) for (int64_t j = 0; j < Q; ++j) qi[j] += L.q_bias[j];
        if (!L.k_bias.empty()) for (int64_t j = 0; j < KV; ++j) ki[j] += L.k_bias[j];
        if (!L.v_bias.empty()) for (int64_t j = 0; j < KV; ++j) vi[j] += L.v_bias[j];
        if (!L.q_norm.empty()) {
          for (int hd = 0; hd < cfg_.num_heads; ++hd) rmsnorm(qi + hd * D, D, L.q_norm.data(), cfg_.rms_norm_eps, qi + hd * D);
          for (int hd = 0; hd < cfg_.num_kv_heads; ++hd) rmsnorm(ki + hd * D, D, L.k_norm.data(), cfg_.rms_norm_eps, ki + hd * D);
        }
        const float* c = rope_cos_.data() + static_cast<size_t>(b.positions[i]) * half;
        const float* s = rope_sin_.data() + static_cast<size_t>(b.positions[i]) * half;
        // Pair j is (j, j + half) in HF order, (2j, 2j + 1) in GGUF llama order.
        const int64_t pair_stride = cfg_.rope_interleaved ? 2 : 1;
        const int64_t pair_offset = cfg_.rope_interleaved ? 1 : half;
        auto rotate = [&](float* v, int heads) {
          for (int hd = 0; hd < heads; ++hd) {
            float* x = v + hd * D;
            for (int j = 0; j < half; ++j) {
              float* x0 = x + j * pair_stride;
              float* x1 = x0 + pair_offset;
              const float a = *x0, bb = *x1;
              *x0 = a * c[j] - bb * s[j];
              *x1 = bb * c[j] + a * s[j];
            }
          }
        };
        rotate(qi, cfg_.num_heads);
        rotate(ki, cfg_.num_kv_heads);
        const int pos = b.positions[i];
        const size_t base = block_base(l, tables_[static_cast<size_t>(b.slots[i]) * bps_ + pos / kKvBlockTokens]);
        float* kt = k_cache_ + base + pos % kKvBlockTokens;
        for (int64_t j = 0; j < KV; ++j) kt[j * kKvBlockTokens] = ki[j];  // [kv_head][d] rows of 16
        std::memcpy(v_cache_ + base + static_cast<size_t>(pos % kKvBlockTokens) * KV, vi,
                    sizeof(float) * KV);
      }
    };
    pool_->parallel_for(n, 1, static_cast<int64_t>(n) * (Q + KV) * 4, post_qkv);

    attention(b, l);
    matmuls(att_.data(), Q, n, {{&L.o, tmp_.data(), H}});
    for (int i = 0; i < n; ++i) {
      float* xi = x_.data() + i * H;
      const float* ti = tmp_.data() + i * H;
      if (!L.o_bias.empty()) for (int64_t j = 0; j < H; ++j) xi[j] += ti[j] + L.o_bias[j];
      else for (int64_t j = 0; j < H; ++j) xi[j] += ti[j];
    }

    rmsnorm_rows(x_.data(), n, L.ffn_norm.data(), h_.data());
    matmuls(h_.data(), H, n, {{&L.gate, gate_.data(), I}, {&L.up, up_.data(), I}});
    auto swiglu = [&](int64_t b0, int64_t b1, int) {
      for (int64_t i = b0; i < b1; ++i) {
        float* g = gate_.data() + i * I;
        float* u = up_.data() + i * I;
        if (!L.gate_bias.empty()) for (int64_t j = 0; j < I; ++j) g[j] += L.gate_bias[j];
        if (!L.up_bias.empty()) for (int64_t j = 0; j < I; ++j) u[j] += L.up_bias[j];
        kernels_->silu_mul(g, u, I);
      }
    };
    // About 4 multiply-adds per value with the vectorized exp.
    pool_->parallel_for(n, 1, static_cast<int64_t>(n) * I * 4, swiglu);
    matmuls(gate_.data(), I, n, {{&L.down, tmp_.data(), H}});
    for (int i = 0; i < n; ++i) {
      float* xi = x_.data() + i * H;
      const float* ti = tmp_.data() + i * H;
      if (!L.down_bias.empty()) for (int64_t j = 0; j < H; ++j) xi[j] += ti[j] + L.down_bias[j];
      else for (int64_t j = 0; j < H; ++j) xi[j] += ti[j];
    }
  }

  const int m = b.n_outputs;
  if (m == 0) return Status::Ok();
  grow(out_h_, m * H);
  for (int r = 0; r < m; ++r) {
    rmsnorm(x_.data() + static_cast<int64_t>(b.output_rows[r]) * H, H, final_norm_.data(),
            cfg_.rms_norm_eps, out_h_.data() + r * H);
  }
  float* logits = out.logits;
  if (!logits) {
    grow(logits_, static_cast<size_t>(m) * V);
    logits = logits_.data();
  }
  matmuls(out_h_.data(), H, m, {{&lm_head_, logits, V}});
  if (out.sampled) {
    // Rows are independent (each its own seed and step): one per worker at a time. A few
    // passes over the vocabulary for greedy rows, a sort of it for top-p.
    pool_->parallel_chunks(m, 1, static_cast<int64_t>(m) * V * 4, [&](int64_t r0, int64_t r1, int t) {
      for (int64_t r = r0; r < r1; ++r) {
        float* raw = logits + r * V;
        if (out.token_mask)
          apply_token_mask(raw, static_cast<int>(V), out.token_mask + r * token_mask_words(static_cast<int>(V)));
        const float* row = raw;
        if (out.penalty_offsets) row = penalized_row(out, static_cast<int>(r), row, &thread_penalized_[t]);
        out.sampled[r] = sample_token(row, static_cast<int>(V), out.sampling[r], out.sample_steps[r],
                                      &thread_sampler_[t]);
      }
    });
  }
  return Status::Ok();
}

const float* CpuBackend::penalized_row(const StepOutput& out, int r, const float* row, std::vector<float>* copy) {
  const int32_t b = out.penalty_offsets[r], e = out.penalty_offsets[r + 1];
  if (b == e) return row;
  // The caller's logits stay the model's: penalties go to a copy.
  const size_t V = static_cast<size_t>(cfg_.vocab_size);
  copy->assign(row, row + V);
  apply_penalties(copy->data(), out.sampling[r], out.penalty_tokens + b, e - b);
  return copy->data();
}

}  // namespace

std::unique_ptr<Backend> create_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace inferkit
