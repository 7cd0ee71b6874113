#include "AddonEngineWorkers.h"

#include <exception>

#include "addon_errors.h"

namespace inferkit_addon {

AddonEngineWorker::AddonEngineWorker(Napi::Env env, AddonEngine* engine, const char* name)
    : Napi::AsyncWorker(env, name), engine_(engine), name_(name),
      deferred_(Napi::Promise::Deferred::New(env)) {
  engine_->Ref();
}

AddonEngineWorker::~AddonEngineWorker() { engine_->Unref(); }

void AddonEngineWorker::Execute() {
  try {
    status_ = Run();
  } catch (const std::exception& e) {
    status_ = inferkit::Status::Internal(std::string(name_) + " threw: " + e.what());
  } catch (...) {
    status_ = inferkit::Status::Internal(std::string(name_) + " threw an unknown exception");
  }
}

void AddonEngineWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (!status_.ok()) {
    deferred_.Reject(make_error(env, status_).Value());
    return;
  }
  try {
    deferred_.Resolve(Result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void AddonEngineWorker::OnError(const Napi::Error& e) {
  Napi::HandleScope scope(Env());
  deferred_.Reject(make_error(Env(), "internal", std::string(name_) + ": " + e.Message()).Value());
}

void AddonEngineLoadWorker::CallProgress(Napi::Env env, Napi::Function fn, std::nullptr_t*,
                                         LoadProgress* p) {
  if (env != nullptr && fn) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("fraction", Napi::Number::New(env, p->fraction));
    o.Set("stage", Napi::String::New(env, p->stage));
    try {
      fn.Call({o});
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }
  delete p;
}

AddonEngineLoadWorker::AddonEngineLoadWorker(Napi::Env env, AddonEngine* engine, std::string dir,
                                             inferkit::EngineOptions options,
                                             Napi::Function on_progress)
    : AddonEngineWorker(env, engine, "Engine::load"), dir_(std::move(dir)), options_(options) {
  if (on_progress) {
    progress_ = ProgressTsfn::New(env, on_progress, "inferkit.loadProgress", 0, 1);
    has_progress_ = true;
  }
}

AddonEngineLoadWorker::~AddonEngineLoadWorker() {
  if (has_progress_) progress_.Release();
}

inferkit::Status AddonEngineLoadWorker::Run() {
  inferkit::ProgressFn fn;
  if (has_progress_) {
    ProgressTsfn tsfn = progress_;
    fn = [tsfn](double fraction, const char* stage) mutable {
      auto* p = new LoadProgress{fraction, stage};
      if (tsfn.NonBlockingCall(p) != napi_ok) delete p;
    };
  }
  IK_RETURN_IF_ERROR(engine_->engine().load(dir_, options_, fn));
  inferkit::Status st = engine_->grammars().set_vocabulary(vocabulary_, engine_->engine().info().config.vocab_size);
  if (!st.ok()) engine_->engine().close();
  return st;
}

Napi::Value AddonEngineLoadWorker::Result(Napi::Env env) {
  const inferkit::ModelInfo& info = engine_->engine().info();
  engine_->report_memory(env, static_cast<int64_t>(info.memory_bytes));
  return model_info_object(env, info);
}

Napi::Value AddonEngineLogitsWorker::Result(Napi::Env env) {
  Napi::Float32Array out = Napi::Float32Array::New(env, logits_.size());
  std::copy(logits_.begin(), logits_.end(), out.Data());
  return out;
}

Napi::Value AddonEngineRebuildWorker::Result(Napi::Env env) {
  engine_->report_memory(env, static_cast<int64_t>(engine_->engine().info().memory_bytes));
  return env.Undefined();
}

Napi::Value AddonEngineCloseWorker::Result(Napi::Env env) {
  engine_->report_memory(env, 0);
  return env.Undefined();
}

}  // namespace inferkit_addon
