#include "model_loader.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "gguf_config.h"
#include "json.h"

namespace inferkit {

namespace {

bool file_exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

class Binder {
 public:
  explicit Binder(const TensorSource& source) : source_(source) {}

  // Finds `name`. Absent + optional -> empty view. Vectors (norms, biases) must be in a float
  // type: backends widen them once at load.
  Status bind(const std::string& name, std::vector<int64_t> shape, bool required, TensorView* out) {
    if (!source_.has(name)) {
      if (required) return Status::BadRequest("tensor '" + name + "' is missing from the weights");
      *out = TensorView();
      return Status::Ok();
    }
    IK_RETURN_IF_ERROR(source_.view(name, out));
    if (out->shape != shape) {
      return Status::BadRequest("tensor '" + name + "' has shape " + shape_string(out->shape) +
                                " but the model config implies " + shape_string(shape));
    }
    if (shape.size() == 1 && dtype_is_quantized(out->dtype)) {
      return Status::BadRequest("tensor '" + name + "' is a vector stored as " + dtype_name(out->dtype) +
                                "; norms and biases must be F32, F16 or BF16");
    }
    bytes_ += out->nbytes;
    return Status::Ok();
  }

  uint64_t bytes() const { return bytes_; }

 private:
  const TensorSource& source_;
  uint64_t bytes_ = 0;
};

class SafetensorsSource final : public TensorSource {
 public:
  explicit SafetensorsSource(const std::vector<std::unique_ptr<SafetensorsFile>>& files) : files_(files) {}
  bool has(const std::string& name) const override { return file_of(name) != nullptr; }
  Status view(const std::string& name, TensorView* out) const override {
    const SafetensorsFile* f = file_of(name);
    if (!f) return Status::BadRequest("tensor '" + name + "' is missing from the weights");
    return f->view(name, out);
  }

 private:
  const SafetensorsFile* file_of(const std::string& name) const {
    for (const auto& f : files_) {
      if (f->find(name)) return f.get();
    }
    return nullptr;
  }
  const std::vector<std::unique_ptr<SafetensorsFile>>& files_;
};

class GgufSource final : public TensorSource {
 public:
  explicit GgufSource(const GgufFile& f) : f_(f) {}
  bool has(const std::string& name) const override { return f_.find(name) != nullptr; }
  Status view(const std::string& name, TensorView* out) const override { return f_.view(name, out); }

 private:
  const GgufFile& f_;
};

Status load_gguf(const std::string& path, LoadedModel* out, LoadProgressFn progress, void* progress_ctx) {
  auto f = std::make_unique<GgufFile>();
  IK_RETURN_IF_ERROR(f->open(path));
  if (progress) progress(progress_ctx, 0.5);
  IK_RETURN_IF_ERROR(model_config_from_gguf(*f, &out->config));
  GgufSource source(*f);
  IK_RETURN_IF_ERROR(bind_weights(out->config, source, kGgufWeightNames, &out->weights, &out->weight_bytes));
  out->gguf = std::move(f);
  if (progress) progress(progress_ctx, 1.0);
  return Status::Ok();
}

}  // namespace

const WeightNames kHfWeightNames = {
    "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", "model.layers.",
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.o_proj.bias",
    "self_attn.q_norm.weight", "self_attn.k_norm.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "mlp.gate_proj.bias",
    "mlp.up_proj.bias", "mlp.down_proj.bias",
};

// llama.cpp's tensor names (llama-arch.cpp LLM_TENSOR_NAMES).
const WeightNames kGgufWeightNames = {
    "token_embd.weight", "output_norm.weight", "output.weight", "blk.",
    "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
    "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias", "attn_q_norm.weight",
    "attn_k_norm.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight",
    "ffn_gate.bias", "ffn_up.bias", "ffn_down.bias",
};

Status read_text_file(const std::string& path, std::string* out, size_t max_bytes) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("file not found: " + path);
    return Status::BadRequest("cannot open " + path + ": " + std::strerror(err));
  }
  out->clear();
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out->append(buf, n);
    if (out->size() > max_bytes) {
      std::fclose(f);
      return Status::BadRequest(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return Status::BadRequest("error reading " + path);
  return Status::Ok();
}

Status bind_weights(const ModelConfig& c, const TensorSource& source, const WeightNames& n, ModelWeights* w,
                    uint64_t* weight_bytes) {
  Binder b(source);
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Q = c.q_dim(), KV = c.kv_dim(), D = c.head_dim;
  IK_RETURN_IF_ERROR(b.bind(n.embed, {V, H}, true, &w->embed_tokens));
  IK_RETURN_IF_ERROR(b.bind(n.final_norm, {H}, true, &w->final_norm));
  if (c.tie_word_embeddings) {
    w->lm_head = w->embed_tokens;
  } else {
    IK_RETURN_IF_ERROR(b.bind(n.lm_head, {V, H}, true, &w->lm_head));
  }
  w->layers.assign(c.num_layers, LayerWeights());
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& L = w->layers[i];
    const std::string p = n.layer_prefix + std::to_string(i) + ".";
    IK_RETURN_IF_ERROR(b.bind(p + n.attn_norm, {H}, true, &L.attn_norm));
    IK_RETURN_IF_ERROR(b.bind(p + n.q, {Q, H}, true, &L.q_proj));
    IK_RETURN_IF_ERROR(b.bind(p + n.k, {KV, H}, true, &L.k_proj));
    IK_RETURN_IF_ERROR(b.bind(p + n.v, {KV, H}, true, &L.v_proj));
    IK_RETURN_IF_ERROR(b.bind(p + n.o, {H, Q}, true, &L.o_proj));
    IK_RETURN_IF_ERROR(b.bind(p + n.q_bias, {Q}, c.qkv_bias, &L.q_bias));
    IK_RETURN_IF_ERROR(b.bind(p + n.k_bias, {KV}, c.qkv_bias, &L.k_bias));
    IK_RETURN_IF_ERROR(b.bind(p + n.v_bias, {KV}, c.qkv_bias, &L.v_bias));
    IK_RETURN_IF_ERROR(b.bind(p + n.o_bias, {H}, c.o_bias, &L.o_bias));
    if (c.qk_norm) {
      IK_RETURN_IF_ERROR(b.bind(p + n.q_norm, {D}, true, &L.q_norm));
      IK_RETURN_IF_ERROR(b.bind(p + n.k_norm, {D}, true, &L.k_norm));
    }
    IK_RETURN_IF_ERROR(b.bind(p + n.ffn_norm, {H}, true, &L.ffn_norm));
    IK_RETURN_IF_ERROR(b.bind(p + n.gate, {I, H}, true, &L.gate_proj));
    IK_RETURN_IF_ERROR(b.bind(p + n.up, {I, H}, true, &L.up_proj));
    IK_RETURN_IF_ERROR(b.bind(p + n.down, {H, I}, true, &L.down_proj));
    IK_RETURN_IF_ERROR(b.bind(p + n.gate_bias, {I}, c.mlp_bias, &L.gate_bias));
    IK_RETURN_IF_ERROR(b.bind(p + n.up_bias, {I}, c.mlp_bias, &L.up_bias));
    IK_RETURN_IF_ERROR(b.bind(p + n.down_bias, {H}, c.mlp_bias, &L.down_bias));
  }
  *weight_bytes = b.bytes();
  return Status::Ok();
}

Status load_model(const std::string& path_in, LoadedModel* out, LoadProgressFn progress,
                  void* progress_ctx) {
  std::string dir = path_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) != 0) {
    return Status::NotFound("model directory or file not found: " + path_in);
  }
  if (S_ISREG(st.st_mode)) return load_gguf(dir, out, progress, progress_ctx);
  if (!S_ISDIR(st.st_mode)) return Status::BadRequest("not a directory or a regular file: " + path_in);

  std::string config_text, generation_text;
  IK_RETURN_IF_ERROR(read_text_file(dir + "/config.json", &config_text));
  if (file_exists(dir + "/generation_config.json")) {
    IK_RETURN_IF_ERROR(read_text_file(dir + "/generation_config.json", &generation_text));
  }
  IK_RETURN_IF_ERROR(parse_model_config(config_text, generation_text, &out->config));

  std::vector<std::string> shard_names;
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::map<std::string, std::string> weight_map;
  if (file_exists(dir + "/model.safetensors")) {
    shard_names.push_back("model.safetensors");
  } else if (file_exists(index_path)) {
    std::string index_text;
    IK_RETURN_IF_ERROR(read_text_file(index_path, &index_text));
    JsonValue index;
    IK_RETURN_IF_ERROR(parse_json(index_text.data(), index_text.size(),
                                  "model.safetensors.index.json", &index));
    const JsonValue* wm = index.get("weight_map");
    if (!wm || !wm->is_object()) {
      return Status::BadRequest("model.safetensors.index.json: missing 'weight_map' object");
    }
    std::set<std::string> seen;
    for (const auto& kv : wm->object) {
      if (!kv.second.is_string()) {
        return Status::BadRequest("model.safetensors.index.json: weight_map entry for '" +
                                  kv.first + "' is not a file name");
      }
      const std::string& file = kv.second.string;
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
        return Status::BadRequest("model.safetensors.index.json: invalid shard name '" + file +
                                  "' for tensor '" + kv.first + "'");
      }
      weight_map[kv.first] = file;
      if (seen.insert(file).second) shard_names.push_back(file);
    }
    if (shard_names.empty()) {
      return Status::BadRequest("model.safetensors.index.json: weight_map is empty");
    }
  } else {
    return Status::NotFound("no model.safetensors or model.safetensors.index.json in " + dir);
  }

  out->files.clear();
  std::map<std::string, const SafetensorsFile*> by_name;
  for (size_t i = 0; i < shard_names.size(); ++i) {
    auto f = std::make_unique<SafetensorsFile>();
    IK_RETURN_IF_ERROR(f->open(dir + "/" + shard_names[i]));
    by_name[shard_names[i]] = f.get();
    out->files.push_back(std::move(f));
    if (progress) progress(progress_ctx, static_cast<double>(i + 1) / shard_names.size());
  }
  // The index must agree with the shards: a tensor listed under one shard must be there.
  for (const auto& kv : weight_map) {
    if (!by_name[kv.second]->find(kv.first)) {
      return Status::BadRequest("tensor '" + kv.first + "' is listed in "
                                "model.safetensors.index.json under " + kv.second +
                                " but that file does not contain it");
    }
  }
  SafetensorsSource source(out->files);
  return bind_weights(out->config, source, kHfWeightNames, &out->weights, &out->weight_bytes);
}

}  // namespace inferkit
