#include "gguf_config.h"

#include <cmath>
#include <cstring>

namespace inferkit {

namespace {

class ConfigReader {
 public:
  ConfigReader(const GgufFile& f, const std::string& arch) : f_(f), p_(arch + ".") {}

  Status error(const std::string& msg) const { return Status::BadRequest("GGUF file " + f_.name() + ": " + msg); }

  // <arch>.<key> as an integer in [lo, hi]; absent + !required leaves *out unchanged.
  Status count(const char* key, bool required, int lo, int* out) const {
    if (!required && !f_.header().find(p_ + key)) return Status::Ok();
    uint64_t v = 0;
    IK_RETURN_IF_ERROR(f_.get_uint(p_ + key, required, &v));
    if (v < static_cast<uint64_t>(lo) || v > (1u << 30)) {
      return error("metadata key '" + p_ + key + "' is " + std::to_string(v) + ", outside [" + std::to_string(lo) +
                   ", 2^30]");
    }
    *out = static_cast<int>(v);
    return Status::Ok();
  }

  Status positive(const char* key, bool required, float* out) const {
    if (!required && !f_.header().find(p_ + key)) return Status::Ok();
    double v = 0;
    IK_RETURN_IF_ERROR(f_.get_float(p_ + key, required, &v));
    if (!(v > 0) || !std::isfinite(v)) return error("metadata key '" + p_ + key + "' must be a positive number");
    *out = static_cast<float>(v);
    return Status::Ok();
  }

  // head_count_kv is a number, or one number per layer (all equal here: the engine has one GQA
  // shape for every layer).
  Status kv_heads(int layers, int* out) const {
    const std::string key = p_ + "attention.head_count_kv";
    const GgufValue* v = f_.header().find(key);
    if (v && v->type == GgufValueType::kArray) {
      std::vector<uint64_t> per_layer;
      IK_RETURN_IF_ERROR(f_.get_uint_array(key, static_cast<uint64_t>(layers), &per_layer));
      if (per_layer.size() != static_cast<size_t>(layers)) {
        return error("metadata key '" + key + "' has " + std::to_string(per_layer.size()) + " entries for " +
                     std::to_string(layers) + " layers");
      }
      for (uint64_t n : per_layer) {
        if (n != per_layer[0]) return error("metadata key '" + key + "' varies across layers (not supported)");
      }
      if (per_layer[0] < 1 || per_layer[0] > (1u << 30)) return error("metadata key '" + key + "' must be positive");
      *out = static_cast<int>(per_layer[0]);
      return Status::Ok();
    }
    return count("attention.head_count_kv", false, 1, out);
  }

  const std::string& prefix() const { return p_; }

 private:
  const GgufFile& f_;
  std::string p_;
};

Status token_id(const GgufFile& f, const char* key, int vocab, std::vector<int32_t>* ids, int* single) {
  uint64_t v = UINT64_MAX;
  IK_RETURN_IF_ERROR(f.get_uint(key, false, &v));
  if (v == UINT64_MAX) return Status::Ok();
  if (v >= static_cast<uint64_t>(vocab)) {
    return Status::BadRequest("GGUF file " + f.name() + ": metadata key '" + key + "' (" + std::to_string(v) +
                              ") is outside the vocabulary of " + std::to_string(vocab));
  }
  if (single) *single = static_cast<int>(v);
  if (ids) {
    for (int32_t e : *ids) {
      if (e == static_cast<int32_t>(v)) return Status::Ok();
    }
    ids->push_back(static_cast<int32_t>(v));
  }
  return Status::Ok();
}

}  // namespace

Status model_config_from_gguf(const GgufFile& f, ModelConfig* out) {
  *out = ModelConfig();
  ModelConfig& c = *out;
  std::string arch;
  IK_RETURN_IF_ERROR(f.get_string("general.architecture", true, &arch));
  if (arch == "llama") c.arch = Arch::kLlama;
  else if (arch == "qwen2") c.arch = Arch::kQwen2;
  else if (arch == "qwen3") c.arch = Arch::kQwen3;
  else {
    return Status::BadRequest("GGUF file " + f.name() + ": architecture '" + arch +
                              "' (general.architecture) is not supported (llama, qwen2, qwen3)");
  }
  c.model_type = arch;
  ConfigReader r(f, arch);
  IK_RETURN_IF_ERROR(r.count("embedding_length", true, 1, &c.hidden_size));
  IK_RETURN_IF_ERROR(r.count("block_count", true, 1, &c.num_layers));
  IK_RETURN_IF_ERROR(r.count("feed_forward_length", true, 1, &c.intermediate_size));
  IK_RETURN_IF_ERROR(r.count("attention.head_count", true, 1, &c.num_heads));
  c.num_kv_heads = c.num_heads;
  IK_RETURN_IF_ERROR(r.kv_heads(c.num_layers, &c.num_kv_heads));
  IK_RETURN_IF_ERROR(r.count("context_length", true, 1, &c.max_position_embeddings));
  if (c.num_heads % c.num_kv_heads != 0) {
    return r.error("attention.head_count (" + std::to_string(c.num_heads) + ") must be a multiple of " +
                   "attention.head_count_kv (" + std::to_string(c.num_kv_heads) + ")");
  }
  c.head_dim = 0;
  IK_RETURN_IF_ERROR(r.count("attention.key_length", false, 1, &c.head_dim));
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_heads != 0) {
      return r.error("embedding_length must be a multiple of attention.head_count when attention.key_length is absent");
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  if (c.head_dim % 2 != 0) return r.error("the head dimension must be even for RoPE");
  int value_length = c.head_dim, rope_dims = c.head_dim;
  IK_RETURN_IF_ERROR(r.count("attention.value_length", false, 1, &value_length));
  IK_RETURN_IF_ERROR(r.count("rope.dimension_count", false, 1, &rope_dims));
  if (value_length != c.head_dim) {
    return r.error("metadata key '" + r.prefix() + "attention.value_length' differs from the key length (not supported)");
  }
  if (rope_dims != c.head_dim) {
    return r.error("metadata key '" + r.prefix() + "rope.dimension_count' (" + std::to_string(rope_dims) +
                   ") is not the head dimension " + std::to_string(c.head_dim) + ": partial RoPE is not supported");
  }
  c.rms_norm_eps = 0;
  IK_RETURN_IF_ERROR(r.positive("attention.layer_norm_rms_epsilon", true, &c.rms_norm_eps));
  c.rope_theta = 10000.0f;
  IK_RETURN_IF_ERROR(r.positive("rope.freq_base", false, &c.rope_theta));

  // RoPE scaling: linear (rope.scaling.type, or the older rope.scale_linear) or llama3, which
  // GGUF carries as per-frequency divisors in rope_freqs.weight.
  std::string scaling = "none";
  IK_RETURN_IF_ERROR(f.get_string(r.prefix() + "rope.scaling.type", false, &scaling));
  if (scaling == "linear") {
    c.rope_scaling = RopeScaling::kLinear;
    IK_RETURN_IF_ERROR(r.positive("rope.scaling.factor", true, &c.rope_factor));
  } else if (scaling != "none") {
    return r.error("metadata key '" + r.prefix() + "rope.scaling.type' is '" + scaling +
                   "' (supported: none, linear)");
  } else if (f.header().find(r.prefix() + "rope.scale_linear")) {
    IK_RETURN_IF_ERROR(r.positive("rope.scale_linear", true, &c.rope_factor));
    if (c.rope_factor != 1.0f) c.rope_scaling = RopeScaling::kLinear;
  }
  if (const GgufTensorInfo* t = f.find("rope_freqs.weight")) {
    if (t->ggml_type != 0 || t->shape.size() != 1 || t->shape[0] != c.head_dim / 2) {
      return r.error("tensor 'rope_freqs.weight' must be F32 of shape [" + std::to_string(c.head_dim / 2) + "]");
    }
    if (c.rope_scaling != RopeScaling::kNone) {
      return r.error("tensor 'rope_freqs.weight' together with rope.scaling.type linear is not supported");
    }
    c.rope_freq_factors.resize(static_cast<size_t>(c.head_dim / 2));
    std::memcpy(c.rope_freq_factors.data(), f.tensor_data(*t), c.rope_freq_factors.size() * sizeof(float));
    for (float x : c.rope_freq_factors) {
      if (!(x > 0) || !std::isfinite(x)) return r.error("tensor 'rope_freqs.weight' holds a factor that is not positive");
    }
  }

  // The vocabulary is what the embedding holds; a declared size must agree.
  const GgufTensorInfo* embd = f.find("token_embd.weight");
  if (!embd) return r.error("tensor 'token_embd.weight' is missing");
  if (embd->shape.size() != 2 || embd->shape[1] != c.hidden_size) {
    return r.error("tensor 'token_embd.weight' must be [vocab, " + std::to_string(c.hidden_size) + "]");
  }
  if (embd->shape[0] > (1 << 30)) return r.error("tensor 'token_embd.weight' has more than 2^30 rows");
  c.vocab_size = static_cast<int>(embd->shape[0]);
  int declared = c.vocab_size;
  IK_RETURN_IF_ERROR(r.count("vocab_size", false, 1, &declared));
  if (declared != c.vocab_size) {
    return r.error("metadata key '" + r.prefix() + "vocab_size' (" + std::to_string(declared) +
                   ") differs from the rows of token_embd.weight (" + std::to_string(c.vocab_size) + ")");
  }

  c.tie_word_embeddings = f.find("output.weight") == nullptr;
  const bool has_q_bias = f.find("blk.0.attn_q.bias") != nullptr;
  c.o_bias = f.find("blk.0.attn_output.bias") != nullptr;
  c.mlp_bias = f.find("blk.0.ffn_down.bias") != nullptr;
  switch (c.arch) {
    case Arch::kQwen2:
      c.qkv_bias = true;  // the loader requires them, as Qwen2 always has them
      break;
    case Arch::kQwen3:
      c.qkv_bias = has_q_bias;
      c.qk_norm = true;
      break;
    default:
      c.qkv_bias = has_q_bias;
      // llama.cpp's convert script permutes llama-arch q/k rows for its adjacent-pair RoPE.
      c.rope_interleaved = true;
      break;
  }

  int bos = -1;
  IK_RETURN_IF_ERROR(token_id(f, "tokenizer.ggml.bos_token_id", c.vocab_size, nullptr, &bos));
  c.bos_token_id = bos;
  // End of generation: EOS, plus the end-of-turn and end-of-message ids llama.cpp also stops at.
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    IK_RETURN_IF_ERROR(token_id(f, key, c.vocab_size, &c.eos_token_ids, nullptr));
  }
  return Status::Ok();
}

}  // namespace inferkit
