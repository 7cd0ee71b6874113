// GGUF metadata -> ModelConfig, for the architectures llama.cpp writes as `llama` (Llama and
// Mistral), `qwen2` and `qwen3`. Errors name the metadata key or tensor.
#pragma once

#include "gguf.h"
#include "model_config.h"
#include "status.h"

namespace inferkit {

// Reads `general.architecture` and the `<arch>.*` hyperparameters, the tokenizer's BOS/EOS ids
// and the tensors that decide options (token_embd rows = vocabulary, output.weight absent =
// tied embeddings, biases present, rope_freqs.weight), and validates them like config.json.
Status model_config_from_gguf(const GgufFile& file, ModelConfig* out);

}  // namespace inferkit
