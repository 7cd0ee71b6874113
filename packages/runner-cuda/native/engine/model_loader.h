// Loading a model: a Hugging Face checkpoint directory (config.json + generation_config.json,
// then model.safetensors or the shards listed in model.safetensors.index.json) or a GGUF file
// (metadata -> config, tensors in place). Either way the weights are mapped and checked tensor
// by tensor against the config before any backend sees them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gguf.h"
#include "model_config.h"
#include "model_weights.h"
#include "safetensors.h"
#include "status.h"

namespace inferkit {

// Owns the mapped files; `weights` views point into them.
struct LoadedModel {
  ModelConfig config;
  ModelWeights weights;
  std::vector<std::unique_ptr<SafetensorsFile>> files;  // a checkpoint directory's shards
  std::unique_ptr<GgufFile> gguf;                       // or one GGUF file
  uint64_t weight_bytes = 0;  // bytes of the tensors the forward pass reads
};

// Where the forward pass's tensors live in a file format: the names of the model-level tensors
// and, per layer, `layer_prefix` + layer index + "." + the layer tensor's name.
struct WeightNames {
  const char* embed;
  const char* final_norm;
  const char* lm_head;
  const char* layer_prefix;
  const char *attn_norm, *q, *k, *v, *o, *q_bias, *k_bias, *v_bias, *o_bias, *q_norm, *k_norm;
  const char *ffn_norm, *gate, *up, *down, *gate_bias, *up_bias, *down_bias;
};
extern const WeightNames kHfWeightNames;    // "model.layers.0.self_attn.q_proj.weight"
extern const WeightNames kGgufWeightNames;  // "blk.0.attn_q.weight"

// A set of tensors to bind from: has() and view() by name (view's errors name the tensor).
class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual bool has(const std::string& name) const = 0;
  virtual Status view(const std::string& name, TensorView* out) const = 0;
};

// Reads a whole small text file (config.json and friends). kNotFound when it does not exist.
Status read_text_file(const std::string& path, std::string* out, size_t max_bytes = 64 << 20);

// Progress callback for the mapping/validation phase: fraction in [0, 1].
using LoadProgressFn = void (*)(void* ctx, double fraction);

// `path` is a checkpoint directory or a GGUF file. kNotFound when it does not exist.
Status load_model(const std::string& path, LoadedModel* out,
                  LoadProgressFn progress = nullptr, void* progress_ctx = nullptr);

// Matches the tensors of `source` to the config: every required tensor present, computable
// dtype (norms and biases in a float type), exact shape. Exposed for tests.
Status bind_weights(const ModelConfig& config, const TensorSource& source, const WeightNames& names,
                    ModelWeights* out, uint64_t* weight_bytes);

}  // namespace inferkit
