#include "vocabulary.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace inferkit {
namespace grammar {

namespace {

constexpr size_t kMaxTokens = size_t{1} << 22;

}  // namespace

const uint8_t* Vocabulary::token_bytes(int32_t id, size_t* len) const {
  if (id < 0 || id >= vocab_size_) {
    *len = 0;
    return bytes_.data();
  }
  *len = offsets_[id + 1] - offsets_[id];
  return bytes_.data() + offsets_[id];
}

size_t Vocabulary::memory_bytes() const {
  return bytes_.size() + special_.size() + byte_.size() +
         (offsets_.size() + depth_.size() + end_.size() + token_index_.size() + token_ids_.size()) * 4;
}

Status Vocabulary::build(const uint8_t* bytes, size_t n_bytes, const uint32_t* offsets, size_t n_tokens,
                         const uint8_t* special, int vocab_size, std::shared_ptr<const Vocabulary>* out) {
  out->reset();
  if (vocab_size <= 0) return Status::BadRequest("vocabulary: vocab_size must be positive");
  if (n_tokens > kMaxTokens) return Status::BadRequest("vocabulary: too many tokens");
  if (offsets == nullptr && n_tokens > 0) return Status::BadRequest("vocabulary: offsets missing");
  for (size_t i = 0; i < n_tokens; ++i) {
    if (offsets[i] > offsets[i + 1]) return Status::BadRequest("vocabulary: offsets must not decrease");
  }
  if (n_tokens > 0 && offsets[n_tokens] > n_bytes) return Status::BadRequest("vocabulary: offsets beyond the bytes");

  auto v = std::make_shared<Vocabulary>();
  v->vocab_size_ = vocab_size;
  const size_t used = std::min(n_tokens, static_cast<size_t>(vocab_size));
  // Own copies, rebased so token 0 starts at byte 0.
  const uint32_t base = used > 0 ? offsets[0] : 0;
  v->offsets_.assign(static_cast<size_t>(vocab_size) + 1, 0);
  for (size_t i = 0; i <= used; ++i) v->offsets_[i] = offsets[i] - base;
  for (size_t i = used + 1; i <= static_cast<size_t>(vocab_size); ++i) v->offsets_[i] = v->offsets_[used];
  if (used > 0) v->bytes_.assign(bytes + base, bytes + offsets[used]);
  v->special_.assign(static_cast<size_t>(vocab_size), 0);
  if (special != nullptr)
    for (size_t i = 0; i < used; ++i) v->special_[i] = special[i] != 0;

  // Text tokens, sorted by bytes: inserting them in that order creates trie nodes in preorder,
  // and tokens with equal bytes land on one node together. Special tokens stay out of the trie:
  // a grammar allows few of them, checked one by one (vocabularies with thousands of reserved
  // control tokens would otherwise make every pass over the trie pay for them).
  std::vector<int32_t> order;
  order.reserve(used);
  for (size_t i = 0; i < used; ++i) {
    const size_t len = v->offsets_[i + 1] - v->offsets_[i];
    if (len > 0 && len <= kMaxTokenBytes && !v->special_[i]) order.push_back(static_cast<int32_t>(i));
  }
  const uint8_t* data = v->bytes_.data();
  const auto len_of = [&](int32_t id) { return static_cast<size_t>(v->offsets_[id + 1] - v->offsets_[id]); };
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const size_t la = len_of(a), lb = len_of(b);
    const int c = std::memcmp(data + v->offsets_[a], data + v->offsets_[b], std::min(la, lb));
    if (c != 0) return c < 0;
    if (la != lb) return la < lb;
    return a < b;
  });

  v->byte_.push_back(0);
  v->depth_.push_back(0);
  v->end_.push_back(0);
  v->token_index_.push_back(0);
  std::vector<int32_t> path(1, 0);  // path[d]: node at depth d on the current token's path
  const uint8_t* prev = nullptr;
  size_t prev_len = 0;
  for (int32_t id : order) {
    const uint8_t* b = data + v->offsets_[id];
    const size_t len = len_of(id);
    size_t lcp = 0;
    while (lcp < prev_len && lcp < len && prev[lcp] == b[lcp]) ++lcp;
    const int32_t now = static_cast<int32_t>(v->byte_.size());
    for (size_t d = prev_len; d > lcp; --d) v->end_[path[d]] = now;
    if (path.size() < len + 1) path.resize(len + 1);
    for (size_t d = lcp + 1; d <= len; ++d) {
      path[d] = static_cast<int32_t>(v->byte_.size());
      v->byte_.push_back(b[d - 1]);
      v->depth_.push_back(static_cast<int32_t>(d));
      v->end_.push_back(0);
      v->token_index_.push_back(static_cast<int32_t>(v->token_ids_.size()));
    }
    v->token_ids_.push_back(id);
    v->max_depth_ = std::max(v->max_depth_, static_cast<int32_t>(len));
    prev = b;
    prev_len = len;
  }
  const int32_t total = static_cast<int32_t>(v->byte_.size());
  for (size_t d = prev_len; d > 0; --d) v->end_[path[d]] = total;
  v->end_[0] = total;
  v->token_index_.push_back(static_cast<int32_t>(v->token_ids_.size()));
  *out = std::move(v);
  return Status::Ok();
}

}  // namespace grammar
}  // namespace inferkit
