// Host emulation of the persistent decode step (engine/cuda/decode_persistent.cu): the kernel's
// own text (see extract.cmake) runs as one OS thread per CUDA thread, every block of the
// cooperative grid at once, against the CPU reference of the workbench (dev/cuda/decode_step.cu:
// its model, step buffers, reference_step and step_v2 are compiled here unchanged). Several steps
// run back to back on one cache and one grid-barrier word, so later steps read keys and values
// the kernel itself wrote and every launch continues the previous one's barrier count.
//
//   emu_decode [case-name-substring ...]   (no argument: every case)
// Build with -fsanitize=thread to check the grid barriers, the merge counter and every
// __syncthreads for missing happens-before edges; with -fsanitize=address,undefined for
// out-of-bounds accesses (global buffers are exactly sized heap blocks).
#include <cstring>
#include <numeric>
#include <string>

#include "emu_shim.h"
#include "common.h"
#include "decode_persistent.cu"

using namespace inferkit::cuda;

#include "decode_step_model.inc"

namespace {

struct Case {
  std::string name;
  Shape shape;
  std::vector<int32_t> pos, slots, logit_rows;  // of the first step; each step adds 1 to pos
  uint64_t seed;
  int steps;
  int sms;  // the emulated device's SM count = the cooperative grid
};

// The cache as the kernel left it against the reference's: the positions the steps wrote
// within the workbench tolerance, every other element bit for bit (nothing else may be written).
bool check_cache(const Model& m, const HostModel& h, const std::vector<std::vector<int32_t>>& written_pos,
                 const std::vector<int32_t>& slots, const char* label) {
  const Shape& s = m.s;
  const size_t n = m.layer_pool_elems * s.L;
  const std::vector<float> kc = bf16_to_host(m.k_pool, n), vc = bf16_to_host(m.v_pool, n);
  std::vector<char> written(n, 0);
  std::vector<float> got;
  std::vector<double> want;
  for (int l = 0; l < s.L; ++l)
    for (const std::vector<int32_t>& pos : written_pos)
      for (size_t t = 0; t < pos.size(); ++t)
        for (int kh = 0; kh < s.nkv; ++kh) {
          const int blk = m.block_table[static_cast<size_t>(slots[t]) * m.blocks_per_slot + pos[t] / kKvBlockTokens];
          const size_t off = l * m.layer_pool_elems +
                             ((static_cast<size_t>(blk) * s.nkv + kh) * kKvBlockTokens + pos[t] % kKvBlockTokens) * s.hd;
          for (int i = 0; i < s.hd; ++i) {
            written[off + i] = 1;
            got.push_back(kc[off + i]); want.push_back(h.k_pool[off + i]);
            got.push_back(vc[off + i]); want.push_back(h.v_pool[off + i]);
          }
        }
  char what[240];
  std::snprintf(what, sizeof what, "new K/V %s", label);
  bool ok = validate(what, got, want, 1e-2, 1e-2);
  size_t stray = 0;
  for (size_t i = 0; i < n; ++i)
    if (!written[i] && (std::memcmp(&kc[i], &h.k_pool[i], 4) != 0 || std::memcmp(&vc[i], &h.v_pool[i], 4) != 0)) {
      if (stray < 3) std::printf("  cache element %zu changed but no step wrote its position\n", i);
      ++stray;
    }
  std::printf("%s rest of the cache unchanged %s: %zu elements differ\n", stray ? "FAIL" : "OK", label, stray);
  return ok && stray == 0;
}

bool run_case(const Case& c) {
  emu::device.sms = c.sms;
  Model m = make_model(c.shape, c.seed);
  HostModel h = host_copy(m);
  bool ok = true;
  GridBarrierState* barrier = nullptr;
  unsigned* counters = nullptr;
  std::vector<std::vector<int32_t>> written;
  for (int k = 0; k < c.steps; ++k) {
    std::vector<int32_t> pos = c.pos;
    for (int32_t& p : pos) p += k;
    written.push_back(pos);
    Step st = make_step(m, pos, c.slots, c.logit_rows, c.seed + k);
    char label[200];
    std::snprintf(label, sizeof label, "%s grid=%d step %d rows=%d pos=[%d..%d] logits=%zu", c.name.c_str(), c.sms, k,
                  st.rows, *std::min_element(pos.begin(), pos.end()), *std::max_element(pos.begin(), pos.end()),
                  c.logit_rows.size());
    if (st.plan.grid != c.sms) {
      std::printf("FAIL %s: plan grid %d\n", label, st.plan.grid);
      return false;
    }
    // One barrier word and one set of merge counters for the whole sequence, as the backend keeps.
    if (k == 0) {
      barrier = st.barrier;
      counters = st.counters;
    } else {
      cudaFree(st.barrier);
      cudaFree(st.counters);
      st.barrier = barrier;
      st.counters = counters;
    }
    const std::vector<double> ref = reference_step(m, h, st);
    const size_t n = st.logit_rows.size() * static_cast<size_t>(c.shape.V);
    WB_CHECK(cudaMemset(st.logits, 0xFF, n * sizeof(float)));
    const cudaError_t e = step_v2(m, st, nullptr);
    if (e != cudaSuccess) {
      std::printf("FAIL %s: launch %s\n", label, cudaGetErrorName(e));
      return false;
    }
    const std::vector<float> got = to_host(st.logits, n);
    char what[240];
    std::snprintf(what, sizeof what, "logits %s", label);
    ok = validate(what, got, ref, 1e-2, 1e-2) && ok;
    if (k == 0) {
      // Relaunching the same step (it rewrites the same cache entries with the same values) must
      // reproduce the logits bit for bit: fixed reduction orders, counters reset by the last unit.
      WB_CHECK(cudaMemset(st.logits, 0xFF, n * sizeof(float)));
      WB_CHECK(step_v2(m, st, nullptr));
      const std::vector<float> again = to_host(st.logits, n);
      const bool same = std::equal(got.begin(), got.end(), again.begin(),
                                   [](float x, float y) { return std::memcmp(&x, &y, 4) == 0; });
      std::printf("%s repeat launch identical %s\n", same ? "OK" : "FAIL", label);
      ok = same && ok;
    }
    ok = check_cache(m, h, written, c.slots, label) && ok;
    st.barrier = nullptr;  // freed after the last step
    st.counters = nullptr;
    free_step(st);
  }
  cudaFree(barrier);
  cudaFree(counters);
  free_model(m);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  // The workbench's small shapes (dev/cuda/decode_step.cu main()), with smaller vocabularies
  // and caches to keep the emulation quick; head_dim, GQA group, K not a multiple of a unit's
  // 1024 columns, q/k norm + bias and the window are kept.
  const Shape llama{"llama-gqa", 256, 1536, 8, 2, 32, 2, 203, false, false, 0, 320, 4};
  const Shape qwen3{"qwen3-qknorm-bias", 384, 1024, 6, 2, 64, 2, 117, true, true, 0, 320, 4};
  const Shape window{"llama-window", 256, 512, 4, 4, 64, 2, 101, false, false, 40, 320, 4};
  const std::vector<Case> cases = {
      // One row, grid 8: four context splits per kv head, merged by the last unit.
      {"llama-1row-splits", llama, {250}, {2}, {0}, 1, 3, 8},
      // Position 0 (an empty cache before it) and a block boundary crossed over the steps.
      {"llama-1row-pos0", llama, {0}, {0}, {0}, 2, 2, 4},
      // Four rows (NB 4), logits of a subset, slots out of order, a step crossing 16 -> 17.
      {"llama-4rows", llama, {200, 15, 0, 99}, {1, 3, 0, 2}, {1, 3}, 4, 2, 4},
      // Three rows run as NB 4 with the fourth zero-padded; q/k norm and biases.
      {"qwen3-3rows", qwen3, {15, 129, 300}, {0, 1, 2}, {0, 1, 2}, 7, 2, 4},
      // Two rows (NB 2), grid 8: two splits per (row, kv head).
      {"qwen3-2rows-splits", qwen3, {40, 200}, {3, 1}, {1}, 8, 2, 8},
      // Sliding window: splits entirely before the window are empty.
      {"window-2rows", window, {100, 7}, {0, 2}, {0, 1}, 9, 2, 8},
      // No logit rows (the lm_head job is empty): only the cache writes are checked.
      {"llama-2rows-nologits", llama, {33, 70}, {1, 0}, {}, 10, 2, 4},
  };
  bool ok = true;
  int ran = 0;
  for (const Case& c : cases) {
    bool selected = argc < 2;
    for (int i = 1; i < argc; ++i) selected = selected || c.name.find(argv[i]) != std::string::npos;
    if (!selected) continue;
    ++ran;
    ok = run_case(c) && ok;
  }
  if (ran == 0) {
    std::printf("no case matches\n");
    return 2;
  }
  std::printf("%s emu_decode (%d case%s)\n", ok ? "OK" : "FAIL", ran, ran == 1 ? "" : "s");
  return ok ? 0 : 1;
}
