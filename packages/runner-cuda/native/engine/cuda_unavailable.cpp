// The CUDA entry points of a CPU-only build (INFERKIT_CUDA=OFF, or no nvcc found). With CUDA
// enabled CMake compiles engine/cuda/ instead of this file.
#include "backend.h"

namespace inferkit {

Status create_cuda_backend(std::unique_ptr<Backend>* out) {
  out->reset();
  return Status::BadRequest(
      "inferkit was built without CUDA (nvcc was not found or INFERKIT_CUDA=OFF); rebuild with "
      "the CUDA toolkit installed to use device 'cuda'");
}

int cuda_device_count(std::string* why) {
  if (why) *why = "built without CUDA";
  return 0;
}

}  // namespace inferkit
