// backend_ops.h in a build without CUDA: nothing runs on a device; test_backend_ops reports the
// CUDA cases as skipped (or failed, with --require-cuda).
#include "backend_ops.h"

namespace inferkit {
namespace backend_ops {

namespace {
Status unavailable() { return Status::BadRequest("built without CUDA"); }
}  // namespace

bool cuda_ops_available(std::string* why) {
  if (why) *why = "built without CUDA";
  return false;
}
std::string cuda_device_name() { return "none"; }
Status cuda_embedding(const void*, DType, int, int, const std::vector<int32_t>&, std::vector<float>*) { return unavailable(); }
Status cuda_rmsnorm(const std::vector<float>&, const std::vector<float>&, int, int, float, DType, const std::vector<int32_t>*,
                    std::vector<float>*) { return unavailable(); }
Status cuda_swiglu(const std::vector<float>&, int, int, DType, std::vector<float>*) { return unavailable(); }
Status cuda_matvec(const void*, DType, int, int, const std::vector<float>&, int, int, const std::vector<float>*, int,
                   const std::vector<float>*, float, bool, std::vector<float>*) { return unavailable(); }
Status cuda_matmul(const std::vector<float>&, const void*, DType, int, int, int, const std::vector<float>*, bool, bool,
                   std::vector<float>*) { return unavailable(); }
Status cuda_rope_kv(const RopeCase&, std::vector<float>*, std::vector<float>*, std::vector<float>*) { return unavailable(); }
Status cuda_attention(const AttentionCase&, std::vector<float>*) { return unavailable(); }
bool cuda_attention_supports(int) { return false; }
Status cuda_sample(const std::vector<float>&, int, int, const std::vector<SamplingParams>&, const std::vector<uint64_t>&,
                   std::vector<int32_t>*) { return unavailable(); }

}  // namespace backend_ops
}  // namespace inferkit
