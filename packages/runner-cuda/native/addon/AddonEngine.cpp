#include "AddonEngine.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "AddonEngineWorkers.h"
#include "AddonTokenStream.h"
#include "addon_errors.h"

namespace inferkit_addon {

namespace {

// Optional numeric option: absent/undefined keeps the default; anything else must be a finite
// number within [lo, hi].
bool read_number(Napi::Env env, const Napi::Object& o, const char* key, double lo, double hi,
                 double* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsNumber()) {
    make_error(env, "bad_request", std::string(key) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < lo || d > hi) {
    char range[96];
    std::snprintf(range, sizeof range, " must be a finite number between %g and %g", lo, hi);
    make_error(env, "bad_request", std::string(key) + range).ThrowAsJavaScriptException();
    return false;
  }
  *out = d;
  return true;
}

bool read_int(Napi::Env env, const Napi::Object& o, const char* key, double lo, double hi, int* out) {
  double d = *out;
  if (!read_number(env, o, key, lo, hi, &d)) return false;
  if (d != std::floor(d)) {
    make_error(env, "bad_request", std::string(key) + " must be an integer").ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

bool read_int32_array(Napi::Env env, const Napi::Object& o, const char* key, bool required,
                      std::vector<int32_t>* out) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (!required) return true;
    make_error(env, "bad_request", std::string(key) + " is required").ThrowAsJavaScriptException();
    return false;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    make_error(env, "bad_request", std::string(key) + " must be an Int32Array").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  out->assign(a.Data(), a.Data() + a.ElementLength());
  return true;
}

}  // namespace

Napi::Function AddonEngine::Init(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {
                         InstanceMethod("load", &AddonEngine::Load),
                         InstanceMethod("submit", &AddonEngine::Submit),
                         InstanceMethod("cancel", &AddonEngine::Cancel),
                         InstanceMethod("stats", &AddonEngine::Stats),
                         InstanceMethod("logits", &AddonEngine::Logits),
                         InstanceMethod("rebuild", &AddonEngine::Rebuild),
                         InstanceMethod("injectFault", &AddonEngine::InjectFault),
                         InstanceMethod("close", &AddonEngine::Close),
                     });
}

AddonEngine::AddonEngine(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<AddonEngine>(info), engine_(new inferkit::Engine()), env_(info.Env()) {
  if (napi_add_env_cleanup_hook(env_, &AddonEngine::on_env_cleanup, this) == napi_ok) {
    cleanup_registered_ = true;
  }
}

AddonEngine::~AddonEngine() {
  if (cleanup_registered_) napi_remove_env_cleanup_hook(env_, &AddonEngine::on_env_cleanup, this);
  // Only reachable with no request or worker in flight (both hold a reference), so this does
  // not wait on generation.
  engine_->close();
}

void AddonEngine::on_env_cleanup(void* self) {
  auto* e = static_cast<AddonEngine*>(self);
  e->cleanup_registered_ = false;
  e->engine_->close();
}

void AddonEngine::report_memory(Napi::Env env, int64_t bytes) {
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes - reported_memory_);
  reported_memory_ = bytes;
}

bool AddonEngine::check_loaded(Napi::Env env) {
  if (engine_->loaded()) return true;
  make_error(env, "bad_request", "Engine has no model loaded (call load() first) or is closed")
      .ThrowAsJavaScriptException();
  return false;
}

Napi::Value AddonEngine::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    make_error(env, "bad_request", "load() expects an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value dir = o.Get("modelDir");
  if (!dir.IsString() || dir.As<Napi::String>().Utf8Value().empty()) {
    make_error(env, "bad_request", "modelDir must be a non-empty string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  inferkit::EngineOptions opts;
  Napi::Value device = o.Get("device");
  if (!device.IsUndefined() && !device.IsNull()) {
    std::string d = device.IsString() ? device.As<Napi::String>().Utf8Value() : "";
    if (d == "cpu") opts.device = inferkit::Device::kCpu;
    else if (d == "cuda") opts.device = inferkit::Device::kCuda;
    else if (d == "auto") opts.device = inferkit::Device::kAuto;
    else {
      make_error(env, "bad_request", "device must be 'cpu', 'cuda' or 'auto'").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  if (!read_int(env, o, "threads", 0, 1024, &opts.threads) ||
      !read_int(env, o, "maxBatch", 1, 256, &opts.max_batch) ||
      !read_int(env, o, "maxSeqLen", 0, 1 << 24, &opts.max_seq_len)) {
    return env.Undefined();
  }
  Napi::Value pc = o.Get("prefixCache");
  if (!pc.IsUndefined() && !pc.IsNull()) {
    if (!pc.IsBoolean()) {
      make_error(env, "bad_request", "prefixCache must be a boolean").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    opts.prefix_cache = pc.As<Napi::Boolean>().Value();
  }
  Napi::Value cal = o.Get("convertAtLoad");
  if (!cal.IsUndefined() && !cal.IsNull()) {
    if (cal.IsBoolean()) {
      opts.convert_at_load = cal.As<Napi::Boolean>().Value() ? inferkit::WeightConversion::kF32
                                                            : inferkit::WeightConversion::kNone;
    } else if (cal.IsString() && cal.As<Napi::String>().Utf8Value() == "q8_0") {
      opts.convert_at_load = inferkit::WeightConversion::kQ8_0;
    } else {
      make_error(env, "bad_request", "convertAtLoad must be true, false or 'q8_0'").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  Napi::Function progress;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsFunction()) {
      make_error(env, "bad_request", "onProgress must be a function").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    progress = info[1].As<Napi::Function>();
  }
  AddonGrammars::VocabularyInput vocabulary;
  if (!AddonGrammars::read_vocabulary(env, o, &vocabulary)) return env.Undefined();
  auto* w = new AddonEngineLoadWorker(env, this, dir.As<Napi::String>().Utf8Value(), opts, progress);
  w->set_vocabulary(std::move(vocabulary));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value AddonEngine::Submit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!check_loaded(env)) return env.Undefined();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    make_error(env, "bad_request", "submit() expects (request, onEvent)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  inferkit::GenerateRequest req;
  double temperature = 0, top_p = 1, seed = 0, presence = 0, frequency = 0, repetition = 1;
  int top_k = 0;
  if (!read_int32_array(env, o, "tokens", true, &req.prompt) ||
      !read_int32_array(env, o, "stopTokenIds", false, &req.stop_token_ids) ||
      !read_number(env, o, "temperature", 0, 1e6, &temperature) ||
      !read_number(env, o, "topP", 0, 1, &top_p) ||
      !read_int(env, o, "topK", 0, 1 << 30, &top_k) ||
      !read_number(env, o, "presencePenalty", -2, 2, &presence) ||
      !read_number(env, o, "frequencyPenalty", -2, 2, &frequency) ||
      !read_number(env, o, "repetitionPenalty", inferkit::kMinRepetitionPenalty,
                   inferkit::kMaxRepetitionPenalty, &repetition) ||
      !read_int(env, o, "maxTokens", 1, 1 << 24, &req.max_tokens)) {
    return env.Undefined();
  }
  Napi::Value sv = o.Get("seed");
  if (sv.IsBigInt()) {
    bool lossless = true;
    req.sampling.seed = sv.As<Napi::BigInt>().Uint64Value(&lossless);
  } else if (!read_number(env, o, "seed", -9007199254740991.0, 9007199254740991.0, &seed)) {
    return env.Undefined();
  } else {
    req.sampling.seed = static_cast<uint64_t>(static_cast<int64_t>(seed));
  }
  Napi::Value gv = o.Get("grammar");
  if (!gv.IsUndefined() && !gv.IsNull()) {
    std::vector<int32_t> words;
    if (!read_int32_array(env, o, "grammar", true, &words)) return env.Undefined();
    inferkit::Status gs = grammars_.get(words.data(), words.size(), &req.grammar);
    if (!gs.ok()) {
      make_error(env, gs).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  req.sampling.temperature = static_cast<float>(temperature);
  req.sampling.top_p = static_cast<float>(top_p);
  req.sampling.top_k = top_k;
  req.sampling.presence_penalty = static_cast<float>(presence);
  req.sampling.frequency_penalty = static_cast<float>(frequency);
  req.sampling.repetition_penalty = static_cast<float>(repetition);

  AddonTokenStream::Tsfn tsfn;
  inferkit::TokenCallback cb =
      AddonTokenStream::Create(env, info[1].As<Napi::Function>(), this, &tsfn);
  uint64_t id = 0;
  inferkit::Status st = engine_->submit(std::move(req), cb, &id);
  if (!st.ok()) {
    AddonTokenStream::Abandon(tsfn);
    make_error(env, st).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(id));
}

Napi::Value AddonEngine::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    make_error(env, "bad_request", "cancel() expects a request id").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double id = info[0].As<Napi::Number>().DoubleValue();
  if (id >= 1 && id == std::floor(id)) engine_->cancel(static_cast<uint64_t>(id));
  return env.Undefined();
}

Napi::Value AddonEngine::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  inferkit::EngineStats s = engine_->stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("loaded", s.loaded);
  o.Set("poisoned", s.poisoned);
  o.Set("activeSequences", s.active_sequences);
  o.Set("queuedSequences", s.queued_sequences);
  o.Set("steps", static_cast<double>(s.steps));
  o.Set("promptTokens", static_cast<double>(s.prompt_tokens));
  o.Set("generatedTokens", static_cast<double>(s.generated_tokens));
  o.Set("prefillSeconds", s.prefill_seconds);
  o.Set("decodeSeconds", s.decode_seconds);
  o.Set("cachedPromptTokens", static_cast<double>(s.cached_prompt_tokens));
  o.Set("kvBlocks", s.kv_blocks);
  o.Set("kvBlocksInUse", s.kv_blocks_in_use);
  o.Set("kvBlocksCached", s.kv_blocks_cached);
  o.Set("kvEvictions", static_cast<double>(s.kv_evictions));
  o.Set("memoryBytes", static_cast<double>(s.memory_bytes));
  return o;
}

Napi::Value AddonEngine::Logits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!check_loaded(env)) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    make_error(env, "bad_request", "logits() expects an Int32Array of token ids").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array a = info[0].As<Napi::Int32Array>();
  std::vector<int32_t> tokens(a.Data(), a.Data() + a.ElementLength());
  auto* w = new AddonEngineLogitsWorker(env, this, std::move(tokens));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value AddonEngine::Rebuild(const Napi::CallbackInfo& info) {
  auto* w = new AddonEngineRebuildWorker(info.Env(), this);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value AddonEngine::InjectFault(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!check_loaded(env)) return env.Undefined();
  std::string kind = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  if (kind != "sticky_failure") {
    make_error(env, "bad_request", "injectFault() kinds: 'sticky_failure'").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  inferkit::Status st = engine_->inject_fault(inferkit::FaultKind::kStickyFailure);
  if (!st.ok()) make_error(env, st).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value AddonEngine::Close(const Napi::CallbackInfo& info) {
  auto* w = new AddonEngineCloseWorker(info.Env(), this);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Object model_info_object(Napi::Env env, const inferkit::ModelInfo& info) {
  const inferkit::ModelConfig& c = info.config;
  Napi::Object o = Napi::Object::New(env);
  o.Set("device", info.device);
  o.Set("deviceDescription", info.device_description);
  o.Set("arch", inferkit::arch_name(c.arch));
  o.Set("modelType", c.model_type);
  o.Set("vocabSize", c.vocab_size);
  o.Set("hiddenSize", c.hidden_size);
  o.Set("numLayers", c.num_layers);
  o.Set("numHeads", c.num_heads);
  o.Set("numKvHeads", c.num_kv_heads);
  o.Set("headDim", c.head_dim);
  o.Set("intermediateSize", c.intermediate_size);
  o.Set("maxPositionEmbeddings", c.max_position_embeddings);
  o.Set("maxBatch", info.max_batch);
  o.Set("maxSeqLen", info.max_seq_len);
  o.Set("threads", info.threads);
  o.Set("weightDtype", info.weight_dtype);
  Napi::Array eos = Napi::Array::New(env, c.eos_token_ids.size());
  for (size_t i = 0; i < c.eos_token_ids.size(); ++i) eos.Set(static_cast<uint32_t>(i), c.eos_token_ids[i]);
  o.Set("eosTokenIds", eos);
  o.Set("bosTokenId", c.bos_token_id >= 0 ? Napi::Value(Napi::Number::New(env, c.bos_token_id)) : env.Null());
  o.Set("tieWordEmbeddings", c.tie_word_embeddings);
  o.Set("memoryBytes", static_cast<double>(info.memory_bytes));
  return o;
}

}  // namespace inferkit_addon
