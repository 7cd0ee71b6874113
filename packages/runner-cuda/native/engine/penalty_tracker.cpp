#include "penalty_tracker.h"

namespace inferkit {

void PenaltyTracker::start(const SamplingParams& params, const std::vector<int32_t>& prompt) {
  tokens_.clear();
  index_.clear();
  active_ = has_penalties(params);
  if (!active_ || params.repetition_penalty == 1.0f) return;
  for (int32_t t : prompt) entry(t);
}

void PenaltyTracker::add_output(int32_t token) {
  if (active_) entry(token).count += 1;
}

PenaltyToken& PenaltyTracker::entry(int32_t token) {
  auto it = index_.find(token);
  if (it != index_.end()) return tokens_[it->second];
  index_.emplace(token, static_cast<int32_t>(tokens_.size()));
  tokens_.push_back(PenaltyToken{token, 0});
  return tokens_.back();
}

}  // namespace inferkit
