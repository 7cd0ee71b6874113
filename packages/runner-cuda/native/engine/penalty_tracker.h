// PenaltyTracker: the tokens one sequence's penalties apply to (sampling.h), kept up to date as
// tokens are generated, so a step hands the backend one ready list per row instead of
// recounting the context.
//
// Which tokens count: presence and frequency penalties follow OpenAI, over the generated
// tokens only; the repetition penalty follows transformers and vLLM, over the prompt and the
// generated tokens (the whole context, no window).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "sampling.h"

namespace inferkit {

class PenaltyTracker {
 public:
  // Starts a sequence: no list at all unless `params` has a penalty; the prompt's distinct
  // tokens (count 0) when the repetition penalty is on.
  void start(const SamplingParams& params, const std::vector<int32_t>& prompt);

  // Records one generated token.
  void add_output(int32_t token);

  // Whether the sequence has penalties (and so a list).
  bool active() const { return active_; }

  // Every token the penalties apply to, each once.
  const std::vector<PenaltyToken>& tokens() const { return tokens_; }

 private:
  PenaltyToken& entry(int32_t token);

  bool active_ = false;
  std::vector<PenaltyToken> tokens_;
  std::unordered_map<int32_t, int32_t> index_;  // token id -> position in tokens_
};

}  // namespace inferkit
