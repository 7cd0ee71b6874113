// GGUF: the header parser on valid and malformed files (each rejection a kBadRequest naming the
// key or tensor), metadata -> ModelConfig, and whole models loaded from GGUF against the same
// weights loaded from safetensors and against the double-precision reference.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine.h"
#include "gguf.h"
#include "gguf_builder.h"
#include "gguf_config.h"
#include "model_loader.h"
#include "test_harness.h"
#include "tiny_model.h"

using namespace inferkit;
using tiny::GgufBuilder;

namespace {

Status parse(const std::vector<uint8_t>& f, GgufHeader* h) {
  // An exact-size heap copy, so a read past the end would be a real out-of-bounds read.
  std::vector<uint8_t> copy(f);
  return parse_gguf_header(copy.data(), copy.size(), "t.gguf", h);
}

Status parse(const std::vector<uint8_t>& f) {
  GgufHeader h;
  return parse(f, &h);
}

[[maybe_unused]] std::vector<uint8_t> bytes_of(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A small valid file: a few keys of each kind and two tensors.
GgufBuilder valid_builder() {
  GgufBuilder g;
  g.str("general.architecture", "llama");
  g.u32("llama.block_count", 2);
  g.f32("llama.rope.freq_base", 500000.0f);
  g.boolean("tokenizer.ggml.add_bos_token", true);
  g.str_array("tokenizer.ggml.tokens", {"a", "bb", ""});
  g.u32_array("llama.attention.head_count_kv", {2, 2});
  g.f32_tensor("a.weight", {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  g.tensor("b.weight", {32}, 8, std::vector<uint8_t>(34, 0));  // one Q8_0 block
  return g;
}

std::string write_temp(const std::string& tag, const std::vector<uint8_t>& bytes) {
  std::string dir = tiny::make_temp_dir(tag);
  std::string path = dir + "/m.gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  return path;
}

}  // namespace

TEST(gguf_valid_header) {
  GgufHeader h;
  CHECK_OK(parse(valid_builder().build(), &h));
  CHECK_EQ(h.version, 3u);
  CHECK_EQ(h.tensors.size(), size_t{2});
  CHECK_EQ(h.metadata.size(), size_t{6});
  CHECK(h.find("general.architecture")->string == "llama");
  CHECK(h.find("llama.block_count")->uinteger == 2);
  CHECK(h.find("llama.rope.freq_base")->number == 500000.0);
  CHECK(h.find("tokenizer.ggml.add_bos_token")->boolean);
  CHECK(h.find("tokenizer.ggml.tokens")->array_count == 3);
  const GgufTensorInfo* a = h.find_tensor("a.weight");
  CHECK(a && a->shape == (std::vector<int64_t>{2, 4}) && a->nbytes == 32 && a->offset == 0);
  const GgufTensorInfo* b = h.find_tensor("b.weight");
  CHECK(b && b->ggml_type == 8 && b->nbytes == 34 && b->offset == 32);
  CHECK_EQ(h.data_offset % 32, uint64_t{0});
}

TEST(gguf_every_truncation_is_rejected) {
  const std::vector<uint8_t> f = valid_builder().build();
  for (size_t n = 0; n < f.size(); ++n) {
    std::vector<uint8_t> cut(f.begin(), f.begin() + n);
    Status st = parse(cut);
    if (st.ok()) std::fprintf(stderr, "accepted a file cut at %zu of %zu bytes\n", n, f.size());
    CHECK(!st.ok() && st.code() == StatusCode::kBadRequest);
  }
}

TEST(gguf_wrong_magic_and_version) {
  GgufBuilder g = valid_builder();
  g.magic = 0x46554746;
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "wrong magic (not a GGUF file)");
  CHECK_ERR(parse({'G', 'G'}), StatusCode::kBadRequest, "not a GGUF file");
  g = valid_builder();
  g.version = 1;
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "version 1 is not supported");
  g.version = 4;
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "unknown GGUF version 4");
  g.version = 2;
  CHECK_OK(parse(g.build()));
}

TEST(gguf_absurd_counts) {
  GgufBuilder g = valid_builder();
  g.tensor_count_override = int64_t{1} << 40;
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "tensor count 1099511627776 is impossible");
  g = valid_builder();
  g.tensor_count_override = 1000;  // below the hard limit, but more than the file could hold
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "tensor count 1000 is impossible");
  g = valid_builder();
  g.kv_count_override = INT64_MAX;
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "metadata count");
  g = valid_builder();
  g.kv_count_override = 7;  // one more key than written: the parser runs into the tensor infos
  CHECK(!parse(g.build()).ok());
}

TEST(gguf_bad_metadata) {
  GgufBuilder g;
  g.u32("k", 1);
  g.u32("k", 2);
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "metadata key 'k' appears twice");
  g = GgufBuilder();
  g.raw_kv("weird", 13, {0, 0, 0, 0});
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "metadata key 'weird' has unknown value type 13");
  g = GgufBuilder();
  g.raw_kv("flag", 7, {2});
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "metadata key 'flag' is a bool holding 2");
  g = GgufBuilder();
  g.str(std::string(70000, 'k'), "v");
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "longer than 65535 bytes");
  g = GgufBuilder();
  g.str("", "v");
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "metadata key 0 is empty");
  // A string whose length runs past the end of the file.
  g = GgufBuilder();
  std::vector<uint8_t> payload(8, 0);
  payload[7] = 0x10;  // 2^60 bytes
  g.raw_kv("s", 8, payload);
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "truncated file?");
  // An array declaring more elements than the file holds, for fixed-size and string elements.
  for (uint32_t elem : {4u, 8u}) {
    g = GgufBuilder();
    std::vector<uint8_t> arr = {static_cast<uint8_t>(elem), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    g.raw_kv("arr", 9, arr);
    CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "metadata key 'arr' declares");
  }
  g = GgufBuilder();
  g.raw_kv("arr", 9, {99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "is an array of unknown value type 99");
  // Arrays of arrays are walked up to a depth limit.
  std::vector<uint8_t> nested;
  for (int d = 0; d < 5; ++d) {
    const uint8_t hdr[12] = {9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    nested.insert(nested.end(), hdr, hdr + 12);
  }
  g = GgufBuilder();
  g.raw_kv("deep", 9, nested);
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "nests arrays deeper than 3");
}

TEST(gguf_bad_alignment_key) {
  GgufBuilder g = valid_builder();
  g.u32("general.alignment", 24);
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "'general.alignment' must be a power of two, found 24");
  g = valid_builder();
  g.str("general.alignment", "32");
  CHECK_ERR(parse(g.build()), StatusCode::kBadRequest, "'general.alignment' must be a uint32, found string");
  // A valid non-default alignment places the data section and the offsets on 64 bytes.
  g = GgufBuilder();
  g.alignment = 64;
  g.u32("general.alignment", 64);
  g.f32_tensor("x", {3}, {1, 2, 3});
  g.f32_tensor("y", {1}, {4});
  GgufHeader h;
  CHECK_OK(parse(g.build(), &h));
  CHECK(h.alignment == 64 && h.data_offset % 64 == 0 && h.find_tensor("y")->offset == 64);
}

TEST(gguf_bad_tensor_infos) {
  struct Case {
    const char* expect;
    void (*build)(GgufBuilder*);
  };
  const Case cases[] = {
      {"tensor 'x': unknown ggml type 4", [](GgufBuilder* g) { g->tensor("x", {8}, 4, std::vector<uint8_t>(8)); }},
      {"tensor 'x': unknown ggml type 99", [](GgufBuilder* g) { g->tensor("x", {8}, 99, std::vector<uint8_t>(8)); }},
      {"tensor 'x': rows of 40 values do not divide into Q8_0 blocks of 32",
       [](GgufBuilder* g) { g->tensor("x", {40}, 8, std::vector<uint8_t>(64)); }},
      {"tensor 'x': has 5 dimensions", [](GgufBuilder* g) { g->tensor("x", {1, 1, 1, 1, 1}, 0, std::vector<uint8_t>(4)); }},
      {"tensor 'x': has 0 dimensions", [](GgufBuilder* g) { g->tensor("x", {}, 0, std::vector<uint8_t>(4)); }},
      {"tensor 'x': dimension 1 is 0", [](GgufBuilder* g) { g->tensor("x", {4, 0}, 0, {}); }},
      {"tensor 'x': element count overflows",
       [](GgufBuilder* g) { g->tensor("x", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, {}); }},
      {"tensor 'x': offset 4 is not a multiple of the alignment 32",
       [](GgufBuilder* g) { g->tensor("x", {1}, 0, std::vector<uint8_t>(4), 4); }},
      {"tensor 'y': data overlaps tensor 'x'",
       [](GgufBuilder* g) {
         g->tensor("x", {16}, 0, std::vector<uint8_t>(64), 0);
         g->tensor("y", {8}, 0, std::vector<uint8_t>(32), 32);
       }},
      {"tensor 'x': appears twice",
       [](GgufBuilder* g) {
         g->tensor("x", {1}, 0, std::vector<uint8_t>(4));
         g->tensor("x", {1}, 0, std::vector<uint8_t>(4));
       }},
      {"has a name longer than 63 bytes", [](GgufBuilder* g) { g->tensor(std::string(64, 'n'), {1}, 0, std::vector<uint8_t>(4)); }},
      {"tensor 0 has an empty name", [](GgufBuilder* g) { g->tensor("", {1}, 0, std::vector<uint8_t>(4)); }},
  };
  for (const Case& c : cases) {
    GgufBuilder g;
    g.str("general.architecture", "llama");
    c.build(&g);
    Status st = parse(g.build());
    if (st.ok() || st.message().find(c.expect) == std::string::npos) {
      std::fprintf(stderr, "expected '%s', got %s\n", c.expect, st.to_string().c_str());
    }
    CHECK_ERR(st, StatusCode::kBadRequest, c.expect);
  }
}

TEST(gguf_offset_past_the_end) {
  GgufBuilder g;
  g.tensor("x", {4}, 0, std::vector<uint8_t>(16), 64);
  std::vector<uint8_t> f = g.build();
  f.resize(f.size() - 1);  // the data section ends one byte before the tensor does
  CHECK_ERR(parse(f), StatusCode::kBadRequest, "tensor 'x': data [64, +16) runs past the end of the data section");
}

TEST(gguf_file_errors_are_typed) {
  GgufFile f;
  CHECK_ERR(f.open("/nonexistent/dir/m.gguf"), StatusCode::kNotFound, "not found");
  const std::string empty = write_temp("gguf-empty", {});
  CHECK_ERR(f.open(empty), StatusCode::kBadRequest, "empty file");
  tiny::remove_tree(empty.substr(0, empty.rfind('/')));
  // A tensor of a ggml type the engine does not compute with: the file validates, view() says why.
  GgufBuilder g = valid_builder();
  g.tensor("c.weight", {256}, 10, std::vector<uint8_t>(84));  // Q2_K
  const std::string path = write_temp("gguf-q2k", g.build());
  GgufFile q;
  CHECK_OK(q.open(path));
  TensorView v;
  CHECK_ERR(q.view("c.weight", &v), StatusCode::kBadRequest, "tensor 'c.weight' has type Q2_K; supported:");
  CHECK_ERR(q.view("nope", &v), StatusCode::kBadRequest, "tensor 'nope' is missing");
  CHECK_OK(q.view("b.weight", &v));
  CHECK(v.dtype == DType::kQ8_0 && v.shape == std::vector<int64_t>{32} && v.nbytes == 34);
  uint64_t n = 0;
  CHECK_ERR(q.get_uint("general.architecture", true, &n), StatusCode::kBadRequest,
            "'general.architecture' must be an integer, found string");
  CHECK_ERR(q.get_uint("missing.key", true, &n), StatusCode::kBadRequest, "'missing.key' is missing");
  std::vector<uint64_t> arr;
  CHECK_OK(q.get_uint_array("llama.attention.head_count_kv", 8, &arr));
  CHECK(arr == (std::vector<uint64_t>{2, 2}));
  CHECK_ERR(q.get_uint_array("tokenizer.ggml.tokens", 8, &arr), StatusCode::kBadRequest, "must be an array of integers");
  tiny::remove_tree(path.substr(0, path.rfind('/')));
}

namespace {

// A minimal consistent llama GGUF (hidden H, 1 layer, 2 heads, 1 KV head) for config errors:
// `edit` adds keys (a key the base already has would be a duplicate, which the parser rejects).
std::vector<uint8_t> tiny_llama(void (*edit)(GgufBuilder*), const std::string& arch = "llama", uint64_t H = 8,
                                bool q8_0_norm = false) {
  GgufBuilder g;
  g.str("general.architecture", arch);
  g.u32(arch + ".context_length", 64);
  g.u32(arch + ".embedding_length", static_cast<uint32_t>(H));
  g.u32(arch + ".block_count", 1);
  g.u32(arch + ".feed_forward_length", 16);
  g.u32(arch + ".attention.head_count", 2);
  g.f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  if (edit) edit(&g);
  if (!g.has_key(arch + ".attention.head_count_kv")) g.u32(arch + ".attention.head_count_kv", 1);
  auto t = [&](const std::string& name, std::vector<uint64_t> ne) {
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    g.f32_tensor(name, ne, std::vector<float>(n, 0.5f));
  };
  t("token_embd.weight", {H, 10});
  if (q8_0_norm) g.tensor("output_norm.weight", {H}, 8, std::vector<uint8_t>(H / 32 * 34));
  else t("output_norm.weight", {H});
  t("blk.0.attn_norm.weight", {H});
  t("blk.0.attn_q.weight", {H, H});
  t("blk.0.attn_k.weight", {H, H / 2});
  t("blk.0.attn_v.weight", {H, H / 2});
  t("blk.0.attn_output.weight", {H, H});
  t("blk.0.ffn_norm.weight", {H});
  t("blk.0.ffn_gate.weight", {H, 16});
  t("blk.0.ffn_up.weight", {H, 16});
  t("blk.0.ffn_down.weight", {16, H});
  return g.build();
}

Status load_bytes(const std::vector<uint8_t>& bytes, LoadedModel* lm) {
  const std::string path = write_temp("gguf-cfg", bytes);
  Status st = load_model(path, lm);
  tiny::remove_tree(path.substr(0, path.rfind('/')));
  return st;
}

}  // namespace

TEST(gguf_config_mapping) {
  LoadedModel lm;
  CHECK_OK(load_bytes(tiny_llama([](GgufBuilder* g) {
    g->u32("tokenizer.ggml.eos_token_id", 3);
    g->u32("tokenizer.ggml.eot_token_id", 4);
    g->u32("tokenizer.ggml.bos_token_id", 2);
  }), &lm));
  const ModelConfig& c = lm.config;
  CHECK(c.arch == Arch::kLlama && c.hidden_size == 8 && c.num_layers == 1 && c.intermediate_size == 16);
  CHECK(c.num_heads == 2 && c.num_kv_heads == 1 && c.head_dim == 4 && c.vocab_size == 10);
  CHECK(c.max_position_embeddings == 64 && c.rope_theta == 10000.0f && c.rope_interleaved);
  CHECK(c.tie_word_embeddings && !c.qkv_bias && c.bos_token_id == 2);
  CHECK(c.eos_token_ids == (std::vector<int32_t>{3, 4}));
  CHECK(lm.weights.lm_head.data == lm.weights.embed_tokens.data);
  // Per-layer head_count_kv (all equal) is accepted.
  LoadedModel lm2;
  CHECK_OK(load_bytes(tiny_llama([](GgufBuilder* g) { g->u32_array("llama.attention.head_count_kv", {1}); }), &lm2));
  CHECK_EQ(lm2.config.num_kv_heads, 1);
}

TEST(gguf_config_errors_name_the_key) {
  struct Case {
    const char* expect;
    void (*edit)(GgufBuilder*);
  };
  const Case cases[] = {
      {"metadata key 'llama.rope.scaling.type' is 'yarn' (supported: none, linear)",
       [](GgufBuilder* g) { g->str("llama.rope.scaling.type", "yarn"); }},
      {"metadata key 'llama.vocab_size' (11) differs from the rows of token_embd.weight (10)",
       [](GgufBuilder* g) { g->u32("llama.vocab_size", 11); }},
      {"metadata key 'tokenizer.ggml.eos_token_id' (10) is outside the vocabulary of 10",
       [](GgufBuilder* g) { g->u32("tokenizer.ggml.eos_token_id", 10); }},
      {"'llama.rope.dimension_count' (2) is not the head dimension 4: partial RoPE is not supported",
       [](GgufBuilder* g) { g->u32("llama.rope.dimension_count", 2); }},
      {"metadata key 'llama.attention.head_count_kv' has 2 elements (at most 1 expected)",
       [](GgufBuilder* g) { g->u32_array("llama.attention.head_count_kv", {1, 2}); }},
      {"metadata key 'llama.attention.head_count_kv' is 0, outside [1, 2^30]",
       [](GgufBuilder* g) { g->u32("llama.attention.head_count_kv", 0); }},
      {"metadata key 'llama.rope.freq_base' must be a number, found string",
       [](GgufBuilder* g) { g->str("llama.rope.freq_base", "1e4"); }},
  };
  for (const Case& c : cases) {
    LoadedModel lm;
    CHECK_ERR(load_bytes(tiny_llama(c.edit), &lm), StatusCode::kBadRequest, c.expect);
  }
  LoadedModel lm;
  CHECK_ERR(load_bytes(tiny_llama(nullptr, "gemma"), &lm), StatusCode::kBadRequest,
            "architecture 'gemma' (general.architecture) is not supported (llama, qwen2, qwen3)");
  // A missing hyperparameter.
  GgufBuilder g;
  g.str("general.architecture", "qwen2");
  CHECK_ERR(load_bytes(g.build(), &lm), StatusCode::kBadRequest, "metadata key 'qwen2.embedding_length' is missing");
  // qwen2 requires its q/k/v biases.
  CHECK_ERR(load_bytes(tiny_llama(nullptr, "qwen2"), &lm), StatusCode::kBadRequest,
            "tensor 'blk.0.attn_q.bias' is missing");
  // Norms and biases are widened once at load, from float types only.
  CHECK_ERR(load_bytes(tiny_llama(nullptr, "llama", 32, true), &lm), StatusCode::kBadRequest,
            "tensor 'output_norm.weight' is a vector stored as Q8_0");
  CHECK_OK(load_bytes(tiny_llama(nullptr, "llama", 32, false), &lm));
}

TEST(gguf_unsupported_weight_type_is_named) {
  GgufBuilder g;
  g.str("general.architecture", "llama");
  g.u32("llama.context_length", 64);
  g.u32("llama.embedding_length", 256);
  g.u32("llama.block_count", 1);
  g.u32("llama.feed_forward_length", 256);
  g.u32("llama.attention.head_count", 2);
  g.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  g.tensor("token_embd.weight", {256, 4}, 10, std::vector<uint8_t>(4 * 84));  // Q2_K
  LoadedModel lm;
  CHECK_ERR(load_bytes(g.build(), &lm), StatusCode::kBadRequest, "tensor 'token_embd.weight' has type Q2_K");
}

namespace {

const std::vector<int32_t> kPrompt = {1, 5, 17, 42, 3, 88, 60, 9, 11, 95, 2, 7, 33};

// The engine's logits for kPrompt from the safetensors checkpoint and from the GGUF export of
// the same model: equal up to float summation order (GGUF llama orders q/k head dims in pairs,
// so attention sums the same products in another order), and both within 1e-4 of the reference.
void check_gguf_matches_safetensors(const tiny::Spec& spec, const std::string& tag) {
  tiny::Model model = tiny::make_model(spec);
  const std::string dir = tiny::make_temp_dir(tag);
  CHECK(tiny::write_model(model, dir));
  const std::string gguf = dir + "/model.gguf";
  CHECK(tiny::write_gguf(model, gguf));
  EngineOptions opts;
  opts.threads = 2;
  opts.max_batch = 2;
  opts.max_seq_len = 64;
  std::vector<float> a, b;
  {
    Engine e;
    CHECK_OK(e.load(dir, opts));
    CHECK_OK(e.logits(kPrompt, &a));
  }
  {
    Engine e;
    CHECK_OK(e.load(gguf, opts));
    CHECK_EQ(e.info().config.rope_interleaved, spec.arch == "llama" || spec.arch == "mistral");
    CHECK_OK(e.logits(kPrompt, &b));
  }
  const std::vector<double> ref = tiny::reference_logits(model, kPrompt);
  CHECK_EQ(a.size(), b.size());
  double d_st = 0, d_ref = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d_st = std::max(d_st, static_cast<double>(std::fabs(a[i] - b[i])));
    d_ref = std::max(d_ref, std::fabs(b[i] - ref[i]));
  }
  if (!(d_st < 2e-5 && d_ref < 1e-4)) std::fprintf(stderr, "%s: vs safetensors %g, vs reference %g\n", tag.c_str(), d_st, d_ref);
  CHECK(d_st < 2e-5);
  CHECK(d_ref < 1e-4);
  tiny::remove_tree(dir);
}

}  // namespace

TEST(gguf_llama_matches_safetensors) {
  tiny::Spec s;
  check_gguf_matches_safetensors(s, "gguf-llama");
}

TEST(gguf_llama3_rope_freqs_match_safetensors) {
  tiny::Spec s;
  s.llama3_rope = true;
  s.rope_theta = 500000.0f;
  s.seed = 4;
  check_gguf_matches_safetensors(s, "gguf-llama3");
}

TEST(gguf_qwen2_bias_tied_matches_safetensors) {
  tiny::Spec s;
  s.arch = "qwen2";
  s.tie = true;
  s.seed = 2;
  check_gguf_matches_safetensors(s, "gguf-qwen2");
}

TEST(gguf_qwen3_head_dim_matches_safetensors) {
  tiny::Spec s;
  s.arch = "qwen3";
  s.head_dim = 16;
  s.seed = 3;
  check_gguf_matches_safetensors(s, "gguf-qwen3");
}

TEST(gguf_mistral_bf16_matches_safetensors) {
  tiny::Spec s;
  s.arch = "mistral";
  s.kv_heads = 4;
  s.dtype = "BF16";
  s.seed = 5;
  check_gguf_matches_safetensors(s, "gguf-mistral");
}

TEST(gguf_llama_f16_bias_matches_safetensors) {
  tiny::Spec s;
  s.dtype = "F16";
  s.attention_bias = true;
  s.seed = 6;
  check_gguf_matches_safetensors(s, "gguf-llama-bias");
}

TEST_MAIN()
