// GGUF reading (versions 2 and 3): header, metadata, tensor infos and the aligned data section,
// every count, size and offset checked against the file before anything is used, then a
// memory-mapped file that hands out TensorViews. Errors are kBadRequest and name the file and the
// key or tensor at fault; nothing read from the file is trusted as a size without a bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "mapped_file.h"
#include "status.h"
#include "tensor.h"

namespace inferkit {

enum class GgufValueType : uint32_t {
  kUint8 = 0, kInt8, kUint16, kInt16, kUint32, kInt32, kFloat32, kBool, kString, kArray,
  kUint64, kInt64, kFloat64,
};

// A metadata value. Scalars are decoded; arrays are validated but kept in the file (tokenizer
// vocabularies hold hundreds of thousands of strings the engine never reads).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  bool is_integer = false;   // any of the integer types
  bool negative = false;     // a signed integer below zero (then `integer` holds it)
  int64_t integer = 0;       // integer types that fit int64
  uint64_t uinteger = 0;     // integer types, when not negative
  double number = 0;         // float types (and integers, converted)
  bool boolean = false;
  std::string string;
  GgufValueType array_type = GgufValueType::kUint8;  // kArray: element type
  uint64_t array_count = 0;                          // kArray: number of elements
  uint64_t array_offset = 0;                         // kArray: file offset of the first element
};

struct GgufTensorInfo {
  std::string name;
  uint32_t ggml_type = 0;
  std::vector<int64_t> shape;  // row-major (ggml's ne reversed): a matrix is [rows, cols]
  uint64_t offset = 0;         // relative to the data section, a multiple of the alignment
  uint64_t nbytes = 0;
};

struct GgufHeader {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;  // file offset of the data section
  std::vector<std::pair<std::string, GgufValue>> metadata;  // in file order
  std::unordered_map<std::string, size_t> metadata_index;
  std::vector<GgufTensorInfo> tensors;  // in file order
  std::unordered_map<std::string, size_t> tensor_index;

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* find_tensor(const std::string& name) const;
};

// Bounds on what a header may declare (a tensor info takes at least 24 bytes and a key-value
// pair 13, so the file size bounds the counts as well).
constexpr uint64_t kGgufMaxTensors = 1u << 20;
constexpr uint64_t kGgufMaxMetadata = 1u << 20;
constexpr uint64_t kGgufMaxKeyBytes = 65535;
constexpr uint64_t kGgufMaxTensorNameBytes = 63;  // ggml's GGML_MAX_NAME (64) minus the NUL
constexpr int kGgufMaxDims = 4;
constexpr int kGgufMaxArrayDepth = 3;

// Parses and validates the first `size` bytes at `data` as a GGUF file: magic, version (2 or 3),
// counts against the bounds above and the bytes left, key and tensor-name lengths, duplicate
// keys and names, value types, nested arrays (depth-limited), bools of 0/1, general.alignment
// (an unsigned power of two), tensor dimensions (1..4, each >= 1, product without overflow),
// ggml type ids and their block divisibility, offsets aligned, in the data section and not
// overlapping another tensor.
Status parse_gguf_header(const uint8_t* data, uint64_t size, const std::string& file_name,
                         GgufHeader* out);

// ggml's name for a type id ("Q4_K"), nullptr for an id that is not a ggml type.
const char* ggml_type_name(uint32_t id);
// The engine dtype for a ggml type id; false when the engine does not compute with that type.
bool ggml_type_to_dtype(uint32_t id, DType* out);

// One mapped and validated GGUF file.
class GgufFile {
 public:
  Status open(const std::string& path);
  const GgufHeader& header() const { return header_; }
  // The file's base name, used in messages.
  const std::string& name() const { return name_; }
  const GgufTensorInfo* find(const std::string& tensor) const { return header_.find_tensor(tensor); }
  // View of a tensor; kBadRequest naming the tensor when the engine cannot compute with its type.
  Status view(const std::string& tensor, TensorView* out) const;
  // Raw bytes of a tensor (any type), for tensors read once at load (rope_freqs).
  const uint8_t* tensor_data(const GgufTensorInfo& t) const {
    return file_.data() + header_.data_offset + t.offset;
  }

  // Typed metadata; absent + !required leaves *out unchanged. Errors name the key and the type
  // found. get_uint accepts every integer type holding a value >= 0; get_float every number.
  Status get_uint(const std::string& key, bool required, uint64_t* out) const;
  Status get_float(const std::string& key, bool required, double* out) const;
  Status get_string(const std::string& key, bool required, std::string* out) const;
  Status get_bool(const std::string& key, bool required, bool* out) const;
  // The elements of an integer array (at most max_count of them).
  Status get_uint_array(const std::string& key, uint64_t max_count, std::vector<uint64_t>* out) const;

 private:
  Status key_error(const std::string& key, const std::string& msg) const;

  MappedFile file_;
  GgufHeader header_;
  std::string name_;
};

}  // namespace inferkit
