#include "AddonGrammars.h"

#include <cstring>
#include <string>

#include "addon_errors.h"

namespace inferkit_addon {

namespace {

template <typename T>
bool read_typed(Napi::Env env, const Napi::Object& o, const char* key, napi_typedarray_type type,
                bool required, std::vector<T>* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (!required) return true;
    make_error(env, "bad_request", std::string("vocabulary.") + key + " is required").ThrowAsJavaScriptException();
    return false;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    make_error(env, "bad_request", std::string("vocabulary.") + key + " has the wrong array type")
        .ThrowAsJavaScriptException();
    return false;
  }
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  const T* data = reinterpret_cast<const T*>(static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
  out->assign(data, data + a.ElementLength());
  return true;
}

}  // namespace

bool AddonGrammars::read_vocabulary(Napi::Env env, const Napi::Object& options, VocabularyInput* out) {
  Napi::Value v = options.Get("vocabulary");
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsObject()) {
    make_error(env, "bad_request", "vocabulary must be an object").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  if (!read_typed(env, o, "bytes", napi_uint8_array, true, &out->bytes) ||
      !read_typed(env, o, "offsets", napi_uint32_array, true, &out->offsets) ||
      !read_typed(env, o, "special", napi_uint8_array, false, &out->special)) {
    return false;
  }
  if (out->offsets.empty()) {
    make_error(env, "bad_request", "vocabulary.offsets needs at least one entry").ThrowAsJavaScriptException();
    return false;
  }
  if (!out->special.empty() && out->special.size() != out->offsets.size() - 1) {
    make_error(env, "bad_request", "vocabulary.special needs one entry per token").ThrowAsJavaScriptException();
    return false;
  }
  out->present = true;
  return true;
}

inferkit::Status AddonGrammars::set_vocabulary(const VocabularyInput& in, int vocab_size) {
  std::shared_ptr<const inferkit::grammar::Vocabulary> v;
  if (in.present) {
    IK_RETURN_IF_ERROR(inferkit::grammar::Vocabulary::build(
        in.bytes.data(), in.bytes.size(), in.offsets.data(), in.offsets.size() - 1,
        in.special.empty() ? nullptr : in.special.data(), vocab_size, &v));
  }
  std::lock_guard<std::mutex> lock(mu_);
  vocab_ = std::move(v);
  cache_.clear();
  return inferkit::Status::Ok();
}

inferkit::Status AddonGrammars::get(const int32_t* words, size_t n,
                                    std::shared_ptr<inferkit::grammar::CompiledGrammar>* out) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint32_t>(words[i])) * 1099511628211ull;
  std::lock_guard<std::mutex> lock(mu_);
  if (!vocab_) {
    return inferkit::Status::BadRequest(
        "constrained decoding needs the model's vocabulary: load() was called without `vocabulary`");
  }
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->hash != h || it->words.size() != n || std::memcmp(it->words.data(), words, n * 4) != 0) continue;
    cache_.splice(cache_.begin(), cache_, it);
    *out = cache_.front().compiled;
    return inferkit::Status::Ok();
  }
  std::shared_ptr<const inferkit::grammar::Grammar> g;
  IK_RETURN_IF_ERROR(inferkit::grammar::Grammar::parse(words, n, &g));
  std::shared_ptr<inferkit::grammar::CompiledGrammar> compiled;
  IK_RETURN_IF_ERROR(inferkit::grammar::CompiledGrammar::create(std::move(g), vocab_, &compiled));
  // The start state is checked once here, so a grammar that matches nothing fails at submit.
  inferkit::grammar::GrammarMatcher probe(compiled);
  IK_RETURN_IF_ERROR(probe.init());
  cache_.push_front(Entry{h, std::vector<int32_t>(words, words + n), compiled});
  if (cache_.size() > kCacheEntries) cache_.pop_back();
  *out = std::move(compiled);
  return inferkit::Status::Ok();
}

}  // namespace inferkit_addon
