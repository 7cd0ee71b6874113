#include "matcher.h"

#include <algorithm>

namespace inferkit {
namespace grammar {

namespace {

constexpr uint32_t kHashSeed = 0x9e3779b9u;
// Work items one closure may take: far above any real grammar's, a guard against a
// pathologically ambiguous one (the paths beyond it are dropped, as with kMaxStacks).
constexpr size_t kMaxClosureSteps = size_t{1} << 20;

inline uint32_t mix(uint32_t h, int32_t v) {
  h ^= static_cast<uint32_t>(v) + kHashSeed + (h << 6) + (h >> 2);
  return h * 0x85ebca6bu;
}

}  // namespace

// ---------------------------------------------------------------- CompiledGrammar

CompiledGrammar::CompiledGrammar(std::shared_ptr<const Grammar> grammar,
                                 std::shared_ptr<const Vocabulary> vocab, size_t cache_bytes)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), cache_limit_(cache_bytes) {
  special_allowed_.assign(static_cast<size_t>(vocab_->mask_words()), 0);
  for (int32_t id : grammar_->special_tokens())
    if (id < vocab_->vocab_size()) special_allowed_[id >> 5] |= 1u << (id & 31);
}

bool CompiledGrammar::allows_special(int32_t id) const {
  return id >= 0 && id < vocab_->vocab_size() && ((special_allowed_[id >> 5] >> (id & 31)) & 1u);
}

size_t CompiledGrammar::KeyHash::operator()(const std::vector<int32_t>& k) const {
  uint64_t h = 1469598103934665603ull;
  for (int32_t v : k) h = (h ^ static_cast<uint32_t>(v)) * 1099511628211ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

bool CompiledGrammar::cache_lookup(const std::vector<int32_t>& state, uint32_t* mask) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(state);
  if (it == cache_.end()) {
    ++misses_;
    return false;
  }
  ++hits_;
  std::copy(it->second.begin(), it->second.end(), mask);
  return true;
}

void CompiledGrammar::cache_store(const std::vector<int32_t>& state, const uint32_t* mask) {
  const size_t words = static_cast<size_t>(vocab_->mask_words());
  const size_t bytes = (words + state.size()) * 4 + 64;
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > cache_limit_) return;
  if (cache_bytes_ + bytes > cache_limit_) {
    cache_.clear();
    cache_bytes_ = 0;
  }
  if (cache_.emplace(state, std::vector<uint32_t>(mask, mask + words)).second) cache_bytes_ += bytes;
}

CompiledGrammar::CacheStats CompiledGrammar::cache_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  CacheStats s;
  s.hits = hits_;
  s.misses = misses_;
  s.entries = cache_.size();
  s.bytes = cache_bytes_;
  return s;
}

// ---------------------------------------------------------------- GrammarMatcher

GrammarMatcher::GrammarMatcher(std::shared_ptr<CompiledGrammar> grammar)
    : grammar_(std::move(grammar)), g_(&grammar_->grammar()), code_(g_->code().data()) {}

Status GrammarMatcher::init() {
  reset_scratch();
  for (const int32_t* a = g_->alts_begin(g_->root()); a != g_->alts_end(g_->root()); ++a) close(*a, -1, 0);
  if (tops_.empty()) return Status::BadRequest("grammar: the root rule matches nothing");
  extract(0, tops_.size(), &state_);
  return Status::Ok();
}

void GrammarMatcher::reset_scratch() {
  frames_.clear();
  tops_.clear();
  overflow_ = false;
}

int32_t GrammarMatcher::new_frame(int32_t pos, int32_t parent) {
  const int32_t depth = parent < 0 ? 1 : frames_[parent].depth + 1;
  if (depth > kMaxDepth) {
    overflow_ = true;
    return -2;
  }
  const uint32_t h = mix(parent < 0 ? kHashSeed : frames_[parent].hash, pos);
  frames_.push_back(Frame{pos, parent, h, depth});
  return static_cast<int32_t>(frames_.size() - 1);
}

bool GrammarMatcher::same_stack(int32_t a, int32_t b) const {
  while (a != b) {
    if (a < 0 || b < 0) return false;
    const Frame& fa = frames_[a];
    const Frame& fb = frames_[b];
    if (fa.hash != fb.hash || fa.pos != fb.pos || fa.depth != fb.depth) return false;
    a = fa.parent;
    b = fb.parent;
  }
  return true;
}

void GrammarMatcher::add_top(int32_t pos, int32_t parent, size_t begin) {
  for (size_t i = begin; i < tops_.size(); ++i) {
    const int32_t t = tops_[i];
    if (t < 0) continue;
    const Frame& f = frames_[t];
    if (f.pos == pos && (f.parent == parent || same_stack(f.parent, parent))) return;
  }
  if (tops_.size() - begin >= kMaxStacks) {
    overflow_ = true;
    return;
  }
  const int32_t f = new_frame(pos, parent);
  if (f >= 0) tops_.push_back(f);
}

void GrammarMatcher::add_accept(size_t begin) {
  for (size_t i = begin; i < tops_.size(); ++i)
    if (tops_[i] == kAccept) return;
  tops_.push_back(kAccept);
}

void GrammarMatcher::close(int32_t pos, int32_t parent, size_t begin) {
  work_.clear();
  work_.emplace_back(pos, parent);
  size_t steps = 0;
  while (!work_.empty()) {
    const int32_t p = work_.back().first;
    const int32_t par = work_.back().second;
    work_.pop_back();
    if (++steps > kMaxClosureSteps) {
      overflow_ = true;
      return;
    }
    const int32_t e = code_[p];
    if (Grammar::is_class(e)) {
      add_top(p, par, begin);
    } else if (e == Grammar::kEnd) {
      if (par < 0) {
        add_accept(begin);
      } else {
        const Frame& f = frames_[par];
        work_.emplace_back(f.pos + 1, f.parent);
      }
    } else {
      // A reference that ends its alternative returns straight to our caller (tail call): no
      // frame, so right-recursive loops do not deepen the stack.
      int32_t ret = par;
      if (code_[p + 1] != Grammar::kEnd) {
        ret = new_frame(p, par);
        if (ret < 0) continue;
      }
      const int32_t rule = Grammar::ref_rule(e);
      const int32_t* first = g_->alts_begin(rule);
      for (const int32_t* a = g_->alts_end(rule); a != first;) work_.emplace_back(*--a, ret);
    }
  }
}

size_t GrammarMatcher::advance(size_t begin, size_t end, uint8_t byte) {
  const size_t out = tops_.size();
  for (size_t i = begin; i < end; ++i) {
    const int32_t t = tops_[i];
    if (t < 0) continue;
    const int32_t pos = frames_[t].pos;
    if (!g_->class_has(code_[pos], byte)) continue;
    const int32_t parent = frames_[t].parent;
    close(pos + 1, parent, out);
  }
  return out;
}

size_t GrammarMatcher::materialize() {
  reset_scratch();
  size_t i = 0;
  while (i < state_.size()) {
    const int32_t len = state_[i++];
    if (len == 0) {
      tops_.push_back(kAccept);
      continue;
    }
    int32_t parent = -1;
    for (int32_t k = 0; k < len; ++k) parent = new_frame(state_[i + k], parent);
    i += static_cast<size_t>(len);
    tops_.push_back(parent);
  }
  return tops_.size();
}

void GrammarMatcher::extract(size_t begin, size_t end, std::vector<int32_t>* state) {
  const size_t n = end - begin;
  if (stacks_.size() < n) stacks_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<int32_t>& s = stacks_[i];
    s.clear();
    for (int32_t f = tops_[begin + i]; f >= 0; f = frames_[f].parent) s.push_back(frames_[f].pos);
    std::reverse(s.begin(), s.end());
  }
  std::sort(stacks_.begin(), stacks_.begin() + static_cast<std::ptrdiff_t>(n));
  state->clear();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && stacks_[i] == stacks_[i - 1]) continue;
    state->push_back(static_cast<int32_t>(stacks_[i].size()));
    state->insert(state->end(), stacks_[i].begin(), stacks_[i].end());
  }
}

bool GrammarMatcher::accepting() const {
  // Stacks are sorted, so the empty (accepted) one comes first.
  return !state_.empty() && state_[0] == 0;
}

bool GrammarMatcher::finished() const { return state_.size() == 1 && state_[0] == 0; }

void GrammarMatcher::compute_mask(uint32_t* mask) {
  const Vocabulary& v = grammar_->vocabulary();
  std::fill(mask, mask + v.mask_words(), 0u);
  const size_t n0 = materialize();
  const size_t levels = static_cast<size_t>(v.max_depth()) + 1;
  if (fmark_.size() < levels) {
    fmark_.resize(levels);
    tmark_.resize(levels);
    sbegin_.resize(levels);
    send_.resize(levels);
  }
  sbegin_[0] = 0;
  send_[0] = n0;
  fmark_[0] = frames_.size();
  tmark_[0] = tops_.size();
  const int32_t n = v.nodes();
  for (int32_t i = 1; i < n;) {
    const int32_t d = v.node_depth(i);
    // Whatever the previous sibling subtrees allocated is dead: truncate to the parent's state.
    frames_.resize(fmark_[d - 1]);
    tops_.resize(tmark_[d - 1]);
    const size_t b = advance(sbegin_[d - 1], send_[d - 1], v.node_byte(i));
    const size_t e = tops_.size();
    if (b == e) {
      i = v.node_end(i);
      continue;
    }
    sbegin_[d] = b;
    send_[d] = e;
    fmark_[d] = frames_.size();
    tmark_[d] = e;
    for (const int32_t* t = v.tokens_begin(i); t != v.tokens_end(i); ++t) {
      if (v.special(*t) && !grammar_->allows_special(*t)) continue;
      mask[*t >> 5] |= 1u << (*t & 31);
    }
    ++i;
  }
}

bool GrammarMatcher::fill_mask(uint32_t* mask, const std::vector<int32_t>& stop_ids) {
  const int words = mask_words();
  if (!grammar_->cache_lookup(state_, mask)) {
    compute_mask(mask);
    grammar_->cache_store(state_, mask);
  }
  const int vocab = grammar_->vocabulary().vocab_size();
  const bool acc = accepting();
  for (int32_t id : stop_ids) {
    if (id < 0 || id >= vocab) continue;
    if (acc) mask[id >> 5] |= 1u << (id & 31);
    else mask[id >> 5] &= ~(1u << (id & 31));
  }
  uint32_t any = 0;
  for (int i = 0; i < words; ++i) any |= mask[i];
  return any != 0;
}

bool GrammarMatcher::accept_bytes(const uint8_t* bytes, size_t n) {
  size_t b = 0, e = materialize();
  for (size_t k = 0; k < n; ++k) {
    const size_t nb = advance(b, e, bytes[k]);
    const size_t ne = tops_.size();
    if (nb == ne) return false;
    b = nb;
    e = ne;
  }
  extract(b, e, &state_);
  return true;
}

bool GrammarMatcher::accept(int32_t token) {
  const Vocabulary& v = grammar_->vocabulary();
  size_t len = 0;
  const uint8_t* bytes = v.token_bytes(token, &len);
  if (len == 0 || len > kMaxTokenBytes) return false;
  if (v.special(token) && !grammar_->allows_special(token)) return false;
  return accept_bytes(bytes, len);
}

}  // namespace grammar
}  // namespace inferkit
