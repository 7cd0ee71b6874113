// Engine: the model runtime used by the N-API addon and by the C++ tests and benchmarks (no
// Node). It loads a Hugging Face checkpoint directory or a GGUF file, owns a Backend, and runs a
// continuous-batching scheduler on its own thread: sequences join and leave between steps.
//
// Thread safety: every public method may be called from any thread. Token callbacks run on the
// scheduler thread and must return quickly (copy the tokens, hand them off, return).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "model_config.h"
#include "sampling.h"
#include "status.h"

namespace inferkit {

namespace grammar {
class CompiledGrammar;
}

enum class Device { kAuto = 0, kCpu, kCuda };

struct EngineOptions {
  Device device = Device::kCpu;  // kAuto: CUDA when built with it and a device exists, else CPU
  int threads = 0;               // CPU threads; 0 = cores this process may use (affinity)
  int max_batch = 8;             // concurrent sequences (KV slots); more requests wait
  int max_seq_len = 0;           // positions per sequence; 0 = min(max_position_embeddings, 4096)
  WeightConversion convert_at_load = WeightConversion::kNone;  // see backend.h
  int max_queued = 1024;         // waiting requests beyond max_batch before kBackpressure
  bool prefix_cache = true;      // reuse the KV cache of shared prompt prefixes (kv_block_pool.h)
};

// Load progress: fraction in [0, 1] and a short stage name ("config", "weights", "backend").
using ProgressFn = std::function<void(double fraction, const char* stage)>;

struct ModelInfo {
  ModelConfig config;
  std::string device;              // "cpu" or "cuda"
  std::string device_description;  // Backend::device_description()
  int max_batch = 0;
  int max_seq_len = 0;
  int threads = 0;                 // CPU threads actually used (0 for cuda)
  std::string weight_dtype;        // stored types of the weight matrices, by bytes, largest
                                   // first ("F32", "BF16", "Q4_K+Q6_K", ...)
  size_t memory_bytes = 0;
};

struct GenerateRequest {
  std::vector<int32_t> prompt;         // non-empty token ids, each < vocab_size
  SamplingParams sampling;
  int max_tokens = 256;                // >= 1; prompt + max_tokens must fit max_seq_len
  std::vector<int32_t> stop_token_ids; // generation stops after emitting one of these
  // Constrained decoding (optional; grammar/matcher.h): every token keeps the output a prefix of
  // a sentence of the grammar, stop tokens are allowed only once the output is complete, and
  // the request finishes with kStop as soon as nothing else may follow.
  std::shared_ptr<grammar::CompiledGrammar> grammar;
};

enum class FinishReason { kNone = 0, kStop, kLength, kCancelled, kError };

inline const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "";
}

// One delivery to a request's callback: the tokens generated since the last event (possibly
// none), and on the last event the finish reason (and the error when kError). A stop token is
// included in `tokens` (the caller decides whether to show it). Exactly one event per request
// has finish != kNone, and no event follows it.
struct TokenEvent {
  uint64_t request_id = 0;
  std::vector<int32_t> tokens;
  // Prompt tokens whose KV cache came from the prefix cache (a multiple of 16, below the prompt
  // length); -1 until the request has a slot, so on every event that carries tokens.
  int cached_tokens = -1;
  FinishReason finish = FinishReason::kNone;
  Status error;  // set when finish == kError
};
using TokenCallback = std::function<void(const TokenEvent& event)>;

struct EngineStats {
  bool loaded = false;
  bool poisoned = false;
  int active_sequences = 0;   // holding a KV slot
  int queued_sequences = 0;   // waiting for a slot
  uint64_t steps = 0;         // scheduler steps run
  uint64_t prompt_tokens = 0; // prompt tokens computed (prefilled)
  uint64_t cached_prompt_tokens = 0;  // prompt tokens taken from the prefix cache instead
  int kv_blocks = 0;          // KV cache blocks of 16 positions (KvBlockPool::Stats)
  int kv_blocks_in_use = 0;   // held by running sequences
  int kv_blocks_cached = 0;   // held by none, kept for prefix hits
  uint64_t kv_evictions = 0;  // cached blocks taken for new content
  uint64_t generated_tokens = 0;
  double prefill_seconds = 0; // wall time inside compute() for steps with prefill tokens
  double decode_seconds = 0;  // wall time inside compute() for decode-only steps
  size_t memory_bytes = 0;
};

class Engine {
 public:
  Engine();
  ~Engine();  // close()s
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads a model, creates the backend and starts the scheduler thread. Fails if already loaded.
  // `model_path` is a checkpoint directory (config.json + generation_config.json, safetensors
  // weights in one file or model.safetensors.index.json shards) or a GGUF file; either is
  // memory-mapped and validated.
  Status load(const std::string& model_path, const EngineOptions& options,
              const ProgressFn& progress = nullptr);

  // Queues a request. Validation failures (bad ids, empty prompt, context overflow, engine
  // poisoned or not loaded) are returned here and the callback is never called. On success
  // *id is set and the callback will receive events until exactly one carries a finish reason.
  Status submit(GenerateRequest request, TokenCallback callback, uint64_t* id);

  // Cancels a queued or running request: its callback receives finish kCancelled (unless it
  // already finished). Unknown ids are ignored.
  void cancel(uint64_t id);

  // Forward-only pass over `tokens` (a fresh sequence at positions 0..n-1) for parity tests:
  // fills `out` with n x vocab_size f32 logits, one row per input position. Runs on the
  // scheduler thread between steps, in a free KV slot.
  Status logits(const std::vector<int32_t>& tokens, std::vector<float>* out);

  // Tears down the backend (poisoned or not), fails in-flight requests with
  // cuda_context_poisoned if poisoned (else cancelled), reloads the weights with the original
  // options and restarts the scheduler.
  Status rebuild(const ProgressFn& progress = nullptr);

  // Test-only: forwards to Backend::inject_fault. With kStickyFailure the next step fails and
  // every in-flight and new request gets cuda_context_poisoned until rebuild().
  Status inject_fault(FaultKind kind);

  // Ok or the sticky kPoisoned status.
  Status poisoned() const;

  EngineStats stats() const;
  bool loaded() const;
  // Valid after a successful load().
  const ModelInfo& info() const;

  // Stops the scheduler (pending requests finish with kCancelled), releases the backend and
  // unmaps the weights. Idempotent; the engine can be loaded again afterwards.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inferkit
