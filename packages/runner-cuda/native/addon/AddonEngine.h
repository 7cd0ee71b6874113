// AddonEngine: the JS `Engine` object. Wraps one inferkit::Engine; every blocking call runs in
// an AsyncWorker (AddonEngine<Verb>Worker, see AddonEngineWorkers.h) and tokens reach JS
// through one thread-safe function per request (AddonTokenStream.h).
#pragma once

#include <napi.h>

#include <memory>

#include "AddonGrammars.h"
#include "engine.h"

namespace inferkit_addon {

class AddonEngine : public Napi::ObjectWrap<AddonEngine> {
 public:
  static Napi::Function Init(Napi::Env env);

  explicit AddonEngine(const Napi::CallbackInfo& info);
  ~AddonEngine() override;

  inferkit::Engine& engine() { return *engine_; }
  AddonGrammars& grammars() { return grammars_; }
  // Keeps V8's view of native memory in step with the loaded model (called on the JS thread).
  void report_memory(Napi::Env env, int64_t bytes);

 private:
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Logits(const Napi::CallbackInfo& info);
  Napi::Value Rebuild(const Napi::CallbackInfo& info);
  Napi::Value InjectFault(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Throws bad_request when no model is loaded (never loaded, or closed).
  bool check_loaded(Napi::Env env);
  // Environment teardown (process exit, worker exit) stops the engine thread before the
  // environment is gone; ~AddonEngine unregisters it when the object is collected first.
  static void on_env_cleanup(void* self);

  std::unique_ptr<inferkit::Engine> engine_;
  AddonGrammars grammars_;
  napi_env env_ = nullptr;
  int64_t reported_memory_ = 0;
  bool cleanup_registered_ = false;
};

// The info object resolved by load(): config summary and the device actually used.
Napi::Object model_info_object(Napi::Env env, const inferkit::ModelInfo& info);

}  // namespace inferkit_addon
