// Constrained decoding: which tokens may come next under a grammar, per sequence, per step.
//
// A parser state is a set of stacks (the grammar is nondeterministic: anyOf branches, optional
// properties and number endings are explored side by side). A stack's top is a byte-class
// position in Grammar::code(); the frames below are the rule references to return to. A rule
// reference that ends its alternative pushes nothing (tail call), so loops such as the
// characters of a string keep the stack flat and the state repeats.
//
// Token mask: one preorder pass over the vocabulary trie, advancing the state byte by byte along
// each token's path and skipping a subtree as soon as no stack survives. Masks are cached per
// CompiledGrammar by state, so a state seen before (any sequence, any step) costs a copy: a JSON
// schema has few distinct states (one per position in the schema, not per generated character).
//
// Threads: a CompiledGrammar may be shared by sequences on several threads (its cache has a
// lock); a GrammarMatcher belongs to one sequence and is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "grammar.h"
#include "vocabulary.h"

namespace inferkit {
namespace grammar {

// A grammar bound to a vocabulary, with the mask cache shared by every sequence using it.
class CompiledGrammar {
 public:
  // `cache_bytes` bounds the mask cache; when full it is emptied and refills.
  CompiledGrammar(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab,
                  size_t cache_bytes = size_t{8} << 20);

  const Grammar& grammar() const { return *grammar_; }
  const Vocabulary& vocabulary() const { return *vocab_; }
  bool allows_special(int32_t id) const;

  struct CacheStats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t entries = 0;
    size_t bytes = 0;
  };
  CacheStats cache_stats() const;

  // Internal to GrammarMatcher: copies the cached mask of `state` into `mask`, if there is one.
  bool cache_lookup(const std::vector<int32_t>& state, uint32_t* mask) const;
  void cache_store(const std::vector<int32_t>& state, const uint32_t* mask);

 private:
  struct KeyHash {
    size_t operator()(const std::vector<int32_t>& k) const;
  };
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const Vocabulary> vocab_;
  std::vector<uint32_t> special_allowed_;  // bitmask over the vocabulary
  size_t cache_limit_;
  mutable std::mutex mu_;
  std::unordered_map<std::vector<int32_t>, std::vector<uint32_t>, KeyHash> cache_;
  size_t cache_bytes_ = 0;
  mutable uint64_t hits_ = 0, misses_ = 0;
};

class GrammarMatcher {
 public:
  // The deepest stack (nesting) and the most stacks side by side a state may hold; paths beyond
  // either are dropped (a token needing them is not allowed).
  static constexpr int32_t kMaxDepth = 4096;
  static constexpr size_t kMaxStacks = 1024;

  explicit GrammarMatcher(std::shared_ptr<CompiledGrammar> grammar);
  // Fails when the grammar allows no output at all.
  Status init();

  // Writes the tokens allowed next into mask[0, mask_words()). `stop_ids` are allowed exactly
  // when the output so far is complete (accepting()). Returns false when no token is allowed.
  bool fill_mask(uint32_t* mask, const std::vector<int32_t>& stop_ids);
  // Advances over one (non-stop) token; false, with the state unchanged, if it is not allowed.
  bool accept(int32_t token);
  // Advances over raw bytes (tests, forced prefixes); false, state unchanged, if not allowed.
  bool accept_bytes(const uint8_t* bytes, size_t n);
  // The output so far is a complete sentence of the grammar.
  bool accepting() const;
  // Complete, and nothing may follow.
  bool finished() const;
  int mask_words() const { return grammar_->vocabulary().mask_words(); }

 private:
  struct Frame {
    int32_t pos;     // top: a byte class; below: a rule reference to continue after
    int32_t parent;  // frame below, -1 at the bottom
    uint32_t hash;
    int32_t depth;
  };
  static constexpr int32_t kAccept = -1;  // a stack that completed the root rule

  void reset_scratch();
  int32_t new_frame(int32_t pos, int32_t parent);
  bool same_stack(int32_t a, int32_t b) const;
  void add_top(int32_t pos, int32_t parent, size_t begin);
  void add_accept(size_t begin);
  void close(int32_t pos, int32_t parent, size_t begin);
  // Appends the successor of tops_[begin, end) on `byte` to tops_; returns its start.
  size_t advance(size_t begin, size_t end, uint8_t byte);
  size_t materialize();  // state_ -> tops_[0, n); returns n
  void extract(size_t begin, size_t end, std::vector<int32_t>* state);
  void compute_mask(uint32_t* mask);

  std::shared_ptr<CompiledGrammar> grammar_;
  const Grammar* g_;
  const int32_t* code_;
  // The live state, canonical: stacks sorted, each as [length, bottom .. top] (length 0 = an
  // accepted stack). Doubles as the mask cache key.
  std::vector<int32_t> state_;
  // Scratch, reused across calls.
  std::vector<Frame> frames_;
  std::vector<int32_t> tops_;
  std::vector<std::pair<int32_t, int32_t>> work_;
  std::vector<size_t> fmark_, tmark_, sbegin_, send_;
  std::vector<std::vector<int32_t>> stacks_;
  bool overflow_ = false;
};

}  // namespace grammar
}  // namespace inferkit
