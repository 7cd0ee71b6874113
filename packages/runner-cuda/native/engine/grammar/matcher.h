// Constrained decoding: which tokens may come next under a grammar, per sequence, per step.
//
// A parser state is a set of stacks (the grammar is nondeterministic: anyOf branches, optional
// properties and number endings are explored side by side). A stack's top is a byte-class
// position in Grammar::code(); the frames below are the rule references to return to. A rule
// reference that ends its alternative pushes nothing (tail call), so loops such as the
// characters of a string keep the stack flat and the state repeats. Every position's closure
// (the classes reachable from it without consuming a byte) is precomputed once per grammar.
//
// Token masks come from two caches in the CompiledGrammar, shared by all sequences using it:
// - per byte-class position, from one pass over the vocabulary trie with an unknown stack below
//   the top: the tokens accepted whatever the stack (most tokens: those that stay inside the
//   current rule, e.g. string characters), and the few whose fate depends on it (those that
//   finish the rule, e.g. contain the closing quote). Computed once per position.
// - per full state, the finished mask: the positions' accepted tokens, plus the uncertain ones
//   checked against the real stacks. A state seen before costs one copy.
//
// Threads: a CompiledGrammar may be shared by sequences on several threads (its caches have a
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

class Walker;

// A grammar bound to a vocabulary, with the precomputed closures and the mask caches.
class CompiledGrammar {
 public:
  // `cache_bytes` bounds each of the two mask caches; a full cache is emptied and refills. The
  // position cache is bounded by the grammar's size and rarely fills; the state cache churns
  // when a grammar has many distinct states (counted repetitions), and never evicts positions.
  static Status create(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab,
                       std::shared_ptr<CompiledGrammar>* out, size_t cache_bytes = size_t{8} << 20);

  const Grammar& grammar() const { return *grammar_; }
  const Vocabulary& vocabulary() const { return *vocab_; }
  bool allows_special(int32_t id) const;

  // What a position reaches without consuming a byte: byte-class positions, each with the rule
  // references pushed on the way (chain, bottom first), and whether the alternative can end.
  struct Expansion {
    struct Top {
      int32_t pos;
      int32_t chain_begin;
      int32_t chain_len;
    };
    std::vector<Top> tops;
    bool ends = false;
  };
  const Expansion& expansion(int32_t pos) const { return expansions_[pos]; }
  const int32_t* chain(int32_t begin) const { return chains_.data() + begin; }

  // Tokens a stack topped by byte-class position `pos` accepts whatever lies below the top, and
  // the tokens whose acceptance depends on it.
  struct PositionMasks {
    std::vector<uint32_t> accepted;
    std::vector<int32_t> uncertain;
  };
  std::shared_ptr<const PositionMasks> position_masks(int32_t pos, Walker* walker);

  // Copies the finished mask of `state` into `mask`, if cached.
  bool state_mask(const std::vector<int32_t>& state, uint32_t* mask) const;
  void store_state_mask(const std::vector<int32_t>& state, const uint32_t* mask);

  struct CacheStats {
    uint64_t hits = 0;          // finished masks served from the state cache
    uint64_t misses = 0;
    uint64_t position_walks = 0;  // vocabulary passes (one per position, unless evicted)
    size_t bytes = 0;
  };
  CacheStats cache_stats() const;

 private:
  CompiledGrammar() = default;
  Status expand_all();


  struct KeyHash {
    size_t operator()(const std::vector<int32_t>& k) const;
  };
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const Vocabulary> vocab_;
  std::vector<uint32_t> special_allowed_;  // bitmask over the vocabulary
  std::vector<Expansion> expansions_;      // per position of code()
  std::vector<int32_t> chains_;
  size_t cache_limit_ = 0;
  mutable std::mutex mu_;
  std::unordered_map<std::vector<int32_t>, std::vector<uint32_t>, KeyHash> states_;
  std::unordered_map<int32_t, std::shared_ptr<const PositionMasks>> positions_;
  size_t state_bytes_ = 0, position_bytes_ = 0;
  mutable uint64_t hits_ = 0, misses_ = 0;
  uint64_t position_walks_ = 0;
};

// Scratch for advancing sets of stacks byte by byte: an arena of return frames and a list of
// stack tops, truncated and reused. Internal to the matcher.
class Walker {
 public:
  static constexpr int32_t kBottom = -1;  // parent of a bottom frame / top
  static constexpr int32_t kEscape = -2;  // unknown stack below (position masks)
  static constexpr int32_t kAccept = -1;  // Top::pos of a stack that completed the root rule
  // The deepest stack and the most stacks side by side; paths beyond either are dropped (a
  // token needing them is not allowed).
  static constexpr int32_t kMaxDepth = 4096;
  static constexpr size_t kMaxStacks = 1024;

  struct Frame {
    int32_t pos;     // a rule reference to continue after
    int32_t parent;  // frame below, or kBottom / kEscape
    uint32_t hash;
    int32_t depth;
  };
  struct Top {
    int32_t pos;     // byte-class position, or kAccept
    int32_t parent;  // frame below, or kBottom / kEscape
  };

  explicit Walker(const CompiledGrammar* g) : g_(g) {}

  void reset();
  // Appends the successor of tops[begin, end) on `byte` to tops; returns its start.
  size_t advance(size_t begin, size_t end, uint8_t byte);
  // Appends the stacks reached from position `pos` over `parent` (deduplicated from `begin`).
  void close(int32_t pos, int32_t parent, size_t begin);
  // Serialized state (see GrammarMatcher) -> tops[0, n); returns n.
  size_t materialize(const std::vector<int32_t>& state);
  void extract(size_t begin, size_t end, std::vector<int32_t>* state);

  std::vector<Frame> frames;
  std::vector<Top> tops;
  bool escaped = false;   // a close() popped into kEscape
  bool overflow = false;  // a path was dropped (depth or width)

 private:
  int32_t new_frame(int32_t pos, int32_t parent);
  bool same_frames(int32_t a, int32_t b) const;
  void add_top(int32_t pos, int32_t parent, size_t begin, bool dedupe);

  const CompiledGrammar* g_;
  std::vector<std::vector<int32_t>> stacks_;
};

class GrammarMatcher {
 public:
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
  void compute_mask(uint32_t* mask);
  void exact_mask(uint32_t* mask);  // a full vocabulary pass with the real stacks

  std::shared_ptr<CompiledGrammar> grammar_;
  // The live state, canonical: stacks sorted, each as [length, frame positions bottom first,
  // top position] (length 0 = an accepted stack). Doubles as the state cache key.
  std::vector<int32_t> state_;
  Walker walker_;
};

}  // namespace grammar
}  // namespace inferkit
