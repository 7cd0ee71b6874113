// The engine's scheduler: generation against the reference, continuous batching, sampling
// controls, cancellation, validation, poisoning and rebuild, close.
#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "engine.h"
#include "engine_fixtures.h"
#include "test_harness.h"
#include "tiny_model.h"

using namespace inferkit;

namespace {

const tiny::ModelDir& fixture() {
  static const tiny::ModelDir m(tiny::seeded_spec(11, {2, 3}), "engine");
  return m;
}

// Greedy continuation computed with the reference forward pass alone.
std::vector<int32_t> reference_greedy(std::vector<int32_t> prompt, int n) {
  const int V = fixture().model.spec.vocab;
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::vector<double> l = tiny::reference_logits(fixture().model, prompt);
    const double* last = l.data() + (prompt.size() - 1) * V;
    int best = 0;
    for (int v = 1; v < V; ++v) if (last[v] > last[best]) best = v;
    out.push_back(best);
    prompt.push_back(best);
  }
  return out;
}

}  // namespace

TEST(greedy_matches_reference) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options()));
  const std::vector<int32_t> prompt = {1, 40, 41, 42, 7};
  Collector c;
  uint64_t id = 0;
  CHECK_OK(e.submit(request(prompt, 12), c.callback(), &id));
  c.wait();
  CHECK(c.finish == FinishReason::kLength);
  CHECK_EQ(c.tokens.size(), 12u);
  CHECK(c.tokens == reference_greedy(prompt, 12));
  CHECK_EQ(c.finish_events, 1);
  CHECK(!c.event_after_finish);
  EngineStats s = e.stats();
  CHECK_EQ(s.generated_tokens, 12u);
  CHECK_EQ(s.prompt_tokens, 5u);
}

// Sequences that join and leave mid-flight get exactly the tokens they get alone.
TEST(continuous_batching_matches_solo_runs) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(3)));
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 7; ++i) {
    std::vector<int32_t> p;
    for (int j = 0; j < 3 + 5 * i; ++j) p.push_back((7 * i + 13 * j + 5) % 90 + 4);
    prompts.push_back(p);
  }
  std::vector<std::vector<int32_t>> solo;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Collector c;
    uint64_t id;
    CHECK_OK(e.submit(request(prompts[i], 6 + static_cast<int>(i) * 3), c.callback(), &id));
    c.wait();
    solo.push_back(c.tokens);
  }
  // All at once: 7 requests on 3 slots, different lengths, so slots are reused mid-run.
  std::vector<std::unique_ptr<Collector>> cs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    cs.push_back(std::make_unique<Collector>());
    uint64_t id;
    CHECK_OK(e.submit(request(prompts[i], 6 + static_cast<int>(i) * 3), cs.back()->callback(), &id));
  }
  for (size_t i = 0; i < cs.size(); ++i) {
    cs[i]->wait();
    CHECK(cs[i]->finish == FinishReason::kLength);
    CHECK(cs[i]->tokens == solo[i]);
  }
  CHECK_EQ(e.stats().active_sequences, 0);
}

TEST(stop_token_ends_with_stop) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options()));
  const std::vector<int32_t> prompt = {1, 40, 41, 42, 7};
  std::vector<int32_t> ref = reference_greedy(prompt, 8);
  GenerateRequest r = request(prompt, 8);
  r.stop_token_ids = {ref[3]};
  Collector c;
  uint64_t id;
  CHECK_OK(e.submit(r, c.callback(), &id));
  c.wait();
  CHECK(c.finish == FinishReason::kStop);
  // Stops at the first occurrence of the stop id, which is included.
  size_t first = 0;
  while (ref[first] != ref[3]) ++first;
  CHECK(c.tokens == std::vector<int32_t>(ref.begin(), ref.begin() + first + 1));
}

TEST(seeded_sampling_is_reproducible) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options()));
  auto run = [&](uint64_t seed, float temperature, int top_k, float top_p) {
    GenerateRequest r = request({1, 9, 8, 7}, 24);
    r.sampling.temperature = temperature;
    r.sampling.top_k = top_k;
    r.sampling.top_p = top_p;
    r.sampling.seed = seed;
    Collector c;
    uint64_t id;
    CHECK_OK(e.submit(r, c.callback(), &id));
    c.wait();
    return c.tokens;
  };
  auto a = run(42, 1.5f, 0, 1.0f);
  CHECK(a == run(42, 1.5f, 0, 1.0f));
  CHECK(a != run(43, 1.5f, 0, 1.0f));
  CHECK(a != reference_greedy({1, 9, 8, 7}, 24));
  // top_k = 1 and a tiny top_p leave only the argmax: greedy whatever the seed.
  CHECK(run(5, 2.0f, 1, 1.0f) == reference_greedy({1, 9, 8, 7}, 24));
  CHECK(run(6, 2.0f, 0, 1e-6f) == reference_greedy({1, 9, 8, 7}, 24));
}

TEST(validation_errors) {
  Engine e;
  Collector c;
  uint64_t id;
  CHECK_ERR(e.submit(request({1}, 1), c.callback(), &id), StatusCode::kBadRequest, "no model");
  CHECK_OK(e.load(fixture().dir, small_options()));
  CHECK_ERR(e.load(fixture().dir, small_options()), StatusCode::kBadRequest, "already");
  CHECK_ERR(e.submit(request({}, 1), c.callback(), &id), StatusCode::kBadRequest, "no tokens");
  CHECK_ERR(e.submit(request({1, 96}, 1), c.callback(), &id), StatusCode::kBadRequest, "96");
  CHECK_ERR(e.submit(request({1, -1}, 1), c.callback(), &id), StatusCode::kBadRequest, "-1");
  CHECK_ERR(e.submit(request({1}, 0), c.callback(), &id), StatusCode::kBadRequest, "maxTokens");
  CHECK_ERR(e.submit(request(std::vector<int32_t>(90, 5), 7), c.callback(), &id),
            StatusCode::kContextLengthExceeded, "context length 96");
  GenerateRequest r = request({1}, 1);
  r.sampling.top_p = 0;
  CHECK_ERR(e.submit(r, c.callback(), &id), StatusCode::kBadRequest, "topP");
  r = request({1}, 1);
  r.sampling.temperature = -1;
  CHECK_ERR(e.submit(r, c.callback(), &id), StatusCode::kBadRequest, "temperature");
  r = request({1}, 1);
  r.stop_token_ids = {1000};
  CHECK_ERR(e.submit(r, c.callback(), &id), StatusCode::kBadRequest, "stop token");
  CHECK_EQ(c.events, 0);
  std::vector<float> l;
  CHECK_ERR(e.logits({}, &l), StatusCode::kBadRequest, "at least one");
  CHECK_ERR(e.logits(std::vector<int32_t>(97, 1), &l), StatusCode::kContextLengthExceeded, "97");
  EngineOptions bad = small_options();
  bad.max_seq_len = 100000;
  Engine e2;
  CHECK_ERR(e2.load(fixture().dir, bad), StatusCode::kBadRequest, "max_position_embeddings");
}

TEST(cancel_running_and_queued) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(1)));
  Collector running, queued;
  uint64_t a, b;
  // The running one cancels itself from its first token callback, deterministically mid-run.
  std::atomic<bool> cancelled{false};
  TokenCallback inner = running.callback();
  CHECK_OK(e.submit(request({1, 2, 3}, 80), [&](const TokenEvent& ev) {
    inner(ev);
    if (!cancelled.exchange(true)) e.cancel(ev.request_id);
  }, &a));
  CHECK_OK(e.submit(request({4, 5, 6}, 5), queued.callback(), &b));
  e.cancel(b);
  running.wait();
  queued.wait();
  CHECK(running.finish == FinishReason::kCancelled);
  CHECK(running.tokens.size() < 80u);
  CHECK(queued.finish == FinishReason::kCancelled || queued.finish == FinishReason::kLength);
  e.cancel(a);  // finished: ignored
  e.cancel(12345);
  // The slot is free again.
  Collector after;
  uint64_t c;
  CHECK_OK(e.submit(request({1, 40, 41, 42, 7}, 4), after.callback(), &c));
  after.wait();
  CHECK(after.tokens == reference_greedy({1, 40, 41, 42, 7}, 4));
}

TEST(logits_while_generating) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(2)));
  Collector c;
  uint64_t id;
  CHECK_OK(e.submit(request({1, 2, 3}, 60), c.callback(), &id));
  std::vector<float> l;
  const std::vector<int32_t> toks = {5, 6, 7, 8};
  CHECK_OK(e.logits(toks, &l));
  std::vector<double> ref = tiny::reference_logits(fixture().model, toks);
  CHECK_EQ(l.size(), ref.size());
  double m = 0;
  for (size_t i = 0; i < l.size(); ++i) m = std::max(m, std::fabs(l[i] - ref[i]));
  CHECK(m < 1e-4);
  c.wait();
  CHECK(c.tokens == reference_greedy({1, 2, 3}, 60));
}

TEST(poison_fails_everything_until_rebuild) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(2)));
  Collector first;
  uint64_t id;
  CHECK_OK(e.inject_fault(FaultKind::kStickyFailure));
  CHECK_OK(e.submit(request({1, 2, 3}, 10), first.callback(), &id));
  first.wait();
  CHECK(first.finish == FinishReason::kError);
  CHECK(first.error.code() == StatusCode::kPoisoned);
  CHECK_EQ(std::string(first.error.kind()), std::string("cuda_context_poisoned"));
  CHECK(e.stats().poisoned);
  Collector second;
  CHECK_ERR(e.submit(request({1, 2, 3}, 10), second.callback(), &id), StatusCode::kPoisoned, "injected");
  std::vector<float> l;
  CHECK_ERR(e.logits({1, 2}, &l), StatusCode::kPoisoned, "injected");
  CHECK_OK(e.rebuild());
  CHECK(e.poisoned().ok());
  CHECK(!e.stats().poisoned);
  Collector third;
  CHECK_OK(e.submit(request({1, 40, 41, 42, 7}, 5), third.callback(), &id));
  third.wait();
  CHECK(third.finish == FinishReason::kLength);
  CHECK(third.tokens == reference_greedy({1, 40, 41, 42, 7}, 5));
}

// A fault while several sequences are mid-generation fails all of them, each exactly once.
TEST(poison_in_flight) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(4)));
  std::vector<std::unique_ptr<Collector>> cs;
  std::atomic<bool> injected{false};
  // The first token callback holds the scheduler thread until every request is queued (a
  // later submit would be refused as poisoned, and no sequence may finish first), then arms
  // the fault for the next step.
  std::atomic<bool> all_submitted{false};
  for (int i = 0; i < 6; ++i) {
    cs.push_back(std::make_unique<Collector>());
    Collector* c = cs.back().get();
    TokenCallback inner = c->callback();
    uint64_t id;
    CHECK_OK(e.submit(request({1, 2, 3, static_cast<int32_t>(10 + i)}, 80),
                      [&, inner](const TokenEvent& ev) mutable {
                        inner(ev);
                        if (!ev.tokens.empty() && !injected.exchange(true)) {
                          while (!all_submitted.load()) std::this_thread::yield();
                          CHECK_OK(e.inject_fault(FaultKind::kStickyFailure));
                        }
                      },
                      &id));
  }
  all_submitted = true;
  for (auto& c : cs) {
    c->wait();
    CHECK(c->finish == FinishReason::kError);
    CHECK(c->error.code() == StatusCode::kPoisoned);
    CHECK_EQ(c->finish_events, 1);
  }
}

TEST(close_cancels_pending_and_allows_reload) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(1)));
  std::vector<std::unique_ptr<Collector>> cs;
  for (int i = 0; i < 3; ++i) {
    cs.push_back(std::make_unique<Collector>());
    uint64_t id;
    CHECK_OK(e.submit(request({1, 2, 3}, 80), cs.back()->callback(), &id));
  }
  e.close();
  for (auto& c : cs) {
    c->wait();
    CHECK(c->finish == FinishReason::kCancelled || c->finish == FinishReason::kLength);
  }
  CHECK(!e.loaded());
  Collector c;
  uint64_t id;
  CHECK_ERR(e.submit(request({1}, 1), c.callback(), &id), StatusCode::kBadRequest, "no model");
  CHECK_OK(e.load(fixture().dir, small_options(1)));
  CHECK_OK(e.submit(request({1, 40, 41, 42, 7}, 3), c.callback(), &id));
  c.wait();
  CHECK(c.tokens == reference_greedy({1, 40, 41, 42, 7}, 3));
}

// Long prompts are prefilled in chunks across steps; the result must not depend on it.
TEST(long_prompt_chunked_prefill) {
  tiny::Spec s;
  s.max_pos = 1200;
  s.seed = 5;
  tiny::Model m = tiny::make_model(s);
  std::string dir = tiny::make_temp_dir("long");
  CHECK(tiny::write_model(m, dir));
  Engine e;
  EngineOptions o = small_options(2);
  o.max_seq_len = 1200;
  CHECK_OK(e.load(dir, o));
  std::vector<int32_t> prompt;
  for (int i = 0; i < 1100; ++i) prompt.push_back((i * 31 + 7) % 90 + 3);
  std::vector<float> all;
  CHECK_OK(e.logits(prompt, &all));
  Collector c;
  uint64_t id;
  CHECK_OK(e.submit(request(prompt, 1), c.callback(), &id));
  c.wait();
  const float* last = all.data() + (prompt.size() - 1) * s.vocab;
  int best = 0;
  for (int v = 1; v < s.vocab; ++v) if (last[v] > last[best]) best = v;
  CHECK_EQ(c.tokens.size(), 1u);
  CHECK_EQ(c.tokens[0], best);
  CHECK(e.stats().steps >= 3);  // 1100 tokens in 512-token chunks
  e.close();
  tiny::remove_tree(dir);
}

// Issue #11 item 15: a NaN weight made every logit NaN; the sampler picked token 0 (an end token
// in many vocabularies) and the request ended normally with empty output.
TEST(non_finite_logits_fail_the_request) {
  tiny::Model nan_model = fixture().model;
  nan_model.values["model.norm.weight"][3] = std::nan("");
  const std::string dir = tiny::make_temp_dir("engine-nan");
  CHECK(tiny::write_model(nan_model, dir));
  Engine e;
  CHECK_OK(e.load(dir, small_options()));
  for (float temperature : {0.0f, 1.0f}) {
    GenerateRequest r = request({1, 40, 41}, 8);
    r.sampling.temperature = temperature;
    Collector c;
    uint64_t id;
    CHECK_OK(e.submit(r, c.callback(), &id));
    c.wait();
    CHECK(c.finish == FinishReason::kError);
    CHECK_ERR(c.error, StatusCode::kInternal, "non-finite logits");
    CHECK(c.tokens.empty());
  }
  // Not a sticky failure: the engine is not poisoned, and its other work goes on.
  CHECK(!e.stats().poisoned);
  tiny::remove_tree(dir);
}

TEST(info_reports_config) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options()));
  const ModelInfo& i = e.info();
  CHECK_EQ(i.device, std::string("cpu"));
  CHECK_EQ(i.config.vocab_size, 96);
  CHECK_EQ(i.config.num_kv_heads, 2);
  CHECK(i.config.eos_token_ids == std::vector<int32_t>({2, 3}));
  CHECK_EQ(i.max_seq_len, 96);
  CHECK_EQ(i.weight_dtype, std::string("F32"));
  CHECK(i.memory_bytes > 0);
  Engine automatic;
  EngineOptions ao = small_options();
  ao.device = Device::kAuto;
  CHECK_OK(automatic.load(fixture().dir, ao));
  std::string why;
  if (!built_with_cuda() || cuda_device_count(&why) == 0) {
    CHECK_EQ(automatic.info().device, std::string("cpu"));
  }
  Engine cuda;
  EngineOptions o = small_options();
  o.device = Device::kCuda;
  Status st = cuda.load(fixture().dir, o);
  if (!built_with_cuda()) CHECK_ERR(st, StatusCode::kBadRequest, "without CUDA");
}

TEST_MAIN()
