// JSON reader, safetensors header validation, config.json parsing and checkpoint loading errors.
#include <cmath>
#include <cstdio>
#include <string>

#include <unistd.h>

#include "json.h"
#include "model_config.h"
#include "model_loader.h"
#include "safetensors.h"
#include "test_harness.h"
#include "tiny_model.h"

using namespace inferkit;

namespace {

Status parse(const std::string& s, JsonValue* v) { return parse_json(s.data(), s.size(), "test", v); }

std::vector<uint8_t> file_bytes(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> f(8 + header.size() + data_bytes, 0);
  for (int i = 0; i < 8; ++i) f[i] = static_cast<uint8_t>(static_cast<uint64_t>(header.size()) >> (8 * i));
  std::copy(header.begin(), header.end(), f.begin() + 8);
  return f;
}

Status parse_st(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> f = file_bytes(header, data_bytes);
  SafetensorsHeader h;
  return parse_safetensors_header(f.data(), f.size(), f.size(), "m.safetensors", &h);
}

const char* kLlamaConfig = R"({"model_type":"llama","vocab_size":100,"hidden_size":64,
  "intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":8,"num_key_value_heads":2,
  "rms_norm_eps":1e-5,"rope_theta":500000.0,"max_position_embeddings":2048,
  "tie_word_embeddings":false,"eos_token_id":[5,6],"bos_token_id":1,"hidden_act":"silu"})";

std::string with(const std::string& base, const std::string& extra) {
  return base.substr(0, base.size() - 1) + "," + extra + "}";
}

}  // namespace

TEST(json_values) {
  JsonValue v;
  CHECK_OK(parse(R"( {"a": [1, -2, 3.5e2, true, false, null], "b": {"c": "x\"\\\/\n\u00e9\ud83d\ude00"},
                     "big": 9007199254740993, "neg": -0} )", &v));
  CHECK(v.is_object());
  const JsonValue* a = v.get("a");
  CHECK(a && a->array.size() == 6);
  CHECK(a->array[0].is_integer && a->array[0].integer == 1);
  CHECK(a->array[1].integer == -2);
  CHECK(!a->array[2].is_integer && a->array[2].number == 350);
  CHECK(a->array[3].boolean && !a->array[4].boolean && a->array[5].is_null());
  CHECK_EQ(v.get("b")->get("c")->string, std::string("x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80"));
  CHECK_EQ(v.get("big")->integer, 9007199254740993ll);  // exact above 2^53
  CHECK(v.get("missing") == nullptr);
}

TEST(json_errors) {
  JsonValue v;
  const char* bad[] = {"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", "-", "\"abc",
                       "\"\\x\"", "\"\\ud800\"", "tru", "{} x", "\"a\nb\"", "[1 2]", "{1:2}"};
  for (const char* b : bad) {
    Status st = parse(b, &v);
    if (st.ok()) std::fprintf(stderr, "accepted: %s\n", b);
    CHECK(!st.ok());
    CHECK(st.message().find("invalid JSON in test") != std::string::npos);
  }
  std::string deep(100, '[');
  CHECK_ERR(parse(deep, &v), StatusCode::kBadRequest, "nesting");
}

TEST(safetensors_valid) {
  SafetensorsHeader h;
  std::string hdr = R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
                    R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"s":{"dtype":"I64","shape":[],"data_offsets":[12,20]},)"
                    R"("z":{"dtype":"BF16","shape":[0,3],"data_offsets":[20,20]}})";
  std::vector<uint8_t> f = file_bytes(hdr, 20);
  CHECK_OK(parse_safetensors_header(f.data(), f.size(), f.size(), "m", &h));
  CHECK_EQ(h.tensors.size(), 4u);
  CHECK_EQ(h.tensors[0].name, std::string("a"));  // sorted by offset
  CHECK(h.tensors[h.index["b"]].dtype == DType::kF16);
  CHECK(!h.tensors[h.index["s"]].computable);
  CHECK_EQ(h.data_offset, 8 + hdr.size());
}

TEST(safetensors_errors_name_the_tensor) {
  const std::string t = R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
  CHECK_OK(parse_st("{" + t + "}", 16));
  CHECK_ERR(parse_st("{" + t + "}", 10), StatusCode::kBadRequest, "'w': data ends at byte 16");
  CHECK_ERR(parse_st("{" + t + "}", 20), StatusCode::kBadRequest, "data buffer holds 20");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", 16),
            StatusCode::kBadRequest, "'w': shape and dtype need 24 bytes");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8),
            StatusCode::kBadRequest, "'w': unknown dtype 'Q4'");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
            StatusCode::kBadRequest, "'w': shape entries");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
            StatusCode::kBadRequest, "overlaps");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
            StatusCode::kBadRequest, "'w': hole");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,8]}})", 8),
            StatusCode::kBadRequest, "overflows");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16),
            StatusCode::kBadRequest, "'w': duplicate");
  CHECK_ERR(parse_st(R"({"w":{"dtype":"F32","shape":[2]}})", 8), StatusCode::kBadRequest, "data_offsets");
  CHECK_ERR(parse_st(R"({"__metadata__":{"a":1}})", 0), StatusCode::kBadRequest, "__metadata__");
  CHECK_ERR(parse_st("[1]", 0), StatusCode::kBadRequest, "not a JSON object");
  // Header length beyond the file, and beyond the format's limit.
  std::vector<uint8_t> f = file_bytes("{}", 0);
  f[0] = 200;
  SafetensorsHeader h;
  CHECK_ERR(parse_safetensors_header(f.data(), f.size(), f.size(), "m", &h), StatusCode::kBadRequest, "truncated");
  f[0] = 0; f[4] = 1;  // 2^32
  CHECK_ERR(parse_safetensors_header(f.data(), f.size(), f.size(), "m", &h), StatusCode::kBadRequest, "limit");
  CHECK_ERR(parse_safetensors_header(f.data(), 4, 4, "m", &h), StatusCode::kBadRequest, "shorter");
}

TEST(config_llama) {
  ModelConfig c;
  CHECK_OK(parse_model_config(kLlamaConfig, "{\"eos_token_id\": [6, 7]}", &c));
  CHECK(c.arch == Arch::kLlama);
  CHECK_EQ(c.head_dim, 8);
  CHECK_EQ(c.kv_dim(), 16);
  CHECK_NEAR(c.rope_theta, 500000.0, 1e-3);
  CHECK_NEAR(c.rms_norm_eps, 1e-5, 1e-12);
  CHECK(c.eos_token_ids == std::vector<int32_t>({5, 6, 7}));
  CHECK(!c.qkv_bias && !c.qk_norm && !c.tie_word_embeddings);
  CHECK_EQ(c.bos_token_id, 1);
}

TEST(config_variants) {
  ModelConfig c;
  std::string qwen2 = kLlamaConfig;
  qwen2.replace(qwen2.find("llama"), 5, "qwen2");
  CHECK_OK(parse_model_config(qwen2, "", &c));
  CHECK(c.arch == Arch::kQwen2 && c.qkv_bias && !c.o_bias);
  std::string qwen3 = kLlamaConfig;
  qwen3.replace(qwen3.find("llama"), 5, "qwen3");
  CHECK_OK(parse_model_config(with(qwen3, "\"head_dim\": 32"), "", &c));
  CHECK(c.qk_norm && c.head_dim == 32 && c.q_dim() == 256);
  CHECK_OK(parse_model_config(with(kLlamaConfig, "\"attention_bias\": true"), "", &c));
  CHECK(c.qkv_bias && c.o_bias);
  // transformers 5 layout: rope_parameters instead of rope_theta / rope_scaling.
  std::string v5 = R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,
    "num_hidden_layers":1,"num_attention_heads":2,"rope_parameters":{"rope_theta":1234.0,"rope_type":"default"}})";
  CHECK_OK(parse_model_config(v5, "", &c));
  CHECK_NEAR(c.rope_theta, 1234.0, 1e-3);
  CHECK_EQ(c.num_kv_heads, 2);
  CHECK_EQ(c.max_position_embeddings, 2048);
  std::string mistral = kLlamaConfig;
  mistral.replace(mistral.find("llama"), 5, "mistral");
  CHECK_OK(parse_model_config(with(mistral, "\"sliding_window\": 4096"), "", &c));
  CHECK_EQ(c.sliding_window, 4096);
}

TEST(config_llama3_rope) {
  ModelConfig c;
  CHECK_OK(parse_model_config(with(kLlamaConfig,
      R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"), "", &c));
  CHECK(c.rope_scaling == RopeScaling::kLlama3);
  CHECK_EQ(c.rope_original_max_pos, 8192);
  std::vector<float> inv = rope_inv_freq(c);
  CHECK_EQ(inv.size(), 4u);
  // head_dim 8, theta 5e5: inv_freq = 5e5^(-i/4). i=0: wavelength 2π < 2048 -> unchanged;
  // i=3: wavelength 2π*5e5^0.75 ≈ 118,000 > 8192 -> divided by 8; i=2 (≈ 4443) is in between.
  const double pi = 3.14159265358979323846;
  CHECK_NEAR(inv[0], 1.0, 1e-6);
  CHECK_NEAR(inv[3], std::pow(5e5, -0.75) / 8, 1e-9);
  const double f2 = std::pow(5e5, -0.5), wl = 2 * pi / f2, sm = (8192 / wl - 1) / 3;
  CHECK_NEAR(inv[2], (1 - sm) * f2 / 8 + sm * f2, 1e-8);
  CHECK_OK(parse_model_config(with(kLlamaConfig, R"("rope_scaling": {"type": "linear", "factor": 2.0})"), "", &c));
  CHECK(c.rope_scaling == RopeScaling::kLinear);
  CHECK_NEAR(rope_inv_freq(c)[1], std::pow(5e5, -0.25) / 2, 1e-8);
}

TEST(config_errors) {
  ModelConfig c;
  CHECK_ERR(parse_model_config("{}", "", &c), StatusCode::kBadRequest, "model_type");
  CHECK_ERR(parse_model_config(R"({"model_type":"gpt2"})", "", &c), StatusCode::kBadRequest, "gpt2");
  CHECK_ERR(parse_model_config(R"({"model_type":"llama","hidden_size":8})", "", &c),
            StatusCode::kBadRequest, "vocab_size");
  std::string bad_heads = kLlamaConfig;
  bad_heads.replace(bad_heads.find("\"num_key_value_heads\":2"), 23, "\"num_key_value_heads\":3");
  CHECK_ERR(parse_model_config(bad_heads, "", &c), StatusCode::kBadRequest, "multiple of num_key_value_heads");
  CHECK_ERR(parse_model_config(with(kLlamaConfig, R"("rope_scaling": {"rope_type": "yarn", "factor": 4})"), "", &c),
            StatusCode::kBadRequest, "yarn");
  CHECK_ERR(parse_model_config(kLlamaConfig, "{\"eos_token_id\": 500}", &c), StatusCode::kBadRequest, "500");
  std::string gelu = kLlamaConfig;
  gelu.replace(gelu.find("\"silu\""), 6, "\"gelu\"");
  CHECK_ERR(parse_model_config(gelu, "", &c), StatusCode::kBadRequest, "hidden_act");
  CHECK_ERR(parse_model_config("{\"model_type\": \"llama\"", "", &c), StatusCode::kBadRequest, "config.json");
}

TEST(loader_errors_name_the_tensor) {
  tiny::Spec s;
  tiny::Model m = tiny::make_model(s);
  std::string dir = tiny::make_temp_dir("loader");
  LoadedModel lm;
  CHECK_ERR(load_model(dir + "/nope", &lm), StatusCode::kNotFound, "not found");
  CHECK_ERR(load_model(dir, &lm), StatusCode::kNotFound, "config.json");
  CHECK(tiny::write_model(m, dir));
  CHECK_OK(load_model(dir, &lm));

  // Shape mismatch against the config.
  tiny::Model wrong = m;
  wrong.shapes["model.layers.1.mlp.up_proj.weight"] = {s.intermediate + 1, s.hidden};
  wrong.values["model.layers.1.mlp.up_proj.weight"].resize((s.intermediate + 1) * s.hidden);
  CHECK(tiny::write_model(wrong, dir));
  LoadedModel lm2;
  CHECK_ERR(load_model(dir, &lm2), StatusCode::kBadRequest, "'model.layers.1.mlp.up_proj.weight' has shape [49, 32]");

  // Missing tensor.
  tiny::Model missing = m;
  missing.shapes.erase("model.layers.0.self_attn.k_proj.weight");
  CHECK(tiny::write_model(missing, dir));
  LoadedModel lm3;
  CHECK_ERR(load_model(dir, &lm3), StatusCode::kBadRequest, "'model.layers.0.self_attn.k_proj.weight' is missing");

  // Truncated file.
  CHECK(tiny::write_model(m, dir));
  std::string path = dir + "/model.safetensors";
  FILE* f = std::fopen(path.c_str(), "rb");
  std::fseek(f, 0, SEEK_END);
  long size = std::ftell(f);
  std::fclose(f);
  CHECK(truncate(path.c_str(), size - 100) == 0);
  LoadedModel lm4;
  CHECK_ERR(load_model(dir, &lm4), StatusCode::kBadRequest, "truncated");

  // Unsupported dtype on a tensor the model reads.
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes(m.shapes.begin(), m.shapes.end());
  CHECK(tiny::write_safetensors(path, shapes, m.values, "F32"));
  std::string text;
  CHECK_OK(read_text_file(path, &text, 1 << 30));
  size_t at = text.find("\"model.norm.weight\":{\"dtype\":\"F32\"");
  CHECK(at != std::string::npos);
  text.replace(text.find("F32", at), 3, "I32");
  tiny::write_text(path, text);
  LoadedModel lm5;
  CHECK_ERR(load_model(dir, &lm5), StatusCode::kBadRequest, "'model.norm.weight' has dtype I32");

  // Shard index pointing at a file that lacks the tensor.
  tiny::remove_tree(dir);
  dir = tiny::make_temp_dir("loader2");
  tiny::Spec sh = s;
  sh.shards = 2;
  tiny::Model ms = tiny::make_model(sh);
  CHECK(tiny::write_model(ms, dir));
  LoadedModel lm6;
  CHECK_OK(load_model(dir, &lm6));
  CHECK_EQ(lm6.files.size(), 2u);
  std::string index;
  CHECK_OK(read_text_file(dir + "/model.safetensors.index.json", &index));
  size_t k = index.find("\"model.norm.weight\": \"model-0000");
  CHECK(k != std::string::npos);
  size_t digit = index.find("-of-", k) - 1;
  index[digit] = index[digit] == '1' ? '2' : '1';
  tiny::write_text(dir + "/model.safetensors.index.json", index);
  LoadedModel lm7;
  CHECK_ERR(load_model(dir, &lm7), StatusCode::kBadRequest, "'model.norm.weight' is listed");
  tiny::remove_tree(dir);
}

TEST_MAIN()
