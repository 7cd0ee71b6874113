// ModelWeights: every tensor the forward pass reads, as host views into the mmapped
// safetensors or GGUF files, already validated against the ModelConfig (names, dtypes, shapes).
// Matrices may differ in type (a GGUF Q4_K_M file mixes Q4_K and Q6_K).
// Backends copy or convert what they need in load(); the views stay valid until the engine
// unloads the model.
#pragma once

#include <algorithm>
#include <utility>
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

// The distinct types of the matrices (embedding, projections, lm_head), most bytes first.
inline std::vector<DType> matrix_dtypes(const ModelWeights& w) {
  std::vector<std::pair<size_t, DType>> seen;
  auto add = [&](const TensorView& t) {
    if (!t.present()) return;
    for (auto& s : seen) {
      if (s.second == t.dtype) {
        s.first += t.nbytes;
        return;
      }
    }
    seen.emplace_back(t.nbytes, t.dtype);
  };
  add(w.embed_tokens);
  if (w.lm_head.data != w.embed_tokens.data) add(w.lm_head);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) add(*t);
  }
  std::stable_sort(seen.begin(), seen.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<DType> out;
  for (const auto& s : seen) out.push_back(s.second);
  return out;
}

}  // namespace inferkit
