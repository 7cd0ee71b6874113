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

Status resolve_block_tables(const StepBatch& b, int max_slots, int max_seq_len, int kv_blocks,
                            std::vector<int32_t>* out) {
  const int bps = kv_blocks_per_seq(max_seq_len);
  const size_t n = static_cast<size_t>(max_slots) * bps;
  if (b.block_tables) {
    out->assign(b.block_tables, b.block_tables + n);
  } else {
    if (static_cast<int64_t>(max_slots) * bps > kv_blocks) {
      return Status::BadRequest("a step without block tables needs a KV pool of max_slots x blocks per sequence");
    }
    out->resize(n);
    for (size_t i = 0; i < n; ++i) (*out)[i] = static_cast<int32_t>(i);
  }
  for (int i = 0; i < b.n_tokens; ++i) {
    const int32_t* row = out->data() + static_cast<size_t>(b.slots[i]) * bps;
    // Positions of one slot ascend within a batch: checking at each slot's last token would
    // do, but every token's own block is cheap and catches a bad table at once.
    const int last = b.positions[i] / kKvBlockTokens;
    const int first = (i > 0 && b.slots[i - 1] == b.slots[i]) ? b.positions[i - 1] / kKvBlockTokens : 0;
    for (int j = first; j <= last; ++j) {
      if (row[j] < 0 || row[j] >= kv_blocks) {
        return Status::BadRequest("KV block " + std::to_string(j) + " of slot " + std::to_string(b.slots[i]) +
                                  " is " + (row[j] < 0 ? "unassigned" : "outside the pool"));
      }
    }
  }
  return Status::Ok();
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
