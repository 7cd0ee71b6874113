// The CPU kernel sets this machine can run, for tests that hold every variant to the generic one.
#pragma once

#include <vector>

#include "cpu/kernels.h"

// Every variant kernels_by_name knows, in order, skipping those this CPU lacks or this build left out.
inline std::vector<const inferkit::cpu::Kernels*> available_kernels() {
  std::vector<const inferkit::cpu::Kernels*> v;
  for (const char* n : {"generic", "avx2", "avx512", "avx512vnni"}) {
    if (const inferkit::cpu::Kernels* k = inferkit::cpu::kernels_by_name(n)) v.push_back(k);
  }
  return v;
}
