// Host emulation of the engine's tensor-core prefill attention kernel
// (attention_prefill_tc_kernel in engine/cuda/attention.cu; its text, shape structs and launcher
// are extracted by extract.cmake). Every CUDA thread is an OS thread (emu_shim.h); ldmatrix and
// mma.sync rendezvous through the warp and follow the PTX fragment layouts; shared memory starts
// as NaN; cp.async is either immediate or deferred to cp.async.wait_group (destination
// NaN-poisoned until then). Outputs are checked against a double-precision reference with a
// per-element bound for BF16 inputs.
//
//   emu_attention [tiny|quick|w70]   (no argument: every head size, window and head layout)
// Build with -fsanitize=thread to find shared-memory races, -fsanitize=address for OOB.
#include <numeric>
#include <random>
#include <type_traits>

#include "emu_shim.h"
#include "attention.cuh"

using namespace inferkit::cuda;

static bool g_defer = false;
static std::atomic<int> g_violations{0};

struct Range { const void* lo; size_t bytes; };
static std::vector<Range> g_ranges;

inline uint16_t f_to_bf16(float f) { return __float2bfloat16(f).bits; }
inline float bf16_to_f(uint16_t b) { return __bfloat162float(bf16{b}); }

static void check_smem(const void* p, size_t bytes, const char* what) {
  const auto* c = static_cast<const unsigned char*>(p);
  const std::vector<unsigned char>& s = emu::t_block->static_smem;
  if (c < s.data() || c + bytes > s.data() + s.size() || (reinterpret_cast<uintptr_t>(p) & 15)) {
    if (g_violations++ < 5) std::fprintf(stderr, "bad smem address in %s\n", what);
  }
}

namespace inferkit {
namespace cuda {
namespace tc {
struct Pending { void* dst; const void* src; int group; };
// Per CUDA thread; a copy still pending when the thread exits never landed.
struct PendingList {
  std::vector<Pending> list;
  ~PendingList() {
    if (!list.empty() && g_violations++ < 5) std::fprintf(stderr, "cp.async left pending at exit\n");
  }
};
thread_local PendingList t_pending;
thread_local int t_group = 0;

void cp_async16(void* smem, const void* gmem) {
  check_smem(smem, 16, "cp.async dst");
  bool ok = (reinterpret_cast<uintptr_t>(gmem) & 15) == 0;
  bool in = false;
  for (const Range& r : g_ranges) {
    const auto* lo = static_cast<const unsigned char*>(r.lo);
    const auto* p = static_cast<const unsigned char*>(gmem);
    if (p >= lo && p + 16 <= lo + r.bytes) in = true;
  }
  if (!ok || !in) {
    if (g_violations++ < 5) std::fprintf(stderr, "bad cp.async source %p (aligned %d, in range %d)\n", gmem, ok, in);
    return;
  }
  if (g_defer) {
    std::memset(smem, 0xFF, 16);  // undefined until the wait: NaN
    t_pending.list.push_back({smem, gmem, t_group});
  } else {
    std::memcpy(smem, gmem, 16);
  }
}
void cp_async_commit() { ++t_group; }
template <int N>
void cp_async_wait() {
  // Groups older than the N most recent committed ones have landed.
  std::vector<Pending> keep;
  for (const Pending& p : t_pending.list) {
    if (p.group < t_group - N) std::memcpy(p.dst, p.src, 16);
    else keep.push_back(p);
  }
  t_pending.list.swap(keep);
}

void ldmatrix_x4(uint32_t (&r)[4], const bf16* p) {
  check_smem(p, 16, "ldmatrix");
  const unsigned char* all = emu::warp_exchange(&p, sizeof p);
  const int L = emu::t_lane;
  for (int j = 0; j < 4; ++j) {
    const bf16* row = emu::lane_value<const bf16*>(all, j * 8 + L / 4);
    r[j] = row[2 * (L % 4)].bits | (static_cast<uint32_t>(row[2 * (L % 4) + 1].bits) << 16);
  }
}
void ldmatrix_x4_trans(uint32_t (&r)[4], const bf16* p) {
  check_smem(p, 16, "ldmatrix.trans");
  const unsigned char* all = emu::warp_exchange(&p, sizeof p);
  const int L = emu::t_lane;
  for (int j = 0; j < 4; ++j) {
    const bf16* r0 = emu::lane_value<const bf16*>(all, j * 8 + 2 * (L % 4));
    const bf16* r1 = emu::lane_value<const bf16*>(all, j * 8 + 2 * (L % 4) + 1);
    r[j] = r0[L / 4].bits | (static_cast<uint32_t>(r1[L / 4].bits) << 16);
  }
}

inline float half_of(uint32_t reg, int h) { return bf16_to_f(static_cast<uint16_t>(h ? reg >> 16 : reg & 0xffff)); }

// PTX m16n8k16 .row.col: A reg r of lane l holds (row l/4 + 8 (r%2), k 2 (l%4) + 8 (r/2) + {0,1});
// B reg r holds (k 2 (l%4) + 8 r + {0,1}, n l/4); C/D element r holds (row l/4 + 8 (r/2),
// col 2 (l%4) + r%2).
struct MmaOperands { uint32_t a[4]; uint32_t b[2]; float c[4]; };
void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  MmaOperands mine;
  for (int i = 0; i < 4; ++i) { mine.a[i] = a[i]; mine.c[i] = d[i]; }
  mine.b[0] = b0;
  mine.b[1] = b1;
  const unsigned char* all = emu::warp_exchange(&mine, sizeof mine);
  auto op = [&](int lane) { return emu::lane_value<MmaOperands>(all, lane); };
  const int L = emu::t_lane;
  const MmaOperands own = op(L);
  for (int r = 0; r < 4; ++r) {
    const int row = L / 4 + 8 * (r / 2), col = 2 * (L % 4) + r % 2;
    double acc = own.c[r];
    for (int k = 0; k < 16; ++k) {
      const int al = (row % 8) * 4 + (k % 8) / 2, ar = (row / 8) + 2 * (k / 8);
      const int bl = col * 4 + (k % 8) / 2, br = k / 8;
      acc += static_cast<double>(half_of(op(al).a[ar], k % 2)) * half_of(op(bl).b[br], k % 2);
    }
    d[r] = static_cast<float>(acc);
  }
}

inline uint32_t pack_bf16(float lo, float hi) {
  return f_to_bf16(lo) | (static_cast<uint32_t>(f_to_bf16(hi)) << 16);
}

template <typename OT> void store2(OT* p, float x, float y);
template <> void store2<float>(float* p, float x, float y) { p[0] = x; p[1] = y; }
template <> void store2<bf16>(bf16* p, float x, float y) { p[0].bits = f_to_bf16(x); p[1].bits = f_to_bf16(y); }
}  // namespace tc

#include "attention_tc_kernel.inc"

}  // namespace cuda
}  // namespace inferkit

// ---------------------------------------------------------------------------------------------
// Test problem and double-precision reference (as in dev/cuda/attention.cu).

std::vector<float> random_floats(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    v[i] = static_cast<float>((x >> 40) & 0xFFFFFF) / 8388608.f - 1.f;
  }
  return v;
}

template <typename OT>
bool run_case(int nq, int nkv, int hd, int window, const std::vector<int>& pos, const std::vector<int>& slot,
              uint64_t seed, const char* tag) {
  const int slots = 5, max_seq = 320, max_blocks = max_seq / kKvBlockTokens;
  const int T = static_cast<int>(pos.size());
  // Pool: every block of every slot at a shuffled place; K/V of positions a slot has not
  // written yet are NaN, block-table entries past a slot's last block point far outside.
  std::vector<int> last(slots, -1);
  for (int t = 0; t < T; ++t) last[slot[t]] = std::max(last[slot[t]], pos[t]);
  const int nblocks = slots * max_blocks;
  std::vector<int32_t> table(nblocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(static_cast<unsigned>(seed)));
  for (int s = 0; s < slots; ++s)
    for (int b = 0; b < max_blocks; ++b)
      if (b * kKvBlockTokens > last[s]) table[s * max_blocks + b] = 1 << 28;
  const size_t pool_elems = static_cast<size_t>(nblocks) * nkv * kKvBlockTokens * hd;
  std::vector<bf16> kpool(pool_elems, bf16{0x7fc0}), vpool(pool_elems, bf16{0x7fc0});
  std::vector<float> kf = random_floats(static_cast<size_t>(slots) * max_seq * nkv * hd, seed + 1);
  std::vector<float> vf = random_floats(kf.size(), seed + 2);
  for (float& x : kf) x = bf16_to_f(f_to_bf16(x));
  for (float& x : vf) x = bf16_to_f(f_to_bf16(x));
  for (int s = 0; s < slots; ++s)
    for (int p = 0; p <= last[s]; ++p)
      for (int h = 0; h < nkv; ++h)
        for (int d = 0; d < hd; ++d) {
          const size_t src = ((static_cast<size_t>(s) * max_seq + p) * nkv + h) * hd + d;
          const int64_t blk = table[s * max_blocks + p / kKvBlockTokens];
          const size_t dst = ((blk * nkv + h) * kKvBlockTokens + p % kKvBlockTokens) * hd + d;
          kpool[dst].bits = f_to_bf16(kf[src]);
          vpool[dst].bits = f_to_bf16(vf[src]);
        }
  // q with a wider row (q_stride > nq * hd, like the engine's fused qkv buffer).
  const int q_stride = nq * hd + 2 * nkv * hd;
  std::vector<float> q = random_floats(static_cast<size_t>(T) * q_stride, seed + 3);
  for (float& x : q) x = bf16_to_f(f_to_bf16(x));

  // Tiles exactly as the backend builds them.
  std::vector<PrefillTile> tiles;
  int rows = 0;
  switch (hd) {
    case 16: rows = PrefillShape<16>::ROWS; break;
    case 32: rows = PrefillShape<32>::ROWS; break;
    case 64: rows = PrefillShape<64>::ROWS; break;
    case 128: rows = PrefillShape<128>::ROWS; break;
  }
  for (int i = 0; i < T;) {
    int j = i + 1;
    while (j < T && slot[j] == slot[i]) ++j;
    for (int r = i; r < j; r += rows) {
      const int e = std::min(j, r + rows);
      tiles.push_back({r, e - r, pos[r], pos[e - 1]});
    }
    i = j;
  }

  std::vector<OT> out(static_cast<size_t>(T) * nq * hd);
  std::memset(out.data(), 0xFF, out.size() * sizeof(OT));
  g_ranges = {{kpool.data(), kpool.size() * sizeof(bf16)}, {vpool.data(), vpool.size() * sizeof(bf16)}};
  AttentionArgs a{q.data(), q_stride, pos.data(), slot.data(), T, nq, 1.f / std::sqrt(static_cast<float>(hd)), window, out.data()};
  KvView kv{table.data(), max_blocks, nkv, hd};
  switch (hd) {
    case 16: prefill_tc_hd<OT, 16>(a, kv, kpool.data(), vpool.data(), tiles.data(), static_cast<int>(tiles.size()), nullptr); break;
    case 32: prefill_tc_hd<OT, 32>(a, kv, kpool.data(), vpool.data(), tiles.data(), static_cast<int>(tiles.size()), nullptr); break;
    case 64: prefill_tc_hd<OT, 64>(a, kv, kpool.data(), vpool.data(), tiles.data(), static_cast<int>(tiles.size()), nullptr); break;
    case 128: prefill_tc_hd<OT, 128>(a, kv, kpool.data(), vpool.data(), tiles.data(), static_cast<int>(tiles.size()), nullptr); break;
  }

  const int G = nq / nkv;
  const double u = std::ldexp(1.0, -8), uo = std::is_same_v<OT, float> ? 0.0 : u;
  int bad = 0;
  double worst = 0, max_err = 0;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < nq; ++h) {
      const int kvh = h / G, lo = window > 0 ? std::max(0, pos[t] - window + 1) : 0;
      std::vector<double> s;
      for (int j = lo; j <= pos[t]; ++j) {
        double d = 0;
        for (int i = 0; i < hd; ++i)
          d += static_cast<double>(q[static_cast<size_t>(t) * q_stride + h * hd + i]) *
               kf[((static_cast<size_t>(slot[t]) * max_seq + j) * nkv + kvh) * hd + i];
        s.push_back(d / std::sqrt(static_cast<double>(hd)));
      }
      const double m = *std::max_element(s.begin(), s.end());
      double l = 0;
      for (double& x : s) { x = std::exp(x - m); l += x; }
      for (int i = 0; i < hd; ++i) {
        double o = 0;
        for (int j = lo; j <= pos[t]; ++j) o += s[j - lo] * vf[((static_cast<size_t>(slot[t]) * max_seq + j) * nkv + kvh) * hd + i];
        o /= l;
        double spread = 0;
        for (int j = lo; j <= pos[t]; ++j)
          spread = std::max(spread, std::fabs(vf[((static_cast<size_t>(slot[t]) * max_seq + j) * nkv + kvh) * hd + i] - o));
        const size_t at = (static_cast<size_t>(t) * nq + h) * hd + i;
        double g;
        if constexpr (std::is_same_v<OT, float>) g = out[at]; else g = bf16_to_f(out[at].bits);
        const double err = std::fabs(g - o);
        const double tol = (u / (1 - u) * spread + 1e-4) * (1 + uo) + uo * std::fabs(o);
        if (!(err <= tol)) {
          if (bad < 3) std::printf("  mismatch t=%d h=%d i=%d: got %.6g want %.6g (bound %.3g)\n", t, h, i, g, o, tol);
          ++bad;
        }
        max_err = std::isfinite(err) ? std::max(max_err, err) : INFINITY;
        worst = std::isfinite(err) ? std::max(worst, err / tol) : INFINITY;
      }
    }
  const int viol = g_violations.exchange(0);
  std::printf("%s %s hd=%d window=%d heads %d/%d: max abs err %.3g, worst err/bound %.2f, %d bad, %d access violations\n",
              bad || viol ? "FAIL" : "OK", tag, hd, window, nq, nkv, max_err, worst, bad, viol);
  return bad == 0 && viol == 0;
}

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "quick") == 0;
  const bool tiny = argc > 1 && std::strcmp(argv[1], "tiny") == 0;
  bool ok = true;
  std::vector<int> pos, slot;
  for (int i = 0; i < 50; ++i) { pos.push_back(i); slot.push_back(0); }
  pos.push_back(77); slot.push_back(2);     // a one-row tile (a decode token in a mixed batch)
  for (int i = 30; i < 70; ++i) { pos.push_back(i); slot.push_back(3); }
  pos.push_back(0); slot.push_back(4);      // a one-token sequence at position 0
  for (int i = 100; i <= (tiny ? 140 : quick ? 180 : 300); ++i) { pos.push_back(i); slot.push_back(1); }
  if (argc > 1 && std::strcmp(argv[1], "w70") == 0) {
    g_defer = true;
    ok = run_case<float>(14, 2, 16, 70, pos, slot, 21, "deferred") && ok;
    ok = run_case<float>(14, 2, 64, 70, pos, slot, 22, "deferred") && ok;
    ok = run_case<bf16>(8, 2, 128, 70, pos, slot, 23, "deferred") && ok;
    std::printf("%s\n", ok ? "ALL OK" : "SOME FAILED");
    return ok ? 0 : 1;
  }
  if (tiny) {
    for (int mode = 0; mode < 2; ++mode) {
      g_defer = mode == 1;
      emu::reverse_thread_start = mode == 1;
      ok = run_case<float>(14, 2, 64, 20, pos, slot, 5, mode ? "deferred" : "immediate") && ok;
      ok = run_case<float>(8, 2, 128, 0, pos, slot, 6, mode ? "deferred" : "immediate") && ok;
    }
    std::printf("%s\n", ok ? "ALL OK" : "SOME FAILED");
    return ok ? 0 : 1;
  }
  const int heads[3][2] = {{8, 2}, {14, 2}, {4, 4}};
  for (int mode = 0; mode < 2; ++mode) {
    g_defer = mode == 1;
    emu::reverse_thread_start = mode == 1;
    const char* tag = mode ? "deferred cp.async" : "immediate cp.async";
    for (int hd : {16, 32, 64, 128})
      for (int window : {0, 20, 70})
        for (const auto& h : heads) {
          if (quick && window == 70) continue;
          ok = run_case<float>(h[0], h[1], hd, window, pos, slot, 7 + hd + window, tag) && ok;
        }
    ok = run_case<bf16>(32, 8, 64, 0, pos, slot, 11, tag) && ok;
    ok = run_case<bf16>(16, 2, 128, 33, pos, slot, 12, tag) && ok;
  }
  std::printf("%s\n", ok ? "ALL OK" : "SOME FAILED");
  return ok ? 0 : 1;
}
