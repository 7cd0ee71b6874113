// One AsyncWorker per blocking Engine call. Each Refs the JS engine object for its lifetime,
// runs the call in Execute() (no JS there; exceptions caught into a Status naming the call)
// and settles a promise on the JS thread.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "AddonEngine.h"
#include "engine.h"

namespace inferkit_addon {

class AddonEngineWorker : public Napi::AsyncWorker {
 public:
  AddonEngineWorker(Napi::Env env, AddonEngine* engine, const char* name);
  ~AddonEngineWorker() override;
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& e) final;
  // Runs on the worker thread.
  virtual inferkit::Status Run() = 0;
  // Runs on the JS thread after a successful Run(); the resolved value.
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }

  AddonEngine* engine_;
  const char* name_;
  inferkit::Status status_;
  Napi::Promise::Deferred deferred_;
};

struct LoadProgress {
  double fraction;
  std::string stage;
};

class AddonEngineLoadWorker : public AddonEngineWorker {
 public:
  static void CallProgress(Napi::Env env, Napi::Function fn, std::nullptr_t*, LoadProgress* p);
  using ProgressTsfn =
      Napi::TypedThreadSafeFunction<std::nullptr_t, LoadProgress, &AddonEngineLoadWorker::CallProgress>;

  AddonEngineLoadWorker(Napi::Env env, AddonEngine* engine, std::string dir,
                        inferkit::EngineOptions options, Napi::Function on_progress);
  // Token bytes for constrained decoding, built into a trie once the model is loaded.
  void set_vocabulary(AddonGrammars::VocabularyInput v) { vocabulary_ = std::move(v); }
  ~AddonEngineLoadWorker() override;

 protected:
  inferkit::Status Run() override;
  Napi::Value Result(Napi::Env env) override;

 private:
  std::string dir_;
  inferkit::EngineOptions options_;
  AddonGrammars::VocabularyInput vocabulary_;
  bool has_progress_ = false;
  ProgressTsfn progress_;
};

class AddonEngineLogitsWorker : public AddonEngineWorker {
 public:
  AddonEngineLogitsWorker(Napi::Env env, AddonEngine* engine, std::vector<int32_t> tokens)
      : AddonEngineWorker(env, engine, "Engine::logits"), tokens_(std::move(tokens)) {}

 protected:
  inferkit::Status Run() override { return engine_->engine().logits(tokens_, &logits_); }
  Napi::Value Result(Napi::Env env) override;

 private:
  std::vector<int32_t> tokens_;
  std::vector<float> logits_;
};

class AddonEngineRebuildWorker : public AddonEngineWorker {
 public:
  AddonEngineRebuildWorker(Napi::Env env, AddonEngine* engine)
      : AddonEngineWorker(env, engine, "Engine::rebuild") {}

 protected:
  inferkit::Status Run() override { return engine_->engine().rebuild(); }
  Napi::Value Result(Napi::Env env) override;
};

class AddonEngineCloseWorker : public AddonEngineWorker {
 public:
  AddonEngineCloseWorker(Napi::Env env, AddonEngine* engine)
      : AddonEngineWorker(env, engine, "Engine::close") {}

 protected:
  inferkit::Status Run() override {
    engine_->engine().close();
    return inferkit::Status::Ok();
  }
  Napi::Value Result(Napi::Env env) override;
};

}  // namespace inferkit_addon
