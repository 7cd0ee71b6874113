#include "engine.h"

#include <algorithm>
#include <mutex>
#include <thread>

#include "cpu/thread_pool.h"
#include "engine_impl.h"

namespace inferkit {

using detail::deliver;
using detail::LogitsJob;
using detail::Pending;
using detail::Sequence;

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
  IK_RETURN_IF_ERROR(load_model(
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
  // One sequence's worth of blocks per slot: a running sequence always finds a free or
  // evictable block (kv_block_pool.h), and the cache holds what running sequences do not.
  const int bps = kv_blocks_per_seq(opts.max_seq_len);
  bo.kv_blocks = opts.max_batch * bps;
  bo.convert_at_load = opts.convert_at_load;
  const std::vector<DType> wtypes = matrix_dtypes(m->weights);
  static const Op kOps[] = {Op::kEmbedding, Op::kRmsNorm, Op::kMatMul, Op::kRope,
                            Op::kAttention, Op::kSwiGlu, Op::kSample};
  auto try_backend = [&](std::unique_ptr<Backend> candidate) -> Status {
    for (DType wtype : wtypes) {
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
  info.weight_dtype.clear();
  for (DType t : wtypes) info.weight_dtype += (info.weight_dtype.empty() ? "" : "+") + std::string(dtype_name(t));
  info.memory_bytes = be->memory_bytes();

  model_path = dir;
  options = opts_in;
  model = std::move(m);
  {
    std::lock_guard<std::mutex> bl(backend_mu);
    backend = std::move(be);
  }
  free_slots.clear();
  for (int s = opts.max_batch - 1; s >= 0; --s) free_slots.push_back(s);
  kv.reset(bo.kv_blocks, opts.max_batch, bps, opts.prefix_cache);
  {
    std::lock_guard<std::mutex> lock(mu);
    poison = Status::Ok();
    stopping = false;
    stats = EngineStats();
    stats.loaded = true;
    update_kv_stats();
    stats.memory_bytes = info.memory_bytes;
    loaded = true;
  }
  scheduler = std::thread([this] { run_scheduler(); });
  scheduler_id = scheduler.get_id();
  if (progress) progress(1.0, "ready");
  return Status::Ok();
}

Status Engine::load(const std::string& model_path, const EngineOptions& options,
                    const ProgressFn& progress) {
  std::lock_guard<std::mutex> lc(impl_->lifecycle_mu);
  if (impl_->loaded) return Status::BadRequest("engine already has a model loaded");
  return detail::guarded("load", [&] { return impl_->load_locked(model_path, options, progress); });
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
  if (!(sp.presence_penalty >= -2.0f && sp.presence_penalty <= 2.0f)) {
    return Status::BadRequest("presencePenalty must be in [-2, 2]");
  }
  if (!(sp.frequency_penalty >= -2.0f && sp.frequency_penalty <= 2.0f)) {
    return Status::BadRequest("frequencyPenalty must be in [-2, 2]");
  }
  // Bounded so that logit / penalty stays finite for any logit a model produces.
  if (!(sp.repetition_penalty >= kMinRepetitionPenalty && sp.repetition_penalty <= kMaxRepetitionPenalty)) {
    return Status::BadRequest("repetitionPenalty must be in [1e-3, 1e3]");
  }
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
  std::unique_ptr<grammar::GrammarMatcher> matcher;
  if (request.grammar) {
    if (request.grammar->vocabulary().vocab_size() != cfg.vocab_size) {
      return Status::BadRequest("the grammar's vocabulary does not match the model's");
    }
    matcher = std::make_unique<grammar::GrammarMatcher>(request.grammar);
    IK_RETURN_IF_ERROR(matcher->init());
  }
  auto s = std::make_unique<Sequence>();
  s->matcher = std::move(matcher);
  s->id = d.next_id++;
  s->request = std::move(request);
  s->penalties.start(s->request.sampling, s->request.prompt);
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
    if (d.model_path.empty()) return Status::BadRequest("rebuild before any successful load");
  } else {
    // In-flight requests of a poisoned engine were already failed with the poison status when
    // it was detected; anything else still running is cancelled.
    d.close_locked();
  }
  return detail::guarded("rebuild", [&] { return d.load_locked(d.model_path, d.options, progress); });
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
