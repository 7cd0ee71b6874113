// Backend: one compute interface with a `cpu/` and a `cuda/` implementation behind it
// (ggml-backend style). The engine owns scheduling, sampling parameters and sequence state; a
// backend owns weights in its own memory, the KV cache and the forward pass.
//
// Threading: the engine calls a backend from one thread at a time (its scheduler thread, or the
// loading thread before the scheduler starts). A backend may use its own worker threads or
// streams internally.
//
// Errors: every call returns a Status and never exits or aborts. A failure that leaves the
// device in an unknown state (a sticky CUDA error, an injected fault) makes the backend
// *poisoned*: poisoned() returns kPoisoned from then on and every later compute() fails fast
// with that status. Only destroying the backend and loading a fresh one recovers.
//
// CUDA: the CUDA translation units (engine/cuda/*.cu, compiled only when CMake finds nvcc and
// INFERKIT_CUDA is not OFF) define create_cuda_backend() and cuda_device_count(). In a
// CPU-only build engine/cuda_unavailable.cpp defines them instead and they report
// "built without CUDA".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model_config.h"
#include "model_weights.h"
#include "sampling.h"
#include "status.h"

namespace inferkit {

// Positions per KV cache block. The engine's KvBlockPool hands out blocks; backends store K/V by
// block and read every position through StepBatch::block_tables.
constexpr int kKvBlockTokens = 16;

// The ops a forward pass is made of; supports_op() lets the engine refuse a model the device
// cannot run before loading weights.
enum class Op {
  kEmbedding,   // token id -> row of embed_tokens
  kRmsNorm,     // x * rsqrt(mean(x^2) + eps) * w
  kMatMul,      // y = x W^T (+ b), W in its stored dtype, f32 accumulation
  kQkNorm,      // per-head RMSNorm of q and k (qwen3)
  kRope,        // HF split halves (dim i with i + head_dim/2), or adjacent pairs (rope_interleaved)
  kAttention,   // causal GQA attention over the slot's KV cache blocks
  kSwiGlu,      // silu(gate) * up
  kSample,      // on-device sampling (see sampling.h for the algorithm)
};

// Weights converted once at load (EngineOptions::convert_at_load). GGUF block types are never
// converted.
enum class WeightConversion {
  kNone = 0,  // compute on the stored types
  kF32,       // F16/BF16 matrices widened to F32 (faster CPU decode, twice the memory)
  kQ8_0,      // F32/F16/BF16 matrices (rows a multiple of 32) quantized to Q8_0 blocks
};

struct BackendOptions {
  int threads = 0;               // CPU worker threads; 0 = cores this process may use
  int max_slots = 1;             // KV cache slots = max concurrent sequences
  int max_seq_len = 2048;        // KV cache positions per slot
  int kv_blocks = 0;             // KV cache blocks of kKvBlockTokens positions; 0: one slot's worth
                                 // (kv_blocks_per_seq()) for each slot
  WeightConversion convert_at_load = WeightConversion::kNone;
  int device_index = 0;          // CUDA device ordinal
};

// Block-table row length: the blocks one sequence of max_seq_len positions needs.
inline int kv_blocks_per_seq(int max_seq_len) { return (max_seq_len + kKvBlockTokens - 1) / kKvBlockTokens; }

// The tokens of one scheduler step, flattened across sequences. Within a batch, the tokens of
// one slot appear in increasing, contiguous position order; every position below a token's
// position in its slot has been computed in an earlier step or earlier in this batch (or is in
// a block the slot shares: see block_tables). Attention for a token at position p in slot s
// covers positions 0..p of slot s.
struct StepBatch {
  int n_tokens = 0;
  const int32_t* tokens = nullptr;       // [n_tokens] token ids, < vocab_size
  const int32_t* positions = nullptr;    // [n_tokens] position within the sequence
  const int32_t* slots = nullptr;        // [n_tokens] KV cache slot, < max_slots
  int n_outputs = 0;
  const int32_t* output_rows = nullptr;  // [n_outputs] ascending indexes into tokens: rows
                                         // whose logits are needed (last token of each sequence
                                         // in decode/prefill, every row for logits())
  // Paged KV cache: block_tables[slot * kv_blocks_per_seq(max_seq_len) + i] is the block (in
  // [0, kv_blocks)) that holds positions [i * kKvBlockTokens, (i + 1) * kKvBlockTokens) of the
  // slot's sequence; every block up to a token's position must be assigned. Blocks may be
  // shared by several slots (the prefix cache): a backend writes K/V only at the batch's own
  // positions, which the engine never places in a shared block. Null: slot s owns blocks
  // s * kv_blocks_per_seq .. (needs kv_blocks >= max_slots * kv_blocks_per_seq).
  const int32_t* block_tables = nullptr;
};

// What compute() returns for the output rows. Either or both of `logits` and `sampled` may be
// requested; a GPU backend samples on device and copies logits only when asked.
struct StepOutput {
  float* logits = nullptr;                  // optional host [n_outputs, vocab_size]
  int32_t* sampled = nullptr;               // optional host [n_outputs] sampled token ids
  const SamplingParams* sampling = nullptr; // [n_outputs]; required when sampled != nullptr
  const uint64_t* sample_steps = nullptr;   // [n_outputs] RNG counter (tokens the sequence has
                                            // sampled so far); required with sampled
  // Optional, with sampled: the tokens the penalties of sampling[r] apply to are
  // penalty_tokens[penalty_offsets[r] .. penalty_offsets[r + 1]) (see sampling.h). Null
  // offsets: none (penalty_tokens may be null when every row's list is empty).
  // The logits returned in `logits` are the model's, before penalties.
  const int32_t* penalty_offsets = nullptr;       // [n_outputs + 1]
  const PenaltyToken* penalty_tokens = nullptr;
  const uint32_t* token_mask = nullptr;     // optional host [n_outputs, token_mask_words(vocab)]:
                                            // tokens whose bit is clear get logit -inf before
                                            // sampling (constrained decoding)
};

// Test-only faults, so the poisoning path runs in CI without a GPU.
enum class FaultKind {
  kStickyFailure,  // the next compute() fails and the backend stays poisoned
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda".
  virtual const char* name() const = 0;

  // Human-readable device ("cpu: 2 threads, avx2", "cuda:0 NVIDIA H100 ...").
  virtual std::string device_description() const = 0;

  // Copies/converts the weights into backend memory (or keeps host views, for CPU with
  // F32 weights or no convert_at_load) and allocates the KV cache: kv_blocks blocks of
  // kKvBlockTokens positions. Called once per backend instance.
  virtual Status load(const ModelConfig& config, const ModelWeights& weights,
                      const BackendOptions& options) = 0;

  // Runs the forward pass for the batch, writing K/V for every token into its block, and fills
  // the requested outputs. Fails fast with kPoisoned once poisoned.
  virtual Status compute(const StepBatch& batch, const StepOutput& out) = 0;

  // Whether this backend can run `op` with weights stored as `weight_dtype`.
  virtual bool supports_op(Op op, DType weight_dtype) const = 0;

  // Ok, or the sticky kPoisoned status with the message of the failure that caused it.
  virtual Status poisoned() const = 0;

  // Bytes of weights + KV cache + scratch held by the backend (reported to V8 and in stats).
  virtual size_t memory_bytes() const = 0;

  // (optional) Test-only fault injection; backends without it return kBadRequest.
  virtual Status inject_fault(FaultKind kind) {
    (void)kind;
    return Status::BadRequest(std::string("fault injection is not supported by the ") + name() +
                              " backend");
  }
};

// The block table StepBatch::block_tables stands for (the fixed layout when it is null) after
// checking that every block up to each token's position is assigned and inside the pool; `out`
// receives max_slots * kv_blocks_per_seq(max_seq_len) entries, unassigned ones -1.
Status resolve_block_tables(const StepBatch& b, int max_slots, int max_seq_len, int kv_blocks,
                            std::vector<int32_t>* out);

// Checks StepOutput's penalty lists for n_outputs rows (offsets ascending from 0, ids < vocab,
// counts >= 0); Ok when there are none. Every backend calls it before applying them.
Status check_penalty_rows(const StepOutput& out, int n_outputs, int vocab);

std::unique_ptr<Backend> create_cpu_backend();

// Creates the CUDA backend. In a build without CUDA, or with no usable device, returns an
// error status (kBadRequest, "built without CUDA" / "no CUDA device") and leaves *out empty.
Status create_cuda_backend(std::unique_ptr<Backend>* out);

// Number of usable CUDA devices; 0 in a CPU-only build. `why`, when non-null, receives the
// reason for 0 ("built without CUDA", the driver error, ...).
int cuda_device_count(std::string* why);

// Whether this binary was compiled with the CUDA backend.
bool built_with_cuda();

}  // namespace inferkit
