// Host-side tensor views: a name, a dtype, a shape and a pointer into the memory-mapped
// safetensors or GGUF file. Views never own memory; the file set that produced them does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace inferkit {

// The weight types the engine computes with: safetensors floats, and the GGUF block-quantized
// types of Q8_0 / Q4_0 / Q4_K_M / Q5_K_M files (layouts in cpu/quant_blocks.h). Other types are
// rejected at load with an error naming the tensor.
enum class DType { kF32 = 0, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ5_K, kQ6_K };

// Values per block and bytes per block; 1 value per "block" for the float types.
inline int64_t dtype_block_values(DType t) {
  switch (t) {
    case DType::kQ8_0: case DType::kQ4_0: return 32;
    case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K: return 256;
    default: return 1;
  }
}
inline size_t dtype_block_bytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kQ8_0: return 34;
    case DType::kQ4_0: return 18;
    case DType::kQ4_K: return 144;
    case DType::kQ5_K: return 176;
    case DType::kQ6_K: return 210;
  }
  return 4;
}
inline bool dtype_is_quantized(DType t) { return dtype_block_values(t) > 1; }
// Bytes of a row of n values (n a multiple of the block, which the loaders check).
inline size_t dtype_row_bytes(DType t, int64_t n) {
  return static_cast<size_t>(n / dtype_block_values(t)) * dtype_block_bytes(t);
}
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kQ8_0: return "Q8_0";
    case DType::kQ4_0: return "Q4_0";
    case DType::kQ4_K: return "Q4_K";
    case DType::kQ5_K: return "Q5_K";
    case DType::kQ6_K: return "Q6_K";
  }
  return "?";
}

struct TensorView {
  std::string name;              // key in the file, e.g. "model.layers.0.self_attn.q_proj.weight"
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;    // row-major; a Linear weight is [out_features, in_features]
  const void* data = nullptr;    // nullptr means "absent" (optional tensors such as biases)
  size_t nbytes = 0;

  bool present() const { return data != nullptr; }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t cols() const { return shape.size() < 2 ? (shape.empty() ? 1 : shape[0]) : shape[1]; }
};

}  // namespace inferkit
