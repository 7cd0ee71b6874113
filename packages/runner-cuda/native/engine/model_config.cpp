#include "model_config.h"

#include <cmath>

#include "json.h"

namespace inferkit {

namespace {

Status config_error(const std::string& msg) { return Status::BadRequest("config.json: " + msg); }

// Reads an optional positive integer; absent or null leaves *out unchanged.
Status read_int(const JsonValue& root, const char* key, bool required, int* out) {
  const JsonValue* v = root.get(key);
  if (!v || v->is_null()) {
    if (required) return config_error(std::string("missing required key '") + key + "'");
    return Status::Ok();
  }
  if (!v->is_integer || v->integer < 0 || v->integer > (1ll << 30)) {
    return config_error(std::string("'") + key + "' must be a non-negative integer");
  }
  *out = static_cast<int>(v->integer);
  return Status::Ok();
}

Status read_float(const JsonValue& obj, const char* key, float* out, const char* where) {
  const JsonValue* v = obj.get(key);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_number() || !std::isfinite(v->number)) {
    return config_error(std::string("'") + where + key + "' must be a number");
  }
  *out = static_cast<float>(v->number);
  return Status::Ok();
}

Status read_bool(const JsonValue& root, const char* key, bool* out) {
  const JsonValue* v = root.get(key);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_bool()) return config_error(std::string("'") + key + "' must be true or false");
  *out = v->boolean;
  return Status::Ok();
}

// eos_token_id may be an int or a list of ints, in config.json and generation_config.json.
Status read_token_ids(const JsonValue& root, const char* key, const char* file,
                      std::vector<int32_t>* out) {
  const JsonValue* v = root.get(key);
  if (!v || v->is_null()) return Status::Ok();
  auto add = [&](const JsonValue& x) -> Status {
    if (!x.is_integer || x.integer < 0 || x.integer > INT32_MAX) {
      return Status::BadRequest(std::string(file) + ": '" + key +
                                "' must be a token id or a list of token ids");
    }
    int32_t id = static_cast<int32_t>(x.integer);
    for (int32_t e : *out) {
      if (e == id) return Status::Ok();
    }
    out->push_back(id);
    return Status::Ok();
  };
  if (v->is_array()) {
    for (const JsonValue& x : v->array) IK_RETURN_IF_ERROR(add(x));
    return Status::Ok();
  }
  return add(*v);
}

Status parse_rope(const JsonValue& root, ModelConfig* cfg) {
  IK_RETURN_IF_ERROR(read_float(root, "rope_theta", &cfg->rope_theta, ""));
  // transformers 5 writes rope_parameters instead of rope_theta/rope_scaling.
  const JsonValue* scaling = root.get("rope_scaling");
  const JsonValue* params = root.get("rope_parameters");
  if (params && params->is_object()) {
    if (!root.get("rope_theta")) {
      IK_RETURN_IF_ERROR(read_float(*params, "rope_theta", &cfg->rope_theta, "rope_parameters."));
    }
    if (!scaling || scaling->is_null()) scaling = params;
  }
  if (!(cfg->rope_theta > 0)) return config_error("'rope_theta' must be positive");
  if (!scaling || scaling->is_null()) return Status::Ok();
  if (!scaling->is_object()) return config_error("'rope_scaling' must be an object or null");
  const JsonValue* type = scaling->get("rope_type");
  if (!type) type = scaling->get("type");
  std::string t = (type && type->is_string()) ? type->string : "default";
  if (t == "default") return Status::Ok();
  IK_RETURN_IF_ERROR(read_float(*scaling, "factor", &cfg->rope_factor, "rope_scaling."));
  if (!(cfg->rope_factor > 0)) return config_error("'rope_scaling.factor' must be positive");
  if (t == "linear") {
    cfg->rope_scaling = RopeScaling::kLinear;
    return Status::Ok();
  }
  if (t == "llama3") {
    cfg->rope_scaling = RopeScaling::kLlama3;
    cfg->rope_factor = 8.0f;
    IK_RETURN_IF_ERROR(read_float(*scaling, "factor", &cfg->rope_factor, "rope_scaling."));
    IK_RETURN_IF_ERROR(
        read_float(*scaling, "low_freq_factor", &cfg->rope_low_freq_factor, "rope_scaling."));
    IK_RETURN_IF_ERROR(
        read_float(*scaling, "high_freq_factor", &cfg->rope_high_freq_factor, "rope_scaling."));
    cfg->rope_original_max_pos = cfg->max_position_embeddings > 0 ? cfg->max_position_embeddings
                                                                  : cfg->rope_original_max_pos;
    const JsonValue* orig = scaling->get("original_max_position_embeddings");
    if (orig && !orig->is_null()) {
      if (!orig->is_integer || orig->integer <= 0) {
        return config_error("'rope_scaling.original_max_position_embeddings' must be positive");
      }
      cfg->rope_original_max_pos = static_cast<int>(orig->integer);
    }
    if (!(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor)) {
      return config_error("rope_scaling: high_freq_factor must exceed low_freq_factor");
    }
    return Status::Ok();
  }
  return config_error("rope_scaling type '" + t + "' is not supported (default, linear, llama3)");
}

}  // namespace

std::vector<float> rope_inv_freq(const ModelConfig& cfg) {
  const int half = cfg.head_dim / 2;
  std::vector<float> inv(half);
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(static_cast<double>(cfg.rope_theta),
                              (2.0 * i) / static_cast<double>(cfg.head_dim));
    if (!cfg.rope_freq_factors.empty()) f /= cfg.rope_freq_factors[i];
    if (cfg.rope_scaling == RopeScaling::kLinear) {
      f /= cfg.rope_factor;
    } else if (cfg.rope_scaling == RopeScaling::kLlama3) {
      // HF _compute_llama3_parameters.
      double orig = cfg.rope_original_max_pos;
      double low_wl = orig / cfg.rope_low_freq_factor;
      double high_wl = orig / cfg.rope_high_freq_factor;
      double wavelen = 2 * pi / f;
      if (wavelen > low_wl) {
        f /= cfg.rope_factor;
      } else if (wavelen >= high_wl) {
        double smooth = (orig / wavelen - cfg.rope_low_freq_factor) /
                        (cfg.rope_high_freq_factor - cfg.rope_low_freq_factor);
        f = (1 - smooth) * f / cfg.rope_factor + smooth * f;
      }
    }
    inv[i] = static_cast<float>(f);
  }
  return inv;
}

Status parse_model_config(const std::string& config_json, const std::string& generation_json,
                          ModelConfig* out) {
  *out = ModelConfig();
  ModelConfig& cfg = *out;
  JsonValue root;
  IK_RETURN_IF_ERROR(parse_json(config_json.data(), config_json.size(), "config.json", &root));
  if (!root.is_object()) return config_error("not a JSON object");

  std::string type;
  if (const JsonValue* mt = root.get("model_type"); mt && mt->is_string()) type = mt->string;
  if (type.empty()) {
    if (const JsonValue* archs = root.get("architectures");
        archs && archs->is_array() && !archs->array.empty() && archs->array[0].is_string()) {
      const std::string& a = archs->array[0].string;
      if (a == "LlamaForCausalLM") type = "llama";
      else if (a == "MistralForCausalLM") type = "mistral";
      else if (a == "Qwen2ForCausalLM") type = "qwen2";
      else if (a == "Qwen3ForCausalLM") type = "qwen3";
      else type = a;
    }
  }
  cfg.model_type = type;
  if (type == "llama") cfg.arch = Arch::kLlama;
  else if (type == "mistral") cfg.arch = Arch::kMistral;
  else if (type == "qwen2") cfg.arch = Arch::kQwen2;
  else if (type == "qwen3") cfg.arch = Arch::kQwen3;
  else if (type.empty()) return config_error("missing 'model_type'");
  else {
    return config_error("model_type '" + type +
                        "' is not supported (llama, mistral, qwen2, qwen3)");
  }

  if (const JsonValue* act = root.get("hidden_act"); act && !act->is_null()) {
    if (!act->is_string() || act->string != "silu") {
      return config_error("hidden_act must be 'silu'");
    }
  }

  IK_RETURN_IF_ERROR(read_int(root, "vocab_size", true, &cfg.vocab_size));
  IK_RETURN_IF_ERROR(read_int(root, "hidden_size", true, &cfg.hidden_size));
  IK_RETURN_IF_ERROR(read_int(root, "intermediate_size", true, &cfg.intermediate_size));
  IK_RETURN_IF_ERROR(read_int(root, "num_hidden_layers", true, &cfg.num_layers));
  IK_RETURN_IF_ERROR(read_int(root, "num_attention_heads", true, &cfg.num_heads));
  cfg.num_kv_heads = cfg.num_heads;
  IK_RETURN_IF_ERROR(read_int(root, "num_key_value_heads", false, &cfg.num_kv_heads));
  cfg.max_position_embeddings = 2048;
  IK_RETURN_IF_ERROR(read_int(root, "max_position_embeddings", false, &cfg.max_position_embeddings));
  if (cfg.vocab_size <= 0 || cfg.hidden_size <= 0 || cfg.intermediate_size <= 0 ||
      cfg.num_layers <= 0 || cfg.num_heads <= 0 || cfg.num_kv_heads <= 0 ||
      cfg.max_position_embeddings <= 0) {
    return config_error("sizes (vocab_size, hidden_size, intermediate_size, num_hidden_layers, "
                        "num_attention_heads, num_key_value_heads, max_position_embeddings) "
                        "must be positive");
  }
  if (cfg.num_heads % cfg.num_kv_heads != 0) {
    return config_error("num_attention_heads (" + std::to_string(cfg.num_heads) +
                        ") must be a multiple of num_key_value_heads (" +
                        std::to_string(cfg.num_kv_heads) + ")");
  }
  cfg.head_dim = 0;
  IK_RETURN_IF_ERROR(read_int(root, "head_dim", false, &cfg.head_dim));
  if (cfg.head_dim == 0) {
    if (cfg.hidden_size % cfg.num_heads != 0) {
      return config_error("hidden_size must be a multiple of num_attention_heads when head_dim "
                          "is not given");
    }
    cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  }
  if (cfg.head_dim % 2 != 0) return config_error("head_dim must be even for RoPE");

  IK_RETURN_IF_ERROR(read_float(root, "rms_norm_eps", &cfg.rms_norm_eps, ""));
  if (!(cfg.rms_norm_eps > 0)) return config_error("'rms_norm_eps' must be positive");
  IK_RETURN_IF_ERROR(parse_rope(root, &cfg));
  if (const JsonValue* prf = root.get("partial_rotary_factor"); prf && !prf->is_null()) {
    if (!prf->is_number() || prf->number != 1.0) {
      return config_error("partial_rotary_factor other than 1.0 is not supported");
    }
  }

  IK_RETURN_IF_ERROR(read_bool(root, "tie_word_embeddings", &cfg.tie_word_embeddings));
  bool attention_bias = false;
  IK_RETURN_IF_ERROR(read_bool(root, "attention_bias", &attention_bias));
  IK_RETURN_IF_ERROR(read_bool(root, "mlp_bias", &cfg.mlp_bias));
  switch (cfg.arch) {
    case Arch::kLlama:
    case Arch::kMistral:
      cfg.qkv_bias = attention_bias;
      cfg.o_bias = attention_bias;
      break;
    case Arch::kQwen2:
      // Qwen2 always biases q/k/v and never o.
      cfg.qkv_bias = true;
      cfg.mlp_bias = false;
      break;
    case Arch::kQwen3:
      cfg.qkv_bias = attention_bias;
      cfg.o_bias = attention_bias;
      cfg.qk_norm = true;
      cfg.mlp_bias = false;
      break;
  }

  // Sliding-window attention: Mistral applies "sliding_window" when set; Qwen only with
  // use_sliding_window (and then only above max_window_layers, which we do not model).
  const JsonValue* sw = root.get("sliding_window");
  if (sw && !sw->is_null()) {
    bool applies = cfg.arch == Arch::kMistral;
    if (cfg.arch == Arch::kQwen2 || cfg.arch == Arch::kQwen3) {
      bool use = false;
      IK_RETURN_IF_ERROR(read_bool(root, "use_sliding_window", &use));
      if (use) return config_error("use_sliding_window is not supported");
    }
    if (applies) IK_RETURN_IF_ERROR(read_int(root, "sliding_window", false, &cfg.sliding_window));
  }

  if (const JsonValue* bos = root.get("bos_token_id"); bos && bos->is_integer) {
    cfg.bos_token_id = static_cast<int>(bos->integer);
  }
  IK_RETURN_IF_ERROR(read_token_ids(root, "eos_token_id", "config.json", &cfg.eos_token_ids));
  if (!generation_json.empty()) {
    JsonValue gen;
    IK_RETURN_IF_ERROR(parse_json(generation_json.data(), generation_json.size(),
                                  "generation_config.json", &gen));
    if (gen.is_object()) {
      IK_RETURN_IF_ERROR(
          read_token_ids(gen, "eos_token_id", "generation_config.json", &cfg.eos_token_ids));
    }
  }
  for (int32_t id : cfg.eos_token_ids) {
    if (id >= cfg.vocab_size) {
      return config_error("eos_token_id " + std::to_string(id) + " is outside the vocabulary");
    }
  }
  return Status::Ok();
}

}  // namespace inferkit
