// safetensors reading: header parsing and validation (against the file size, dtypes and
// shapes), and memory-mapped files that hand out TensorViews.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mapped_file.h"
#include "status.h"
#include "tensor.h"

namespace inferkit {

struct SafetensorsEntry {
  std::string name;
  std::string dtype_name;      // as written ("F32", "I64", ...)
  bool computable = false;     // dtype is F32, F16 or BF16
  DType dtype = DType::kF32;   // valid when computable
  std::vector<int64_t> shape;
  uint64_t begin = 0;          // byte offsets relative to the data buffer; end exclusive
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t header_size = 0;    // N, the JSON length
  uint64_t data_offset = 0;    // 8 + N: where the data buffer starts in the file
  std::vector<SafetensorsEntry> tensors;  // sorted by begin offset
  std::unordered_map<std::string, size_t> index;  // name -> position in tensors
};

// The largest header the reference implementation accepts.
constexpr uint64_t kMaxSafetensorsHeader = 100000000;

// Parses and validates the header of a safetensors file whose first `available` bytes are at
// `data` and whose total size is `file_size`. Checks: 8-byte length within bounds and the file,
// JSON object starting with '{', known dtype strings, non-negative shapes with a byte size that
// matches the offsets (overflow-checked), offsets in order, in bounds, no duplicates, and the
// tensors tiling the data buffer exactly (no holes, no overlap, ending at the file's end).
// Errors name the file and the tensor.
Status parse_safetensors_header(const uint8_t* data, size_t available, uint64_t file_size,
                                const std::string& file_name, SafetensorsHeader* out);

// One mapped and validated safetensors file.
class SafetensorsFile {
 public:
  Status open(const std::string& path);
  const SafetensorsHeader& header() const { return header_; }
  const std::string& path() const { return file_.path(); }
  const SafetensorsEntry* find(const std::string& name) const;
  // View of a computable tensor; kBadRequest naming the tensor when its dtype is not.
  Status view(const std::string& name, TensorView* out) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
};

}  // namespace inferkit
