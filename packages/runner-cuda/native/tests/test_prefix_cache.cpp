// The prefix cache through the engine (CPU backend): outputs identical with and without it
// (greedy and seeded sampling, alone and batched, sliding-window attention too), the second
// request sharing a prompt prefix computes only the rest, a continuation by token ids reuses the
// generated blocks, and 1,000 requests with random prefixes keep the KV blocks within the pool
// and the resident memory flat.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>

#include "engine.h"
#include "engine_fixtures.h"
#include "test_harness.h"
#include "tiny_model.h"

using namespace inferkit;

namespace {

const std::string& llama_dir() {
  static const tiny::ModelDir m([] {
    tiny::Spec s;
    s.vocab = 96;
    s.seed = 21;
    s.max_pos = 512;
    return s;
  }(), "prefix-llama");
  return m.dir;
}

const std::string& window_dir() {
  static const tiny::ModelDir m([] {
    tiny::Spec s;
    s.arch = "mistral";
    s.vocab = 96;
    s.seed = 22;
    s.max_pos = 512;
    s.sliding_window = 24;
    return s;
  }(), "prefix-window");
  return m.dir;
}

EngineOptions options(bool prefix_cache, int max_batch = 4, int max_seq_len = 256) {
  EngineOptions o = small_options(max_batch, max_seq_len);
  o.prefix_cache = prefix_cache;
  return o;
}

struct Result {
  std::vector<int32_t> tokens;
  int cached = -1;
  FinishReason finish = FinishReason::kNone;
};

// Submits every request at once and waits for all of them.
std::vector<Result> run_all(Engine& e, const std::vector<GenerateRequest>& rs) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result> out(rs.size());
  size_t done = 0;
  for (size_t i = 0; i < rs.size(); ++i) {
    uint64_t id = 0;
    CHECK_OK(e.submit(rs[i], [&, i](const TokenEvent& ev) {
      std::lock_guard<std::mutex> lock(mu);
      Result& r = out[i];
      r.tokens.insert(r.tokens.end(), ev.tokens.begin(), ev.tokens.end());
      if (ev.cached_tokens >= 0) r.cached = ev.cached_tokens;
      if (!ev.tokens.empty()) CHECK(ev.cached_tokens >= 0);  // known with the first token
      if (ev.finish != FinishReason::kNone) {
        r.finish = ev.finish;
        ++done;
        cv.notify_all();
      }
    }, &id));
  }
  std::unique_lock<std::mutex> lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(120), [&] { return done == rs.size(); })) {
    ::testing::fail(__FILE__, __LINE__, "requests did not finish within 120 s");
  }
  return out;
}

Result run_one(Engine& e, const GenerateRequest& r) { return run_all(e, {r})[0]; }

std::vector<int32_t> ids(int n, uint32_t seed, int vocab = 96) {
  std::vector<int32_t> v;
  uint32_t x = seed;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    v.push_back(static_cast<int32_t>(4 + (x >> 8) % static_cast<uint32_t>(vocab - 4)));
  }
  return v;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Requests sharing a 150-token system prompt (9 whole blocks + 6), with different questions.
std::vector<GenerateRequest> shared_prefix_requests(float temperature) {
  const std::vector<int32_t> system = ids(150, 1);
  std::vector<GenerateRequest> rs;
  for (int i = 0; i < 6; ++i) {
    GenerateRequest r = request(concat(system, ids(3 + 7 * i, 100 + i)), 24);
    r.sampling.temperature = temperature;
    r.sampling.top_k = temperature > 0 ? 30 : 0;
    r.sampling.seed = 7 + i;
    rs.push_back(r);
  }
  return rs;
}

void check_identical_with_and_without(const std::string& dir, float temperature) {
  const std::vector<GenerateRequest> rs = shared_prefix_requests(temperature);
  Engine off, on;
  CHECK_OK(off.load(dir, options(false)));
  CHECK_OK(on.load(dir, options(true)));
  std::vector<std::vector<int32_t>> want;
  for (const GenerateRequest& r : rs) {
    const Result res = run_one(off, r);
    CHECK_EQ(res.cached, 0);
    want.push_back(res.tokens);
  }
  // One at a time: every request after the first reuses the system prompt's 9 whole blocks.
  for (size_t i = 0; i < rs.size(); ++i) {
    const Result res = run_one(on, rs[i]);
    CHECK(res.tokens == want[i]);
    CHECK(res.finish == FinishReason::kLength);
    CHECK_EQ(res.cached, i == 0 ? 0 : 9 * 16);
  }
  // The same again, all at once (batched, and now every prompt's own blocks hit too).
  const std::vector<Result> batch = run_all(on, rs);
  for (size_t i = 0; i < rs.size(); ++i) {
    CHECK(batch[i].tokens == want[i]);
    CHECK(batch[i].cached >= 9 * 16);
  }
  CHECK_EQ(off.stats().cached_prompt_tokens, 0u);
  CHECK_EQ(off.stats().kv_blocks_cached, 0);
  CHECK(on.stats().kv_blocks_cached > 0);
}

}  // namespace

TEST(greedy_outputs_identical_with_and_without_prefix_cache) {
  check_identical_with_and_without(llama_dir(), 0.0f);
}

TEST(seeded_sampling_identical_with_and_without_prefix_cache) {
  check_identical_with_and_without(llama_dir(), 0.8f);
}

TEST(sliding_window_outputs_identical_with_and_without_prefix_cache) {
  check_identical_with_and_without(window_dir(), 0.0f);
}

// The mechanism behind the time-to-first-token gain, deterministically: the second request
// computes only what follows the shared whole blocks.
TEST(second_request_computes_only_the_suffix) {
  Engine e;
  CHECK_OK(e.load(llama_dir(), options(true, 2, 256)));
  const std::vector<int32_t> system = ids(200, 3);  // 12 whole blocks + 8 tokens
  const Result a = run_one(e, request(concat(system, ids(5, 50)), 4));
  CHECK_EQ(a.cached, 0);
  const EngineStats s1 = e.stats();
  CHECK_EQ(s1.prompt_tokens, 205u);
  const Result b = run_one(e, request(concat(system, ids(9, 60)), 4));
  CHECK_EQ(b.cached, 192);
  const EngineStats s2 = e.stats();
  CHECK_EQ(s2.prompt_tokens - s1.prompt_tokens, 209u - 192u);
  CHECK_EQ(s2.cached_prompt_tokens, 192u);
  // A prompt that is exactly the cached blocks still computes its last token.
  const std::vector<int32_t> exact(system.begin(), system.begin() + 192);
  const Result c = run_one(e, request(exact, 2));
  CHECK_EQ(c.cached, 176);
  CHECK_EQ(e.stats().prompt_tokens - s2.prompt_tokens, 16u);
}

// A stream resumed by token ids (prompt + the tokens already delivered) reuses the blocks of the
// generated tokens as well, and continues exactly.
TEST(continuation_by_token_ids_reuses_generated_blocks) {
  Engine e;
  CHECK_OK(e.load(llama_dir(), options(true, 2, 256)));
  const std::vector<int32_t> prompt = ids(40, 9);
  const Result full = run_one(e, request(prompt, 60));
  CHECK_EQ(full.tokens.size(), 60u);
  // Resume after 45 delivered tokens: the context is 85 tokens, 84 of them were computed.
  const std::vector<int32_t> delivered(full.tokens.begin(), full.tokens.begin() + 45);
  const Result rest = run_one(e, request(concat(prompt, delivered), 15));
  CHECK_EQ(rest.cached, 80);  // 5 whole blocks, generated tokens included
  CHECK(rest.tokens == std::vector<int32_t>(full.tokens.begin() + 45, full.tokens.end()));
}

TEST(prefix_cache_off_reuses_nothing) {
  Engine e;
  CHECK_OK(e.load(llama_dir(), options(false, 2, 256)));
  const std::vector<int32_t> prompt = ids(100, 4);
  CHECK_EQ(run_one(e, request(prompt, 3)).cached, 0);
  CHECK_EQ(run_one(e, request(prompt, 3)).cached, 0);
  const EngineStats s = e.stats();
  CHECK_EQ(s.prompt_tokens, 200u);
  CHECK_EQ(s.kv_blocks_cached, 0);
  CHECK_EQ(s.kv_blocks, 2 * 16);
}

namespace {

size_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

// 1,000 requests with random prefixes (a third share one of a few system prompts), four at a
// time: the blocks held or cached never exceed the pool, cached blocks get evicted and reused,
// and resident memory after the first 250 requests stays flat (printed; bounded generously,
// since allocator noise is not a leak).
TEST(random_prefixes_keep_memory_bounded) {
  Engine e;
  CHECK_OK(e.load(llama_dir(), options(true, 4, 128)));
  const EngineStats s0 = e.stats();
  CHECK_EQ(s0.kv_blocks, 4 * 8);
  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> systems;
  for (int i = 0; i < 4; ++i) systems.push_back(ids(40 + 9 * i, 500 + i));
  size_t rss_250 = 0;
  uint64_t reused = 0;
  for (int round = 0; round < 250; ++round) {
    std::vector<GenerateRequest> rs;
    for (int j = 0; j < 4; ++j) {
      std::vector<int32_t> p;
      if (rng() % 3 == 0) p = systems[rng() % systems.size()];
      const int extra = 1 + static_cast<int>(rng() % 50);
      p = concat(p, ids(extra, static_cast<uint32_t>(rng())));
      rs.push_back(request(p, 1 + static_cast<int>(rng() % 8)));
    }
    for (const Result& r : run_all(e, rs)) reused += static_cast<uint64_t>(std::max(0, r.cached));
    const EngineStats s = e.stats();
    CHECK(s.kv_blocks_in_use + s.kv_blocks_cached <= s.kv_blocks);
    CHECK_EQ(s.kv_blocks_in_use, 0);  // every request finished
    if (round == 62) rss_250 = resident_bytes();  // after 252 requests
  }
  const size_t rss_1000 = resident_bytes();
  const EngineStats s = e.stats();
  std::printf("random prefixes: 1000 requests, %llu prompt tokens reused, %llu evictions, %d of %d blocks cached; "
              "RSS after 250 requests %.1f MiB, after 1000 %.1f MiB\n",
              static_cast<unsigned long long>(reused), static_cast<unsigned long long>(s.kv_evictions),
              s.kv_blocks_cached, s.kv_blocks, rss_250 / 1048576.0, rss_1000 / 1048576.0);
  CHECK(reused > 0);
  CHECK(s.kv_evictions > 0u);
  CHECK_EQ(static_cast<uint64_t>(reused), s.cached_prompt_tokens);
  CHECK(rss_1000 <= rss_250 + (8u << 20));
}

TEST_MAIN()
