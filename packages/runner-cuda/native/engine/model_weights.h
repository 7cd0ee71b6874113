// ModelWeights: every tensor the forward pass reads, as host views into the mmapped
// safetensors files, already validated against the ModelConfig (names, dtypes, shapes).
// Backends copy or convert what they need in load(); the views stay valid until the engine
// unloads the model.
#pragma once

#include <vector>

#include "tensor.h"

namespace inferkit {

struct LayerWeights {
  TensorView attn_norm;               // [hidden]
  TensorView q_proj, k_proj, v_proj;  // [q_dim, hidden], [kv_dim, hidden], [kv_dim, hidden]
  TensorView q_bias, k_bias, v_bias;  // optional: [q_dim], [kv_dim], [kv_dim]
  TensorView o_proj;                  // [hidden, q_dim]
  TensorView o_bias;                  // optional: [hidden]
  TensorView q_norm, k_norm;          // optional (qwen3): [head_dim]
  TensorView ffn_norm;                // [hidden]
  TensorView gate_proj, up_proj;      // [intermediate, hidden]
  TensorView down_proj;               // [hidden, intermediate]
  TensorView gate_bias, up_bias, down_bias;  // optional (llama mlp_bias)
};

struct ModelWeights {
  TensorView embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  TensorView final_norm;    // [hidden]
  TensorView lm_head;       // [vocab, hidden]; same data as embed_tokens when tied
};

}  // namespace inferkit
