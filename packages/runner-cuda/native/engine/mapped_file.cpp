#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace inferkit {

void release_mapped_pages(const void* data, size_t bytes) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}

void AnonymousMemoryDeleter::operator()(uint8_t* p) const {
  if (p && bytes > 0) munmap(p, bytes);
}

AnonymousMemory allocate_anonymous(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  // Reserve one huge page more, then unmap the unaligned head and the tail.
  const size_t reserve = bytes + kHugePage;
  void* m = mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return AnonymousMemory(nullptr, AnonymousMemoryDeleter{0});
  const uintptr_t start = reinterpret_cast<uintptr_t>(m);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) munmap(m, aligned - start);
  const uintptr_t end = start + reserve, used_end = aligned + bytes;
  if (end > used_end) munmap(reinterpret_cast<void*>(used_end), end - used_end);
#if defined(MADV_HUGEPAGE)
  madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
#endif
  return AnonymousMemory(reinterpret_cast<uint8_t*>(aligned), AnonymousMemoryDeleter{bytes});
}

MappedFile::~MappedFile() {
  if (data_ && size_ > 0) munmap(const_cast<uint8_t*>(data_), size_);
}

Status MappedFile::open(const std::string& path) {
  path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("file not found: " + path);
    return Status::BadRequest("cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::BadRequest("not a regular file: " + path);
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ == 0) {
    ::close(fd);
    return Status::BadRequest("empty file: " + path);
  }
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) {
    size_ = 0;
    return Status::Internal("mmap of " + path + " failed: " + std::strerror(err));
  }
  data_ = static_cast<const uint8_t*>(p);
  return Status::Ok();
}

}  // namespace inferkit
