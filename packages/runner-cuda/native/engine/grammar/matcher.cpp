#include "matcher.h"

#include <algorithm>
#include <string>

namespace inferkit {
namespace grammar {

namespace {

constexpr uint32_t kHashSeed = 0x9e3779b9u;
// Work items one position's precomputed closure may take: far above any real grammar's, a guard
// against a pathologically ambiguous one (refused at compile time).
constexpr size_t kMaxExpansionSteps = size_t{1} << 18;
// Precomputed closure entries (tops + chain links) of a whole grammar.
constexpr size_t kMaxExpansionEntries = size_t{1} << 23;

inline uint32_t mix(uint32_t h, int32_t v) {
  h ^= static_cast<uint32_t>(v) + kHashSeed + (h << 6) + (h >> 2);
  return h * 0x85ebca6bu;
}

inline bool has_bit(const uint32_t* m, int32_t id) { return (m[id >> 5] >> (id & 31)) & 1u; }
inline void set_bit(uint32_t* m, int32_t id) { m[id >> 5] |= 1u << (id & 31); }

}  // namespace

// ---------------------------------------------------------------- CompiledGrammar

Status CompiledGrammar::create(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab,
                               std::shared_ptr<CompiledGrammar>* out, size_t cache_bytes) {
  out->reset();
  if (!grammar || !vocab) return Status::BadRequest("grammar: missing grammar or vocabulary");
  std::shared_ptr<CompiledGrammar> g(new CompiledGrammar());
  g->grammar_ = std::move(grammar);
  g->vocab_ = std::move(vocab);
  g->cache_limit_ = cache_bytes;
  g->special_allowed_.assign(static_cast<size_t>(g->vocab_->mask_words()), 0);
  for (int32_t id : g->grammar_->special_tokens())
    if (id < g->vocab_->vocab_size()) set_bit(g->special_allowed_.data(), id);
  IK_RETURN_IF_ERROR(g->expand_all());
  *out = std::move(g);
  return Status::Ok();
}

Status CompiledGrammar::expand_all() {
  const std::vector<int32_t>& code = grammar_->code();
  expansions_.assign(code.size(), Expansion());
  std::vector<std::pair<int32_t, std::vector<int32_t>>> work;
  std::vector<std::pair<int32_t, std::vector<int32_t>>> found;
  size_t entries = 0;
  for (size_t q = 0; q < code.size(); ++q) {
    Expansion& x = expansions_[q];
    found.clear();
    work.clear();
    work.emplace_back(static_cast<int32_t>(q), std::vector<int32_t>());
    size_t steps = 0;
    while (!work.empty()) {
      if (++steps > kMaxExpansionSteps) {
        return Status::BadRequest("grammar: too ambiguous to compile (position " + std::to_string(q) + ")");
      }
      std::pair<int32_t, std::vector<int32_t>> item = std::move(work.back());
      work.pop_back();
      const int32_t p = item.first;
      std::vector<int32_t>& chain = item.second;
      const int32_t e = code[p];
      if (Grammar::is_class(e)) {
        bool dup = false;
        for (const auto& f : found) dup = dup || (f.first == p && f.second == chain);
        if (!dup) found.emplace_back(p, std::move(chain));
      } else if (e == Grammar::kEnd) {
        if (chain.empty()) {
          x.ends = true;
        } else {
          const int32_t r = chain.back();
          chain.pop_back();
          work.emplace_back(r + 1, std::move(chain));
        }
      } else {
        // A reference that ends its alternative is a tail call: nothing to return to.
        if (code[p + 1] != Grammar::kEnd) chain.push_back(p);
        if (static_cast<int32_t>(chain.size()) > Walker::kMaxDepth) continue;
        const int32_t rule = Grammar::ref_rule(e);
        const int32_t* first = grammar_->alts_begin(rule);
        for (const int32_t* a = grammar_->alts_end(rule); a != first;) work.emplace_back(*--a, chain);
      }
    }
    // Tops with equal chains side by side, so a closure builds each chain's frames once.
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second < b.second : a.first < b.first;
    });
    for (auto& f : found) {
      x.tops.push_back({f.first, static_cast<int32_t>(chains_.size()), static_cast<int32_t>(f.second.size())});
      chains_.insert(chains_.end(), f.second.begin(), f.second.end());
      entries += 1 + f.second.size();
    }
    if (entries > kMaxExpansionEntries) return Status::BadRequest("grammar: too large to compile");
  }
  return Status::Ok();
}

bool CompiledGrammar::allows_special(int32_t id) const {
  return id >= 0 && id < vocab_->vocab_size() && has_bit(special_allowed_.data(), id);
}

size_t CompiledGrammar::KeyHash::operator()(const std::vector<int32_t>& k) const {
  uint64_t h = 1469598103934665603ull;
  for (int32_t v : k) h = (h ^ static_cast<uint32_t>(v)) * 1099511628211ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

bool CompiledGrammar::state_mask(const std::vector<int32_t>& state, uint32_t* mask) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(state);
  if (it == states_.end()) {
    ++misses_;
    return false;
  }
  ++hits_;
  std::copy(it->second.begin(), it->second.end(), mask);
  return true;
}

void CompiledGrammar::store_state_mask(const std::vector<int32_t>& state, const uint32_t* mask) {
  const size_t words = static_cast<size_t>(vocab_->mask_words());
  const size_t bytes = (words + state.size()) * 4 + 64;
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > cache_limit_) return;
  if (state_bytes_ + bytes > cache_limit_) {
    states_.clear();
    state_bytes_ = 0;
  }
  if (states_.emplace(state, std::vector<uint32_t>(mask, mask + words)).second) state_bytes_ += bytes;
}

std::shared_ptr<const CompiledGrammar::PositionMasks> CompiledGrammar::position_masks(int32_t pos, Walker* w) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = positions_.find(pos);
    if (it != positions_.end()) return it->second;
  }
  // One pass over the trie from a lone top at `pos` whose stack below is unknown (kEscape):
  // a token some path consumes entirely is accepted in any context; one whose paths all die
  // without leaving the top's rule is refused in any context; the rest (a path left the rule:
  // escaped) depend on the stack below and are checked against it per state.
  const Vocabulary& v = *vocab_;
  auto pm = std::make_shared<PositionMasks>();
  pm->accepted.assign(static_cast<size_t>(v.mask_words()), 0u);
  const size_t levels = static_cast<size_t>(v.max_depth()) + 1;
  std::vector<size_t> sb(levels), se(levels), fm(levels), tm(levels);
  std::vector<char> esc(levels, 0);
  w->reset();
  w->tops.push_back({pos, Walker::kEscape});
  sb[0] = 0;
  se[0] = 1;
  fm[0] = w->frames.size();
  tm[0] = w->tops.size();
  const auto allowed = [&](int32_t t) { return !v.special(t) || allows_special(t); };
  const int32_t n = v.nodes();
  for (int32_t i = 1; i < n;) {
    const int32_t d = v.node_depth(i);
    w->frames.resize(fm[d - 1]);
    w->tops.resize(tm[d - 1]);
    w->escaped = false;
    const size_t b = w->advance(sb[d - 1], se[d - 1], v.node_byte(i));
    const size_t e = w->tops.size();
    const bool ex = esc[d - 1] || w->escaped;
    if (b == e) {
      if (ex) {
        for (int32_t j = i; j < v.node_end(i); ++j)
          for (const int32_t* t = v.tokens_begin(j); t != v.tokens_end(j); ++t)
            if (allowed(*t)) pm->uncertain.push_back(*t);
      }
      i = v.node_end(i);
      continue;
    }
    for (const int32_t* t = v.tokens_begin(i); t != v.tokens_end(i); ++t)
      if (allowed(*t)) set_bit(pm->accepted.data(), *t);
    sb[d] = b;
    se[d] = e;
    fm[d] = w->frames.size();
    tm[d] = e;
    esc[d] = ex ? 1 : 0;
    ++i;
  }
  // Special tokens the grammar names are not in the trie: checked against the real stacks.
  for (int32_t id : grammar_->special_tokens()) {
    size_t len = 0;
    if (v.special(id) && (v.token_bytes(id, &len), len > 0)) pm->uncertain.push_back(id);
  }
  const size_t bytes = (pm->accepted.size() + pm->uncertain.size()) * 4 + 64;
  std::lock_guard<std::mutex> lock(mu_);
  ++position_walks_;
  auto it = positions_.find(pos);
  if (it != positions_.end()) return it->second;  // another thread finished first
  if (bytes <= cache_limit_) {
    if (position_bytes_ + bytes > cache_limit_) {
      positions_.clear();
      position_bytes_ = 0;
    }
    positions_.emplace(pos, pm);
    position_bytes_ += bytes;
  }
  return pm;
}

CompiledGrammar::CacheStats CompiledGrammar::cache_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  CacheStats s;
  s.hits = hits_;
  s.misses = misses_;
  s.position_walks = position_walks_;
  s.bytes = state_bytes_ + position_bytes_;
  return s;
}

// ---------------------------------------------------------------- Walker

void Walker::reset() {
  frames.clear();
  tops.clear();
  escaped = false;
  overflow = false;
}

int32_t Walker::new_frame(int32_t pos, int32_t parent) {
  const int32_t depth = parent < 0 ? 1 : frames[parent].depth + 1;
  if (depth > kMaxDepth) {
    overflow = true;
    return -3;
  }
  const uint32_t below = parent < 0 ? kHashSeed ^ static_cast<uint32_t>(parent) : frames[parent].hash;
  frames.push_back(Frame{pos, parent, mix(below, pos), depth});
  return static_cast<int32_t>(frames.size() - 1);
}

bool Walker::same_frames(int32_t a, int32_t b) const {
  while (a != b) {
    if (a < 0 || b < 0) return false;
    const Frame& fa = frames[a];
    const Frame& fb = frames[b];
    if (fa.hash != fb.hash || fa.pos != fb.pos || fa.depth != fb.depth) return false;
    a = fa.parent;
    b = fb.parent;
  }
  return true;
}

void Walker::add_top(int32_t pos, int32_t parent, size_t begin, bool dedupe) {
  if (dedupe) {
    for (size_t i = begin; i < tops.size(); ++i) {
      const Top& t = tops[i];
      if (t.pos == pos && (t.parent == parent || same_frames(t.parent, parent))) return;
    }
  }
  if (tops.size() - begin >= kMaxStacks) {
    overflow = true;
    return;
  }
  tops.push_back(Top{pos, parent});
}

void Walker::close(int32_t pos, int32_t parent, size_t begin) {
  // Tops of one expansion over one parent are distinct by construction: only stacks added by
  // an earlier call (another source top) or after a pop can repeat one.
  bool dedupe = tops.size() > begin;
  int32_t p = pos, par = parent;
  for (;;) {
    const CompiledGrammar::Expansion& x = g_->expansion(p);
    const int32_t* prev = nullptr;
    int32_t prev_len = 0;
    int32_t chain_frames[64];
    for (const CompiledGrammar::Expansion::Top& top : x.tops) {
      const int32_t* c = g_->chain(top.chain_begin);
      int32_t f = par;
      if (top.chain_len > 0) {
        int32_t k = 0;
        const int32_t share = std::min(prev_len, std::min(top.chain_len, 64));
        while (k < share && prev[k] == c[k]) ++k;
        f = k == 0 ? par : chain_frames[k - 1];
        for (int32_t j = k; j < top.chain_len && f >= -2; ++j) {
          f = new_frame(c[j], f);
          if (j < 64) chain_frames[j] = f;
        }
        if (f < -2) {  // too deep
          prev_len = 0;
          continue;
        }
        prev = c;
        prev_len = std::min(top.chain_len, 64);
      }
      add_top(top.pos, f, begin, dedupe);
    }
    if (!x.ends) return;
    if (par == kBottom) {
      add_top(kAccept, kBottom, begin, true);
      return;
    }
    if (par == kEscape) {
      escaped = true;
      return;
    }
    p = frames[par].pos + 1;
    par = frames[par].parent;
    dedupe = true;
  }
}

size_t Walker::advance(size_t begin, size_t end, uint8_t byte) {
  const size_t out = tops.size();
  const std::vector<int32_t>& code = g_->grammar().code();
  for (size_t i = begin; i < end; ++i) {
    const Top t = tops[i];
    if (t.pos < 0 || !g_->grammar().class_has(code[t.pos], byte)) continue;
    close(t.pos + 1, t.parent, out);
  }
  return out;
}

size_t Walker::materialize(const std::vector<int32_t>& state) {
  reset();
  size_t i = 0;
  while (i < state.size()) {
    const int32_t len = state[i++];
    if (len == 0) {
      tops.push_back(Top{kAccept, kBottom});
      continue;
    }
    int32_t par = kBottom;
    for (int32_t k = 0; k + 1 < len; ++k) par = new_frame(state[i + k], par);
    tops.push_back(Top{state[i + len - 1], par});
    i += static_cast<size_t>(len);
  }
  return tops.size();
}

void Walker::extract(size_t begin, size_t end, std::vector<int32_t>* state) {
  const size_t n = end - begin;
  if (stacks_.size() < n) stacks_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    std::vector<int32_t>& s = stacks_[i];
    s.clear();
    const Top& t = tops[begin + i];
    if (t.pos == kAccept) continue;
    for (int32_t f = t.parent; f >= 0; f = frames[f].parent) s.push_back(frames[f].pos);
    std::reverse(s.begin(), s.end());
    s.push_back(t.pos);
  }
  std::sort(stacks_.begin(), stacks_.begin() + static_cast<std::ptrdiff_t>(n));
  state->clear();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && stacks_[i] == stacks_[i - 1]) continue;
    state->push_back(static_cast<int32_t>(stacks_[i].size()));
    state->insert(state->end(), stacks_[i].begin(), stacks_[i].end());
  }
}

// ---------------------------------------------------------------- GrammarMatcher

GrammarMatcher::GrammarMatcher(std::shared_ptr<CompiledGrammar> grammar)
    : grammar_(std::move(grammar)), walker_(grammar_.get()) {}

Status GrammarMatcher::init() {
  walker_.reset();
  const Grammar& g = grammar_->grammar();
  for (const int32_t* a = g.alts_begin(g.root()); a != g.alts_end(g.root()); ++a) walker_.close(*a, Walker::kBottom, 0);
  if (walker_.tops.empty()) return Status::BadRequest("grammar: the root rule matches nothing");
  walker_.extract(0, walker_.tops.size(), &state_);
  return Status::Ok();
}

bool GrammarMatcher::accepting() const {
  // Stacks are sorted, so the empty (accepted) one comes first.
  return !state_.empty() && state_[0] == 0;
}

bool GrammarMatcher::finished() const { return state_.size() == 1 && state_[0] == 0; }

void GrammarMatcher::exact_mask(uint32_t* mask) {
  const Vocabulary& v = grammar_->vocabulary();
  const size_t levels = static_cast<size_t>(v.max_depth()) + 1;
  std::vector<size_t> sb(levels), se(levels), fm(levels), tm(levels);
  se[0] = walker_.materialize(state_);
  fm[0] = walker_.frames.size();
  tm[0] = walker_.tops.size();
  const int32_t n = v.nodes();
  for (int32_t i = 1; i < n;) {
    const int32_t d = v.node_depth(i);
    walker_.frames.resize(fm[d - 1]);
    walker_.tops.resize(tm[d - 1]);
    const size_t b = walker_.advance(sb[d - 1], se[d - 1], v.node_byte(i));
    const size_t e = walker_.tops.size();
    if (b == e) {
      i = v.node_end(i);
      continue;
    }
    for (const int32_t* t = v.tokens_begin(i); t != v.tokens_end(i); ++t)
      if (!v.special(*t) || grammar_->allows_special(*t)) set_bit(mask, *t);
    sb[d] = b;
    se[d] = e;
    fm[d] = walker_.frames.size();
    tm[d] = e;
    ++i;
  }
  // Special tokens the grammar names are not in the trie.
  for (int32_t id : grammar_->grammar().special_tokens()) {
    size_t len = 0;
    const uint8_t* bytes = v.token_bytes(id, &len);
    if (!v.special(id) || len == 0) continue;
    walker_.frames.resize(fm[0]);
    walker_.tops.resize(tm[0]);
    size_t b = 0, e = se[0];
    bool ok = true;
    for (size_t k = 0; k < len && ok; ++k) {
      const size_t nb = walker_.advance(b, e, bytes[k]);
      ok = nb != walker_.tops.size();
      b = nb;
      e = walker_.tops.size();
    }
    if (ok) set_bit(mask, id);
  }
}

void GrammarMatcher::compute_mask(uint32_t* mask) {
  const Vocabulary& v = grammar_->vocabulary();
  std::fill(mask, mask + v.mask_words(), 0u);
  // Near the depth limit, what a top accepts on its own may not fit above the real stack: walk
  // the vocabulary with the real stacks instead.
  int32_t deepest = 0;
  for (size_t i = 0; i < state_.size(); i += static_cast<size_t>(state_[i]) + 1) deepest = std::max(deepest, state_[i]);
  if (deepest > Walker::kMaxDepth - 256) {
    exact_mask(mask);
    return;
  }
  // Each top position's context-free part (computed once per position, with the walker, before
  // it holds this state).
  std::vector<std::shared_ptr<const CompiledGrammar::PositionMasks>> parts;
  for (size_t i = 0; i < state_.size();) {
    const int32_t len = state_[i];
    if (len > 0) {
      auto pm = grammar_->position_masks(state_[i + static_cast<size_t>(len)], &walker_);
      if (std::find(parts.begin(), parts.end(), pm) == parts.end()) parts.push_back(std::move(pm));
    }
    i += static_cast<size_t>(len) + 1;
  }
  bool uncertain = false;
  for (const auto& pm : parts) {
    for (size_t w = 0; w < pm->accepted.size(); ++w) mask[w] |= pm->accepted[w];
    uncertain = uncertain || !pm->uncertain.empty();
  }
  if (!uncertain) return;
  // The rest, token by token against the real stacks.
  const size_t n0 = walker_.materialize(state_);
  const size_t fm = walker_.frames.size(), tm = walker_.tops.size();
  for (const auto& pm : parts) {
    for (int32_t u : pm->uncertain) {
      if (has_bit(mask, u)) continue;
      size_t len = 0;
      const uint8_t* bytes = v.token_bytes(u, &len);
      walker_.frames.resize(fm);
      walker_.tops.resize(tm);
      size_t b = 0, e = n0;
      bool ok = true;
      for (size_t k = 0; k < len && ok; ++k) {
        const size_t nb = walker_.advance(b, e, bytes[k]);
        ok = nb != walker_.tops.size();
        b = nb;
        e = walker_.tops.size();
      }
      if (ok) set_bit(mask, u);
    }
  }
}

bool GrammarMatcher::fill_mask(uint32_t* mask, const std::vector<int32_t>& stop_ids) {
  const int words = mask_words();
  if (!grammar_->state_mask(state_, mask)) {
    compute_mask(mask);
    grammar_->store_state_mask(state_, mask);
  }
  const int vocab = grammar_->vocabulary().vocab_size();
  const bool acc = accepting();
  for (int32_t id : stop_ids) {
    if (id < 0 || id >= vocab) continue;
    if (acc) set_bit(mask, id);
    else mask[id >> 5] &= ~(1u << (id & 31));
  }
  uint32_t any = 0;
  for (int i = 0; i < words; ++i) any |= mask[i];
  return any != 0;
}

bool GrammarMatcher::accept_bytes(const uint8_t* bytes, size_t n) {
  size_t b = 0, e = walker_.materialize(state_);
  for (size_t k = 0; k < n; ++k) {
    const size_t nb = walker_.advance(b, e, bytes[k]);
    if (nb == walker_.tops.size()) return false;
    b = nb;
    e = walker_.tops.size();
  }
  walker_.extract(b, e, &state_);
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
