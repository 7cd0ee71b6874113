// The module registry: the Engine class and the process-wide CUDA queries.
#include <napi.h>

#include "AddonEngine.h"
#include "backend.h"

namespace inferkit_addon {

static Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string why;
  int n = inferkit::cuda_device_count(&why);
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", n);
  o.Set("reason", n > 0 ? std::string() : why);
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", AddonEngine::Init(env));
  exports.Set("builtWithCuda", Napi::Boolean::New(env, inferkit::built_with_cuda()));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount, "cudaDeviceCount"));
  return exports;
}

}  // namespace inferkit_addon

// NODE_API_MODULE pastes the function name into an identifier, so it must be unqualified.
static Napi::Object InitInferkit(Napi::Env env, Napi::Object exports) {
  return inferkit_addon::Init(env, exports);
}
NODE_API_MODULE(inferkit, InitInferkit)
