// Grammar: a context-free grammar over bytes, the form every output constraint takes in the
// engine (JSON schemas, json_object, tool-call formats). The TypeScript side builds it
// (src/grammar/grammar-builder.ts) and sends it serialized as int32 words:
//
//   [0] kGrammarMagic   [1] n_classes   [2] n_rules   [3] root rule   [4] n_special
//   n_classes x 8 words   256-bit byte sets (byte b is bit b % 32 of word b / 32)
//   n_special words       ids of special tokens this grammar lets the model emit where their
//                         text fits (e.g. Mistral's [TOOL_CALLS]); other special tokens never
//   per rule              n_alts, then per alternative n_elems and the elements:
//                         e >= 0: one byte of class e;  e < 0: rule -e - 1
//
// parse() validates everything (sizes, indexes) and rejects left recursion — a rule reachable
// from itself without consuming a byte — so matching (matcher.h) always terminates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../status.h"

namespace inferkit {
namespace grammar {

constexpr int32_t kGrammarMagic = 0x314d5247;  // "GRM1" little-endian
constexpr size_t kMaxGrammarWords = size_t{1} << 22;
constexpr int32_t kMaxRules = 1 << 20;
constexpr int32_t kMaxClasses = 1 << 16;

class Grammar {
 public:
  // Element codes in code(): a byte class (>= 0), the end of an alternative, or a rule reference.
  static constexpr int32_t kEnd = -1;
  static bool is_class(int32_t e) { return e >= 0; }
  static bool is_ref(int32_t e) { return e <= -2; }
  static int32_t ref_rule(int32_t e) { return -e - 2; }

  static Status parse(const int32_t* words, size_t n, std::shared_ptr<const Grammar>* out);

  // Every alternative of every rule, each followed by kEnd.
  const std::vector<int32_t>& code() const { return code_; }
  // Start positions (in code()) of rule r's alternatives.
  const int32_t* alts_begin(int32_t rule) const { return alt_starts_.data() + alt_index_[rule]; }
  const int32_t* alts_end(int32_t rule) const { return alt_starts_.data() + alt_index_[rule + 1]; }
  int32_t root() const { return root_; }
  bool class_has(int32_t cls, uint8_t byte) const {
    return (classes_[static_cast<size_t>(cls) * 8 + (byte >> 5)] >> (byte & 31)) & 1u;
  }
  const std::vector<int32_t>& special_tokens() const { return special_; }
  size_t memory_bytes() const;

 private:
  std::vector<int32_t> code_;
  std::vector<int32_t> alt_starts_;
  std::vector<int32_t> alt_index_;  // [n_rules + 1]
  std::vector<uint32_t> classes_;
  std::vector<int32_t> special_;
  int32_t root_ = 0;
};

}  // namespace grammar
}  // namespace inferkit
