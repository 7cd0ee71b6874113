// engine_bench: throughput of the native engine on a model directory, without Node.
//
//   engine_bench <model_dir> [--threads N] [--device cpu|cuda] [--prompt 512] [--decode 128]
//                [--batch 8] [--repeats 3] [--convert-at-load f32|q8_0] [--json out.json]
//
// Measures, greedy sampling throughout:
//   prefill  — one prompt of --prompt random tokens, submit to first token (tok/s of prompt)
//   decode@1 — --decode tokens of one sequence, timed from its first token to its last
//   decode@B — --batch concurrent sequences of --decode tokens each, aggregate tok/s from the
//              moment all have their first token to the moment all are done
//   p20 step — both decodes again from the 20th-percentile time per step (the first sequence's
//              intervals between tokens): on a shared machine other jobs only slow steps down,
//              so this compares two builds more steadily than wall time
// Each figure is the median of --repeats runs. Prints a table and optionally writes the same
// figures as JSON.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "engine.h"

using namespace inferkit;
using Clock = std::chrono::steady_clock;

namespace {

struct Run {
  std::mutex mu;
  std::condition_variable cv;
  int total = 0;
  int remaining = 0;
  int first_tokens = 0;
  Clock::time_point all_first;  // when the last sequence got its first token
  Clock::time_point done;
  Status error;
  long tokens = 0;
  // Deliveries of the first sequence after every sequence had its first token: (time, tokens).
  std::vector<std::pair<Clock::time_point, size_t>> lead;
};

bool generate(Engine& e, const std::vector<std::vector<int32_t>>& prompts, int max_tokens, Run* run) {
  run->total = run->remaining = static_cast<int>(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& p = prompts[i];
    GenerateRequest req;
    req.prompt = p;
    req.max_tokens = max_tokens;
    auto first = std::make_shared<bool>(true);
    uint64_t id = 0;
    const bool lead = i == 0;
    Status st = e.submit(req, [run, first, lead](const TokenEvent& ev) {
      std::lock_guard<std::mutex> lock(run->mu);
      run->tokens += static_cast<long>(ev.tokens.size());
      if (lead && !ev.tokens.empty() && run->first_tokens == run->total) {
        run->lead.emplace_back(Clock::now(), ev.tokens.size());
      }
      if (*first && !ev.tokens.empty()) {
        *first = false;
        if (++run->first_tokens == run->total) run->all_first = Clock::now();
      }
      if (ev.finish != FinishReason::kNone) {
        if (ev.finish == FinishReason::kError) run->error = ev.error;
        if (--run->remaining == 0) {
          run->done = Clock::now();
          run->cv.notify_all();
        }
      }
    }, &id);
    if (!st.ok()) {
      std::fprintf(stderr, "submit failed: %s\n", st.to_string().c_str());
      return false;
    }
  }
  std::unique_lock<std::mutex> lock(run->mu);
  run->cv.wait(lock, [&] { return run->remaining == 0; });
  if (!run->error.ok()) {
    std::fprintf(stderr, "generation failed: %s\n", run->error.to_string().c_str());
    return false;
  }
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double secs(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Time per decode step from the first sequence's deliveries (each step gives every sequence a
// token): the `q` quantile of the per-token intervals. On a shared machine other jobs only make
// steps slower, so a low quantile compares two builds more steadily than a run's wall time.
double step_quantile(const Run& run, double q) {
  std::vector<double> per;
  for (size_t i = 1; i < run.lead.size(); ++i) {
    per.push_back(secs(run.lead[i - 1].first, run.lead[i].first) / static_cast<double>(run.lead[i].second));
  }
  if (per.empty()) return 0;
  std::sort(per.begin(), per.end());
  return per[static_cast<size_t>(q * static_cast<double>(per.size() - 1))];
}

std::vector<int32_t> random_tokens(std::mt19937& rng, int n, int vocab) {
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::fprintf(stderr, "usage: engine_bench <model_dir> [--threads N] [--device cpu|cuda] "
                         "[--prompt 512] [--decode 128] [--batch 8] [--convert-at-load f32|q8_0] "
                         "[--json out.json]\n");
    return 2;
  }
  std::string dir = argv[1], json_path;
  EngineOptions opts;
  int prompt_len = 512, decode = 128, batch = 8, repeats = 3;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--threads") opts.threads = std::atoi(next());
    else if (a == "--device") {
      std::string d = next();
      opts.device = d == "cuda" ? Device::kCuda : d == "auto" ? Device::kAuto : Device::kCpu;
    } else if (a == "--prompt") prompt_len = std::atoi(next());
    else if (a == "--decode") decode = std::atoi(next());
    else if (a == "--batch") batch = std::atoi(next());
    else if (a == "--repeats") repeats = std::max(1, std::atoi(next()));
    else if (a == "--convert-at-load") {
      const std::string c = next();
      if (c != "f32" && c != "q8_0") {
        std::fprintf(stderr, "--convert-at-load takes f32 or q8_0\n");
        return 2;
      }
      opts.convert_at_load = c == "f32" ? WeightConversion::kF32 : WeightConversion::kQ8_0;
    }
    else if (a == "--json") json_path = next();
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  opts.max_batch = batch;
  opts.max_seq_len = prompt_len + decode + 32;

  Engine engine;
  const auto t_load = Clock::now();
  Status st = engine.load(dir, opts);
  if (!st.ok()) {
    std::fprintf(stderr, "load failed: %s\n", st.to_string().c_str());
    return 1;
  }
  const double load_s = secs(t_load, Clock::now());
  const ModelInfo& info = engine.info();
  const int vocab = info.config.vocab_size;
  std::mt19937 rng(1234);

  {  // warm-up: touches every weight page once
    Run warm;
    if (!generate(engine, {random_tokens(rng, 8, vocab)}, 4, &warm)) return 1;
  }

  std::vector<double> prefill_runs, decode1_runs, decodeB_runs, step1_runs, stepB_runs;
  for (int r = 0; r < repeats; ++r) {
    Run prefill;
    const auto t0 = Clock::now();
    if (!generate(engine, {random_tokens(rng, prompt_len, vocab)}, 1, &prefill)) return 1;
    prefill_runs.push_back(prompt_len / secs(t0, prefill.done));

    Run single;
    if (!generate(engine, {random_tokens(rng, 16, vocab)}, decode + 1, &single)) return 1;
    decode1_runs.push_back(decode / secs(single.all_first, single.done));
    step1_runs.push_back(step_quantile(single, 0.2));

    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < batch; ++i) prompts.push_back(random_tokens(rng, 16, vocab));
    Run multi;
    if (!generate(engine, prompts, decode + 1, &multi)) return 1;
    decodeB_runs.push_back(static_cast<double>(batch) * decode / secs(multi.all_first, multi.done));
    stepB_runs.push_back(step_quantile(multi, 0.2));
  }
  const double step1 = median(step1_runs), stepB = median(stepB_runs);
  const double prefill_tps = median(prefill_runs);
  const double decode1_tps = median(decode1_runs);
  const double decodeB_tps = median(decodeB_runs);

  const ModelConfig& c = info.config;
  std::printf("model: %s  layers %d  hidden %d  heads %d/%d  ffn %d  vocab %d  weights %s\n",
              c.model_type.c_str(), c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads,
              c.intermediate_size, c.vocab_size, info.weight_dtype.c_str());
  std::printf("device: %s   load %.2f s   median of %d runs\n\n", info.device_description.c_str(),
              load_s, repeats);
  std::printf("| metric                              | tok/s    |\n");
  std::printf("|-------------------------------------|----------|\n");
  std::printf("| prefill (%4d-token prompt)          | %8.1f |\n", prompt_len, prefill_tps);
  std::printf("| decode, batch 1 (%3d tokens)        | %8.2f |\n", decode, decode1_tps);
  std::printf("| decode, %d sequences aggregate       | %8.2f |\n", batch, decodeB_tps);
  std::printf("| aggregate / batch-1                 | %8.2fx |\n", decodeB_tps / decode1_tps);
  if (step1 > 0 && stepB > 0) {
    // The same two decodes from their faster steps (20th percentile step time).
    std::printf("| decode, batch 1, p20 step           | %8.2f |\n", 1 / step1);
    std::printf("| decode, %d sequences, p20 step       | %8.2f |\n", batch, batch / stepB);
    std::printf("| p20 aggregate / batch-1             | %8.2fx |\n", batch * step1 / stepB);
  }
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::fprintf(f,
                 "{\"engine\":\"inferkit\",\"device\":\"%s\",\"threads\":%d,\"kernels\":\"%s\","
                 "\"prompt_tokens\":%d,\"decode_tokens\":%d,\"batch\":%d,\"repeats\":%d,"
                 "\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f,\"decode_batch_tok_s\":%.3f,"
                 "\"load_s\":%.3f}\n",
                 info.device.c_str(), info.threads, info.device_description.c_str(), prompt_len,
                 decode, batch, repeats, prefill_tps, decode1_tps, decodeB_tps, load_s);
    std::fclose(f);
  }
  engine.close();
  return 0;
}
