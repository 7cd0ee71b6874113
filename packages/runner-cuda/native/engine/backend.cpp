#include "backend.h"

#include <string>

namespace inferkit {

// INFERKIT_HAS_CUDA is set by CMake when the CUDA sources are compiled into this build.
bool built_with_cuda() {
#if defined(INFERKIT_HAS_CUDA)
  return true;
#else
  return false;
#endif
}

Status check_penalty_rows(const StepOutput& out, int n_outputs, int vocab) {
  if (!out.penalty_offsets) return Status::Ok();
  if (!out.sampled) return Status::BadRequest("penalty lists without sampling");
  if (out.penalty_offsets[0] != 0) return Status::BadRequest("penalty offsets must start at 0");
  if (out.penalty_offsets[n_outputs] > 0 && !out.penalty_tokens) {
    return Status::BadRequest("penalty offsets without tokens");
  }
  for (int r = 0; r < n_outputs; ++r) {
    const int32_t b = out.penalty_offsets[r], e = out.penalty_offsets[r + 1];
    if (e < b) return Status::BadRequest("penalty offsets must ascend");
    for (int32_t i = b; i < e; ++i) {
      const PenaltyToken& t = out.penalty_tokens[i];
      if (t.id < 0 || t.id >= vocab || t.count < 0) {
        return Status::BadRequest("penalty token " + std::to_string(t.id) + " is outside the vocabulary");
      }
    }
  }
  return Status::Ok();
}

}  // namespace inferkit
