// Engine internals shared by engine.cpp (public API, load/close) and scheduler.cpp (the
// scheduler thread): the per-request state and Engine::Impl.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <new>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "engine.h"
#include "kv_block_pool.h"
#include "grammar/matcher.h"
#include "model_loader.h"
#include "penalty_tracker.h"

namespace inferkit {
namespace detail {

// Prompt tokens prefilled per scheduler step (summed over sequences). Bounds how long running
// decodes stall while a long prompt joins, and the size of the step's activations.
constexpr int kPrefillBudget = 512;

struct Sequence {
  uint64_t id = 0;
  GenerateRequest request;
  TokenCallback callback;
  int slot = -1;
  int prefilled = 0;           // prompt tokens already in the KV cache (computed or cached)
  int cached_tokens = -1;      // prompt tokens the prefix cache gave; -1 before admission
  int kv_len = 0;              // positions whose K/V is in the cache
  std::vector<int32_t> context;  // prompt + sampled tokens: the tokens at the cache's positions
  int generated = 0;           // tokens sampled so far
  int32_t last_token = -1;     // the newest sampled token, fed at the next decode step
  PenaltyTracker penalties;    // the tokens this sequence's penalties apply to
  std::unique_ptr<grammar::GrammarMatcher> matcher;  // set when request.grammar is
  bool grammar_stuck = false;  // this step's mask allowed no token
};

struct LogitsJob {
  std::vector<int32_t> tokens;
  std::vector<float>* out = nullptr;
  Status status;
  bool done = false;
};

// An event to deliver outside the engine lock (callbacks may call back into the engine).
struct Pending {
  TokenCallback callback;
  TokenEvent event;
};

inline void deliver(std::vector<Pending>* events) {
  for (Pending& p : *events) p.callback(p.event);
  events->clear();
}

// Runs a backend or loader call that may throw (std::bad_alloc from a large allocation) and
// turns the exception into a Status, so no exception escapes onto the scheduler thread.
template <typename F>
Status guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Status::Internal(std::string(what) + ": out of memory");
  } catch (const std::exception& e) {
    return Status::Internal(std::string(what) + ": " + e.what());
  } catch (...) {
    return Status::Internal(std::string(what) + ": unknown exception");
  }
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace detail

struct Engine::Impl {
  // lifecycle_mu serialises load/rebuild/close; mu guards the queues and counters; backend_mu
  // is held around every backend call (scheduler steps, fault injection).
  std::mutex lifecycle_mu;
  mutable std::mutex mu;
  std::mutex backend_mu;
  std::condition_variable wake;     // scheduler: new work, cancellation, stop
  std::condition_variable job_done; // logits() callers

  bool loaded = false;
  bool stopping = false;
  std::string model_path;
  EngineOptions options;
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<Backend> backend;
  ModelInfo info;
  std::thread scheduler;
  std::thread::id scheduler_id;

  std::deque<std::unique_ptr<detail::Sequence>> waiting;
  std::vector<std::unique_ptr<detail::Sequence>> active;  // touched only by the scheduler thread
  std::vector<int> free_slots;
  // The paged KV cache's blocks and tables; scheduler thread only (and close() after it joined).
  KvBlockPool kv;
  std::unordered_set<uint64_t> live;       // submitted and not yet finished
  std::unordered_set<uint64_t> cancelled;  // cancel() requests not yet applied
  std::deque<detail::LogitsJob*> jobs;
  Status poison;
  EngineStats stats;
  uint64_t next_id = 1;
  int active_count = 0;  // mirror of active.size() for stats()

  Status load_locked(const std::string& dir, const EngineOptions& opts, const ProgressFn& progress);
  void close_locked();
  void run_scheduler();
  void fail_everything(const Status& why, std::vector<detail::Pending>* events);
  void run_logits_job(detail::LogitsJob* job, int slot);
  // Gives a newly admitted sequence its slot's cached prefix.
  void admit(detail::Sequence* s);
  // Returns a finished or failed sequence's slot and KV blocks.
  void release(detail::Sequence* s);
  void update_kv_stats();  // caller holds mu
  // Penalties: the token list of every output row into offsets/tokens (StepOutput's layout);
  // false, leaving them alone, when no row has a penalty.
  bool collect_penalties(const std::vector<detail::Sequence*>& owners,
                         std::vector<int32_t>* offsets, std::vector<PenaltyToken>* tokens);
  // Constrained decoding: the allowed-token mask of every output row (all ones for rows without
  // a grammar) into *masks; false, leaving it alone, when no row has a grammar.
  bool fill_token_masks(const std::vector<detail::Sequence*>& owners, int words,
                        std::vector<uint32_t>* masks);
  // Checks the token sampled for a constrained sequence against its mask and advances the
  // grammar; *complete when nothing may follow.
  Status advance_grammar(detail::Sequence* s, const uint32_t* mask, bool stop, int32_t* tok,
                         bool* complete);
  void finish(detail::Sequence* s, FinishReason reason, const Status& error,
              std::vector<int32_t> tokens, std::vector<detail::Pending>* events);
};

}  // namespace inferkit
