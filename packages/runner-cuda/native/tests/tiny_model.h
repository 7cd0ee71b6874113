// Tiny random checkpoints in the Hugging Face layout (config.json, generation_config.json,
// model.safetensors or shards + index) for the C++ tests, and a plain double-precision
// reference forward pass over the same (dtype-rounded) weights, written straight from the
// transformers model definitions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tiny {

struct Spec {
  std::string arch = "llama";  // llama | mistral | qwen2 | qwen3
  int vocab = 96;
  int hidden = 32;
  int intermediate = 48;
  int layers = 2;
  int heads = 4;
  int kv_heads = 2;
  int head_dim = 0;            // 0: hidden / heads (omitted from config.json)
  bool tie = false;
  std::string dtype = "F32";   // F32 | F16 | BF16
  int shards = 1;              // > 1: model-0000i-of-0000n.safetensors + index
  bool llama3_rope = false;
  float rope_theta = 10000.0f;
  float eps = 1e-5f;
  int max_pos = 256;
  bool attention_bias = false; // llama: q/k/v/o biases
  int sliding_window = 0;      // mistral: > 0 writes "sliding_window" (attend to the last N)
  uint64_t seed = 1;
  std::vector<int> eos = {2};
};

struct Model {
  Spec spec;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::map<std::string, std::vector<double>> values;  // after rounding to the stored dtype
};

// Fills `model` with random weights for `spec` (deterministic in spec.seed).
Model make_model(const Spec& spec);

// Writes the checkpoint into `dir` (created if missing). Returns false on I/O failure.
bool write_model(const Model& model, const std::string& dir);

// Writes the same model as a GGUF v3 file the way llama.cpp's converter does (arch `llama` for
// llama/mistral with q/k rows permuted for adjacent-pair RoPE, llama3 scaling as
// rope_freqs.weight), tensors in spec.dtype. Returns false on I/O failure.
bool write_gguf(const Model& model, const std::string& path);

// Writes a safetensors file holding `tensors` (F32 values converted to `dtype`).
bool write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
                       const std::map<std::string, std::vector<double>>& values,
                       const std::string& dtype);

// Reference logits for every position of `tokens`: [tokens.size() * vocab].
std::vector<double> reference_logits(const Model& model, const std::vector<int32_t>& tokens);

// A fresh empty directory under $TMPDIR (or /tmp); removed by remove_tree.
std::string make_temp_dir(const std::string& tag);
void remove_tree(const std::string& dir);
void write_text(const std::string& path, const std::string& text);

}  // namespace tiny
