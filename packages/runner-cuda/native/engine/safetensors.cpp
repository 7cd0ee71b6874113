#include "safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "json.h"

namespace inferkit {

namespace {

struct DtypeInfo {
  const char* name;
  int bits;
};

// Every dtype string the safetensors format defines, so files holding tensors we never read
// (integer buffers, fp8 scales) still validate.
constexpr DtypeInfo kDtypes[] = {
    {"BOOL", 8},     {"F4", 4},       {"F6_E2M3", 6},     {"F6_E3M2", 6},     {"U8", 8},
    {"I8", 8},       {"F8_E5M2", 8},  {"F8_E4M3", 8},     {"F8_E8M0", 8},     {"F8_E4M3FNUZ", 8},
    {"F8_E5M2FNUZ", 8}, {"I16", 16},  {"U16", 16},        {"F16", 16},        {"BF16", 16},
    {"I32", 32},     {"U32", 32},     {"F32", 32},        {"C64", 64},        {"F64", 64},
    {"I64", 64},     {"U64", 64},
};

const DtypeInfo* find_dtype(const std::string& s) {
  for (const auto& d : kDtypes) {
    if (s == d.name) return &d;
  }
  return nullptr;
}

Status tensor_error(const std::string& file, const std::string& tensor, const std::string& msg) {
  return Status::BadRequest("safetensors file " + file + ": tensor '" + tensor + "': " + msg);
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return true;
  *out = a * b;
  return false;
}

}  // namespace

Status parse_safetensors_header(const uint8_t* data, size_t available, uint64_t file_size,
                                const std::string& file_name, SafetensorsHeader* out) {
  *out = SafetensorsHeader();
  const std::string prefix = "safetensors file " + file_name + ": ";
  if (file_size < 8 || available < 8) {
    return Status::BadRequest(prefix + "shorter than the 8-byte header length");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxSafetensorsHeader) {
    return Status::BadRequest(prefix + "header length " + std::to_string(n) +
                              " exceeds the 100000000-byte limit");
  }
  if (n > file_size - 8 || n > available - 8) {
    return Status::BadRequest(prefix + "header length " + std::to_string(n) +
                              " runs past the end of the file (" + std::to_string(file_size) +
                              " bytes): truncated file?");
  }
  if (n < 2 || data[8] != '{') {
    return Status::BadRequest(prefix + "header is not a JSON object");
  }
  JsonValue root;
  IK_RETURN_IF_ERROR(parse_json(reinterpret_cast<const char*>(data + 8), n,
                                "the header of " + file_name, &root));
  if (!root.is_object()) return Status::BadRequest(prefix + "header is not a JSON object");

  out->header_size = n;
  out->data_offset = 8 + n;
  const uint64_t buffer_size = file_size - out->data_offset;

  for (const auto& kv : root.object) {
    const std::string& name = kv.first;
    const JsonValue& v = kv.second;
    if (name == "__metadata__") {
      if (!v.is_object()) return Status::BadRequest(prefix + "__metadata__ is not an object");
      for (const auto& m : v.object) {
        if (!m.second.is_string()) {
          return Status::BadRequest(prefix + "__metadata__ value '" + m.first +
                                    "' is not a string");
        }
      }
      continue;
    }
    if (out->index.count(name)) return tensor_error(file_name, name, "duplicate entry");
    if (!v.is_object()) return tensor_error(file_name, name, "entry is not an object");
    const JsonValue* dtype = v.get("dtype");
    const JsonValue* shape = v.get("shape");
    const JsonValue* offsets = v.get("data_offsets");
    if (!dtype || !dtype->is_string()) return tensor_error(file_name, name, "missing dtype");
    if (!shape || !shape->is_array()) return tensor_error(file_name, name, "missing shape");
    if (!offsets || !offsets->is_array() || offsets->array.size() != 2) {
      return tensor_error(file_name, name, "data_offsets must be [begin, end]");
    }
    SafetensorsEntry e;
    e.name = name;
    e.dtype_name = dtype->string;
    const DtypeInfo* info = find_dtype(dtype->string);
    if (!info) return tensor_error(file_name, name, "unknown dtype '" + dtype->string + "'");
    if (dtype->string == "F32") {
      e.computable = true;
      e.dtype = DType::kF32;
    } else if (dtype->string == "F16") {
      e.computable = true;
      e.dtype = DType::kF16;
    } else if (dtype->string == "BF16") {
      e.computable = true;
      e.dtype = DType::kBF16;
    }
    uint64_t numel = 1;
    for (const JsonValue& d : shape->array) {
      if (!d.is_integer || d.integer < 0) {
        return tensor_error(file_name, name, "shape entries must be non-negative integers");
      }
      if (mul_overflows(numel, static_cast<uint64_t>(d.integer), &numel)) {
        return tensor_error(file_name, name, "shape overflows");
      }
      e.shape.push_back(d.integer);
    }
    uint64_t bits = 0;
    if (mul_overflows(numel, static_cast<uint64_t>(info->bits), &bits)) {
      return tensor_error(file_name, name, "shape overflows");
    }
    if (bits % 8 != 0) {
      return tensor_error(file_name, name, "element count is not a whole number of bytes");
    }
    for (int i = 0; i < 2; ++i) {
      const JsonValue& o = offsets->array[i];
      if (!o.is_integer || o.integer < 0) {
        return tensor_error(file_name, name, "data_offsets must be non-negative integers");
      }
    }
    e.begin = static_cast<uint64_t>(offsets->array[0].integer);
    e.end = static_cast<uint64_t>(offsets->array[1].integer);
    if (e.end < e.begin) return tensor_error(file_name, name, "data_offsets end before begin");
    if (e.end > buffer_size) {
      return tensor_error(file_name, name,
                          "data ends at byte " + std::to_string(e.end) +
                              " of a data buffer of " + std::to_string(buffer_size) +
                              " bytes: truncated file?");
    }
    if (e.end - e.begin != bits / 8) {
      return tensor_error(file_name, name,
                          "shape and dtype need " + std::to_string(bits / 8) +
                              " bytes but data_offsets span " + std::to_string(e.end - e.begin));
    }
    out->index.emplace(name, out->tensors.size());
    out->tensors.push_back(std::move(e));
  }

  std::sort(out->tensors.begin(), out->tensors.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t expected = 0;
  for (size_t i = 0; i < out->tensors.size(); ++i) {
    const SafetensorsEntry& e = out->tensors[i];
    if (e.begin != expected) {
      return tensor_error(file_name, e.name,
                          e.begin < expected ? "data overlaps the previous tensor"
                                             : "hole in the data buffer before this tensor");
    }
    expected = e.end;
    out->index[e.name] = i;
  }
  if (expected != buffer_size) {
    return Status::BadRequest(prefix + "tensors cover " + std::to_string(expected) +
                              " bytes but the data buffer holds " + std::to_string(buffer_size) +
                              " (file size " + std::to_string(file_size) + ")");
  }
  return Status::Ok();
}

Status SafetensorsFile::open(const std::string& path) {
  IK_RETURN_IF_ERROR(file_.open(path));
  std::string base = path.substr(path.find_last_of('/') + 1);
  return parse_safetensors_header(file_.data(), file_.size(), file_.size(), base, &header_);
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = header_.index.find(name);
  return it == header_.index.end() ? nullptr : &header_.tensors[it->second];
}

Status SafetensorsFile::view(const std::string& name, TensorView* out) const {
  const SafetensorsEntry* e = find(name);
  if (!e) return Status::BadRequest("tensor '" + name + "' not found in " + path());
  if (!e->computable) {
    return Status::BadRequest("tensor '" + name + "' has dtype " + e->dtype_name +
                              "; only F32, F16 and BF16 are supported");
  }
  out->name = name;
  out->dtype = e->dtype;
  out->shape = e->shape;
  out->data = file_.data() + header_.data_offset + e->begin;
  out->nbytes = e->end - e->begin;
  return Status::Ok();
}

}  // namespace inferkit
