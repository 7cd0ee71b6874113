// A small, strict JSON reader for config.json, index files and safetensors headers. It is fed
// untrusted bytes (it is fuzzed under AddressSanitizer), so it bounds nesting depth and never
// reads past the given length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "status.h"

namespace inferkit {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  // Integer literals (no fraction/exponent) that fit in int64 also set is_integer/integer, so
  // byte offsets above 2^53 are not rounded.
  bool is_integer = false;
  int64_t integer = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in document order, duplicates kept

  bool is_null() const { return type == Type::kNull; }
  bool is_number() const { return type == Type::kNumber; }
  bool is_string() const { return type == Type::kString; }
  bool is_array() const { return type == Type::kArray; }
  bool is_object() const { return type == Type::kObject; }
  bool is_bool() const { return type == Type::kBool; }

  // First member named `key`, or nullptr (also when this is not an object).
  const JsonValue* get(const std::string& key) const;
};

// Parses exactly one JSON document (surrounding whitespace allowed). `what` names the source in
// error messages ("config.json", "safetensors header of model.safetensors").
Status parse_json(const char* data, size_t size, const std::string& what, JsonValue* out);

}  // namespace inferkit
