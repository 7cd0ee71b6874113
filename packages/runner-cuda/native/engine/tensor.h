// Host-side tensor views: a name, a dtype, a shape and a pointer into the memory-mapped
// safetensors file. Views never own memory; the WeightFile set that produced them does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace inferkit {

// The dtypes the engine computes with. Other safetensors dtypes are rejected at load with an
// error naming the tensor.
enum class DType { kF32 = 0, kF16, kBF16 };

inline size_t dtype_size(DType t) { return t == DType::kF32 ? 4 : 2; }
inline const char* dtype_name(DType t) {
  return t == DType::kF32 ? "F32" : (t == DType::kF16 ? "F16" : "BF16");
}

struct TensorView {
  std::string name;              // safetensors key, e.g. "model.layers.0.self_attn.q_proj.weight"
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
