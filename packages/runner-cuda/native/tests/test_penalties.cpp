// Presence, frequency and repetition penalties: the sampler's arithmetic against a reference
// written from OpenAI's formula and transformers' RepetitionPenaltyLogitsProcessor, the
// per-sequence token lists, and generation through the engine against a reference that applies
// the penalties to the engine's own logits.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "engine.h"
#include "engine_fixtures.h"
#include "penalty_tracker.h"
#include "sampling.h"
#include "test_harness.h"
#include "tiny_model.h"

using namespace inferkit;

namespace {

// OpenAI (platform docs, "Frequency and presence penalties"):
//   mu[j] -> mu[j] - c[j] * alpha_frequency - float(c[j] > 0) * alpha_presence
// with c[j] the times token j was sampled before. transformers (and vLLM) first divide positive
// logits of every token in prompt or output by the repetition penalty and multiply negative ones.
std::vector<double> reference_penalties(const std::vector<float>& logits, const std::vector<int32_t>& prompt,
                                        const std::vector<int32_t>& output, double presence,
                                        double frequency, double repetition) {
  std::map<int32_t, int> count;
  for (int32_t t : output) count[t] += 1;
  std::set<int32_t> seen(prompt.begin(), prompt.end());
  seen.insert(output.begin(), output.end());
  std::vector<double> out(logits.begin(), logits.end());
  for (size_t j = 0; j < out.size(); ++j) {
    const int32_t id = static_cast<int32_t>(j);
    if (seen.count(id)) out[j] = out[j] > 0 ? out[j] / repetition : out[j] * repetition;
    const int c = count.count(id) ? count[id] : 0;
    out[j] = out[j] - c * frequency - (c > 0 ? 1.0 : 0.0) * presence;
  }
  return out;
}

std::vector<float> fixed_logits(int vocab, uint64_t seed) {
  std::vector<float> l(vocab);
  uint64_t x = seed;
  for (int i = 0; i < vocab; ++i) {
    x = rng_mix64(x);
    l[i] = static_cast<float>(static_cast<double>(x >> 40) / 16777216.0 * 16.0 - 8.0);
  }
  l[3] = 0.0f;  // zero: neither divided nor multiplied in effect
  return l;
}

std::vector<float> engine_penalties(std::vector<float> logits, const SamplingParams& p,
                                    const std::vector<int32_t>& prompt,
                                    const std::vector<int32_t>& output) {
  PenaltyTracker tr;
  tr.start(p, prompt);
  for (int32_t t : output) tr.add_output(t);
  apply_penalties(logits.data(), p, tr.tokens().data(), static_cast<int>(tr.tokens().size()));
  return logits;
}

}  // namespace

TEST(penalties_match_openai_formula_on_fixed_logits) {
  const int V = 64;
  const std::vector<int32_t> prompt = {5, 6, 7, 3, 40, 40};
  const std::vector<int32_t> output = {7, 9, 9, 9, 12, 40, 3, 63, 9};
  struct Case { float presence, frequency, repetition; };
  const Case cases[] = {{0.5f, 0.0f, 1.0f},  {0.0f, 0.7f, 1.0f},  {1.3f, 0.4f, 1.0f},
                        {-2.0f, -2.0f, 1.0f}, {2.0f, 2.0f, 1.0f},  {0.0f, 0.0f, 1.3f},
                        {0.0f, 0.0f, 0.7f},   {0.6f, 0.25f, 1.2f}, {-0.5f, 1.5f, 0.9f}};
  for (const Case& c : cases) {
    SamplingParams p;
    p.presence_penalty = c.presence;
    p.frequency_penalty = c.frequency;
    p.repetition_penalty = c.repetition;
    for (uint64_t seed : {1ull, 2ull, 3ull}) {
      const std::vector<float> logits = fixed_logits(V, seed);
      const std::vector<double> want = reference_penalties(logits, prompt, output, c.presence, c.frequency, c.repetition);
      const std::vector<float> got = engine_penalties(logits, p, prompt, output);
      for (int j = 0; j < V; ++j) CHECK_NEAR(got[j], want[j], 1e-5 * (1 + std::fabs(want[j])));
    }
  }
}

TEST(penalties_leave_other_tokens_and_zero_settings_alone) {
  const int V = 64;
  const std::vector<float> logits = fixed_logits(V, 9);
  SamplingParams none;
  CHECK(!has_penalties(none));
  CHECK(engine_penalties(logits, none, {1, 2, 3}, {4, 4}) == logits);
  SamplingParams p;
  p.frequency_penalty = 1.0f;
  const std::vector<float> got = engine_penalties(logits, p, {1, 2, 3}, {4, 4, 5});
  for (int j = 0; j < V; ++j) {
    if (j == 4) CHECK_EQ(got[j], logits[j] - 2.0f);
    else if (j == 5) CHECK_EQ(got[j], logits[j] - 1.0f);
    else CHECK_EQ(got[j], logits[j]);  // prompt tokens too: presence/frequency see the output only
  }
}

TEST(penalty_tracker_lists_each_token_once) {
  SamplingParams p;
  p.presence_penalty = 0.1f;
  PenaltyTracker a;
  a.start(p, {4, 4, 5});
  CHECK(a.active());
  CHECK(a.tokens().empty());  // no repetition penalty: the prompt is not listed
  for (int32_t t : {7, 8, 7, 7}) a.add_output(t);
  CHECK_EQ(a.tokens().size(), 2u);
  CHECK_EQ(a.tokens()[0].id, 7);
  CHECK_EQ(a.tokens()[0].count, 3);
  CHECK_EQ(a.tokens()[1].count, 1);
  p.repetition_penalty = 1.1f;
  PenaltyTracker b;
  b.start(p, {4, 4, 5, 4});
  b.add_output(5);
  CHECK_EQ(b.tokens().size(), 2u);
  CHECK_EQ(b.tokens()[0].id, 4);
  CHECK_EQ(b.tokens()[0].count, 0);
  CHECK_EQ(b.tokens()[1].id, 5);
  CHECK_EQ(b.tokens()[1].count, 1);
  PenaltyTracker off;
  off.start(SamplingParams(), {1, 2});
  off.add_output(3);
  CHECK(!off.active());
  CHECK(off.tokens().empty());
}

// ---- through the engine ------------------------------------------------------------------

namespace {

const tiny::ModelDir& fixture() {
  static const tiny::ModelDir m(tiny::seeded_spec(5), "penalties");
  return m;
}

std::vector<int32_t> generate(Engine& e, const GenerateRequest& r) {
  Collector c;
  uint64_t id = 0;
  CHECK_OK(e.submit(r, c.callback(), &id));
  c.wait();
  if (c.finish == FinishReason::kError) std::fprintf(stderr, "engine error: %s\n", c.error.to_string().c_str());
  CHECK(c.finish == FinishReason::kLength);
  return c.tokens;
}

// The tokens the engine must produce: its own logits of the whole context each step, with the
// reference penalties applied, then the reference sampler.
std::vector<int32_t> expected(Engine& e, const std::vector<int32_t>& prompt, const SamplingParams& p, int n) {
  const int V = e.info().config.vocab_size;
  std::vector<int32_t> ctx = prompt, out;
  SamplerScratch scratch;
  for (int i = 0; i < n; ++i) {
    std::vector<float> all;
    CHECK_OK(e.logits(ctx, &all));
    std::vector<float> last(all.end() - V, all.end());
    const std::vector<double> pen = reference_penalties(last, prompt, out, p.presence_penalty,
                                                        p.frequency_penalty, p.repetition_penalty);
    std::vector<float> row(pen.begin(), pen.end());
    const int32_t t = sample_token(row.data(), V, p, static_cast<uint64_t>(i), &scratch);
    out.push_back(t);
    ctx.push_back(t);
  }
  return out;
}

}  // namespace

TEST(engine_greedy_with_penalties_matches_reference) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(3)));
  const std::vector<int32_t> prompt = {1, 30, 31, 32, 30, 7};
  GenerateRequest plain;
  plain.prompt = prompt;
  plain.max_tokens = 20;
  const std::vector<int32_t> base = generate(e, plain);
  struct Case { float presence, frequency, repetition; };
  for (const Case& c : {Case{1.5f, 0.0f, 1.0f}, Case{0.0f, 2.0f, 1.0f}, Case{0.0f, 0.0f, 3.0f},
                        Case{0.8f, 0.6f, 1.4f}}) {
    GenerateRequest r = plain;
    r.sampling.presence_penalty = c.presence;
    r.sampling.frequency_penalty = c.frequency;
    r.sampling.repetition_penalty = c.repetition;
    const std::vector<int32_t> got = generate(e, r);
    CHECK(got == expected(e, prompt, r.sampling, 20));
    CHECK(got != base);  // strong enough to change the output of this model
  }
}

TEST(engine_sampling_with_penalties_matches_reference_in_a_batch) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(3)));
  // Three sequences in one batch: penalised, plain and penalised differently, so the rows'
  // token lists must not leak into each other.
  std::vector<GenerateRequest> rs(3);
  const std::vector<int32_t> prompts[3] = {{1, 50, 51, 52}, {1, 60, 61}, {1, 70, 70, 70, 71}};
  for (int i = 0; i < 3; ++i) {
    rs[i].prompt = prompts[i];
    rs[i].max_tokens = 16;
    rs[i].sampling.temperature = 0.9f;
    rs[i].sampling.top_k = 20;
    rs[i].sampling.seed = 100 + i;
  }
  rs[0].sampling.presence_penalty = 1.2f;
  rs[0].sampling.frequency_penalty = 0.5f;
  rs[2].sampling.repetition_penalty = 1.8f;
  std::vector<std::vector<int32_t>> got(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back([&, i] { got[i] = generate(e, rs[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) CHECK(got[i] == expected(e, prompts[i], rs[i].sampling, 16));
}

TEST(engine_refuses_out_of_range_penalties) {
  Engine e;
  CHECK_OK(e.load(fixture().dir, small_options(3)));
  auto submit = [&](float presence, float frequency, float repetition) {
    GenerateRequest r;
    r.prompt = {1, 2, 3};
    r.max_tokens = 2;
    r.sampling.presence_penalty = presence;
    r.sampling.frequency_penalty = frequency;
    r.sampling.repetition_penalty = repetition;
    uint64_t id = 0;
    return e.submit(r, [](const TokenEvent&) {}, &id);
  };
  CHECK_ERR(submit(2.5f, 0, 1), StatusCode::kBadRequest, "presencePenalty");
  CHECK_ERR(submit(0, -2.5f, 1), StatusCode::kBadRequest, "frequencyPenalty");
  CHECK_ERR(submit(0, 0, 0.0f), StatusCode::kBadRequest, "repetitionPenalty");
  CHECK_ERR(submit(0, 0, NAN), StatusCode::kBadRequest, "repetitionPenalty");
  CHECK_ERR(submit(NAN, 0, 1), StatusCode::kBadRequest, "presencePenalty");
  CHECK_ERR(submit(0, 0, 1e4f), StatusCode::kBadRequest, "repetitionPenalty");
}

TEST_MAIN()
