// ModelConfig: the architecture facts read from a Hugging Face config.json (and
// generation_config.json for EOS ids) or from GGUF metadata (gguf_config.h), normalised across
// llama / mistral / qwen2 / qwen3.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace inferkit {

enum class Arch { kLlama = 0, kMistral, kQwen2, kQwen3 };

inline const char* arch_name(Arch a) {
  switch (a) {
    case Arch::kLlama: return "llama";
    case Arch::kMistral: return "mistral";
    case Arch::kQwen2: return "qwen2";
    case Arch::kQwen3: return "qwen3";
  }
  return "llama";
}

// RoPE frequency scaling. kLlama3 follows HF `_compute_llama3_parameters`; kLinear divides
// positions by `factor`.
enum class RopeScaling { kNone = 0, kLinear, kLlama3 };

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string model_type;              // raw config.json "model_type"
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;                // GQA: num_heads % num_kv_heads == 0
  int head_dim = 0;                    // config "head_dim" or hidden_size / num_heads
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling = RopeScaling::kNone;
  float rope_factor = 1.0f;            // linear and llama3
  float rope_low_freq_factor = 1.0f;   // llama3
  float rope_high_freq_factor = 4.0f;  // llama3
  int rope_original_max_pos = 8192;    // llama3
  std::vector<float> rope_freq_factors;  // GGUF rope_freqs.weight (head_dim / 2): frequency i is
                                         // divided by factor i (how GGUF files carry llama3 scaling)
  bool rope_interleaved = false;       // q/k rows of a head hold adjacent (x, y) pairs, the order
                                       // GGUF stores llama-arch models in for llama.cpp's RoPE;
                                       // false: HF split halves (dim i pairs with i + head_dim/2)
  bool tie_word_embeddings = false;
  bool qkv_bias = false;               // qwen2 (always) or llama "attention_bias"
  bool o_bias = false;                 // llama "attention_bias" also biases o_proj
  bool mlp_bias = false;               // llama "mlp_bias"
  bool qk_norm = false;                // qwen3: RMSNorm over each q/k head before RoPE
  int sliding_window = 0;              // > 0: attention window (mistral, qwen use_sliding_window)
  int bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;  // union of config.json and generation_config.json

  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
};

// Per-dimension RoPE inverse frequencies (head_dim / 2 values), scaling applied. Shared by the
// backends so CPU and CUDA rotate identically.
std::vector<float> rope_inv_freq(const ModelConfig& cfg);

// Parses config.json text (plus optional generation_config.json text, empty if absent) and
// validates it. Errors name the offending key.
Status parse_model_config(const std::string& config_json, const std::string& generation_json,
                          ModelConfig* out);

}  // namespace inferkit
