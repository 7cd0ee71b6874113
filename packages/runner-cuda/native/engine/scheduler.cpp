// The scheduler thread: admits waiting requests into free KV slots between steps, builds each
// step from one decode token per running sequence plus prompt chunks, runs it on the backend,
// samples, and delivers tokens and finish events outside the engine lock.
#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "engine_impl.h"

namespace inferkit {

using detail::deliver;
using detail::guarded;
using detail::kPrefillBudget;
using detail::LogitsJob;
using detail::Pending;
using detail::seconds_since;
using detail::Sequence;

bool Engine::Impl::collect_penalties(const std::vector<Sequence*>& owners,
                                     std::vector<int32_t>* offsets,
                                     std::vector<PenaltyToken>* tokens) {
  bool any = false;
  for (Sequence* s : owners) any = any || s->penalties.active();
  if (!any) return false;
  offsets->assign(1, 0);
  tokens->clear();
  for (Sequence* s : owners) {
    const std::vector<PenaltyToken>& t = s->penalties.tokens();
    tokens->insert(tokens->end(), t.begin(), t.end());
    offsets->push_back(static_cast<int32_t>(tokens->size()));
  }
  return true;
}

void Engine::Impl::admit(Sequence* s) {
  const auto& prompt = s->request.prompt;
  s->context = prompt;
  s->cached_tokens = kv.attach_prefix(s->slot, prompt.data(), static_cast<int>(prompt.size()));
  s->prefilled = s->kv_len = s->cached_tokens;
  if (s->cached_tokens > 0) {
    std::lock_guard<std::mutex> lock(mu);
    stats.cached_prompt_tokens += static_cast<uint64_t>(s->cached_tokens);
  }
}

void Engine::Impl::release(Sequence* s) {
  kv.release(s->slot);
  free_slots.push_back(s->slot);
}

void Engine::Impl::update_kv_stats() {
  const KvBlockPool::Stats k = kv.stats();
  stats.kv_blocks = k.blocks;
  stats.kv_blocks_in_use = k.in_use;
  stats.kv_blocks_cached = k.cached;
  stats.kv_evictions = k.evictions;
}

bool Engine::Impl::fill_token_masks(const std::vector<Sequence*>& owners, int words,
                                    std::vector<uint32_t>* masks) {
  bool any = false;
  for (Sequence* s : owners) any = any || s->matcher != nullptr;
  if (!any) return false;
  masks->resize(owners.size() * static_cast<size_t>(words));
  for (size_t i = 0; i < owners.size(); ++i) {
    uint32_t* row = masks->data() + i * words;
    Sequence* s = owners[i];
    if (!s->matcher) std::fill(row, row + words, 0xFFFFFFFFu);
    else s->grammar_stuck = !s->matcher->fill_mask(row, s->request.stop_token_ids);
  }
  return true;
}

Status Engine::Impl::advance_grammar(Sequence* s, const uint32_t* mask, bool stop, int32_t* tok,
                                     bool* complete) {
  if (s->grammar_stuck) {
    return Status::BadRequest("the output grammar allows no token of this vocabulary here");
  }
  const auto allowed = [mask](int32_t t) { return t >= 0 && ((mask[t >> 5] >> (t & 31)) & 1u); };
  if (!allowed(*tok)) {
    // Every allowed logit was -inf or NaN, so the sampler fell back to an arbitrary token: take
    // the lowest allowed id instead (deterministic, and the output stays valid).
    const int vocab = info.config.vocab_size;
    int32_t first = -1;
    for (int32_t t = 0; t < vocab && first < 0; ++t)
      if (allowed(t)) first = t;
    *tok = first;
    const auto& stops = s->request.stop_token_ids;
    stop = std::find(stops.begin(), stops.end(), first) != stops.end();
  }
  if (stop) return Status::Ok();
  if (!s->matcher->accept(*tok)) {
    return Status::Internal("grammar: sampled token " + std::to_string(*tok) + " was masked in but not accepted");
  }
  *complete = s->matcher->finished();
  return Status::Ok();
}

void Engine::Impl::finish(Sequence* s, FinishReason reason, const Status& error,
                          std::vector<int32_t> tokens, std::vector<Pending>* events) {
  Pending p;
  p.callback = std::move(s->callback);
  p.event.request_id = s->id;
  p.event.tokens = std::move(tokens);
  p.event.cached_tokens = s->cached_tokens;
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
    if (s->slot >= 0) release(s.get());
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
    update_kv_stats();
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
  b.block_tables = kv.tables();
  job->out->assign(static_cast<size_t>(n) * info.config.vocab_size, 0.0f);
  StepOutput out;
  out.logits = job->out->data();
  Status st;
  Status sticky;
  // Fresh blocks, never published: a forward pass for the caller, not a sequence to share.
  if (!kv.reserve(slot, n)) {
    st = Status::Internal("KV cache pool exhausted");
  } else {
    std::lock_guard<std::mutex> bl(backend_mu);
    st = guarded("backend compute", [&] { return backend->compute(b, out); });
    sticky = backend->poisoned();
  }
  kv.release(slot);
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
  std::vector<uint32_t> token_mask;   // per output row, when a running sequence has a grammar
  std::vector<Sequence*> owners;      // per output row
  std::vector<int32_t> penalty_offsets;
  std::vector<PenaltyToken> penalty_tokens;
  std::vector<std::pair<Sequence*, int>> prefill_chunks;
  std::vector<Sequence*> admitted;        // given a slot this iteration
  std::vector<Sequence*> stepped;         // sequences with tokens in this step
  std::vector<Sequence*> no_blocks;       // could not get KV blocks for this step

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
        release(it->get());
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
        admitted.push_back(s.get());
        active.push_back(std::move(s));
      }
      active_count = static_cast<int>(active.size());
      stats.active_sequences = active_count;
      stats.queued_sequences = static_cast<int>(waiting.size());
    }
    deliver(&events);
    for (Sequence* s : admitted) admit(s);
    admitted.clear();

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
    stepped.clear(); no_blocks.clear();
    int prefill_tokens = 0;
    for (auto& s : active) {
      const int plen = static_cast<int>(s->request.prompt.size());
      if (s->prefilled < plen) continue;
      if (!kv.reserve(s->slot, plen + s->generated)) {
        no_blocks.push_back(s.get());
        continue;
      }
      stepped.push_back(s.get());
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
      if (!kv.reserve(s->slot, s->prefilled + chunk)) {
        no_blocks.push_back(s.get());
        continue;
      }
      stepped.push_back(s.get());
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

    // Only with a pool smaller than the slots need (KvBlockPool::reserve): fail, never stall.
    for (Sequence* s : no_blocks) {
      release(s);
      finish(s, FinishReason::kError, Status::Internal("KV cache pool exhausted"), {}, &events);
      active.erase(std::find_if(active.begin(), active.end(), [s](const std::unique_ptr<Sequence>& a) { return a.get() == s; }));
    }
    if (tokens.empty()) {
      deliver(&events);
      continue;
    }

    StepBatch b;
    b.n_tokens = static_cast<int>(tokens.size());
    b.tokens = tokens.data();
    b.positions = positions.data();
    b.slots = slots.data();
    b.n_outputs = static_cast<int>(rows.size());
    b.output_rows = rows.data();
    b.block_tables = kv.tables();
    sampled.assign(rows.size(), -1);
    StepOutput out;
    out.sampled = sampled.data();
    out.sampling = params.data();
    out.sample_steps = steps.data();
    if (collect_penalties(owners, &penalty_offsets, &penalty_tokens)) {
      out.penalty_offsets = penalty_offsets.data();
      out.penalty_tokens = penalty_tokens.data();
    }
    const int mask_words = token_mask_words(info.config.vocab_size);
    if (fill_token_masks(owners, mask_words, &token_mask)) out.token_mask = token_mask.data();

    const auto t0 = std::chrono::steady_clock::now();
    Status st;
    Status sticky;
    {
      std::lock_guard<std::mutex> bl(backend_mu);
      st = guarded("backend compute", [&] { return backend->compute(b, out); });
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
        release(s.get());
        finish(s.get(), FinishReason::kError, st, {}, &events);
      }
      active.clear();
      deliver(&events);
      continue;
    }

    for (auto& pc : prefill_chunks) {
      pc.first->prefilled += pc.second;
      pc.first->kv_len = pc.first->prefilled;
    }
    for (Sequence* s : stepped) {
      const int plen = static_cast<int>(s->request.prompt.size());
      // Decoding: this step fed the newest token, at position plen + generated - 1.
      if (s->prefilled >= plen) s->kv_len = plen + s->generated;
      // Full blocks become shareable as soon as they are computed, so a request arriving while
      // this one still runs finds them too.
      kv.publish(s->slot, s->context.data(), s->kv_len);
    }
    std::unordered_set<Sequence*> done;
    for (size_t i = 0; i < owners.size(); ++i) {
      Sequence* s = owners[i];
      int32_t tok = sampled[i];
      if (tok == kNonFiniteLogits) {
        finish(s, FinishReason::kError,
               Status::Internal("the model produced non-finite logits (NaN or infinity) at output token " +
                                std::to_string(s->generated + 1) +
                                ": the weights or the computation are broken"),
               {}, &events);
        done.insert(s);
        continue;
      }
      const auto& stops = s->request.stop_token_ids;
      const bool stop = std::find(stops.begin(), stops.end(), tok) != stops.end();
      bool complete = false;
      if (s->matcher) {
        Status gs = advance_grammar(s, token_mask.data() + i * mask_words, stop, &tok, &complete);
        if (!gs.ok()) {
          finish(s, FinishReason::kError, gs, {}, &events);
          done.insert(s);
          continue;
        }
      }
      s->last_token = tok;
      s->generated += 1;
      s->context.push_back(tok);
      s->penalties.add_output(tok);
      if (std::find(stops.begin(), stops.end(), tok) != stops.end()) {
        finish(s, FinishReason::kStop, Status::Ok(), {tok}, &events);
        done.insert(s);
      } else if (complete) {
        // The grammar admits nothing more: the output is done, no stop token needed.
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
        p.event.cached_tokens = s->cached_tokens;
        events.push_back(std::move(p));
      }
    }
    for (auto it = active.begin(); it != active.end();) {
      if (done.count(it->get())) {
        release(it->get());
        it = active.erase(it);
      } else {
        ++it;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      stats.steps += 1;
      stats.prompt_tokens += static_cast<uint64_t>(prefill_tokens);
      update_kv_stats();
      stats.generated_tokens += owners.size();
      if (prefill_tokens > 0) stats.prefill_seconds += dt;
      else stats.decode_seconds += dt;
      active_count = static_cast<int>(active.size());
      stats.active_sequences = active_count;
    }
    deliver(&events);
  }
}

}  // namespace inferkit
