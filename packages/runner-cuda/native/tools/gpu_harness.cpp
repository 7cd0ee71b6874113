// GPU harness: the checks and the benchmark that need a real CUDA device, driven by
// tools/gpu-check.sh. Uses the engine library directly (no Node). Each subcommand writes one
// JSON report and exits 0 when its checks pass, 1 when one fails, 2 on a usage or setup error.
//
//   gpu_harness parity-backends OUT.json MODEL_DIR...   CUDA vs CPU backend on the same files
//   gpu_harness parity-hf OUT.json MODEL_DIR...         CUDA (and CPU) vs Hugging Face reference
//   gpu_harness poison OUT.json MODEL_DIR               planted fault -> poisoned -> new process
//   gpu_harness poison-child faulted|fresh OUT.json DIR (run by `poison` itself)
//   gpu_harness bench OUT.json MODEL_DIR                decode/prefill throughput, HBM bandwidth
//   gpu_harness prefix-penalties OUT.json MODEL_DIR...  prefix cache and penalties on CUDA
//   gpu_harness prefix-ttft OUT.json MODEL_DIR          TTFT with a shared 1,000-token prefix
//
// Tolerances (documented in tools/README.md and copied into every report):
//   F32 weights:      greedy tokens identical over 64 steps; logits max |diff| <= 1e-3.
//   BF16/F16 weights: teacher-forced top-1 agreement >= 99%; logits relative L2 error <= 3e-2.
//   vs transformers:  F32 logits max |diff| <= 2e-3; greedy continuations identical, or first
//                     diverging where HF's own top-2 margin is < 1e-4 (a near tie).

#include <cuda_runtime.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "backend.h"
#include "engine.h"
#include "json.h"
#include "model_loader.h"

extern char** environ;

using namespace inferkit;

namespace {

constexpr double kF32MaxAbs = 1e-3;
constexpr double kLowPrecisionTop1 = 0.99;
constexpr double kLowPrecisionRelL2 = 3e-2;
// GGUF block types: the CPU backend quantizes each matmul input to 8 bits (llama.cpp's
// arithmetic), the CUDA backend multiplies the dequantized weights with f32 (decode) or BF16
// (tensor cores) activations: on the tiny random models that is about 1% of the logits. Not yet
// measured on a GPU: the first run's figures should tighten these.
constexpr double kBlockTypeTop1 = 0.95;
constexpr double kBlockTypeRelL2 = 5e-2;
constexpr double kHfMaxAbs = 2e-3;
constexpr int kGreedySteps = 64;
constexpr double kNearTie = 1e-4;

// ---- tiny JSON writer ------------------------------------------------------------------------

std::string jstr(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
    else o += c;
  }
  return o + "\"";
}
std::string jnum(double v) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  snprintf(b, sizeof b, "%.6g", v);
  return b;
}
std::string jints(const std::vector<int32_t>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? "," : "") + std::to_string(v[i]);
  return o + "]";
}

struct Obj {
  std::vector<std::pair<std::string, std::string>> kv;
  Obj& set(const std::string& k, const std::string& raw) { kv.emplace_back(k, raw); return *this; }
  Obj& str(const std::string& k, const std::string& v) { return set(k, jstr(v)); }
  Obj& num(const std::string& k, double v) { return set(k, jnum(v)); }
  Obj& boolean(const std::string& k, bool v) { return set(k, v ? "true" : "false"); }
  std::string dump() const {
    std::string o = "{";
    for (size_t i = 0; i < kv.size(); ++i) o += (i ? "," : "") + jstr(kv[i].first) + ":" + kv[i].second;
    return o + "}";
  }
};
std::string jarr(const std::vector<std::string>& items) {
  std::string o = "[";
  for (size_t i = 0; i < items.size(); ++i) o += (i ? "," : "") + items[i];
  return o + "]";
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text << "\n";
  return static_cast<bool>(f);
}

std::string device_name() {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "unknown";
  return p.name;
}

// ---- engine helpers --------------------------------------------------------------------------

struct Gen {
  Status status;
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kNone;
};

// Submits every prompt at once (they decode as one continuous batch) and waits for all.
std::vector<Gen> generate(Engine& e, const std::vector<std::vector<int32_t>>& prompts, int max_tokens,
                          const SamplingParams& sp = SamplingParams()) {
  std::vector<Gen> out(prompts.size());
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateRequest r;
    r.prompt = prompts[i];
    r.max_tokens = max_tokens;
    r.sampling = sp;
    uint64_t id = 0;
    Status st = e.submit(std::move(r), [&, i](const TokenEvent& ev) {
      std::lock_guard<std::mutex> lock(mu);
      out[i].tokens.insert(out[i].tokens.end(), ev.tokens.begin(), ev.tokens.end());
      if (ev.finish != FinishReason::kNone) {
        out[i].finish = ev.finish;
        if (ev.finish == FinishReason::kError) out[i].status = ev.error;
        ++done;
        cv.notify_all();
      }
    }, &id);
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      out[i].status = st;
      out[i].finish = FinishReason::kError;
      ++done;
    }
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == prompts.size(); });
  return out;
}

Status open_engine(Engine* e, const std::string& dir, Device dev, int max_batch, int max_seq_len) {
  EngineOptions o;
  o.device = dev;
  o.threads = 8;
  o.max_batch = max_batch;
  o.max_seq_len = max_seq_len;
  return e->load(dir, o);
}

std::vector<std::vector<int32_t>> make_prompts(int vocab) {
  const int lens[] = {5, 9, 17, 3, 12, 7};
  std::vector<std::vector<int32_t>> p;
  uint32_t x = 12345;
  for (int len : lens) {
    std::vector<int32_t> v;
    for (int i = 0; i < len; ++i) {
      x = x * 1664525u + 1013904223u;
      v.push_back(static_cast<int32_t>((x >> 8) % static_cast<uint32_t>(vocab)));
    }
    p.push_back(v);
  }
  return p;
}

struct Diff {
  double max_abs = 0, rel_l2 = 0, top1 = 0;
  int rows = 0;
};

Diff compare_logits(const std::vector<float>& a, const std::vector<double>& ref, int vocab) {
  Diff d;
  double num = 0, den = 0;
  int agree = 0;
  d.rows = static_cast<int>(ref.size() / vocab);
  for (int r = 0; r < d.rows; ++r) {
    int ia = 0, ib = 0;
    for (int j = 0; j < vocab; ++j) {
      const size_t k = static_cast<size_t>(r) * vocab + j;
      const double x = a[k], y = ref[k];
      if (!std::isfinite(x)) d.max_abs = INFINITY;
      else d.max_abs = std::max(d.max_abs, std::fabs(x - y));
      num += (x - y) * (x - y);
      den += y * y;
      if (a[k] > a[static_cast<size_t>(r) * vocab + ia]) ia = j;
      if (ref[k] > ref[static_cast<size_t>(r) * vocab + ib]) ib = j;
    }
    agree += ia == ib;
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : 0;
  d.top1 = d.rows ? static_cast<double>(agree) / d.rows : 0;
  return d;
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

std::string base_name(const std::string& dir) {
  std::string d = dir;
  while (!d.empty() && d.back() == '/') d.pop_back();
  const size_t s = d.find_last_of('/');
  return s == std::string::npos ? d : d.substr(s + 1);
}

// ---- parity-backends ------------------------------------------------------------------------

int parity_backends(const std::string& out_path, const std::vector<std::string>& dirs) {
  std::vector<std::string> reports;
  bool all_ok = true;
  for (const std::string& dir : dirs) {
    Obj rep;
    rep.str("model", base_name(dir));
    Engine cpu, gpu;
    Status st = open_engine(&cpu, dir, Device::kCpu, 8, 256);
    setenv("INFERKIT_CUDA_GRAPHS", "0", 1);  // plain launches; the graph engine comes below
    if (st.ok()) st = open_engine(&gpu, dir, Device::kCuda, 8, 256);
    unsetenv("INFERKIT_CUDA_GRAPHS");
    if (!st.ok()) {
      rep.boolean("pass", false).str("error", st.to_string());
      reports.push_back(rep.dump());
      all_ok = false;
      std::fprintf(stderr, "parity-backends %s: %s\n", dir.c_str(), st.to_string().c_str());
      continue;
    }
    const int vocab = cpu.info().config.vocab_size;
    const std::string wdt = gpu.info().weight_dtype;
    const bool exact = wdt == "F32";
    const bool block_types = wdt.find('Q') != std::string::npos;
    rep.str("weight_dtype", wdt).str("device", gpu.info().device_description);
    const auto prompts = make_prompts(vocab);
    // Six prompts at once: the CUDA side decodes them as one batch (matmul path when > 4 rows),
    // the CPU side as its own batch.
    const auto gc = generate(cpu, prompts, kGreedySteps);
    const auto gg = generate(gpu, prompts, kGreedySteps);
    // The same on a CUDA engine replaying decode steps as CUDA graphs: same kernels, so the
    // tokens must equal the plain-launch ones exactly.
    std::vector<Gen> gr, solo;
    {
      Engine graphs;  // the default: decode steps replay CUDA graphs
      Status gs = open_engine(&graphs, dir, Device::kCuda, 8, 256);
      if (gs.ok()) gr = generate(graphs, prompts, kGreedySteps);
      else rep.str("error", "graphs engine: " + gs.to_string());
      // Each prompt alone: batch-1 decode, the path small batches take (the matrix-vector
      // kernels; with INFERKIT_CUDA_EXPERIMENTAL=1 and 16-bit weights, the persistent kernel).
      if (gs.ok())
        for (const auto& p : prompts) solo.push_back(generate(graphs, {p}, kGreedySteps)[0]);
    }
    int solo_same = 0, solo_tok = 0, solo_total = 0;
    for (size_t i = 0; i < solo.size() && i < gc.size(); ++i) {
      if (!solo[i].status.ok()) {
        rep.str("error", "solo decode: " + solo[i].status.to_string());
        continue;
      }
      solo_same += solo[i].tokens == gc[i].tokens;
      for (size_t t = 0; t < gc[i].tokens.size() && t < solo[i].tokens.size(); ++t) {
        ++solo_total;
        solo_tok += gc[i].tokens[t] == solo[i].tokens[t];
      }
    }
    int graph_same = 0;
    for (size_t i = 0; i < gr.size(); ++i) graph_same += gr[i].status.ok() && gr[i].tokens == gg[i].tokens;
    int same_seqs = 0, same_tok = 0, total_tok = 0;
    std::vector<std::string> seqs;
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (!gc[i].status.ok() || !gg[i].status.ok()) {
        rep.str("error", (gc[i].status.ok() ? gg[i].status : gc[i].status).to_string());
        continue;
      }
      same_seqs += gc[i].tokens == gg[i].tokens;
      for (size_t t = 0; t < gc[i].tokens.size() && t < gg[i].tokens.size(); ++t) {
        ++total_tok;
        same_tok += gc[i].tokens[t] == gg[i].tokens[t];
      }
      seqs.push_back(Obj().set("cpu", jints(gc[i].tokens)).set("cuda", jints(gg[i].tokens)).dump());
    }
    // Teacher-forced logits over prompt + the CPU's continuation.
    Diff worst;
    double top1_sum = 0;
    int top1_rows = 0;
    double num_rel = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      std::vector<int32_t> seq = prompts[i];
      seq.insert(seq.end(), gc[i].tokens.begin(), gc[i].tokens.end());
      if (seq.size() > 200) seq.resize(200);
      std::vector<float> lc, lg;
      Status a = cpu.logits(seq, &lc), b = gpu.logits(seq, &lg);
      if (!a.ok() || !b.ok()) {
        rep.str("error", (a.ok() ? b : a).to_string());
        continue;
      }
      const Diff d = compare_logits(lg, widen(lc), vocab);
      worst.max_abs = std::max(worst.max_abs, d.max_abs);
      worst.rel_l2 = std::max(worst.rel_l2, d.rel_l2);
      top1_sum += d.top1 * d.rows;
      top1_rows += d.rows;
      num_rel += d.rel_l2;
    }
    const double top1 = top1_rows ? top1_sum / top1_rows : 0;
    bool pass;
    // F32: batch-1 decode must match the CPU exactly too. 16-bit: its token agreement is reported
    // (greedy sequences diverge for good at the first near tie), and the kernel-level check of the
    // decode path is the workbench's, against a CPU reference of the same bf16 arithmetic.
    if (exact) pass = same_seqs == static_cast<int>(prompts.size()) && worst.max_abs <= kF32MaxAbs &&
                      solo_same == static_cast<int>(prompts.size());
    else if (block_types) pass = top1 >= kBlockTypeTop1 && worst.rel_l2 <= kBlockTypeRelL2;
    else pass = top1 >= kLowPrecisionTop1 && worst.rel_l2 <= kLowPrecisionRelL2;
    pass = pass && graph_same == static_cast<int>(prompts.size());
    bool errored = false;
    for (auto& kv : rep.kv) errored = errored || kv.first == "error";
    pass = pass && !errored;
    all_ok = all_ok && pass;
    rep.boolean("pass", pass)
        .num("prompts", static_cast<double>(prompts.size()))
        .num("greedy_steps", kGreedySteps)
        .num("identical_sequences", same_seqs)
        .num("graph_sequences_identical_to_launch", graph_same)
        .num("solo_sequences_identical_to_cpu", solo_same)
        .num("solo_token_agreement", solo_total ? static_cast<double>(solo_tok) / solo_total : 0)
        .num("token_agreement", total_tok ? static_cast<double>(same_tok) / total_tok : 0)
        .num("teacher_forced_top1", top1)
        .num("logits_max_abs_diff", worst.max_abs)
        .num("logits_rel_l2_max", worst.rel_l2)
        .str("criterion", exact ? "identical greedy tokens (batched and batch 1), max|diff| <= 1e-3"
                          : block_types ? "GGUF block types: top-1 >= 95%, relative L2 <= 5e-2"
                                        : "top-1 >= 99%, relative L2 <= 3e-2")
        .set("sequences", jarr(seqs));
    std::fprintf(stderr,
                 "parity-backends %-16s %-5s %s: identical %d/%zu (graphs = launch %d), top1 %.4f, max|diff| %.3g, relL2 %.3g\n",
                 base_name(dir).c_str(), wdt.c_str(), pass ? "PASS" : "FAIL", same_seqs,
                 prompts.size(), graph_same, top1, worst.max_abs, worst.rel_l2);
    reports.push_back(rep.dump());
  }
  write_file(out_path, Obj().str("check", "parity-backends").boolean("pass", all_ok)
                            .str("device", device_name()).set("models", jarr(reports)).dump());
  return all_ok ? 0 : 1;
}

// ---- parity-hf ---------------------------------------------------------------------------------

// reference.txt: line 1 "vocab N prompts P"; then per prompt four lines: prompt ids, HF greedy
// ids, the file offset (in floats) of its logits in reference_logits.f32, and HF's top-1 minus
// top-2 logit at each generated step.
struct HfRef {
  int vocab = 0;
  std::vector<std::vector<int32_t>> prompts, greedy;
  std::vector<std::vector<double>> margins;
  std::vector<size_t> offsets;
  std::vector<float> logits;
};

std::vector<int32_t> parse_ids(const std::string& line) {
  std::vector<int32_t> v;
  std::istringstream is(line);
  int64_t x;
  while (is >> x) v.push_back(static_cast<int32_t>(x));
  return v;
}

bool read_hf_ref(const std::string& dir, HfRef* r, std::string* err) {
  std::ifstream f(dir + "/reference.txt");
  if (!f) { *err = "missing reference.txt"; return false; }
  std::string w1, w2;
  int n = 0;
  f >> w1 >> r->vocab >> w2 >> n;
  std::string line;
  std::getline(f, line);
  for (int i = 0; i < n; ++i) {
    std::string a, b, c, d;
    if (!std::getline(f, a) || !std::getline(f, b) || !std::getline(f, c) || !std::getline(f, d)) {
      *err = "truncated reference.txt";
      return false;
    }
    r->prompts.push_back(parse_ids(a));
    r->greedy.push_back(parse_ids(b));
    r->offsets.push_back(static_cast<size_t>(std::stoull(c)));
    std::vector<double> m;
    std::istringstream is(d);
    double x;
    while (is >> x) m.push_back(x);
    r->margins.push_back(m);
  }
  std::ifstream lf(dir + "/reference_logits.f32", std::ios::binary | std::ios::ate);
  if (!lf) { *err = "missing reference_logits.f32"; return false; }
  const size_t bytes = static_cast<size_t>(lf.tellg());
  r->logits.resize(bytes / 4);
  lf.seekg(0);
  lf.read(reinterpret_cast<char*>(r->logits.data()), static_cast<std::streamsize>(bytes));
  return true;
}

int parity_hf(const std::string& out_path, const std::vector<std::string>& dirs) {
  std::vector<std::string> reports;
  bool all_ok = true;
  for (const std::string& dir : dirs) {
    HfRef ref;
    std::string err;
    Obj rep;
    rep.str("model", base_name(dir));
    if (!read_hf_ref(dir, &ref, &err)) {
      rep.boolean("pass", false).str("error", err);
      reports.push_back(rep.dump());
      all_ok = false;
      continue;
    }
    bool pass = true;
    for (Device dev : {Device::kCuda, Device::kCpu}) {
      const char* dn = dev == Device::kCuda ? "cuda" : "cpu";
      Engine e;
      Status st = open_engine(&e, dir, dev, 4, 128);
      if (!st.ok()) {
        rep.str(std::string(dn) + "_error", st.to_string());
        pass = false;
        continue;
      }
      double max_abs = 0, rel = 0, top1 = 0;
      int rows = 0, greedy_same = 0, near_tie = 0;
      std::vector<std::string> divergences;
      for (size_t i = 0; i < ref.prompts.size(); ++i) {
        std::vector<float> lg;
        st = e.logits(ref.prompts[i], &lg);
        if (!st.ok()) break;
        const size_t n = ref.prompts[i].size() * static_cast<size_t>(ref.vocab);
        if (ref.offsets[i] + n > ref.logits.size()) { st = Status::BadRequest("reference logits truncated"); break; }
        std::vector<double> r(ref.logits.begin() + ref.offsets[i], ref.logits.begin() + ref.offsets[i] + n);
        const Diff d = compare_logits(lg, r, ref.vocab);
        max_abs = std::max(max_abs, d.max_abs);
        rel = std::max(rel, d.rel_l2);
        top1 += d.top1 * d.rows;
        rows += d.rows;
        const auto g = generate(e, {ref.prompts[i]}, static_cast<int>(ref.greedy[i].size()));
        if (!g[0].status.ok()) { st = g[0].status; break; }
        if (g[0].tokens == ref.greedy[i]) {
          ++greedy_same;
        } else {
          size_t d = 0;
          while (d < g[0].tokens.size() && d < ref.greedy[i].size() && g[0].tokens[d] == ref.greedy[i][d]) ++d;
          const double margin = d < ref.margins[i].size() ? ref.margins[i][d] : NAN;
          // A step where HF's own top two logits are within kNearTie is decided by f32 rounding
          // order; our logits match HF's to ~1e-6, so only such a step may flip.
          if (margin < kNearTie) ++near_tie;
          divergences.push_back(Obj().num("prompt", static_cast<double>(i)).num("step", static_cast<double>(d))
                                    .num("hf_top2_margin", margin)
                                    .num("ours", d < g[0].tokens.size() ? g[0].tokens[d] : -1)
                                    .num("hf", d < ref.greedy[i].size() ? ref.greedy[i][d] : -1).dump());
          std::fprintf(stderr, "parity-hf %s %s: prompt %zu diverges at step %zu (ours %d, hf %d), HF top-2 margin %.3g\n",
                       base_name(dir).c_str(), dn, i, d, d < g[0].tokens.size() ? g[0].tokens[d] : -1,
                       d < ref.greedy[i].size() ? ref.greedy[i][d] : -1, margin);
        }
      }
      const bool ok = st.ok() && max_abs <= kHfMaxAbs &&
                      greedy_same + near_tie == static_cast<int>(ref.prompts.size());
      // The CPU row is context for the CUDA one; only CUDA decides pass/fail.
      if (dev == Device::kCuda) pass = pass && ok;
      if (!st.ok()) rep.str(std::string(dn) + "_error", st.to_string());
      rep.num(std::string(dn) + "_logits_max_abs_diff", max_abs)
          .num(std::string(dn) + "_logits_rel_l2_max", rel)
          .num(std::string(dn) + "_top1", rows ? top1 / rows : 0)
          .num(std::string(dn) + "_greedy_identical", greedy_same)
          .num(std::string(dn) + "_greedy_near_tie_divergences", near_tie)
          .set(std::string(dn) + "_divergences", jarr(divergences));
      std::fprintf(stderr, "parity-hf %-18s %-4s %s: max|diff| %.3g relL2 %.3g greedy %d/%zu\n",
                   base_name(dir).c_str(), dn, ok ? "PASS" : "FAIL", max_abs, rel, greedy_same,
                   ref.prompts.size());
    }
    rep.boolean("pass", pass).num("prompts", static_cast<double>(ref.prompts.size()))
        .str("criterion", "f32 logits max|diff| <= 2e-3; greedy continuations identical, or diverging first "
                          "at a step where HF's own top-2 logit margin is < 1e-4 (a near tie)");
    all_ok = all_ok && pass;
    reports.push_back(rep.dump());
  }
  write_file(out_path, Obj().str("check", "parity-hf").boolean("pass", all_ok)
                            .str("device", device_name()).set("models", jarr(reports)).dump());
  return all_ok ? 0 : 1;
}

// ---- poison ----------------------------------------------------------------------------------
//
// Recovery is checked the way CudaRunner recovers (engineProcess 'auto' hosts a CUDA engine in a
// child process): a sticky error leaves the device unusable to the process that saw it, even
// after cudaDeviceReset (bench/results/reset-probe-h200.log), so the engine's process is replaced.
// This process never touches CUDA; it runs itself twice as `poison-child`:
//   faulted: load, baseline tokens, planted fault -> cuda_context_poisoned, refusal while
//            poisoned, and (for the record only) whether an in-process rebuild works on this
//            driver; then it ends without tearing the poisoned context down, as a killed child would.
//   fresh:   a new process loads the same weights and must generate the baseline tokens again.

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<int32_t> read_tokens(const std::string& path) {
  std::vector<int32_t> v;
  std::istringstream in(read_file(path));
  for (long t; in >> t;) v.push_back(static_cast<int32_t>(t));
  return v;
}

bool write_tokens(const std::string& path, const std::vector<int32_t>& tokens) {
  std::string o;
  for (int32_t t : tokens) o += std::to_string(t) + " ";
  return write_file(path, o);
}

// Runs `/proc/self/exe poison-child MODE OUT DIR`, waiting at most `limit_s`; a child past its
// limit is killed. Returns its exit code, or -1 (killed or died by a signal; `how` says which).
int run_self(const std::string& mode, const std::string& out, const std::string& dir, double limit_s,
             double* seconds, std::string* how) {
  const std::string self = "/proc/self/exe", sub = "poison-child";
  std::vector<char*> argv = {const_cast<char*>(self.c_str()), const_cast<char*>(sub.c_str()),
                             const_cast<char*>(mode.c_str()), const_cast<char*>(out.c_str()),
                             const_cast<char*>(dir.c_str()), nullptr};
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    *how = std::string("posix_spawn failed: ") + std::strerror(errno);
    return -1;
  }
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r == pid) break;
    if (r < 0) {
      *how = std::string("waitpid failed: ") + std::strerror(errno);
      return -1;
    }
    if (*seconds > limit_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      *how = "killed after " + jnum(limit_s) + " s";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status)) {
    *how = "exit " + std::to_string(WEXITSTATUS(status));
    return WEXITSTATUS(status);
  }
  *how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) : "unknown status";
  return -1;
}

const std::vector<int32_t> kPoisonPrompt = {1, 7, 42, 9, 3};
constexpr int kPoisonTokens = 16;

int poison_child(const std::string& mode, const std::string& out_path, const std::string& dir) {
  Obj rep;
  rep.str("mode", mode).str("device", device_name()).num("pid", static_cast<double>(getpid()));
  const bool faulted = mode == "faulted";
  // The faulted child leaves without destructors: a poisoned context is not torn down, the
  // process is simply replaced, as CudaRunner does.
  auto finish = [&](bool pass, const std::string& why) {
    rep.boolean("pass", pass);
    if (!why.empty()) rep.str("failure", why);
    write_file(out_path, rep.dump());
    std::fprintf(stderr, "poison-child %s %s %s\n", mode.c_str(), pass ? "PASS" : "FAIL", why.c_str());
    std::fflush(nullptr);
    if (faulted) std::_Exit(pass ? 0 : 1);
    return pass ? 0 : 1;
  };
  if (!faulted && mode != "fresh") return finish(false, "unknown poison-child mode " + mode);
  // GPU_HARNESS_POISON_DEVICE=cpu: the same sequence on the CPU backend (its sticky-failure hook),
  // to dry-run the process handling on a machine without a GPU.
  const char* dev_env = std::getenv("GPU_HARNESS_POISON_DEVICE");
  const bool on_cpu = dev_env != nullptr && std::strcmp(dev_env, "cpu") == 0;
  rep.str("backend", on_cpu ? "cpu (dry run)" : "cuda");
  Engine e;
  Status st = open_engine(&e, dir, on_cpu ? Device::kCpu : Device::kCuda, 4, 128);
  if (!st.ok()) return finish(false, "load: " + st.to_string());
  const auto first = generate(e, {kPoisonPrompt}, kPoisonTokens);
  if (!first[0].status.ok()) return finish(false, "generate: " + first[0].status.to_string());
  rep.set("tokens", jints(first[0].tokens));
  if (!write_tokens(out_path + ".tokens", first[0].tokens)) return finish(false, "cannot write " + out_path + ".tokens");
  if (!faulted) return finish(true, "");

  st = e.inject_fault(FaultKind::kStickyFailure);
  if (!st.ok()) return finish(false, "inject_fault: " + st.to_string());
  const auto hit = generate(e, {kPoisonPrompt}, kPoisonTokens);
  rep.str("faulted_request_status", hit[0].status.to_string());
  if (hit[0].status.code() != StatusCode::kPoisoned)
    return finish(false, "the faulted request did not fail with cuda_context_poisoned");
  const Status p = e.poisoned();
  rep.str("engine_poisoned", p.to_string());
  rep.boolean("device_fault", p.message().find("cudaError") != std::string::npos);
  if (p.code() != StatusCode::kPoisoned) return finish(false, "engine not poisoned after the fault");
  const auto refused = generate(e, {kPoisonPrompt}, 4);
  rep.str("request_while_poisoned", refused[0].status.to_string());
  if (refused[0].status.code() != StatusCode::kPoisoned)
    return finish(false, "a new request on a poisoned engine was not refused with cuda_context_poisoned");
  // For the record, not a criterion: whether this driver lets the same process recover.
  const Status rb = e.rebuild();
  rep.str("in_process_rebuild", rb.ok() ? "ok" : rb.to_string());
  return finish(true, "");
}

// Copies the faulted child's findings into `rep`; its own verdict becomes `faulted_failure` (the
// parent decides `pass`), and its tokens are read from the .tokens file as `baseline_tokens`.
void merge_child_report(Obj& rep, const std::string& path) {
  const std::string text = read_file(path);
  JsonValue v;
  if (!parse_json(text.data(), text.size(), path, &v).ok() || !v.is_object()) {
    rep.str("faulted_report", "unreadable: " + path);
    return;
  }
  for (const auto& [key, m] : v.object) {
    if (key == "pass" || key == "mode" || key == "tokens") continue;
    const std::string k = key == "failure" ? "faulted_failure" : key;
    if (m.is_string()) rep.str(k, m.string);
    else if (m.is_bool()) rep.boolean(k, m.boolean);
    else if (m.is_number()) rep.num(k, m.number);
    else if (m.is_array()) {
      std::vector<int32_t> ints;
      for (const auto& x : m.array) ints.push_back(static_cast<int32_t>(x.number));
      rep.set(k, jints(ints));
    }
  }
}

int poison(const std::string& out_path, const std::string& dir) {
  Obj rep;
  rep.str("check", "poison").str("recovery", "engine process replaced (CudaRunner engineProcess 'auto' for CUDA)");
  auto finish = [&](bool pass, const std::string& why) {
    rep.boolean("pass", pass);
    if (!why.empty()) rep.str("failure", why);
    write_file(out_path, rep.dump());
    std::fprintf(stderr, "poison %s %s\n", pass ? "PASS" : "FAIL", why.c_str());
    return pass ? 0 : 1;
  };
  const std::string faulted_out = out_path + ".faulted.json", fresh_out = out_path + ".fresh.json";
  double seconds = 0;
  std::string how;
  const int c1 = run_self("faulted", faulted_out, dir, 60, &seconds, &how);
  merge_child_report(rep, faulted_out);
  rep.str("faulted_process", how);
  if (c1 != 0) return finish(false, "the faulted engine process: " + how);
  const auto baseline = read_tokens(faulted_out + ".tokens");
  rep.set("baseline_tokens", jints(baseline));

  const int c2 = run_self("fresh", fresh_out, dir, 60, &seconds, &how);
  rep.num("respawn_seconds", seconds).str("respawned_process", how);
  if (c2 != 0) return finish(false, "the replacement engine process: " + how);
  const auto after = read_tokens(fresh_out + ".tokens");
  rep.set("tokens_after_respawn", jints(after));
  if (after.empty() || after != baseline) return finish(false, "tokens after the respawn differ from the baseline");
  return finish(true, "");
}

// ---- bench -----------------------------------------------------------------------------------

double copy_bandwidth_gbs() {
  const size_t bytes = size_t(1) << 31;  // 2 GiB each way: far beyond L2
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
  cudaMemset(a, 1, bytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
  std::vector<float> ms;
  for (int i = 0; i < 10; ++i) {
    cudaEventRecord(e0);
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(e1);
    cudaEventSynchronize(e1);
    float t = 0;
    cudaEventElapsedTime(&t, e0, e1);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  cudaFree(a);
  cudaFree(b);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 2.0 * bytes / (ms[ms.size() / 2] * 1e-3) / 1e9;  // bytes read + written
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int bench(const std::string& out_path, const std::string& dir, int prompt_len, int steps) {
  Obj rep;
  rep.str("check", "bench").str("device", device_name());
  const double copy_gbs = copy_bandwidth_gbs();
  rep.num("copy_bandwidth_gbs", copy_gbs);
  std::fprintf(stderr, "bench: device-to-device copy %.0f GB/s (read + write)\n", copy_gbs);

  LoadedModel lm;
  Status st = load_model(dir, &lm);
  if (!st.ok()) {
    rep.str("error", st.to_string());
    write_file(out_path, rep.dump());
    return 2;
  }
  const ModelConfig& cfg = lm.config;
  const int decode_prompt = 128;
  const std::vector<int> batches = {1, 8, 32, 64};
  std::unique_ptr<Backend> be;
  // The prefill and the first decode pass use plain launches (no CUDA graphs, no programmatic
  // dependent launch); later passes reload with each enabled.
  setenv("INFERKIT_CUDA_GRAPHS", "0", 1);
  setenv("INFERKIT_CUDA_PDL", "0", 1);
  st = create_cuda_backend(&be);
  BackendOptions bo;
  bo.max_slots = 64;
  bo.max_seq_len = std::max(prompt_len, decode_prompt + steps + 16) + 16;
  double t_load = now_s();
  if (st.ok()) st = be->load(cfg, lm.weights, bo);
  t_load = now_s() - t_load;
  unsetenv("INFERKIT_CUDA_GRAPHS");
  unsetenv("INFERKIT_CUDA_PDL");
  if (!st.ok()) {
    rep.str("error", st.to_string());
    write_file(out_path, rep.dump());
    std::fprintf(stderr, "bench: %s\n", st.to_string().c_str());
    return 2;
  }
  rep.str("backend", be->device_description()).num("load_seconds", t_load)
      .num("weight_bytes", static_cast<double>(lm.weight_bytes))
      .num("parameters", static_cast<double>(lm.weight_bytes) * dtype_block_values(lm.weights.layers[0].q_proj.dtype) /
                             dtype_block_bytes(lm.weights.layers[0].q_proj.dtype));
  std::fprintf(stderr, "bench: loaded %s in %.1fs, %.2f GB of weights\n", be->device_description().c_str(),
               t_load, lm.weight_bytes / 1e9);

  uint32_t seed = 7;
  auto rand_tok = [&] {
    seed = seed * 1664525u + 1013904223u;
    return static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(cfg.vocab_size));
  };

  // Prefill: one sequence of prompt_len tokens, the last row sampled on device; median of three
  // runs after a warm-up. Returns seconds, or a negative value on failure (st set).
  std::vector<int32_t> ptok(prompt_len), ppos(prompt_len), pslot(prompt_len, 0);
  for (int i = 0; i < prompt_len; ++i) { ptok[i] = rand_tok(); ppos[i] = i; }
  auto measure_prefill = [&](Backend* be) -> double {
    int32_t last = prompt_len - 1, sampled = 0;
    uint64_t step0 = 0;
    SamplingParams greedy;
    StepBatch b;
    b.n_tokens = prompt_len;
    b.tokens = ptok.data();
    b.positions = ppos.data();
    b.slots = pslot.data();
    b.n_outputs = 1;
    b.output_rows = &last;
    StepOutput o;
    o.sampled = &sampled;
    o.sampling = &greedy;
    o.sample_steps = &step0;
    std::vector<double> times;
    for (int rep_i = 0; rep_i < 4 && st.ok(); ++rep_i) {
      const double t = now_s();
      st = be->compute(b, o);
      times.push_back(now_s() - t);
    }
    if (!st.ok()) return -1;
    std::sort(times.begin() + 1, times.end());  // the first run is warm-up
    return times[1 + (times.size() - 1) / 2];
  };
  {
    const double t = measure_prefill(be.get());
    if (t < 0) {
      rep.str("error", "prefill: " + st.to_string());
      write_file(out_path, rep.dump());
      return 1;
    }
    rep.num("prefill_tokens", prompt_len).num("prefill_seconds", t).num("prefill_tok_s", prompt_len / t);
    std::fprintf(stderr, "bench: prefill %d tokens in %.2f ms = %.0f tok/s\n", prompt_len, t * 1e3, prompt_len / t);
  }

  // Decode at each batch size: prefill decode_prompt tokens per sequence, then `steps` timed
  // decode steps with greedy sampling on the device (only token ids come back). Run once with
  // plain launches (INFERKIT_CUDA_GRAPHS=0) and once replaying CUDA graphs (the default).
  auto run_decode = [&](Backend* be, const char* mode, std::vector<std::string>* rows) -> Status {
    Status st;
    for (int B : batches) {
      std::vector<int32_t> tok, pos, slot, outs;
      for (int s = 0; s < B; ++s)
        for (int i = 0; i < decode_prompt; ++i) {
          tok.push_back(rand_tok());
          pos.push_back(i);
          slot.push_back(s);
          if (i == decode_prompt - 1) outs.push_back(static_cast<int32_t>(tok.size() - 1));
        }
      std::vector<int32_t> sampled(B);
      std::vector<SamplingParams> sp(B);
      std::vector<uint64_t> sstep(B, 0);
      StepBatch b;
      b.n_tokens = static_cast<int>(tok.size());
      b.tokens = tok.data();
      b.positions = pos.data();
      b.slots = slot.data();
      b.n_outputs = B;
      b.output_rows = outs.data();
      StepOutput o;
      o.sampled = sampled.data();
      o.sampling = sp.data();
      o.sample_steps = sstep.data();
      st = be->compute(b, o);
      std::vector<int32_t> dt(B), dp(B), ds(B), dr(B);
      for (int s = 0; s < B; ++s) { ds[s] = s; dr[s] = s; dp[s] = decode_prompt; }
      const int warm = 8;
      double t0 = 0;
      for (int k = 0; k < warm + steps && st.ok(); ++k) {
        if (k == warm) t0 = now_s();
        for (int s = 0; s < B; ++s) { dt[s] = sampled[s]; ++sstep[s]; }
        StepBatch d;
        d.n_tokens = B;
        d.tokens = dt.data();
        d.positions = dp.data();
        d.slots = ds.data();
        d.n_outputs = B;
        d.output_rows = dr.data();
        st = be->compute(d, o);
        for (int s = 0; s < B; ++s) ++dp[s];
      }
      const double t = now_s() - t0;
      if (!st.ok()) return Status(st.code(), std::string(mode) + " decode batch " + std::to_string(B) + ": " + st.message());
      const double step_s = t / steps;
      const double tps = B * steps / t;
      // Bytes one step must read: every weight once, plus each sequence's K and V so far.
      const double mean_ctx = decode_prompt + warm + steps / 2.0;
      const double kv_bytes = static_cast<double>(B) * mean_ctx * cfg.num_layers * cfg.kv_dim() * 2 * 2;
      const double gbs = (static_cast<double>(lm.weight_bytes) + kv_bytes) / step_s / 1e9;
      Obj r;
      r.str("mode", mode).num("batch", B).num("decode_steps", steps).num("step_ms", step_s * 1e3).num("tok_s", tps)
          .num("achieved_gbs", gbs).num("fraction_of_copy_bw", copy_gbs > 0 ? gbs / copy_gbs : 0);
      rows->push_back(r.dump());
      std::fprintf(stderr, "bench: %-7s decode batch %2d: %.3f ms/step, %.0f tok/s, %.0f GB/s (%.0f%% of copy)\n",
                   mode, B, step_s * 1e3, tps, gbs, copy_gbs > 0 ? 100 * gbs / copy_gbs : 0);
    }
    return st;
  };
  std::vector<std::string> rows, graph_rows;
  st = run_decode(be.get(), "launch", &rows);
  if (!st.ok()) rep.str("error", st.to_string());
  Status gs;
  for (const char* mode : {"graph", "graph+pdl"}) {
    be.reset();
    if (std::strcmp(mode, "graph") == 0) setenv("INFERKIT_CUDA_PDL", "0", 1);
    gs = create_cuda_backend(&be);
    if (gs.ok()) gs = be->load(cfg, lm.weights, bo);
    unsetenv("INFERKIT_CUDA_PDL");
    if (gs.ok()) gs = run_decode(be.get(), mode, &graph_rows);
    if (gs.ok() && std::strcmp(mode, "graph+pdl") == 0) {
      const double t = measure_prefill(be.get());
      if (t > 0) {
        rep.num("prefill_seconds_pdl", t).num("prefill_tok_s_pdl", prompt_len / t);
        std::fprintf(stderr, "bench: prefill with programmatic dependent launch: %.2f ms = %.0f tok/s\n",
                     t * 1e3, prompt_len / t);
      } else {
        gs = st;
      }
    }
    if (!gs.ok()) {
      rep.str("graph_error", std::string(mode) + ": " + gs.to_string());
      break;
    }
  }
  rep.set("decode_graph", jarr(graph_rows));
  rep.num("decode_prompt_tokens", decode_prompt).set("decode", jarr(rows));
  rep.boolean("pass", st.ok() && gs.ok());
  write_file(out_path, rep.dump());
  return st.ok() && gs.ok() ? 0 : 1;
}

// ---- prefix-penalties -------------------------------------------------------------------------

// The prefix cache and the penalties on the CUDA backend (issue #16), per tiny model:
//   prefix: requests sharing a 150-token system prompt, one at a time and then all at once, on a
//     CUDA engine with the prefix cache and one without: the second and later requests report 144
//     cached tokens (9 blocks), and with F32 weights every greedy output is identical (16-bit
//     weights: the suffix may take the matmul path in one run and the matrix-vector path in the
//     other, so agreement is reported); a continuation by token ids reuses the generated blocks
//     and continues identically (F32).
//   penalties: greedy with presence / frequency / repetition penalties, CUDA vs CPU backend:
//     identical tokens with F32 weights, agreement reported otherwise.
struct Run {
  std::vector<int32_t> tokens;
  int cached = -1;
  Status status;
};

Run run_one(Engine& e, const std::vector<int32_t>& prompt, int max_tokens, const SamplingParams& sp = SamplingParams()) {
  Run out;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  GenerateRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.sampling = sp;
  uint64_t id = 0;
  out.status = e.submit(std::move(r), [&](const TokenEvent& ev) {
    std::lock_guard<std::mutex> lock(mu);
    out.tokens.insert(out.tokens.end(), ev.tokens.begin(), ev.tokens.end());
    if (ev.cached_tokens >= 0) out.cached = ev.cached_tokens;
    if (ev.finish != FinishReason::kNone) {
      if (ev.finish == FinishReason::kError) out.status = ev.error;
      done = true;
      cv.notify_all();
    }
  }, &id);
  if (!out.status.ok()) return out;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return out;
}

std::vector<int32_t> random_ids(int n, uint32_t seed, int vocab) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v.push_back(static_cast<int32_t>((seed >> 8) % static_cast<uint32_t>(vocab)));
  }
  return v;
}

int prefix_penalties(const std::string& out_path, const std::vector<std::string>& dirs) {
  std::vector<std::string> reports;
  bool all_ok = true;
  for (const std::string& dir : dirs) {
    Obj rep;
    rep.str("model", base_name(dir));
    Engine on, off, cpu;
    EngineOptions o;
    o.device = Device::kCuda;
    o.threads = 8;
    o.max_batch = 8;
    o.max_seq_len = 256;
    Status st = on.load(dir, o);
    o.prefix_cache = false;
    if (st.ok()) st = off.load(dir, o);
    o.device = Device::kCpu;
    if (st.ok()) st = cpu.load(dir, o);
    if (!st.ok()) {
      rep.boolean("pass", false).str("error", st.to_string());
      reports.push_back(rep.dump());
      all_ok = false;
      std::fprintf(stderr, "prefix-penalties %s: %s\n", dir.c_str(), st.to_string().c_str());
      continue;
    }
    const int vocab = on.info().config.vocab_size;
    const bool exact = on.info().weight_dtype == "F32";
    rep.str("weight_dtype", on.info().weight_dtype).str("device", on.info().device_description);
    std::vector<std::string> errors;
    auto note = [&](const Status& s, const char* what) {
      if (!s.ok()) errors.push_back(std::string(what) + ": " + s.to_string());
    };

    // Prefix cache: one at a time, then all at once.
    const std::vector<int32_t> system = random_ids(150, 77, vocab);
    std::vector<std::vector<int32_t>> prompts;
    for (int i = 0; i < 4; ++i) {
      std::vector<int32_t> p = system;
      const std::vector<int32_t> q = random_ids(3 + 6 * i, 900 + i, vocab);
      p.insert(p.end(), q.begin(), q.end());
      prompts.push_back(p);
    }
    int same_solo = 0, same_batch = 0, cached_ok = 0, tok_same = 0, tok_total = 0;
    std::vector<std::vector<int32_t>> want;
    for (size_t i = 0; i < prompts.size(); ++i) {
      const Run a = run_one(off, prompts[i], kGreedySteps);
      const Run b = run_one(on, prompts[i], kGreedySteps);
      note(a.status, "prefix cache off");
      note(b.status, "prefix cache on");
      want.push_back(a.tokens);
      same_solo += a.tokens == b.tokens;
      cached_ok += b.cached == (i == 0 ? 0 : 144);
      for (size_t t = 0; t < a.tokens.size() && t < b.tokens.size(); ++t) {
        ++tok_total;
        tok_same += a.tokens[t] == b.tokens[t];
      }
    }
    const std::vector<Gen> batch = generate(on, prompts, kGreedySteps);
    for (size_t i = 0; i < batch.size(); ++i) {
      note(batch[i].status, "prefix cache on, batched");
      same_batch += batch[i].tokens == want[i];
    }
    // Continuation by token ids: prompt + 40 generated tokens as the new prompt.
    std::vector<int32_t> resumed = prompts[0];
    resumed.insert(resumed.end(), want[0].begin(), want[0].begin() + std::min<size_t>(40, want[0].size()));
    const Run cont = run_one(on, resumed, kGreedySteps - 40);
    note(cont.status, "continuation");
    const int cont_expect = (static_cast<int>(resumed.size()) - 1) / 16 * 16;
    const bool cont_same = want[0].size() >= 40 &&
                           cont.tokens == std::vector<int32_t>(want[0].begin() + 40, want[0].end());

    // Penalties, CUDA vs CPU.
    struct P { const char* name; float presence, frequency, repetition; };
    const P sets[] = {{"presence1.5", 1.5f, 0, 1}, {"frequency2", 0, 2.0f, 1}, {"repetition2", 0, 0, 2.0f},
                      {"all", 0.7f, 0.9f, 1.4f}};
    const auto pprompts = make_prompts(vocab);
    int pen_same = 0, pen_total = 0, pen_tok = 0, pen_tok_total = 0;
    for (const P& p : sets) {
      SamplingParams sp;
      sp.presence_penalty = p.presence;
      sp.frequency_penalty = p.frequency;
      sp.repetition_penalty = p.repetition;
      const auto gc = generate(cpu, pprompts, 32, sp);
      const auto gg = generate(on, pprompts, 32, sp);
      for (size_t i = 0; i < pprompts.size(); ++i) {
        note(gc[i].status, p.name);
        note(gg[i].status, p.name);
        ++pen_total;
        pen_same += gc[i].tokens == gg[i].tokens;
        for (size_t t = 0; t < gc[i].tokens.size() && t < gg[i].tokens.size(); ++t) {
          ++pen_tok_total;
          pen_tok += gc[i].tokens[t] == gg[i].tokens[t];
        }
      }
    }
    const int n = static_cast<int>(prompts.size());
    bool pass = errors.empty() && cached_ok == n && cont.cached == cont_expect;
    if (exact) pass = pass && same_solo == n && same_batch == n && cont_same && pen_same == pen_total;
    all_ok = all_ok && pass;
    std::vector<std::string> errs;
    for (const std::string& e : errors) errs.push_back(jstr(e));
    rep.boolean("pass", pass)
        .num("prefix_identical_one_at_a_time", same_solo)
        .num("prefix_identical_batched", same_batch)
        .num("prefix_token_agreement", tok_total ? static_cast<double>(tok_same) / tok_total : 0)
        .num("prefix_cached_as_expected", cached_ok)
        .num("requests", n)
        .num("continuation_cached", cont.cached)
        .num("continuation_cached_expected", cont_expect)
        .boolean("continuation_identical", cont_same)
        .num("penalty_sequences_identical_to_cpu", pen_same)
        .num("penalty_sequences", pen_total)
        .num("penalty_token_agreement", pen_tok_total ? static_cast<double>(pen_tok) / pen_tok_total : 0)
        .str("criterion", exact ? "cached tokens as expected; identical greedy tokens with and without the cache, "
                                  "after a continuation, and CUDA vs CPU with penalties"
                                : "cached tokens as expected; token agreement reported")
        .set("errors", jarr(errs));
    std::fprintf(stderr,
                 "prefix-penalties %-16s %s: prefix identical %d+%d/%d (cached ok %d/%d, continuation %d/%d %s), "
                 "penalties identical to cpu %d/%d\n",
                 base_name(dir).c_str(), pass ? "PASS" : "FAIL", same_solo, same_batch, 2 * n, cached_ok, n,
                 cont.cached, cont_expect, cont_same ? "same" : "differs", pen_same, pen_total);
    for (const std::string& e : errors) std::fprintf(stderr, "  %s\n", e.c_str());
    reports.push_back(rep.dump());
  }
  write_file(out_path, Obj().str("check", "prefix-penalties").boolean("pass", all_ok)
                            .str("device", device_name()).set("models", jarr(reports)).dump());
  return all_ok ? 0 : 1;
}

// ---- prefix-ttft --------------------------------------------------------------------------------

// Time to first token on the CUDA backend for a 1,000-token system prompt + 24 tokens: the first
// request (cold) and a second one sharing the system prompt (warm), with the prefix cache and
// without; a fresh system prompt per repeat, median of 5. Reported, not judged.
int prefix_ttft(const std::string& out_path, const std::string& dir) {
  Obj rep;
  rep.str("check", "prefix-ttft").str("device", device_name());
  std::vector<std::string> rows;
  bool ok = true;
  for (bool cache : {true, false}) {
    Engine e;
    EngineOptions o;
    o.device = Device::kCuda;
    o.max_batch = 8;
    o.max_seq_len = 1280;
    o.prefix_cache = cache;
    Status st = e.load(dir, o);
    if (!st.ok()) {
      rep.str("error", st.to_string());
      ok = false;
      break;
    }
    const int vocab = e.info().config.vocab_size;
    auto first_token = [&](const std::vector<int32_t>& prompt, int* cached) {
      std::mutex mu;
      std::condition_variable cv;
      bool got = false, done = false;
      double t_first = 0;
      GenerateRequest r;
      r.prompt = prompt;
      r.max_tokens = 1;
      uint64_t id = 0;
      const double t0 = now_s();
      Status s = e.submit(std::move(r), [&](const TokenEvent& ev) {
        std::lock_guard<std::mutex> lock(mu);
        if (!ev.tokens.empty() && !got) {
          got = true;
          t_first = now_s();
        }
        if (ev.cached_tokens >= 0) *cached = ev.cached_tokens;
        if (ev.finish != FinishReason::kNone) {
          if (ev.finish == FinishReason::kError) st = ev.error;
          done = true;
          cv.notify_all();
        }
      }, &id);
      if (!s.ok()) {
        st = s;
        return -1.0;
      }
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done; });
      return got ? t_first - t0 : -1.0;
    };
    int cached = 0;
    first_token(random_ids(64, 1, vocab), &cached);  // warm-up
    std::vector<double> cold, warm;
    int warm_cached = 0;
    for (int r = 0; r < 5 && st.ok(); ++r) {
      std::vector<int32_t> sys = random_ids(1000, 100 + r, vocab), a = sys, b = sys;
      const std::vector<int32_t> qa = random_ids(24, 500 + r, vocab), qb = random_ids(24, 600 + r, vocab);
      a.insert(a.end(), qa.begin(), qa.end());
      b.insert(b.end(), qb.begin(), qb.end());
      cold.push_back(first_token(a, &cached));
      warm.push_back(first_token(b, &warm_cached));
    }
    if (!st.ok()) {
      rep.str("error", st.to_string());
      ok = false;
      break;
    }
    std::sort(cold.begin(), cold.end());
    std::sort(warm.begin(), warm.end());
    Obj row;
    row.boolean("prefix_cache", cache).num("ttft_cold_ms", cold[2] * 1e3).num("ttft_warm_ms", warm[2] * 1e3)
        .num("warm_over_cold", warm[2] / cold[2]).num("warm_cached_tokens", warm_cached);
    rows.push_back(row.dump());
    std::fprintf(stderr, "prefix-ttft: prefix cache %-3s cold %.2f ms, warm %.2f ms (%.3fx, %d cached)\n",
                 cache ? "on" : "off", cold[2] * 1e3, warm[2] * 1e3, warm[2] / cold[2], warm_cached);
  }
  rep.set("rows", jarr(rows)).boolean("pass", ok);
  write_file(out_path, rep.dump());
  return ok ? 0 : 1;
}

int usage() {
  std::fprintf(stderr,
               "usage: gpu_harness parity-backends OUT.json DIR... | parity-hf OUT.json DIR... |\n"
               "       poison OUT.json DIR | bench OUT.json DIR [PROMPT_TOKENS [STEPS]] |\n"
               "       prefix-penalties OUT.json DIR... | prefix-ttft OUT.json DIR\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string cmd = argv[1], out = argv[2];
  std::vector<std::string> dirs(argv + 3, argv + argc);
  if (cmd == "parity-backends") return parity_backends(out, dirs);
  if (cmd == "parity-hf") return parity_hf(out, dirs);
  if (cmd == "poison") return poison(out, dirs[0]);
  if (cmd == "prefix-penalties") return prefix_penalties(out, dirs);
  if (cmd == "prefix-ttft") return prefix_ttft(out, dirs[0]);
  if (cmd == "poison-child") {
    if (argc < 5) return usage();
    return poison_child(argv[2], argv[3], argv[4]);
  }
  if (cmd == "bench") {
    const int prompt = argc > 4 ? std::atoi(argv[4]) : 2048;
    const int steps = argc > 5 ? std::atoi(argv[5]) : 128;
    if (prompt < 1 || steps < 1) return usage();
    return bench(out, dirs[0], prompt, steps);
  }
  return usage();
}
