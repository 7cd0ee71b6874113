#include "AddonTokenStream.h"

#include "AddonEngine.h"
#include "addon_errors.h"

namespace inferkit_addon {

void AddonTokenStream::CallJs(Napi::Env env, Napi::Function on_event, AddonEngine* engine,
                              AddonTokenStream* stream) {
  if (env == nullptr || stream == nullptr) return;  // environment shutting down
  std::vector<int32_t> tokens;
  inferkit::FinishReason finish;
  inferkit::Status error;
  int cached = -1;
  {
    std::lock_guard<std::mutex> lock(stream->mu);
    tokens.swap(stream->tokens);
    cached = stream->cached_tokens;
    finish = stream->finish;
    error = stream->error;
    stream->call_queued = false;
  }
  Napi::HandleScope scope(env);
  Napi::Object event = Napi::Object::New(env);
  Napi::Int32Array arr = Napi::Int32Array::New(env, tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) arr[i] = tokens[i];
  event.Set("tokens", arr);
  if (cached >= 0) event.Set("cachedTokens", Napi::Number::New(env, cached));
  if (finish != inferkit::FinishReason::kNone) {
    event.Set("finishReason", Napi::String::New(env, inferkit::finish_reason_name(finish)));
    if (finish == inferkit::FinishReason::kError) event.Set("error", error_object(env, error));
  }
  try {
    on_event.Call({event});
  } catch (const Napi::Error& e) {
    // A throwing user callback surfaces as an uncaught exception ('uncaughtException'), like
    // a throwing event listener, instead of being swallowed with a warning.
    napi_fatal_exception(env, e.Value());
  }
}

inferkit::TokenCallback AddonTokenStream::Create(Napi::Env env, Napi::Function on_event,
                                                 AddonEngine* engine, Tsfn* out_tsfn) {
  auto* stream = new AddonTokenStream();
  // The engine object stays alive while a request is in flight: Ref here, Unref in the
  // finalizer, which runs on the JS thread once the last queued call has been delivered.
  engine->Ref();
  Tsfn tsfn = Tsfn::New(
      env, on_event, "inferkit.tokens", 0, 1, engine,
      [](Napi::Env, AddonTokenStream* s, AddonEngine* e) {
        delete s;
        e->Unref();
      },
      stream);
  *out_tsfn = tsfn;
  return [tsfn, stream](const inferkit::TokenEvent& ev) mutable {
    bool queue = false;
    {
      std::lock_guard<std::mutex> lock(stream->mu);
      stream->tokens.insert(stream->tokens.end(), ev.tokens.begin(), ev.tokens.end());
      if (ev.cached_tokens >= 0) stream->cached_tokens = ev.cached_tokens;
      if (ev.finish != inferkit::FinishReason::kNone) {
        stream->finish = ev.finish;
        stream->error = ev.error;
      }
      if (!stream->call_queued) {
        stream->call_queued = true;
        queue = true;
      }
    }
    if (queue) tsfn.NonBlockingCall(stream);
    if (ev.finish != inferkit::FinishReason::kNone) tsfn.Release();
  };
}

void AddonTokenStream::Abandon(Tsfn tsfn) { tsfn.Release(); }

}  // namespace inferkit_addon
