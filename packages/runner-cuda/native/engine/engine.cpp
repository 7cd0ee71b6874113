#include "engine.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "cpu/thread_pool.h"
#include "model_loader.h"

namespace inferkit {

namespace {

// Prompt tokens prefilled per scheduler step (summed over sequences). Bounds how long running
// decodes stall while a long prompt joins, and the size of the step's activations.
constexpr int kPrefillBudget = 512;

struct Sequence {
  uint64_t id = 0;
  GenerateRequest request;
  TokenCallback callback;
  int slot = -1;
  int prefilled = 0;           // prompt tokens already in the KV cache
  int generated = 0;           // tokens sampled so far
  int32_t last_token = -1;     // the newest sampled token, fed at the next decode step
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

void deliver(std::vector<Pending>* events) {
  for (Pending& p : *events) p.callback(p.event);
  events->clear();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

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
  std::string model_dir;
  EngineOptions options;
  std::unique_ptr<LoadedModel> model;
  std::unique_ptr<Backend> backend;
  ModelInfo info;
  std::thread scheduler;
  std::thread::id scheduler_id;

  std::deque<std::unique_ptr<Sequence>> waiting;
  std::vector<std::unique_ptr<Sequence>> active;  // touched only by the scheduler thread
  std::vector<int> free_slots;
  std::unordered_set<uint64_t> live;       // submitted and not yet finished
  std::unordered_set<uint64_t> cancelled;  // cancel() requests not yet applied
  std::deque<LogitsJob*> jobs;
  Status poison;
  EngineStats stats;
  uint64_t next_id = 1;
  int active_count = 0;  // mirror of active.size() for stats()

  Status load_locked(const std::string& dir, const EngineOptions& opts, const ProgressFn& progress);
  void close_locked();
  void run_scheduler();
  void fail_everything(const Status& why, std::vector<Pending>* events);
  void run_logits_job(LogitsJob* job, int slot);
  void finish(Sequence* s, FinishReason reason, const Status& error, std::vector<int32_t> tokens,
              std::vector<Pending>* events);
};

Engine::Engine() : impl_(new Impl) {}
Engine::~Engine() { close(); }

Status Engine::Impl::load_locked(const std::string& dir, const EngineOptions& opts_in,
                                 const ProgressFn& progress) {
  EngineOptions opts = opts_in;
  if (opts.max_batch < 1 || opts.max_batch > 256) {
    return Status::BadRequest("maxBatch must be between 1 and 256");
  }
  if (opts.threads < 0 || opts.threads > 1024) {
    return Status::BadRequest("threads must be between 0 (all cores) and 1024");
  }
  if (opts.max_seq_len < 0) return Status::BadRequest("maxSeqLen must be positive");
  if (opts.max_queued < 0) return Status::BadRequest("max_queued must be non-negative");

  if (progress) progress(0.0, "config");
  auto m = std::make_unique<LoadedModel>();
  struct Ctx { const ProgressFn* fn; } ctx{&progress};
  IK_RETURN_IF_ERROR(load_model_dir(
      dir, m.get(),
      [](void* c, double f) {
        const ProgressFn& fn = *static_cast<Ctx*>(c)->fn;
        if (fn) fn(0.05 + 0.45 * f, "weights");
      },
      &ctx));
  const ModelConfig& cfg = m->config;
  if (opts.max_seq_len == 0) opts.max_seq_len = std::min(cfg.max_position_embeddings, 4096);
  if (opts.max_seq_len > cfg.max_position_embeddings) {
    return Status::BadRequest("maxSeqLen " + std::to_string(opts.max_seq_len) +
                              " exceeds the model's max_position_embeddings " +
                              std::to_string(cfg.max_position_embeddings));
  }

  std::unique_ptr<Backend> be;
  Device device = opts.device;
  if (device == Device::kAuto) {
    std::string why;
    device = (built_with_cuda() && cuda_device_count(&why) > 0) ? Device::kCuda : Device::kCpu;
  }
  BackendOptions bo;
  bo.threads = opts.threads;
  bo.max_slots = opts.max_batch;
  bo.max_seq_len = opts.max_seq_len;
  bo.convert_at_load = opts.convert_at_load;
  const DType wtype = m->weights.layers.empty() ? DType::kF32 : m->weights.layers[0].q_proj.dtype;
  static const Op kOps[] = {Op::kEmbedding, Op::kRmsNorm, Op::kMatMul, Op::kRope,
                            Op::kAttention, Op::kSwiGlu, Op::kSample};
  auto try_backend = [&](std::unique_ptr<Backend> candidate) -> Status {
    for (Op op : kOps) {
      if (!candidate->supports_op(op, wtype)) {
        return Status::BadRequest(std::string("the ") + candidate->name() +
                                  " backend cannot run this model with " + dtype_name(wtype) +
                                  " weights");
      }
    }
    if (cfg.qk_norm && !candidate->supports_op(Op::kQkNorm, wtype)) {
      return Status::BadRequest(std::string("the ") + candidate->name() +
                                " backend does not support q/k norm (qwen3)");
    }
    if (progress) progress(0.5, "backend");
    IK_RETURN_IF_ERROR(candidate->load(cfg, m->weights, bo));
    be = std::move(candidate);
    return Status::Ok();
  };
  if (device == Device::kCuda) {
    std::unique_ptr<Backend> cuda;
    Status st = create_cuda_backend(&cuda);
    if (st.ok()) st = try_backend(std::move(cuda));
    if (!st.ok()) {
      if (opts.device == Device::kCuda) return st;
      be.reset();  // auto: fall back to the CPU
    }
  }
  if (!be) IK_RETURN_IF_ERROR(try_backend(create_cpu_backend()));

  info = ModelInfo();
  info.config = cfg;
  info.device = be->name();
  info.device_description = be->device_description();
  info.max_batch = opts.max_batch;
  info.max_seq_len = opts.max_seq_len;
  info.threads = info.device == "cpu" ? (opts.threads > 0 ? opts.threads : cpu::available_cores()) : 0;
  info.weight_dtype = dtype_name(wtype);
  info.memory_bytes = be->memory_bytes();

  model_dir = dir;
  options = opts_in;
  model = std::move(m);
  {
    std::lock_guard<std::mutex> bl(backend_mu);
    backend = std::move(be);
  }
  free_slots.clear();
  for (int s = opts.max_batch - 1; s >= 0; --s) free_slots.push_back(s);
  {
    std::lock_guard<std::mutex> lock(mu);
    poison = Status::Ok();
    stopping = false;
    stats = EngineStats();
    stats.loaded = true;
    stats.memory_bytes = info.memory_bytes;
    loaded = true;
  }
  scheduler = std::thread([this] { run_scheduler(); });
  scheduler_id = scheduler.get_id();
  if (progress) progress(1.0, "ready");
  return Status::Ok();
}

Status Engine::load(const std::string& model_dir, const EngineOptions& options,
                    const ProgressFn& progress) {
  std::lock_guard<std::mutex> lc(impl_->lifecycle_mu);
  if (impl_->loaded) return Status::BadRequest("engine already has a model loaded");
  return impl_->load_locked(model_dir, options, progress);
}

void Engine::Impl::finish(Sequence* s, FinishReason reason, const Status& error,
                          std::vector<int32_t> tokens, std::vector<Pending>* events) {
  Pending p;
  p.callback = std::move(s->callback);
  p.event.request_id = s->id;
  p.event.tokens = std::move(tokens);
  p.event.finish = reason;
  p.event.error = error;
  events->push_back(std::move(p));
  std::lock_guard<std::mutex> lock(mu);
  live.erase(s->id);
  cancelled.erase(s->id);
}

void Engine::Impl::fail_everything(const Status& why, std::vector<Pending>* events) {
  // Caller holds no lock. Active sequences belong to the scheduler thread (or to close() after
  // the thread has joined).
  std::vector<std::unique_ptr<Sequence>> doomed;
  std::deque<LogitsJob*> dead_jobs;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& s : waiting) doomed.push_back(std::move(s));
    waiting.clear();
    dead_jobs.swap(jobs);
  }
  for (auto& s : active) {
    if (s->slot >= 0) {
      std::lock_guard<std::mutex> bl(backend_mu);
      backend->release_slot(s->slot);
      free_slots.push_back(s->slot);
    }
    doomed.push_back(std::move(s));
  }
  active.clear();
  const FinishReason reason = why.code() == StatusCode::kCancelled ? FinishReason::kCancelled
                                                                   : FinishReason::kError;
  for (auto& s : doomed) {
    finish(s.get(), reason, reason == FinishReason::kError ? why : Status::Ok(), {}, events);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    for (LogitsJob* j : dead_jobs) {
      j->status = why;
      j->done = true;
    }
    active_count = 0;
    stats.active_sequences = 0;
    stats.queued_sequences = 0;
  }
  job_done.notify_all();
}

void Engine::Impl::run_logits_job(LogitsJob* job, int slot) {
  const int n = static_cast<int>(job->tokens.size());
  std::vector<int32_t> positions(n), slots(n, slot), rows(n);
  for (int i = 0; i < n; ++i) positions[i] = rows[i] = i;
  StepBatch b;
  b.n_tokens = n;
  b.tokens = job->tokens.data();
  b.positions = positions.data();
  b.slots = slots.data();
  b.n_outputs = n;
  b.output_rows = rows.data();
  job->out->assign(static_cast<size_t>(n) * info.config.vocab_size, 0.0f);
  StepOutput out;
  out.logits = job->out->data();
  Status st;
  Status sticky;
  {
    std::lock_guard<std::mutex> bl(backend_mu);
    st = backend->compute(b, out);
    backend->release_slot(slot);
    sticky = backend->poisoned();
  }
  std::lock_guard<std::mutex> lock(mu);
  if (!st.ok() && (st.code() == StatusCode::kPoisoned || !sticky.ok())) {
    poison = sticky.ok() ? st : sticky;
    stats.poisoned = true;
  }
  job->status = st;
  job->done = true;
}

void Engine::Impl::run_scheduler() {
  std::vector<Pending> events;
  std::vector<int32_t> tokens, positions, slots, rows;
  std::vector<SamplingParams> params;
  std::vector<uint64_t> steps;
  std::vector<int32_t> sampled;
  std::vector<Sequence*> owners;      // per output row
  std::vector<std::pair<Sequence*, int>> prefill_chunks;

  for (;;) {
    LogitsJob* job = nullptr;
    int job_slot = -1;
    std::vector<std::unique_ptr<Sequence>> cancelled_waiting;
    std::vector<uint64_t> cancel_ids;
    Status poisoned_now;
    {
      std::unique_lock<std::mutex> lock(mu);
      wake.wait(lock, [&] {
        return stopping || !waiting.empty() || !active.empty() || !jobs.empty() ||
               !cancelled.empty();
      });
      if (stopping) return;
      poisoned_now = poison;
      cancel_ids.assign(cancelled.begin(), cancelled.end());
      cancelled.clear();
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (std::find(cancel_ids.begin(), cancel_ids.end(), (*it)->id) != cancel_ids.end()) {
          cancelled_waiting.push_back(std::move(*it));
          it = waiting.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& s : cancelled_waiting) finish(s.get(), FinishReason::kCancelled, Status::Ok(), {}, &events);
    for (auto it = active.begin(); it != active.end();) {
      if (std::find(cancel_ids.begin(), cancel_ids.end(), (*it)->id) != cancel_ids.end()) {
        {
          std::lock_guard<std::mutex> bl(backend_mu);
          backend->release_slot((*it)->slot);
        }
        free_slots.push_back((*it)->slot);
        finish(it->get(), FinishReason::kCancelled, Status::Ok(), {}, &events);
        it = active.erase(it);
      } else {
        ++it;
      }
    }
    if (!poisoned_now.ok()) {
      fail_everything(poisoned_now, &events);
      deliver(&events);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      // Logits jobs (tests, tools) go first: they are short and a caller is blocked on them.
      if (!jobs.empty() && !free_slots.empty()) {
        job = jobs.front();
        jobs.pop_front();
        job_slot = free_slots.back();
        free_slots.pop_back();
      }
      while (!waiting.empty() && !free_slots.empty() && (jobs.empty() || free_slots.size() > 1)) {
        std::unique_ptr<Sequence> s = std::move(waiting.front());
        waiting.pop_front();
        s->slot = free_slots.back();
        free_slots.pop_back();
        active.push_back(std::move(s));
      }
      active_count = static_cast<int>(active.size());
      stats.active_sequences = active_count;
      stats.queued_sequences = static_cast<int>(waiting.size());
    }
    deliver(&events);

    if (job) {
      run_logits_job(job, job_slot);
      free_slots.push_back(job_slot);
      job_done.notify_all();
      continue;
    }
    if (active.empty()) continue;

    // Build the step: one token per decoding sequence, then prompt chunks up to the budget.
    tokens.clear(); positions.clear(); slots.clear(); rows.clear();
    params.clear(); steps.clear(); owners.clear(); prefill_chunks.clear();
    int prefill_tokens = 0;
    for (auto& s : active) {
      const int plen = static_cast<int>(s->request.prompt.size());
      if (s->prefilled < plen) continue;
      rows.push_back(static_cast<int32_t>(tokens.size()));
      tokens.push_back(s->last_token);
      positions.push_back(plen + s->generated - 1);
      slots.push_back(s->slot);
      params.push_back(s->request.sampling);
      steps.push_back(static_cast<uint64_t>(s->generated));
      owners.push_back(s.get());
    }
    for (auto& s : active) {
      const int plen = static_cast<int>(s->request.prompt.size());
      if (s->prefilled >= plen) continue;
      const int budget = kPrefillBudget - prefill_tokens;
      if (budget <= 0) break;
      const int chunk = std::min(budget, plen - s->prefilled);
      for (int i = 0; i < chunk; ++i) {
        tokens.push_back(s->request.prompt[s->prefilled + i]);
        positions.push_back(s->prefilled + i);
        slots.push_back(s->slot);
      }
      prefill_tokens += chunk;
      prefill_chunks.emplace_back(s.get(), chunk);
      if (s->prefilled + chunk == plen) {
        rows.push_back(static_cast<int32_t>(tokens.size() - 1));
        params.push_back(s->request.sampling);
        steps.push_back(0);
        owners.push_back(s.get());
      }
    }

    StepBatch b;
    b.n_tokens = static_cast<int>(tokens.size());
    b.tokens = tokens.data();
    b.positions = positions.data();
    b.slots = slots.data();
    b.n_outputs = static_cast<int>(rows.size());
    b.output_rows = rows.data();
    sampled.assign(rows.size(), -1);
    StepOutput out;
    out.sampled = sampled.data();
    out.sampling = params.data();
    out.sample_steps = steps.data();

    const auto t0 = std::chrono::steady_clock::now();
    Status st;
    Status sticky;
    {
      std::lock_guard<std::mutex> bl(backend_mu);
      st = backend->compute(b, out);
      sticky = backend->poisoned();
    }
    const double dt = seconds_since(t0);
    if (!st.ok()) {
      if (st.code() == StatusCode::kPoisoned || !sticky.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        poison = sticky.ok() ? st : sticky;
        stats.poisoned = true;
        continue;  // the next iteration fails everything with the poison status
      }
      // A non-sticky failure affects only this step's sequences: all active ones.
      for (auto& s : active) {
        {
          std::lock_guard<std::mutex> bl(backend_mu);
          backend->release_slot(s->slot);
        }
        free_slots.push_back(s->slot);
        finish(s.get(), FinishReason::kError, st, {}, &events);
      }
      active.clear();
      deliver(&events);
      continue;
    }

    for (auto& pc : prefill_chunks) pc.first->prefilled += pc.second;
    std::unordered_set<Sequence*> done;
    for (size_t i = 0; i < owners.size(); ++i) {
      Sequence* s = owners[i];
      const int32_t tok = sampled[i];
      s->last_token = tok;
      s->generated += 1;
      const auto& stops = s->request.stop_token_ids;
      if (std::find(stops.begin(), stops.end(), tok) != stops.end()) {
        finish(s, FinishReason::kStop, Status::Ok(), {tok}, &events);
        done.insert(s);
      } else if (s->generated >= s->request.max_tokens) {
        finish(s, FinishReason::kLength, Status::Ok(), {tok}, &events);
        done.insert(s);
      } else {
        Pending p;
        p.callback = s->callback;
        p.event.request_id = s->id;
        p.event.tokens = {tok};
        events.push_back(std::move(p));
      }
    }
    for (auto it = active.begin(); it != active.end();) {
      if (done.count(it->get())) {
        {
          std::lock_guard<std::mutex> bl(backend_mu);
          backend->release_slot((*it)->slot);
        }
        free_slots.push_back((*it)->slot);
        it = active.erase(it);
      } else {
        ++it;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      stats.steps += 1;
      stats.prompt_tokens += static_cast<uint64_t>(prefill_tokens);
      stats.generated_tokens += owners.size();
      if (prefill_tokens > 0) stats.prefill_seconds += dt;
      else stats.decode_seconds += dt;
      active_count = static_cast<int>(active.size());
      stats.active_sequences = active_count;
    }
    deliver(&events);
  }
}

Status Engine::submit(GenerateRequest request, TokenCallback callback, uint64_t* id) {
  Impl& d = *impl_;
  if (!callback) return Status::BadRequest("submit needs a token callback");
  std::unique_lock<std::mutex> lock(d.mu);
  if (!d.loaded) return Status::BadRequest("no model is loaded");
  if (!d.poison.ok()) return d.poison;
  const ModelConfig& cfg = d.info.config;
  if (request.prompt.empty()) return Status::BadRequest("the prompt has no tokens");
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= cfg.vocab_size) {
      return Status::BadRequest("prompt token id " + std::to_string(t) +
                                " is outside the vocabulary (size " +
                                std::to_string(cfg.vocab_size) + ")");
    }
  }
  for (int32_t t : request.stop_token_ids) {
    if (t < 0 || t >= cfg.vocab_size) {
      return Status::BadRequest("stop token id " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  if (request.max_tokens < 1) return Status::BadRequest("maxTokens must be at least 1");
  const SamplingParams& sp = request.sampling;
  if (!(sp.temperature >= 0.0f) || sp.temperature > 1e6f) {
    return Status::BadRequest("temperature must be a finite number >= 0");
  }
  if (sp.top_k < 0) return Status::BadRequest("topK must be >= 0");
  if (!(sp.top_p > 0.0f && sp.top_p <= 1.0f)) return Status::BadRequest("topP must be in (0, 1]");
  const int64_t need = static_cast<int64_t>(request.prompt.size()) + request.max_tokens;
  if (need > d.info.max_seq_len) {
    return Status::ContextLength("prompt (" + std::to_string(request.prompt.size()) +
                                 " tokens) + maxTokens (" + std::to_string(request.max_tokens) +
                                 ") exceeds the context length " +
                                 std::to_string(d.info.max_seq_len));
  }
  if (static_cast<int>(d.waiting.size()) >= d.options.max_queued + d.options.max_batch) {
    return Status(StatusCode::kBackpressure, "too many queued requests");
  }
  auto s = std::make_unique<Sequence>();
  s->id = d.next_id++;
  s->request = std::move(request);
  s->callback = std::move(callback);
  *id = s->id;
  d.live.insert(s->id);
  d.waiting.push_back(std::move(s));
  d.stats.queued_sequences = static_cast<int>(d.waiting.size());
  lock.unlock();
  d.wake.notify_one();
  return Status::Ok();
}

void Engine::cancel(uint64_t id) {
  Impl& d = *impl_;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    if (!d.live.count(id)) return;
    d.cancelled.insert(id);
  }
  d.wake.notify_one();
}

Status Engine::logits(const std::vector<int32_t>& tokens, std::vector<float>* out) {
  Impl& d = *impl_;
  LogitsJob job;
  job.tokens = tokens;
  job.out = out;
  {
    std::unique_lock<std::mutex> lock(d.mu);
    if (!d.loaded) return Status::BadRequest("no model is loaded");
    if (std::this_thread::get_id() == d.scheduler_id) {
      return Status::BadRequest("logits() cannot be called from a token callback");
    }
    if (!d.poison.ok()) return d.poison;
    if (tokens.empty()) return Status::BadRequest("logits needs at least one token");
    if (static_cast<int64_t>(tokens.size()) > d.info.max_seq_len) {
      return Status::ContextLength(std::to_string(tokens.size()) + " tokens exceed the context length " +
                                   std::to_string(d.info.max_seq_len));
    }
    for (int32_t t : tokens) {
      if (t < 0 || t >= d.info.config.vocab_size) {
        return Status::BadRequest("token id " + std::to_string(t) + " is outside the vocabulary");
      }
    }
    d.jobs.push_back(&job);
    d.wake.notify_one();
    d.job_done.wait(lock, [&] { return job.done; });
  }
  return job.status;
}

void Engine::Impl::close_locked() {
  if (!loaded) return;
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  wake.notify_all();
  if (scheduler.joinable()) scheduler.join();
  std::vector<Pending> events;
  fail_everything(Status::Cancelled("engine closed"), &events);
  deliver(&events);
  {
    std::lock_guard<std::mutex> lock(mu);
    loaded = false;
    live.clear();
    cancelled.clear();
    stats.loaded = false;
  }
  {
    std::lock_guard<std::mutex> bl(backend_mu);
    backend.reset();
  }
  model.reset();
}

void Engine::close() {
  std::lock_guard<std::mutex> lc(impl_->lifecycle_mu);
  impl_->close_locked();
}

Status Engine::rebuild(const ProgressFn& progress) {
  std::lock_guard<std::mutex> lc(impl_->lifecycle_mu);
  Impl& d = *impl_;
  if (!d.loaded) {
    if (d.model_dir.empty()) return Status::BadRequest("rebuild before any successful load");
  } else {
    // In-flight requests of a poisoned engine were already failed with the poison status when
    // it was detected; anything else still running is cancelled.
    d.close_locked();
  }
  return d.load_locked(d.model_dir, d.options, progress);
}

Status Engine::inject_fault(FaultKind kind) {
  Impl& d = *impl_;
  // backend_mu only (not lifecycle_mu): callable from a token callback without deadlocking a
  // concurrent close(), which swaps the backend under backend_mu.
  std::lock_guard<std::mutex> bl(d.backend_mu);
  if (!d.backend) return Status::BadRequest("no model is loaded");
  return d.backend->inject_fault(kind);
}

Status Engine::poisoned() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->poison;
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  EngineStats s = impl_->stats;
  s.poisoned = !impl_->poison.ok();
  return s;
}

bool Engine::loaded() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->loaded;
}

const ModelInfo& Engine::info() const { return impl_->info; }

}  // namespace inferkit
