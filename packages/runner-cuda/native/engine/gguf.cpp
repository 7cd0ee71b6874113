#include "gguf.h"

#include <algorithm>
#include <cstring>

namespace inferkit {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian uint32

struct GgmlTypeInfo {
  const char* name;  // nullptr: not a ggml type (removed or never assigned)
  uint32_t block_values;
  uint32_t block_bytes;
};

// ggml's type table (ggml.h ids, ggml.c type_traits block and type sizes), so files with types
// the engine does not compute with still validate and get an error naming the tensor's type.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {"F32", 1, 4},         {"F16", 1, 2},        {"Q4_0", 32, 18},     {"Q4_1", 32, 20},
    {nullptr, 0, 0},       {nullptr, 0, 0},      {"Q5_0", 32, 22},     {"Q5_1", 32, 24},
    {"Q8_0", 32, 34},      {"Q8_1", 32, 36},     {"Q2_K", 256, 84},    {"Q3_K", 256, 110},
    {"Q4_K", 256, 144},    {"Q5_K", 256, 176},   {"Q6_K", 256, 210},   {"Q8_K", 256, 292},
    {"IQ2_XXS", 256, 66},  {"IQ2_XS", 256, 74},  {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
    {"IQ4_NL", 32, 18},    {"IQ3_S", 256, 110},  {"IQ2_S", 256, 82},   {"IQ4_XS", 256, 136},
    {"I8", 1, 1},          {"I16", 1, 2},        {"I32", 1, 4},        {"I64", 1, 8},
    {"F64", 1, 8},         {"IQ1_M", 256, 56},   {"BF16", 1, 2},       {nullptr, 0, 0},
    {nullptr, 0, 0},       {nullptr, 0, 0},      {"TQ1_0", 256, 54},   {"TQ2_0", 256, 66},
    {nullptr, 0, 0},       {nullptr, 0, 0},      {nullptr, 0, 0},      {"MXFP4", 32, 17},
    {"NVFP4", 64, 36},     {"Q1_0", 128, 18},    {"Q2_0", 64, 18},
};
constexpr uint32_t kGgmlTypeCount = sizeof(kGgmlTypes) / sizeof(kGgmlTypes[0]);

const GgmlTypeInfo* ggml_type(uint32_t id) {
  if (id >= kGgmlTypeCount || !kGgmlTypes[id].name) return nullptr;
  return &kGgmlTypes[id];
}

const char* value_type_name(GgufValueType t) {
  static const char* kNames[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                 "bool", "string", "array", "uint64", "int64", "float64"};
  const uint32_t i = static_cast<uint32_t>(t);
  return i < 13 ? kNames[i] : "unknown";
}

// Fixed size of a scalar value type; 0 for string and array.
uint64_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: case GgufValueType::kInt8: case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16: case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32: case GgufValueType::kInt32: case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64: case GgufValueType::kInt64: case GgufValueType::kFloat64: return 8;
    default: return 0;
  }
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return true;
  *out = a * b;
  return false;
}

// A bounded little-endian cursor over the file: every read checks the bytes left first.
class Reader {
 public:
  Reader(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }
  bool skip(uint64_t n) {
    if (n > left()) return false;
    pos_ += n;
    return true;
  }
  template <typename T>
  bool read(T* out) {
    if (sizeof(T) > left()) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));  // the host is little-endian (x86-64, arm64)
    pos_ += sizeof(T);
    return true;
  }
  // A GGUF string: uint64 length + bytes. `max` bounds the length before anything is copied.
  bool string(uint64_t max, std::string* out, bool* too_long) {
    uint64_t n;
    *too_long = false;
    if (!read(&n)) return false;
    if (n > max) {
      *too_long = true;
      return false;
    }
    if (n > left()) return false;
    out->assign(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

class HeaderParser {
 public:
  HeaderParser(const uint8_t* data, uint64_t size, const std::string& file)
      : r_(data, size), data_(data), size_(size), prefix_("GGUF file " + file + ": ") {}

  Status parse(GgufHeader* out) {
    uint32_t magic = 0;
    if (!r_.read(&magic)) return fail("shorter than the 4-byte magic: not a GGUF file");
    if (magic != kGgufMagic) return fail("wrong magic (not a GGUF file)");
    if (!r_.read(&out->version)) return truncated("the version");
    if (out->version == 1) return fail("GGUF version 1 is not supported (versions 2 and 3 are)");
    if (out->version != 2 && out->version != 3) {
      return fail("unknown GGUF version " + std::to_string(out->version) + " (versions 2 and 3 are supported)");
    }
    uint64_t n_tensors = 0, n_kv = 0;
    if (!r_.read(&n_tensors)) return truncated("the tensor count");
    if (!r_.read(&n_kv)) return truncated("the metadata count");
    // A tensor info needs >= 24 bytes, a key-value pair >= 13: counts beyond what the rest of
    // the file could hold are rejected before any allocation sized by them.
    if (n_tensors > kGgufMaxTensors || n_tensors > r_.left() / 24) {
      return fail("tensor count " + std::to_string(n_tensors) + " is impossible for a file of " +
                  std::to_string(size_) + " bytes (limit " + std::to_string(kGgufMaxTensors) + ")");
    }
    if (n_kv > kGgufMaxMetadata || n_kv > r_.left() / 13) {
      return fail("metadata count " + std::to_string(n_kv) + " is impossible for a file of " +
                  std::to_string(size_) + " bytes (limit " + std::to_string(kGgufMaxMetadata) + ")");
    }
    out->metadata.reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key;
      bool too_long;
      if (!r_.string(kGgufMaxKeyBytes, &key, &too_long)) {
        if (too_long) return fail("metadata key " + std::to_string(i) + " is longer than 65535 bytes");
        return truncated("metadata key " + std::to_string(i));
      }
      if (key.empty()) return fail("metadata key " + std::to_string(i) + " is empty");
      if (out->metadata_index.count(key)) return key_fail(key, "appears twice");
      GgufValue v;
      IK_RETURN_IF_ERROR(value(key, 0, &v));
      out->metadata_index.emplace(key, out->metadata.size());
      out->metadata.emplace_back(std::move(key), std::move(v));
    }
    if (const GgufValue* a = out->find("general.alignment")) {
      if (!a->is_integer || a->negative || a->type != GgufValueType::kUint32) {
        return key_fail("general.alignment", std::string("must be a uint32, found ") + value_type_name(a->type));
      }
      if (a->uinteger == 0 || (a->uinteger & (a->uinteger - 1)) != 0) {
        return key_fail("general.alignment", "must be a power of two, found " + std::to_string(a->uinteger));
      }
      out->alignment = a->uinteger;
    }
    out->tensors.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensorInfo t;
      IK_RETURN_IF_ERROR(tensor_info(i, &t));
      if (out->tensor_index.count(t.name)) return tensor_fail(t.name, "appears twice");
      out->tensor_index.emplace(t.name, out->tensors.size());
      out->tensors.push_back(std::move(t));
    }
    const uint64_t end = r_.pos();
    const uint64_t pad = (out->alignment - end % out->alignment) % out->alignment;
    if (pad > size_ - end) {
      if (!out->tensors.empty()) return fail("the data section starts past the end of the file: truncated file?");
      out->data_offset = size_;
      return Status::Ok();
    }
    out->data_offset = end + pad;
    const uint64_t data_size = size_ - out->data_offset;
    // Tensors may sit anywhere in the data section (the format asks for alignment, not for a
    // tiling), but never past its end or over one another.
    std::vector<const GgufTensorInfo*> order;
    order.reserve(out->tensors.size());
    for (const GgufTensorInfo& t : out->tensors) {
      if (t.offset % out->alignment != 0) {
        return tensor_fail(t.name, "offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                                       std::to_string(out->alignment));
      }
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        return tensor_fail(t.name, "data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) +
                                       ") runs past the end of the data section (" + std::to_string(data_size) +
                                       " bytes): truncated file?");
      }
      order.push_back(&t);
    }
    std::sort(order.begin(), order.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
      return a->offset != b->offset ? a->offset < b->offset : a->nbytes < b->nbytes;
    });
    for (size_t i = 1; i < order.size(); ++i) {
      if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset) {
        return tensor_fail(order[i]->name, "data overlaps tensor '" + order[i - 1]->name + "'");
      }
    }
    return Status::Ok();
  }

 private:
  Status fail(const std::string& msg) const { return Status::BadRequest(prefix_ + msg); }
  Status truncated(const std::string& what) const {
    return fail("ends inside " + what + " (at byte " + std::to_string(r_.pos()) + "): truncated file?");
  }
  Status key_fail(const std::string& key, const std::string& msg) const {
    return fail("metadata key '" + key + "' " + msg);
  }
  Status tensor_fail(const std::string& name, const std::string& msg) const {
    return fail("tensor '" + name + "': " + msg);
  }

  Status value(const std::string& key, int depth, GgufValue* v) {
    uint32_t type = 0;
    if (!r_.read(&type)) return truncated("the type of metadata key '" + key + "'");
    if (type > static_cast<uint32_t>(GgufValueType::kFloat64)) {
      return key_fail(key, "has unknown value type " + std::to_string(type));
    }
    v->type = static_cast<GgufValueType>(type);
    return payload(key, depth, v);
  }

  Status payload(const std::string& key, int depth, GgufValue* v) {
    const auto need = [&](bool ok) { return ok ? Status::Ok() : truncated("the value of metadata key '" + key + "'"); };
    switch (v->type) {
      case GgufValueType::kUint8: { uint8_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_uint(v, x); break; }
      case GgufValueType::kUint16: { uint16_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_uint(v, x); break; }
      case GgufValueType::kUint32: { uint32_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_uint(v, x); break; }
      case GgufValueType::kUint64: { uint64_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_uint(v, x); break; }
      case GgufValueType::kInt8: { int8_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_int(v, x); break; }
      case GgufValueType::kInt16: { int16_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_int(v, x); break; }
      case GgufValueType::kInt32: { int32_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_int(v, x); break; }
      case GgufValueType::kInt64: { int64_t x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); set_int(v, x); break; }
      case GgufValueType::kFloat32: { float x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); v->number = x; break; }
      case GgufValueType::kFloat64: { double x = 0; IK_RETURN_IF_ERROR(need(r_.read(&x))); v->number = x; break; }
      case GgufValueType::kBool: {
        uint8_t x = 0;
        IK_RETURN_IF_ERROR(need(r_.read(&x)));
        if (x > 1) return key_fail(key, "is a bool holding " + std::to_string(x) + " (not 0 or 1)");
        v->boolean = x != 0;
        break;
      }
      case GgufValueType::kString: {
        bool too_long;
        IK_RETURN_IF_ERROR(need(r_.string(UINT64_MAX, &v->string, &too_long)));
        break;
      }
      case GgufValueType::kArray: {
        if (depth >= kGgufMaxArrayDepth) return key_fail(key, "nests arrays deeper than " + std::to_string(kGgufMaxArrayDepth));
        uint32_t elem = 0;
        IK_RETURN_IF_ERROR(need(r_.read(&elem)));
        IK_RETURN_IF_ERROR(need(r_.read(&v->array_count)));
        if (elem > static_cast<uint32_t>(GgufValueType::kFloat64)) {
          return key_fail(key, "is an array of unknown value type " + std::to_string(elem));
        }
        v->array_type = static_cast<GgufValueType>(elem);
        v->array_offset = r_.pos();
        const uint64_t fixed = scalar_size(v->array_type);
        if (fixed > 0) {
          uint64_t bytes;
          if (mul_overflows(v->array_count, fixed, &bytes) || !r_.skip(bytes)) {
            return key_fail(key, "declares " + std::to_string(v->array_count) + " elements, more than the file holds: truncated file?");
          }
          if (v->array_type == GgufValueType::kBool) {
            const uint8_t* p = r_data(v->array_offset);
            for (uint64_t i = 0; i < v->array_count; ++i) {
              if (p[i] > 1) return key_fail(key, "holds a bool that is not 0 or 1 at element " + std::to_string(i));
            }
          }
        } else {
          // Strings need >= 8 bytes each, arrays >= 12: bound the count before walking it.
          const uint64_t min_size = v->array_type == GgufValueType::kString ? 8 : 12;
          if (v->array_count > r_.left() / min_size) {
            return key_fail(key, "declares " + std::to_string(v->array_count) + " elements, more than the file holds: truncated file?");
          }
          for (uint64_t i = 0; i < v->array_count; ++i) {
            if (v->array_type == GgufValueType::kString) {
              uint64_t n;
              if (!r_.read(&n) || !r_.skip(n)) {
                return truncated("string " + std::to_string(i) + " of metadata key '" + key + "'");
              }
            } else {
              GgufValue inner;
              inner.type = GgufValueType::kArray;
              IK_RETURN_IF_ERROR(payload(key, depth + 1, &inner));
            }
          }
        }
        break;
      }
    }
    return Status::Ok();
  }

  static void set_uint(GgufValue* v, uint64_t x) {
    v->is_integer = true;
    v->uinteger = x;
    v->integer = x > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(x);
    v->number = static_cast<double>(x);
  }
  static void set_int(GgufValue* v, int64_t x) {
    v->is_integer = true;
    v->integer = x;
    v->negative = x < 0;
    v->uinteger = x < 0 ? 0 : static_cast<uint64_t>(x);
    v->number = static_cast<double>(x);
  }

  const uint8_t* r_data(uint64_t offset) const { return data_ + offset; }

  Status tensor_info(uint64_t index, GgufTensorInfo* t) {
    bool too_long;
    if (!r_.string(kGgufMaxTensorNameBytes, &t->name, &too_long)) {
      if (too_long) return fail("tensor " + std::to_string(index) + " has a name longer than 63 bytes");
      return truncated("the name of tensor " + std::to_string(index));
    }
    if (t->name.empty()) return fail("tensor " + std::to_string(index) + " has an empty name");
    uint32_t n_dims;
    if (!r_.read(&n_dims)) return truncated("tensor '" + t->name + "'");
    if (n_dims < 1 || n_dims > static_cast<uint32_t>(kGgufMaxDims)) {
      return tensor_fail(t->name, "has " + std::to_string(n_dims) + " dimensions (1 to 4 allowed)");
    }
    uint64_t ne[kGgufMaxDims];
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!r_.read(&ne[d])) return truncated("tensor '" + t->name + "'");
      if (ne[d] == 0 || ne[d] > static_cast<uint64_t>(INT64_MAX)) {
        return tensor_fail(t->name, "dimension " + std::to_string(d) + " is " + std::to_string(ne[d]));
      }
      if (mul_overflows(numel, ne[d], &numel) || numel > static_cast<uint64_t>(INT64_MAX)) {
        return tensor_fail(t->name, "element count overflows");
      }
    }
    if (!r_.read(&t->ggml_type) || !r_.read(&t->offset)) return truncated("tensor '" + t->name + "'");
    const GgmlTypeInfo* info = ggml_type(t->ggml_type);
    if (!info) return tensor_fail(t->name, "unknown ggml type " + std::to_string(t->ggml_type));
    if (ne[0] % info->block_values != 0) {
      return tensor_fail(t->name, std::string("rows of ") + std::to_string(ne[0]) + " values do not divide into " +
                                      info->name + " blocks of " + std::to_string(info->block_values));
    }
    if (mul_overflows(numel / info->block_values, info->block_bytes, &t->nbytes)) {
      return tensor_fail(t->name, "byte size overflows");
    }
    for (int d = static_cast<int>(n_dims) - 1; d >= 0; --d) t->shape.push_back(static_cast<int64_t>(ne[d]));
    return Status::Ok();
  }

  Reader r_;
  const uint8_t* data_;
  uint64_t size_;
  std::string prefix_;
};

}  // namespace

const GgufValue* GgufHeader::find(const std::string& key) const {
  auto it = metadata_index.find(key);
  return it == metadata_index.end() ? nullptr : &metadata[it->second].second;
}

const GgufTensorInfo* GgufHeader::find_tensor(const std::string& name) const {
  auto it = tensor_index.find(name);
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

Status parse_gguf_header(const uint8_t* data, uint64_t size, const std::string& file_name, GgufHeader* out) {
  *out = GgufHeader();
  HeaderParser p(data, size, file_name);
  Status st = p.parse(out);
  if (!st.ok()) *out = GgufHeader();
  return st;
}

const char* ggml_type_name(uint32_t id) {
  const GgmlTypeInfo* t = ggml_type(id);
  return t ? t->name : nullptr;
}

bool ggml_type_to_dtype(uint32_t id, DType* out) {
  switch (id) {
    case 0: *out = DType::kF32; return true;
    case 1: *out = DType::kF16; return true;
    case 2: *out = DType::kQ4_0; return true;
    case 8: *out = DType::kQ8_0; return true;
    case 12: *out = DType::kQ4_K; return true;
    case 13: *out = DType::kQ5_K; return true;
    case 14: *out = DType::kQ6_K; return true;
    case 30: *out = DType::kBF16; return true;
    default: return false;
  }
}

Status GgufFile::open(const std::string& path) {
  IK_RETURN_IF_ERROR(file_.open(path));
  name_ = path.substr(path.find_last_of('/') + 1);
  return parse_gguf_header(file_.data(), file_.size(), name_, &header_);
}

Status GgufFile::view(const std::string& tensor, TensorView* out) const {
  const GgufTensorInfo* t = find(tensor);
  if (!t) return Status::BadRequest("GGUF file " + name_ + ": tensor '" + tensor + "' is missing");
  DType dt;
  if (!ggml_type_to_dtype(t->ggml_type, &dt)) {
    return Status::BadRequest("GGUF file " + name_ + ": tensor '" + tensor + "' has type " +
                              ggml_type_name(t->ggml_type) +
                              "; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K");
  }
  out->name = tensor;
  out->dtype = dt;
  out->shape = t->shape;
  out->data = tensor_data(*t);
  out->nbytes = t->nbytes;
  return Status::Ok();
}

Status GgufFile::key_error(const std::string& key, const std::string& msg) const {
  return Status::BadRequest("GGUF file " + name_ + ": metadata key '" + key + "' " + msg);
}

Status GgufFile::get_uint(const std::string& key, bool required, uint64_t* out) const {
  const GgufValue* v = header_.find(key);
  if (!v) return required ? key_error(key, "is missing") : Status::Ok();
  if (!v->is_integer) return key_error(key, std::string("must be an integer, found ") + value_type_name(v->type));
  if (v->negative) return key_error(key, "must not be negative, found " + std::to_string(v->integer));
  *out = v->uinteger;
  return Status::Ok();
}

Status GgufFile::get_float(const std::string& key, bool required, double* out) const {
  const GgufValue* v = header_.find(key);
  if (!v) return required ? key_error(key, "is missing") : Status::Ok();
  if (!v->is_integer && v->type != GgufValueType::kFloat32 && v->type != GgufValueType::kFloat64) {
    return key_error(key, std::string("must be a number, found ") + value_type_name(v->type));
  }
  *out = v->number;
  return Status::Ok();
}

Status GgufFile::get_string(const std::string& key, bool required, std::string* out) const {
  const GgufValue* v = header_.find(key);
  if (!v) return required ? key_error(key, "is missing") : Status::Ok();
  if (v->type != GgufValueType::kString) {
    return key_error(key, std::string("must be a string, found ") + value_type_name(v->type));
  }
  *out = v->string;
  return Status::Ok();
}

Status GgufFile::get_bool(const std::string& key, bool required, bool* out) const {
  const GgufValue* v = header_.find(key);
  if (!v) return required ? key_error(key, "is missing") : Status::Ok();
  if (v->type != GgufValueType::kBool) {
    return key_error(key, std::string("must be a bool, found ") + value_type_name(v->type));
  }
  *out = v->boolean;
  return Status::Ok();
}

Status GgufFile::get_uint_array(const std::string& key, uint64_t max_count, std::vector<uint64_t>* out) const {
  const GgufValue* v = header_.find(key);
  if (!v) return key_error(key, "is missing");
  if (v->type != GgufValueType::kArray) return key_error(key, std::string("must be an array, found ") + value_type_name(v->type));
  const uint64_t size = scalar_size(v->array_type);
  const bool is_int = size > 0 && v->array_type != GgufValueType::kBool && v->array_type != GgufValueType::kFloat32 &&
                      v->array_type != GgufValueType::kFloat64;
  if (!is_int) return key_error(key, std::string("must be an array of integers, found ") + value_type_name(v->array_type) + " elements");
  if (v->array_count > max_count) {
    return key_error(key, "has " + std::to_string(v->array_count) + " elements (at most " + std::to_string(max_count) + " expected)");
  }
  out->clear();
  const uint8_t* p = file_.data() + v->array_offset;
  for (uint64_t i = 0; i < v->array_count; ++i, p += size) {
    int64_t s = 0;
    uint64_t u = 0;
    switch (v->array_type) {
      case GgufValueType::kUint8: u = *p; break;
      case GgufValueType::kInt8: { int8_t x; std::memcpy(&x, p, 1); s = x; break; }
      case GgufValueType::kUint16: { uint16_t x; std::memcpy(&x, p, 2); u = x; break; }
      case GgufValueType::kInt16: { int16_t x; std::memcpy(&x, p, 2); s = x; break; }
      case GgufValueType::kUint32: { uint32_t x; std::memcpy(&x, p, 4); u = x; break; }
      case GgufValueType::kInt32: { int32_t x; std::memcpy(&x, p, 4); s = x; break; }
      case GgufValueType::kUint64: std::memcpy(&u, p, 8); break;
      case GgufValueType::kInt64: std::memcpy(&s, p, 8); break;
      default: break;
    }
    if (s < 0) return key_error(key, "holds a negative value at element " + std::to_string(i));
    out->push_back(s > 0 ? static_cast<uint64_t>(s) : u);
  }
  return Status::Ok();
}

}  // namespace inferkit
