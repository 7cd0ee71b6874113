#include "backend.h"

namespace inferkit {

// INFERKIT_HAS_CUDA is set by CMake when the CUDA sources are compiled into this build.
bool built_with_cuda() {
#if defined(INFERKIT_HAS_CUDA)
  return true;
#else
  return false;
#endif
}

}  // namespace inferkit
