// A read-only memory mapping of a whole file (safetensors shards, GGUF files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "status.h"

namespace inferkit {

// Drops the resident pages wholly inside [data, data + bytes) of a file mapping; touching them
// later reads them from the file again. For weights a backend converted into its own memory.
void release_mapped_pages(const void* data, size_t bytes);

// Anonymous memory for a backend's large arrays (packed or converted weights, the KV cache):
// committed page by page as it is first written, aligned to 2 MiB and, where the kernel's
// transparent huge pages are set to `madvise`, asked for in huge pages. The forward pass reads
// these arrays in scattered pieces (KV blocks of every sequence and layer, weight rows) that
// missed the TLB on every 4 KiB page. nullptr when the memory cannot be reserved.
struct AnonymousMemoryDeleter {
  size_t bytes = 0;
  void operator()(uint8_t* p) const;
};
using AnonymousMemory = std::unique_ptr<uint8_t[], AnonymousMemoryDeleter>;
AnonymousMemory allocate_anonymous(size_t bytes);

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // kNotFound when the file does not exist; kBadRequest for a directory, an empty file or no
  // read permission.
  Status open(const std::string& path);
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace inferkit
