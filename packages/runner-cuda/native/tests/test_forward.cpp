// Whole-model parity: the engine's logits against the double-precision reference forward
// (tiny_model.cpp) for every supported architecture feature, weight dtype and layout.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "engine.h"
#include "test_harness.h"
#include "tiny_model.h"

using namespace inferkit;

namespace {

const std::vector<int32_t> kPrompt = {1, 5, 17, 42, 3, 88, 60, 9, 11, 95, 2, 7, 33};

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Loads `spec` into an engine and compares logits() for `prompt` against the reference.
void check_parity(const tiny::Spec& spec, const std::string& tag,
                  WeightConversion convert_at_load = WeightConversion::kNone,
                  int threads = 2, const std::vector<int32_t>& prompt = kPrompt) {
  tiny::Model model = tiny::make_model(spec);
  std::string dir = tiny::make_temp_dir(tag);
  CHECK(tiny::write_model(model, dir));
  Engine engine;
  EngineOptions opts;
  opts.threads = threads;
  opts.max_batch = 2;
  opts.max_seq_len = 96;
  opts.convert_at_load = convert_at_load;
  CHECK_OK(engine.load(dir, opts));
  std::vector<float> logits;
  CHECK_OK(engine.logits(prompt, &logits));
  std::vector<double> ref = tiny::reference_logits(model, prompt);
  double diff = max_abs_diff(logits, ref);
  double scale = 0;
  for (double r : ref) scale = std::max(scale, std::fabs(r));
  // Logits of O(1) make the 1e-4 bound meaningful; near-zero logits would pass trivially.
  CHECK(scale > 0.5);
  if (std::getenv("INFERKIT_TEST_VERBOSE")) {
    std::fprintf(stderr, "%s: max abs diff %g, max |logit| %g\n", tag.c_str(), diff, scale);
  }
  if (!(diff < 1e-4)) std::fprintf(stderr, "%s: max abs diff %g\n", tag.c_str(), diff);
  CHECK(diff < 1e-4);
  engine.close();
  tiny::remove_tree(dir);
}

}  // namespace

TEST(llama_gqa_untied_f32) {
  tiny::Spec s;
  check_parity(s, "llama");
}

TEST(llama_single_thread) {
  tiny::Spec s;
  s.seed = 7;
  check_parity(s, "llama1t", WeightConversion::kNone, 1);
}

TEST(llama_tied_mha) {
  tiny::Spec s;
  s.tie = true;
  s.kv_heads = 4;
  check_parity(s, "tied");
}

TEST(llama_head_dim_override) {
  tiny::Spec s;
  s.head_dim = 16;  // q_dim 64 != hidden 32
  check_parity(s, "hdim");
}

TEST(llama3_rope_scaling) {
  tiny::Spec s;
  s.llama3_rope = true;
  s.rope_theta = 500000.0f;
  check_parity(s, "llama3");
}

TEST(llama_attention_bias) {
  tiny::Spec s;
  s.attention_bias = true;
  check_parity(s, "bias");
}

TEST(mistral) {
  tiny::Spec s;
  s.arch = "mistral";
  s.seed = 3;
  check_parity(s, "mistral");
}

TEST(mistral_sliding_window) {
  tiny::Spec s;
  s.arch = "mistral";
  s.sliding_window = 4;  // shorter than the 13-token prompt, so the window matters
  s.seed = 4;
  check_parity(s, "mistralsw");
}

// 77 positions: attention reads five KV cache blocks of 16 (the last one partial), and the
// window of 20 straddles block boundaries.
std::vector<int32_t> long_prompt() {
  std::vector<int32_t> p;
  for (int i = 0; i < 77; ++i) p.push_back((i * 37 + 11) % 90 + 4);
  return p;
}

TEST(long_prompt_spans_kv_blocks) {
  tiny::Spec s;
  s.seed = 8;
  check_parity(s, "llamalong", WeightConversion::kNone, 2, long_prompt());
}

TEST(sliding_window_across_kv_blocks) {
  tiny::Spec s;
  s.arch = "mistral";
  s.sliding_window = 20;
  s.seed = 9;
  check_parity(s, "mistralswlong", WeightConversion::kNone, 2, long_prompt());
}

TEST(qwen2_biases_tied) {
  tiny::Spec s;
  s.arch = "qwen2";
  s.tie = true;
  s.rope_theta = 1000000.0f;
  s.eps = 1e-6f;
  check_parity(s, "qwen2");
}

TEST(qwen3_qk_norm) {
  tiny::Spec s;
  s.arch = "qwen3";
  s.head_dim = 16;
  check_parity(s, "qwen3");
}

TEST(bf16_weights_inner_loop) {
  tiny::Spec s;
  s.dtype = "BF16";
  check_parity(s, "bf16");
}

TEST(f16_weights_inner_loop) {
  tiny::Spec s;
  s.dtype = "F16";
  check_parity(s, "f16");
}

TEST(f16_weights_converted_at_load) {
  tiny::Spec s;
  s.dtype = "F16";
  s.tie = true;
  check_parity(s, "f16load", WeightConversion::kF32);
}

TEST(bf16_converted_at_load) {
  tiny::Spec s;
  s.dtype = "BF16";
  check_parity(s, "bf16load", WeightConversion::kF32);
}

// convert_at_load q8_0: every matrix whose rows divide into 32-value blocks becomes Q8_0 (here
// all but down_proj, rows of 48), the rest stays BF16; logits stay within the 8-bit error of the
// reference and the weights take about half of BF16's bytes.
TEST(bf16_quantized_to_q8_0_at_load) {
  tiny::Spec s;
  s.dtype = "BF16";
  s.tie = true;
  tiny::Model model = tiny::make_model(s);
  std::string dir = tiny::make_temp_dir("q8load");
  CHECK(tiny::write_model(model, dir));
  EngineOptions opts;
  opts.threads = 2;
  opts.max_batch = 1;
  opts.max_seq_len = 32;
  size_t bytes[2] = {0, 0};
  std::vector<float> logits[2];
  for (int i = 0; i < 2; ++i) {
    opts.convert_at_load = i == 0 ? WeightConversion::kNone : WeightConversion::kQ8_0;
    Engine engine;
    CHECK_OK(engine.load(dir, opts));
    bytes[i] = engine.info().memory_bytes;
    CHECK_OK(engine.logits(kPrompt, &logits[i]));
  }
  const std::vector<double> ref = tiny::reference_logits(model, kPrompt);
  double scale = 0, d_bf16 = 0, d_q8 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    scale = std::max(scale, std::fabs(ref[i]));
    d_bf16 = std::max(d_bf16, std::fabs(logits[0][i] - ref[i]));
    d_q8 = std::max(d_q8, std::fabs(logits[1][i] - ref[i]));
  }
  if (!(d_q8 < 0.03 * scale)) std::fprintf(stderr, "q8_0 at load: max diff %g (scale %g)\n", d_q8, scale);
  CHECK(d_bf16 < 1e-4);
  CHECK(d_q8 < 0.03 * scale);
  CHECK(d_q8 > 1e-4);  // really quantized
  // KV cache (f32) and the widened norms are common to both; the matrices shrink 34/64.
  const size_t kv = 2 * static_cast<size_t>(s.layers) * 32 * (s.kv_heads * s.hidden / s.heads) * 4;
  CHECK(bytes[1] - kv < 0.75 * (bytes[0] - kv));
  tiny::remove_tree(dir);
}

TEST(sharded_checkpoint) {
  tiny::Spec s;
  s.shards = 3;
  check_parity(s, "shards");
}

// Wider than the kernels' tiles and vectors, so tails and multi-tile paths run.
TEST(odd_sizes) {
  tiny::Spec s;
  s.hidden = 72;
  s.intermediate = 100;
  s.heads = 6;
  s.kv_heads = 3;
  s.vocab = 131;
  s.layers = 1;
  check_parity(s, "odd");
}

TEST_MAIN()
