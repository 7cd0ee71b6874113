// What the engine-level tests share: a tiny checkpoint on disk for the life of the test binary,
// small EngineOptions, and a Collector that gathers one request's events and waits for its finish.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine.h"
#include "test_harness.h"
#include "tiny_model.h"

namespace tiny {

// Spec's defaults with `seed` and `eos`: the 96-token vocabulary the engine cases' prompt ids and
// test vocabularies are written for.
inline Spec seeded_spec(uint64_t seed, std::vector<int> eos = {2}) {
  Spec s;
  s.vocab = 96;
  s.seed = seed;
  s.eos = std::move(eos);
  return s;
}

// The model of `spec` written into a fresh temporary directory, removed with the object. Held in
// a function-local static, one per model a binary needs: writing it once serves every case.
struct ModelDir {
  Model model;
  std::string dir;
  ModelDir(const Spec& spec, const std::string& tag) : model(make_model(spec)), dir(make_temp_dir(tag)) {
    if (!write_model(model, dir)) ::testing::fail(__FILE__, __LINE__, "could not write the tiny model into " + dir);
  }
  ~ModelDir() { remove_tree(dir); }
  ModelDir(const ModelDir&) = delete;
  ModelDir& operator=(const ModelDir&) = delete;
};

}  // namespace tiny

// Default sampling (greedy), no stop tokens.
inline inferkit::GenerateRequest request(std::vector<int32_t> prompt, int max_tokens) {
  inferkit::GenerateRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  return r;
}

// Two threads and a 96-token context: enough for the tiny models, cheap on a loaded machine.
inline inferkit::EngineOptions small_options(int max_batch = 4, int max_seq_len = 96) {
  inferkit::EngineOptions o;
  o.threads = 2;
  o.max_batch = max_batch;
  o.max_seq_len = max_seq_len;
  return o;
}

// Collects one request's events and waits for its finish; counts events so that cases can check
// that exactly one finish arrives and nothing after it.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int32_t> tokens;
  inferkit::FinishReason finish = inferkit::FinishReason::kNone;
  inferkit::Status error;
  int events = 0;
  int finish_events = 0;
  bool event_after_finish = false;

  inferkit::TokenCallback callback() {
    return [this](const inferkit::TokenEvent& ev) {
      std::lock_guard<std::mutex> lock(mu);
      if (finish_events > 0) event_after_finish = true;
      ++events;
      tokens.insert(tokens.end(), ev.tokens.begin(), ev.tokens.end());
      if (ev.finish != inferkit::FinishReason::kNone) {
        ++finish_events;
        finish = ev.finish;
        error = ev.error;
        cv.notify_all();
      }
    };
  }
  // Bounded, so a request that never finishes fails the case instead of hanging CTest.
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return finish_events > 0; })) {
      ::testing::fail(__FILE__, __LINE__, "no finish event within 60 s");
      finish_events = 1;
    }
  }
};
