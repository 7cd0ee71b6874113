// AddonGrammars: constrained decoding for one AddonEngine. Holds the vocabulary (token bytes from
// load()'s `vocabulary` option, built into a trie on the load worker's thread) and the compiled
// grammars of submit()'s `grammar` option, cached by content: a schema sent with every request
// is compiled once, and its mask cache (engine/grammar/matcher.h) keeps filling across requests.
#pragma once

#include <napi.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <vector>

#include "grammar/matcher.h"
#include "status.h"

namespace inferkit_addon {

class AddonGrammars {
 public:
  // Compiled grammars kept beyond those in use by running requests.
  static constexpr size_t kCacheEntries = 16;

  struct VocabularyInput {
    bool present = false;
    std::vector<uint8_t> bytes;
    std::vector<uint32_t> offsets;
    std::vector<uint8_t> special;
  };

  // JS thread: copies load()'s `vocabulary` option ({ bytes: Uint8Array, offsets: Uint32Array,
  // special?: Uint8Array }). False, with a bad_request exception pending, when it is malformed.
  static bool read_vocabulary(Napi::Env env, const Napi::Object& options, VocabularyInput* out);

  // Load worker thread, after the model loaded: builds the trie for the model's vocabulary size
  // (no input: grammars are refused until a load provides one). Drops every cached grammar.
  inferkit::Status set_vocabulary(const VocabularyInput& input, int vocab_size);

  // JS thread: the compiled grammar for serialized `words` (engine/grammar/grammar.h).
  inferkit::Status get(const int32_t* words, size_t n,
                       std::shared_ptr<inferkit::grammar::CompiledGrammar>* out);

 private:
  struct Entry {
    uint64_t hash;
    std::vector<int32_t> words;
    std::shared_ptr<inferkit::grammar::CompiledGrammar> compiled;
  };
  std::mutex mu_;
  std::shared_ptr<const inferkit::grammar::Vocabulary> vocab_;
  std::list<Entry> cache_;  // most recently used first
};

}  // namespace inferkit_addon
