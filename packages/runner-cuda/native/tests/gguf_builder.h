// Builds GGUF files byte by byte for the tests and the fuzzer: valid ones, and, through the raw
// setters, files with any field wrong.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace tiny {

class GgufBuilder {
 public:
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  uint64_t alignment = 32;        // used to place tensor data; write "general.alignment" yourself
  int64_t tensor_count_override = -1;  // >= 0: written instead of the real count
  int64_t kv_count_override = -1;

  bool has_key(const std::string& key) const {
    for (const auto& k : keys_) {
      if (k == key) return true;
    }
    return false;
  }
  void u32(const std::string& key, uint32_t v) { scalar(key, 4, &v, 4); }
  void i32(const std::string& key, int32_t v) { scalar(key, 5, &v, 4); }
  void f32(const std::string& key, float v) { scalar(key, 6, &v, 4); }
  void boolean(const std::string& key, bool v) {
    uint8_t b = v ? 1 : 0;
    scalar(key, 7, &b, 1);
  }
  void str(const std::string& key, const std::string& v) {
    keys_.push_back(key);
    string(key);
    put32(8);
    string(v);
    ++n_kv_;
  }
  void u32_array(const std::string& key, const std::vector<uint32_t>& v) {
    keys_.push_back(key);
    string(key);
    put32(9);
    put32(4);
    put64(v.size());
    for (uint32_t x : v) put32(x);
    ++n_kv_;
  }
  void str_array(const std::string& key, const std::vector<std::string>& v) {
    keys_.push_back(key);
    string(key);
    put32(9);
    put32(8);
    put64(v.size());
    for (const auto& s : v) string(s);
    ++n_kv_;
  }
  // A key with arbitrary type id and payload bytes.
  void raw_kv(const std::string& key, uint32_t type, const std::vector<uint8_t>& payload) {
    keys_.push_back(key);
    string(key);
    put32(type);
    kv_.insert(kv_.end(), payload.begin(), payload.end());
    ++n_kv_;
  }

  // ne in ggml order (ne[0] = row length). data: the tensor's bytes; offset -1 = next aligned
  // position after the previous tensor.
  void tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t ggml_type,
              std::vector<uint8_t> data, int64_t offset = -1) {
    Tensor t{name, std::move(ne), ggml_type, 0, std::move(data)};
    if (offset >= 0) {
      t.offset = static_cast<uint64_t>(offset);
    } else {
      t.offset = next_;
    }
    const uint64_t end = t.offset + t.data.size();
    next_ = end + (alignment - end % alignment) % alignment;
    tensors_.push_back(std::move(t));
  }
  void f32_tensor(const std::string& name, std::vector<uint64_t> ne, const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    tensor(name, std::move(ne), 0, std::move(b));
  }

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> out;
    auto p32 = [&](uint32_t v) { append(&out, &v, 4); };
    auto p64 = [&](uint64_t v) { append(&out, &v, 8); };
    p32(magic);
    p32(version);
    p64(tensor_count_override >= 0 ? static_cast<uint64_t>(tensor_count_override) : tensors_.size());
    p64(kv_count_override >= 0 ? static_cast<uint64_t>(kv_count_override) : n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    for (const Tensor& t : tensors_) {
      p64(t.name.size());
      out.insert(out.end(), t.name.begin(), t.name.end());
      p32(static_cast<uint32_t>(t.ne.size()));
      for (uint64_t d : t.ne) p64(d);
      p32(t.type);
      p64(t.offset);
    }
    while (out.size() % alignment) out.push_back(0);
    const size_t base = out.size();
    for (const Tensor& t : tensors_) {
      if (out.size() < base + t.offset + t.data.size()) out.resize(base + t.offset + t.data.size(), 0);
      if (!t.data.empty()) std::memcpy(out.data() + base + t.offset, t.data.data(), t.data.size());
    }
    return out;
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t offset;
    std::vector<uint8_t> data;
  };
  static void append(std::vector<uint8_t>* out, const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out->insert(out->end(), b, b + n);
  }
  void put32(uint32_t v) { append(&kv_, &v, 4); }
  void put64(uint64_t v) { append(&kv_, &v, 8); }
  void string(const std::string& s) {
    put64(s.size());
    kv_.insert(kv_.end(), s.begin(), s.end());
  }
  void scalar(const std::string& key, uint32_t type, const void* v, size_t n) {
    keys_.push_back(key);
    string(key);
    put32(type);
    append(&kv_, v, n);
    ++n_kv_;
  }

  std::vector<uint8_t> kv_;
  std::vector<std::string> keys_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
  uint64_t next_ = 0;
};

}  // namespace tiny
