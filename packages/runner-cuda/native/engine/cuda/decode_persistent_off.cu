// The persistent decode step of a build without the experimental kernels (the default: CMake
// option INFERKIT_CUDA_EXPERIMENTAL=OFF). decode_persistent.cu alone took most of the CUDA build
// time while serving only INFERKIT_CUDA_EXPERIMENTAL=1 at run time, so a build compiles it only
// when asked; without it the plan says why the kernel is off and decode keeps the layered path.
//
// Every experimental kernel file X.cu has such an X_off.cu; CMakeLists.txt compiles one of the two.
#include "decode_persistent.cuh"

namespace inferkit {
namespace cuda {

template <typename WT>
cudaError_t plan_persistent_decode(const PersistentDecodeShape&, int, PersistentDecodePlan* plan,
                                   const char** why) {
  *plan = PersistentDecodePlan{};
  *why = "not compiled in (build with INFERKIT_CUDA_EXPERIMENTAL=1)";
  return cudaSuccess;
}

size_t persistent_decode_workspace_floats(const PersistentDecodeShape&, const PersistentDecodePlan&) {
  return 0;
}

template <typename WT>
cudaError_t launch_persistent_decode(const PersistentDecodeArgs&, const PersistentDecodePlan&, cudaStream_t) {
  return cudaErrorNotSupported;
}

template cudaError_t plan_persistent_decode<bf16>(const PersistentDecodeShape&, int, PersistentDecodePlan*, const char**);
template cudaError_t plan_persistent_decode<f16>(const PersistentDecodeShape&, int, PersistentDecodePlan*, const char**);
template cudaError_t launch_persistent_decode<bf16>(const PersistentDecodeArgs&, const PersistentDecodePlan&, cudaStream_t);
template cudaError_t launch_persistent_decode<f16>(const PersistentDecodeArgs&, const PersistentDecodePlan&, cudaStream_t);

}  // namespace cuda
}  // namespace inferkit
