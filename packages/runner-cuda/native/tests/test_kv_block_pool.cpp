// KvBlockPool: block tables, prefix hits (exact, whole blocks, never the last prompt token),
// sharing and reference counts, publication of generated blocks, LRU eviction of unreferenced
// blocks, collision safety, and the bound on resident blocks under random traffic.
#include <algorithm>
#include <random>
#include <set>

#include "kv_block_pool.h"
#include "test_harness.h"

using namespace inferkit;

namespace {

constexpr int B = kKvBlockTokens;

std::vector<int32_t> seq(int n, int32_t base) {
  std::vector<int32_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = base + i;
  return v;
}

std::vector<int32_t> row(const KvBlockPool& p, int slot) {
  const int32_t* r = p.tables() + static_cast<size_t>(slot) * p.blocks_per_seq();
  return std::vector<int32_t>(r, r + p.blocks_per_seq());
}

// Runs one request the way the scheduler does: attach, reserve, publish what is computed,
// release. Returns the tokens reused.
int run(KvBlockPool& p, int slot, const std::vector<int32_t>& tokens) {
  const int reused = p.attach_prefix(slot, tokens.data(), static_cast<int>(tokens.size()));
  CHECK(p.reserve(slot, static_cast<int>(tokens.size())));
  p.publish(slot, tokens.data(), static_cast<int>(tokens.size()));
  p.release(slot);
  return reused;
}

}  // namespace

TEST(reserve_assigns_distinct_blocks_and_release_frees_them) {
  KvBlockPool p;
  p.reset(8, 2, 4, true);
  CHECK(p.reserve(0, 17));  // positions 0..16: two blocks
  CHECK(p.reserve(1, 64));
  const std::vector<int32_t> a = row(p, 0), b = row(p, 1);
  CHECK(a[0] >= 0 && a[1] >= 0 && a[2] == -1);
  std::set<int32_t> all = {a[0], a[1], b[0], b[1], b[2], b[3]};
  CHECK_EQ(all.size(), 6u);
  CHECK_EQ(p.stats().in_use, 6);
  p.release(0);
  p.release(1);
  CHECK(row(p, 0) == std::vector<int32_t>(4, -1));
  CHECK_EQ(p.stats().in_use, 0);
  CHECK_EQ(p.stats().free, 8);  // nothing was published
}

TEST(prefix_hit_reuses_whole_blocks_and_leaves_the_last_token) {
  KvBlockPool p;
  p.reset(16, 2, 8, true);
  const std::vector<int32_t> first = seq(5 * B + 3, 100);
  CHECK_EQ(run(p, 0, first), 0);
  CHECK_EQ(p.stats().cached, 5);  // five full blocks published, the partial one freed
  // Same first 3 blocks, then different tokens.
  std::vector<int32_t> second = seq(3 * B, 100);
  for (int i = 0; i < 20; ++i) second.push_back(7);
  CHECK_EQ(p.attach_prefix(1, second.data(), static_cast<int>(second.size())), 3 * B);
  CHECK_EQ(p.stats().in_use, 3);
  p.release(1);
  // A prompt that is exactly 3 blocks reuses 2: its last token must be computed.
  const std::vector<int32_t> exact = seq(3 * B, 100);
  CHECK_EQ(p.attach_prefix(1, exact.data(), static_cast<int>(exact.size())), 2 * B);
  p.release(1);
  // One token different inside block 0: nothing.
  std::vector<int32_t> other = first;
  other[5] = 99;
  CHECK_EQ(p.attach_prefix(1, other.data(), static_cast<int>(other.size())), 0);
  p.release(1);
}

TEST(shared_blocks_are_read_only_and_reference_counted) {
  KvBlockPool p;
  p.reset(16, 3, 8, true);
  const std::vector<int32_t> sys = seq(2 * B, 10);
  std::vector<int32_t> a = sys, b = sys;
  a.insert(a.end(), {1, 2, 3});
  b.insert(b.end(), {4, 5, 6, 7});
  CHECK_EQ(run(p, 0, a), 0);
  CHECK_EQ(p.attach_prefix(1, a.data(), static_cast<int>(a.size())), 2 * B);
  CHECK_EQ(p.attach_prefix(2, b.data(), static_cast<int>(b.size())), 2 * B);
  CHECK(p.reserve(1, static_cast<int>(a.size())));
  CHECK(p.reserve(2, static_cast<int>(b.size())));
  const std::vector<int32_t> r1 = row(p, 1), r2 = row(p, 2);
  CHECK_EQ(r1[0], r2[0]);
  CHECK_EQ(r1[1], r2[1]);
  CHECK(r1[2] != r2[2]);  // the blocks they write are their own
  CHECK_EQ(p.stats().in_use, 4);
  p.release(1);
  CHECK_EQ(p.stats().in_use, 3);  // slot 2 still holds the shared two
  p.release(2);
  CHECK_EQ(p.stats().in_use, 0);
  CHECK_EQ(p.stats().cached, 2);
}

TEST(generated_blocks_are_published_so_a_continuation_reuses_them) {
  KvBlockPool p;
  p.reset(16, 1, 8, true);
  // Prompt of 10 tokens, 30 generated: the context is 40 tokens, 39 of them computed (the last
  // sampled token is never fed back).
  std::vector<int32_t> ctx = seq(40, 300);
  CHECK_EQ(p.attach_prefix(0, ctx.data(), 10), 0);
  CHECK(p.reserve(0, 39));
  p.publish(0, ctx.data(), 39);
  p.release(0);
  CHECK_EQ(p.stats().cached, 2);
  // Resuming with prompt + output as the new prompt.
  CHECK_EQ(p.attach_prefix(0, ctx.data(), 40), 2 * B);
  p.release(0);
}

TEST(unreferenced_cached_blocks_are_evicted_least_recent_first) {
  KvBlockPool p;
  p.reset(4, 1, 4, true);  // room for exactly one full sequence
  const std::vector<int32_t> x = seq(2 * B + 1, 1000), y = seq(2 * B, 2000);
  CHECK_EQ(run(p, 0, x), 0);  // x0, x1 cached, x's partial block freed
  CHECK_EQ(run(p, 0, y), 0);  // two free blocks: y0, y1; x stays
  CHECK_EQ(p.stats().cached, 4);
  CHECK_EQ(p.stats().evictions, 0u);
  // x again: a hit, which makes x's blocks the most recently used; its third block evicts y1.
  CHECK_EQ(run(p, 0, x), 2 * B);
  CHECK_EQ(p.stats().evictions, 1u);
  // z needs three blocks: the free one, then y0 (least recent), then x1 (x's deep end).
  const std::vector<int32_t> z = seq(2 * B + 1, 3000);
  CHECK_EQ(run(p, 0, z), 0);
  CHECK_EQ(p.stats().evictions, 3u);
  CHECK_EQ(p.attach_prefix(0, x.data(), static_cast<int>(x.size())), B);
  p.release(0);
  CHECK_EQ(p.attach_prefix(0, y.data(), static_cast<int>(y.size())), 0);
  p.release(0);
}

TEST(eviction_takes_the_deep_end_of_a_chain_first) {
  KvBlockPool p;
  p.reset(4, 1, 4, true);
  const std::vector<int32_t> x = seq(3 * B + 1, 1);
  CHECK_EQ(run(p, 0, x), 0);  // blocks 0..2 cached
  // One new block is needed: the eviction takes x's block 2, so x's first two blocks still hit.
  const std::vector<int32_t> y = seq(B + 1, 5000);
  CHECK_EQ(p.attach_prefix(0, y.data(), static_cast<int>(y.size())), 0);
  CHECK(p.reserve(0, B + 1));  // block 0 from the free list, block 1 evicts
  p.release(0);
  CHECK_EQ(p.attach_prefix(0, x.data(), static_cast<int>(x.size())), 2 * B);
  p.release(0);
}

// A block published after another sequence's copy of its parent (two sequences computed the
// same prefix at once) outlives that parent: it must never match again, and the same content
// computed later replaces it.
TEST(a_child_of_an_evicted_block_never_matches_and_is_replaced) {
  KvBlockPool p;
  p.reset(10, 3, 8, true);
  const std::vector<int32_t> longer = seq(4 * B + 1, 70);
  const std::vector<int32_t> shorter(longer.begin(), longer.begin() + 3 * B + 1);
  CHECK_EQ(p.attach_prefix(0, shorter.data(), static_cast<int>(shorter.size())), 0);
  CHECK_EQ(p.attach_prefix(1, longer.data(), static_cast<int>(longer.size())), 0);
  CHECK(p.reserve(0, static_cast<int>(shorter.size())));  // 4 blocks
  CHECK(p.reserve(1, static_cast<int>(longer.size())));   // 5 blocks
  p.publish(0, shorter.data(), static_cast<int>(shorter.size()));  // a0 a1 a2
  p.publish(1, longer.data(), static_cast<int>(longer.size()));    // b3, child of a2
  CHECK_EQ(p.stats().cached, 0);
  p.release(0);
  CHECK_EQ(p.stats().cached, 3);
  // Another sequence needs five blocks: the two free ones, then a2, a1, a0.
  const std::vector<int32_t> other = seq(4 * B + 1, 5000);
  CHECK_EQ(p.attach_prefix(2, other.data(), static_cast<int>(other.size())), 0);
  CHECK(p.reserve(2, static_cast<int>(other.size())));
  CHECK_EQ(p.stats().evictions, 3u);
  p.release(2);
  p.release(1);  // b3 stays cached, its parent gone
  CHECK_EQ(p.attach_prefix(0, longer.data(), static_cast<int>(longer.size())), 0);
  CHECK(p.reserve(0, static_cast<int>(longer.size())));
  p.publish(0, longer.data(), static_cast<int>(longer.size()));  // d0..d3; d3 replaces b3
  p.release(0);
  CHECK_EQ(p.attach_prefix(1, longer.data(), static_cast<int>(longer.size())), 4 * B);
  p.release(1);
}

TEST(prefix_cache_off_publishes_nothing) {
  KvBlockPool p;
  p.reset(8, 1, 8, false);
  const std::vector<int32_t> x = seq(4 * B, 1);
  CHECK_EQ(run(p, 0, x), 0);
  CHECK_EQ(run(p, 0, x), 0);
  CHECK_EQ(p.stats().cached, 0);
  CHECK_EQ(p.stats().free, 8);
}

TEST(two_sequences_computing_the_same_prefix_share_from_then_on) {
  KvBlockPool p;
  p.reset(16, 3, 8, true);
  const std::vector<int32_t> x = seq(3 * B + 2, 40);
  // Both admitted before either published: no hits, each computes its own copy.
  CHECK_EQ(p.attach_prefix(0, x.data(), static_cast<int>(x.size())), 0);
  CHECK_EQ(p.attach_prefix(1, x.data(), static_cast<int>(x.size())), 0);
  CHECK(p.reserve(0, static_cast<int>(x.size())));
  CHECK(p.reserve(1, static_cast<int>(x.size())));
  p.publish(0, x.data(), static_cast<int>(x.size()));
  p.publish(1, x.data(), static_cast<int>(x.size()));  // duplicates: not published twice
  p.release(0);
  p.release(1);
  CHECK_EQ(p.stats().cached, 3);
  CHECK_EQ(p.attach_prefix(2, x.data(), static_cast<int>(x.size())), 3 * B);
  p.release(2);
}

// 1,000 requests with random prefixes (some shared, most not) through a pool sized for the
// slots: resident blocks never exceed the pool, every hit is a true prefix of the request.
TEST(random_traffic_stays_within_the_pool) {
  const int slots = 4, bps = 8, blocks = slots * bps;
  KvBlockPool p;
  p.reset(blocks, slots, bps, true);
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> systems;
  for (int i = 0; i < 5; ++i) systems.push_back(seq(2 * B + static_cast<int>(rng() % B), 10000 * (i + 1)));
  std::vector<std::vector<int32_t>> live(slots);
  std::vector<std::vector<int32_t>> done_prompts;
  uint64_t reused = 0;
  for (int r = 0; r < 1000; ++r) {
    const int slot = r % slots;
    if (!live[slot].empty()) p.release(slot);
    std::vector<int32_t> prompt;
    if (rng() % 3 == 0) prompt = systems[rng() % systems.size()];
    const int extra = 1 + static_cast<int>(rng() % (bps * B - prompt.size() - 1));
    for (int i = 0; i < extra; ++i) prompt.push_back(static_cast<int32_t>(rng() % 50));
    const int hit = p.attach_prefix(slot, prompt.data(), static_cast<int>(prompt.size()));
    CHECK(hit % B == 0 && hit < static_cast<int>(prompt.size()));
    reused += hit;
    CHECK(p.reserve(slot, static_cast<int>(prompt.size())));
    p.publish(slot, prompt.data(), static_cast<int>(prompt.size()));
    const KvBlockPool::Stats s = p.stats();
    CHECK(s.in_use + s.cached + s.free == blocks);
    CHECK(s.in_use <= blocks && s.free >= 0);
    live[slot] = prompt;
  }
  CHECK(reused > 0);
  CHECK(p.stats().evictions > 0u);
  for (int s = 0; s < slots; ++s) p.release(s);
  CHECK_EQ(p.stats().in_use, 0);
}

TEST_MAIN()
