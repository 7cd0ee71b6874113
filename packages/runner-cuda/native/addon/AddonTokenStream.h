// AddonTokenStream: delivers one request's token events from the engine thread to its JS
// onEvent callback. Tokens are appended to a buffer and at most one thread-safe-function call
// is queued at a time, so a busy event loop receives fewer, larger batches instead of a
// backlog of one-token calls. The final event (finish reason) releases the function.
#pragma once

#include <napi.h>

#include <mutex>
#include <vector>

#include "engine.h"

namespace inferkit_addon {

class AddonEngine;

struct AddonTokenStream {
  std::mutex mu;
  std::vector<int32_t> tokens;
  int cached_tokens = -1;  // TokenEvent::cached_tokens, the latest seen
  inferkit::FinishReason finish = inferkit::FinishReason::kNone;
  inferkit::Status error;
  bool call_queued = false;

  static void CallJs(Napi::Env env, Napi::Function on_event, AddonEngine* engine,
                     AddonTokenStream* stream);
  using Tsfn = Napi::TypedThreadSafeFunction<AddonEngine, AddonTokenStream, CallJs>;

  // Creates the stream and its thread-safe function (JS thread). The returned callback is handed
  // to Engine::submit; if submit fails, call abandon() instead.
  static inferkit::TokenCallback Create(Napi::Env env, Napi::Function on_event,
                                        AddonEngine* engine, Tsfn* out_tsfn);
  static void Abandon(Tsfn tsfn);
};

}  // namespace inferkit_addon
