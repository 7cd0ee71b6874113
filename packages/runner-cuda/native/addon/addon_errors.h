// Engine Status -> JS Error carrying an InferenceError `kind`, so the TS side can lift it into
// an InferenceError without parsing messages.
#pragma once

#include <napi.h>

#include "status.h"

namespace inferkit_addon {

inline Napi::Error make_error(Napi::Env env, const inferkit::Status& status) {
  Napi::Error e = Napi::Error::New(env, status.message());
  e.Set("kind", Napi::String::New(env, status.kind()));
  return e;
}

inline Napi::Error make_error(Napi::Env env, const char* kind, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("kind", Napi::String::New(env, kind));
  return e;
}

// Plain { kind, message } for token events (not an Error: it crosses into user callbacks as data).
inline Napi::Object error_object(Napi::Env env, const inferkit::Status& status) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", Napi::String::New(env, status.kind()));
  o.Set("message", Napi::String::New(env, status.message()));
  return o;
}

}  // namespace inferkit_addon
