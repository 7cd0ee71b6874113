// Fuzzes the GGUF reader: parse_gguf_header on random bytes, random structured files and
// mutations of a valid model file, and, for every input the parser accepts, the whole load path
// (metadata -> ModelConfig, tensor binding) through a memfd. Built with AddressSanitizer + UBSan
// (see CMakeLists.txt): any out-of-bounds read, overflow or crash fails the test. Accepted
// headers are checked against the format's invariants. Deterministic (fixed seed).
//
//   fuzz_gguf [iterations]
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "gguf.h"
#include "gguf_builder.h"
#include "model_loader.h"

using inferkit::GgufHeader;
using inferkit::parse_gguf_header;
using tiny::GgufBuilder;

namespace {

std::mt19937_64 rng(0x9e3779b97f4a7c15ull);

uint64_t pick(uint64_t n) { return n == 0 ? 0 : rng() % n; }

const char* kArchs[] = {"llama", "qwen2", "qwen3", "gemma", ""};
const char* kKeys[] = {"context_length", "embedding_length", "block_count", "feed_forward_length",
                       "attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
                       "rope.freq_base", "attention.key_length", "attention.value_length", "rope.dimension_count",
                       "vocab_size", "rope.scaling.type", "rope.scaling.factor"};
const uint32_t kTypes[] = {0, 1, 30, 8, 2, 12, 13, 14, 10, 4, 99};

uint32_t small_value() {
  static const uint32_t v[] = {0, 1, 2, 4, 8, 16, 32, 64, 256, 0xFFFFFFFFu, 1u << 30, 3};
  return v[pick(sizeof v / sizeof *v)];
}

// A model-shaped file: an architecture, random hyperparameters of random types, and tensors
// with llama.cpp's names and random shapes, types and (sometimes wrong) offsets.
std::vector<uint8_t> random_model() {
  GgufBuilder g;
  if (rng() % 8 == 0) g.version = static_cast<uint32_t>(pick(5));
  if (rng() % 8 == 0) g.alignment = uint64_t{1} << pick(8);
  if (g.alignment != 32 || rng() % 8 == 0) g.u32("general.alignment", static_cast<uint32_t>(rng() % 4 ? g.alignment : pick(100)));
  const std::string arch = kArchs[pick(5)];
  g.str("general.architecture", arch);
  for (const char* k : kKeys) {
    if (rng() % 4 == 0) continue;
    const std::string key = arch + "." + k;
    switch (pick(6)) {
      case 0: g.f32(key, static_cast<float>(small_value()) * (rng() % 2 ? 1e-6f : 1.0f)); break;
      case 1: g.str(key, rng() % 2 ? "linear" : "yarn"); break;
      case 2: g.u32_array(key, std::vector<uint32_t>(pick(4), small_value())); break;
      case 3: g.i32(key, -static_cast<int32_t>(pick(3))); break;
      default: g.u32(key, small_value()); break;
    }
  }
  if (rng() % 2) g.u32("tokenizer.ggml.eos_token_id", small_value());
  if (rng() % 2) g.str_array("tokenizer.ggml.tokens", std::vector<std::string>(pick(5), "tok"));
  const char* names[] = {"token_embd.weight", "output_norm.weight", "output.weight", "rope_freqs.weight",
                         "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                         "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.attn_q.bias",
                         "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
                         "blk.0.ffn_down.weight", "blk.0.attn_q_norm.weight"};
  for (const char* n : names) {
    if (rng() % 5 == 0) continue;
    const uint32_t type = kTypes[pick(sizeof kTypes / sizeof *kTypes)];
    std::vector<uint64_t> ne;
    const int dims = 1 + static_cast<int>(pick(rng() % 8 == 0 ? 5 : 2));
    for (int d = 0; d < dims; ++d) ne.push_back(rng() % 16 == 0 ? rng() : small_value() % 300);
    uint64_t bytes = 4;
    for (uint64_t d : ne) bytes = d < 4096 && bytes < (1u << 16) ? bytes * d : bytes;
    if (bytes > 4096) bytes = pick(4096);
    const int64_t offset = rng() % 6 == 0 ? static_cast<int64_t>(pick(1 << 16)) : -1;
    g.tensor(n, ne, type, std::vector<uint8_t>(bytes, static_cast<uint8_t>(rng())), offset);
  }
  if (rng() % 8 == 0) g.tensor_count_override = static_cast<int64_t>(rng() >> pick(64));
  if (rng() % 8 == 0) g.kv_count_override = static_cast<int64_t>(rng() >> pick(64));
  return g.build();
}

// A loadable tiny llama (hidden 32, one layer, F32 and Q8_0 matrices).
std::vector<uint8_t> valid_model() {
  GgufBuilder g;
  g.str("general.architecture", "llama");
  g.u32("llama.context_length", 64);
  g.u32("llama.embedding_length", 32);
  g.u32("llama.block_count", 1);
  g.u32("llama.feed_forward_length", 64);
  g.u32("llama.attention.head_count", 2);
  g.u32("llama.attention.head_count_kv", 1);
  g.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  g.u32("tokenizer.ggml.eos_token_id", 3);
  g.str_array("tokenizer.ggml.tokens", {"a", "b", "c", "d"});
  auto f32 = [&](const char* name, std::vector<uint64_t> ne) {
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    g.f32_tensor(name, ne, std::vector<float>(n, 0.25f));
  };
  auto q8 = [&](const char* name, std::vector<uint64_t> ne) {
    g.tensor(name, ne, 8, std::vector<uint8_t>(ne[0] / 32 * 34 * ne[1], 1));
  };
  q8("token_embd.weight", {32, 8});
  f32("output_norm.weight", {32});
  f32("blk.0.attn_norm.weight", {32});
  q8("blk.0.attn_q.weight", {32, 32});
  q8("blk.0.attn_k.weight", {32, 16});
  f32("blk.0.attn_v.weight", {32, 16});
  q8("blk.0.attn_output.weight", {32, 32});
  f32("blk.0.ffn_norm.weight", {32});
  q8("blk.0.ffn_gate.weight", {32, 64});
  q8("blk.0.ffn_up.weight", {32, 64});
  q8("blk.0.ffn_down.weight", {64, 32});
  return g.build();
}

std::vector<uint8_t> mutate(std::vector<uint8_t> f) {
  const int edits = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < edits && !f.empty(); ++i) {
    switch (pick(6)) {
      case 0: f[pick(f.size())] ^= static_cast<uint8_t>(1u << pick(8)); break;
      case 1: f[pick(f.size())] = static_cast<uint8_t>(rng()); break;
      case 2: f.resize(pick(f.size())); break;  // truncation
      case 3: f.insert(f.begin() + static_cast<long>(pick(f.size())), static_cast<uint8_t>(rng())); break;
      case 4: f.erase(f.begin() + static_cast<long>(pick(f.size()))); break;
      case 5: {  // overwrite a little-endian u64 (a length, a count, a dimension or an offset)
        if (f.size() < 8) break;
        const size_t at = pick(f.size() - 7);
        const uint64_t v = rng() % 2 ? rng() : pick(1024);
        for (int k = 0; k < 8; ++k) f[at + k] = static_cast<uint8_t>(v >> (8 * k));
        break;
      }
    }
  }
  return f;
}

bool check_invariants(const GgufHeader& h, uint64_t size) {
  if (h.data_offset > size || (h.alignment & (h.alignment - 1)) != 0) return false;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const auto& t : h.tensors) {
    if (t.offset % h.alignment != 0 || t.offset > size - h.data_offset ||
        t.nbytes > size - h.data_offset - t.offset || t.shape.empty() || t.shape.size() > 4) {
      return false;
    }
    spans.emplace_back(t.offset, t.offset + t.nbytes);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i - 1].second > spans[i].first) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 10000;
  const int memfd = memfd_create("fuzz_gguf", 0);
  if (memfd < 0) {
    std::perror("memfd_create");
    return 1;
  }
  const std::string fd_path = "/proc/self/fd/" + std::to_string(memfd);
  long accepted = 0, rejected = 0, loaded = 0;
  const std::vector<uint8_t> valid = valid_model();
  {
    GgufHeader h;
    auto st = parse_gguf_header(valid.data(), valid.size(), "seed", &h);
    if (!st.ok()) {
      std::fprintf(stderr, "the valid seed file was rejected: %s\n", st.to_string().c_str());
      return 1;
    }
  }
  for (long i = 0; i < iterations; ++i) {
    std::vector<uint8_t> f;
    switch (i % 4) {
      case 0: {
        f.resize(pick(96));
        for (auto& b : f) b = static_cast<uint8_t>(rng());
        if (f.size() >= 4 && rng() % 2) {
          f[0] = 'G', f[1] = 'G', f[2] = 'U', f[3] = 'F';
        }
        break;
      }
      case 1: f = random_model(); break;
      default: f = mutate(rng() % 3 ? valid : random_model()); break;
    }
    // An exact-size heap copy, so ASan flags any read past the end.
    uint8_t* buf = static_cast<uint8_t*>(std::malloc(f.empty() ? 1 : f.size()));
    if (!f.empty()) std::copy(f.begin(), f.end(), buf);
    GgufHeader h;
    auto st = parse_gguf_header(buf, f.size(), "fuzz", &h);
    std::free(buf);
    if (!st.ok()) {
      ++rejected;
      if (st.message().empty() || st.code() != inferkit::StatusCode::kBadRequest) {
        std::fprintf(stderr, "iteration %ld: untyped rejection %s\n", i, st.to_string().c_str());
        return 1;
      }
      continue;
    }
    ++accepted;
    if (!check_invariants(h, f.size())) {
      std::fprintf(stderr, "iteration %ld: accepted a header that breaks the invariants\n", i);
      return 1;
    }
    // The load path over the same bytes: config, binding, tensor views.
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, f.data(), f.size(), 0) != static_cast<ssize_t>(f.size())) {
      std::perror("memfd write");
      return 1;
    }
    inferkit::LoadedModel lm;
    auto ls = inferkit::load_model(fd_path, &lm);
    if (ls.ok()) {
      ++loaded;
    } else if (ls.message().empty() || ls.code() != inferkit::StatusCode::kBadRequest) {
      std::fprintf(stderr, "iteration %ld: load failed untyped: %s\n", i, ls.to_string().c_str());
      return 1;
    }
  }
  close(memfd);
  std::printf("fuzz_gguf: %ld inputs, %ld accepted (%ld loaded as models), %ld rejected\n", iterations,
              accepted, loaded, rejected);
  // Each outcome must occur, or the fuzzer is not exercising the reader.
  return accepted > 0 && rejected > 0 && loaded > 0 ? 0 : 1;
}
