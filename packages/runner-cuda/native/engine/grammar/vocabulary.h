// Vocabulary: the model's tokens as the bytes they add to the output, in a trie laid out in
// preorder, so a token mask is one forward pass over an array that skips a rejected subtree in
// one jump (node_end) instead of visiting it.
//
// The TypeScript side derives the bytes from the tokenizer (byte-level BPE: the GPT-2 byte
// alphabet; SentencePiece: '▁' as a space and <0xNN> byte-fallback pieces) and sends them with
// the engine's load options. Special (control) tokens keep their text but are flagged and left
// out of the trie: a grammar allows one only where it names it (Grammar::special_tokens()), and
// the matcher checks those few one by one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../status.h"

namespace inferkit {
namespace grammar {

// Longer tokens are left out of the trie: a grammar never allows them.
constexpr size_t kMaxTokenBytes = 1024;

class Vocabulary {
 public:
  // Token i (< n_tokens) is bytes[offsets[i], offsets[i + 1]); offsets has n_tokens + 1 entries.
  // `special` (n_tokens entries, optional) marks control tokens. Ids >= vocab_size are ignored
  // (a tokenizer larger than the model's embedding); ids in [n_tokens, vocab_size) have no text.
  static Status build(const uint8_t* bytes, size_t n_bytes, const uint32_t* offsets, size_t n_tokens,
                      const uint8_t* special, int vocab_size, std::shared_ptr<const Vocabulary>* out);

  int vocab_size() const { return vocab_size_; }
  // Words of a token mask: bit i % 32 of word i / 32 is token i.
  int mask_words() const { return (vocab_size_ + 31) / 32; }

  // Trie node 0 is the root (the empty string); node i > 0 adds node_byte(i) to its parent, the
  // nearest earlier node of depth node_depth(i) - 1; its subtree is [i, node_end(i)).
  int32_t nodes() const { return static_cast<int32_t>(byte_.size()); }
  uint8_t node_byte(int32_t i) const { return byte_[i]; }
  int32_t node_depth(int32_t i) const { return depth_[i]; }
  int32_t node_end(int32_t i) const { return end_[i]; }
  // Tokens whose bytes end at node i.
  const int32_t* tokens_begin(int32_t i) const { return token_ids_.data() + token_index_[i]; }
  const int32_t* tokens_end(int32_t i) const { return token_ids_.data() + token_index_[i + 1]; }
  int32_t max_depth() const { return max_depth_; }

  bool special(int32_t id) const { return id >= 0 && id < vocab_size_ && special_[id] != 0; }
  // The bytes of token `id` (empty for ids without text).
  const uint8_t* token_bytes(int32_t id, size_t* len) const;
  size_t memory_bytes() const;

 private:
  int vocab_size_ = 0;
  int32_t max_depth_ = 0;
  std::vector<uint8_t> bytes_;
  std::vector<uint32_t> offsets_;  // [vocab_size + 1]
  std::vector<uint8_t> special_;   // [vocab_size]
  std::vector<uint8_t> byte_;
  std::vector<int32_t> depth_;
  std::vector<int32_t> end_;
  std::vector<int32_t> token_index_;  // [nodes + 1]
  std::vector<int32_t> token_ids_;
};

}  // namespace grammar
}  // namespace inferkit
