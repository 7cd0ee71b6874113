// Loading a Hugging Face checkpoint directory: config.json (+ generation_config.json), then
// model.safetensors or the shards listed in model.safetensors.index.json, mapped and checked
// tensor by tensor against the config before any backend sees them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model_config.h"
#include "model_weights.h"
#include "safetensors.h"
#include "status.h"

namespace inferkit {

// Owns the mapped files; `weights` views point into them.
struct LoadedModel {
  ModelConfig config;
  ModelWeights weights;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  uint64_t weight_bytes = 0;  // bytes of the tensors the forward pass reads
};

// Reads a whole small text file (config.json and friends). kNotFound when it does not exist.
Status read_text_file(const std::string& path, std::string* out, size_t max_bytes = 64 << 20);

// Progress callback for the mapping/validation phase: fraction in [0, 1].
using LoadProgressFn = void (*)(void* ctx, double fraction);

Status load_model_dir(const std::string& dir, LoadedModel* out,
                      LoadProgressFn progress = nullptr, void* progress_ctx = nullptr);

// Matches tensors found in `files` to the config: every required tensor present, computable
// dtype, exact shape. Exposed for tests.
Status bind_weights(const ModelConfig& config,
                    const std::vector<std::unique_ptr<SafetensorsFile>>& files,
                    ModelWeights* out, uint64_t* weight_bytes);

}  // namespace inferkit
