/**
 * Issue #17's "must show" items, end to end: real `inferkit-gateway` processes (the built CLI,
 * runner-remote in front of a mock OpenAI-compatible upstream) sharing one real redis-server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { GatewayProcess, removeConfigs, writeConfig } from './cluster/gateway-process.js';
import { MockUpstream } from './cluster/mock-upstream.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

let redis: RedisServer;
let running: GatewayProcess[] = [];
let upstreams: MockUpstream[] = [];
let prefixSeq = 0;

beforeAll(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  await Promise.all(running.map((g) => g.stop()));
  await Promise.all(upstreams.map((u) => u.stop()));
  running = [];
  upstreams = [];
});
afterAll(async () => {
  await redis?.stop();
  removeConfigs();
});

async function upstream(options: ConstructorParameters<typeof MockUpstream>[0] = {}): Promise<MockUpstream> {
  const u = new MockUpstream(options);
  await u.start();
  upstreams.push(u);
  return u;
}

/** A config serving model `mock` through runner-remote, with the given supervise policy and store. */
function config(u: MockUpstream, supervise: Record<string, unknown>, store: Record<string, unknown> | null, models: Record<string, Record<string, unknown>> = { mock: supervise }): string {
  const out: Record<string, unknown> = {
    models: Object.fromEntries(
      Object.entries(models).map(([name, policy]) => [
        name,
        {
          runner: 'remote',
          runnerModel: 'mock-model',
          // The provider's runner alone ("policy": false): the gateway's supervise, with the
          // shared store, is the only policy. Output tokens cost $1,250 per million: 40 tokens =
          // $0.05 a request, estimate included.
          options: {
            provider: 'openai-compatible',
            preset: 'custom',
            baseUrl: u.baseUrl,
            pricing: { 'mock-model': { inputPerMTok: 0, outputPerMTok: 1250 } },
            policy: false,
          },
          supervise: policy,
        },
      ]),
    ),
  };
  if (store !== null) out.store = { redis: { url: redis.url, prefix: `c${prefixSeq++}:`, ...store } };
  return writeConfig(out);
}

async function cluster(file: string, n = 3): Promise<GatewayProcess[]> {
  const gs = await Promise.all(Array.from({ length: n }, () => GatewayProcess.start(file)));
  running.push(...gs);
  return gs;
}

async function until(cond: () => boolean | Promise<boolean>, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Admissions per millisecond: the least-squares slope of the admission count over time. */
function admissionsPerMs(times: number[]): number {
  const n = times.length;
  const meanT = times.reduce((a, t) => a + t, 0) / n;
  const meanI = (n - 1) / 2;
  let cov = 0;
  let varT = 0;
  for (let i = 0; i < n; i++) {
    cov += (times[i]! - meanT) * (i - meanI);
    varT += (times[i]! - meanT) ** 2;
  }
  return cov / varT;
}

/**
 * 2,000 requests at once across three gateways sharing 600 RPM; each waits up to `waitMs`. The
 * bucket starts full (600), then refills at 10/s.
 */
async function rpmBurst(mode: 'strict' | 'approximate'): Promise<void> {
  const rpm = 600;
  const waitMs = 20_000;
  // The provider's bucket is the gateways' plus 5% (30 requests, 3 s at 10/s): room for the
  // transport's jitter, which the gateways cannot control. On a loaded 2-core machine the burst's
  // first requests reach the provider seconds late, bunched with the first refills.
  const u = await upstream({ requestsPerMinute: rpm, tolerance: 0.05 });
  const gs = await cluster(config(u, { rateLimits: { requestsPerMinute: rpm, maxWaitMs: waitMs } }, { mode }));
  const t0 = Date.now();
  const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => gs[i % 3]!.chat('mock').then((r) => r.status)));
  const elapsed = Date.now() - t0;
  const ok = results.filter((s) => s === 200).length;
  const refused = results.filter((s) => s === 429).length;
  const stats = await u.stats();
  const times = stats.admittedAt.sort((a, b) => a - b);
  // Requests wait all along, so past the full bucket every admission is refill: per minute, over
  // the span of the admissions.
  // The rate is measured over the second half of the admissions' span, when only refills are
  // admitted and the burst's transport delays are over.
  const spanMs = times[times.length - 1]! - times[0]!;
  const from = times[0]! + spanMs / 2;
  const late = times.filter((t) => t >= from);
  // The slope of a least-squares line through (time, count) of those admissions: every one of
  // them weighs in, where first-to-last would rest on two timestamps that a loaded machine
  // delays by tens of milliseconds (a 2% error over ~10 s of refills).
  const perMinute = admissionsPerMs(late) * 60_000;
  console.log(
    `[${mode}] admitted ${ok} (${refused} refused by the gateways after ${waitMs} ms) in ${elapsed} ms; upstream 429s ${stats.rejected429}; ` +
      `${perMinute.toFixed(1)}/min over the last ${late.length} admissions`,
  );
  for (const g of gs) {
    const errors = g.log.split('\n').filter((l) => l.includes('store_error'));
    if (errors.length > 0) console.log(errors.slice(0, 3).join('\n'));
  }
  expect(stats.rejected429).toBe(0);
  expect(ok + refused).toBe(2000);
  expect(ok).toBe(times.length);
  // Never more than the bucket allows over the run...
  expect(ok).toBeLessThanOrEqual(Math.ceil(rpm + (rpm * elapsed) / 60_000));
  // ...and the refill rate itself within 2% of the limit.
  expect(late.length).toBeGreaterThan(60);
  expect(Math.abs(perMinute - rpm) / rpm).toBeLessThan(0.02);
}

describe('issue #17: three gateways, one redis', () => {
  it('1a. strict: 2,000 requests against a shared 600/min: per-minute admissions within 2%, no upstream 429', async () => {
    await rpmBurst('strict');
  });

  it('1b. approximate: the same burst stays within the bucket (its documented bound), no upstream 429', async () => {
    await rpmBurst('approximate');
  });

  it('2. a shared $1/hour budget: all three stop within one request of the cap; a retried request is charged once', async () => {
    const u = await upstream();
    await u.control({ delayMs: 30 });
    const prefix = `c${prefixSeq}:`;
    const gs = await cluster(config(u, { budget: { hourlyUsd: 1, onExceeded: 'reject' }, retry: { maxRetries: 2, initialDelayMs: 10 } }, {}));
    const spend = async (): Promise<number> => {
      const c = createClient({ url: redis.url });
      await c.connect();
      const h = await c.hGetAll(`${prefix}{mock}:spend`);
      await c.close();
      return Object.entries(h).filter(([k]) => k.startsWith('h')).reduce((s, [, v]) => s + Number(v), 0);
    };
    // A request whose first attempt fails upstream is retried and charged once.
    const flaky = await gs[0]!.chat('mock', 'flaky one');
    expect(flaky.status).toBe(200);
    expect((await u.stats()).failed500).toBe(1);
    expect((await u.stats()).admittedAt.length).toBe(1);
    await until(async () => (await spend()) > 0, 5_000, 'the charge');
    expect(await spend()).toBeCloseTo(0.05, 9);
    // Then many clients at once, on all three gateways.
    const results = await Promise.all(Array.from({ length: 90 }, (_, i) => gs[i % 3]!.chat('mock', `q${i}`).then((r) => r.status)));
    await new Promise((r) => setTimeout(r, 300));
    const spent = await spend();
    const served = (await u.stats()).admittedAt.length;
    console.log(`[budget] served ${served} requests, spend $${spent.toFixed(4)} of $1; ${results.filter((s) => s === 429).length} refused`);
    expect(spent).toBeCloseTo(served * 0.05, 6);
    expect(spent).toBeGreaterThanOrEqual(1 - 1e-9);
    expect(spent).toBeLessThanOrEqual(1 + 0.05 + 1e-9);
    expect(results.filter((s) => s === 429).length).toBe(90 - (served - 1));
    // Every gateway refuses now.
    for (const g of gs) expect((await g.chat('mock', 'more')).body.error.type).toBe('insufficient_quota');
  });

  it('3. concurrency 8 across three: never more than 8 upstream; a SIGKILLed holder of 4 leases frees them within the lease time', async () => {
    const leaseMs = 2_000;
    const u = await upstream({ maxConcurrent: 8 });
    await u.control({ delayMs: 150 });
    const gs = await cluster(config(u, { rateLimits: { maxConcurrent: 8, maxWaitMs: 30_000 } }, { leaseMs }));
    const results = await Promise.all(Array.from({ length: 90 }, (_, i) => gs[i % 3]!.chat('mock').then((r) => r.status)));
    const first = await u.stats();
    console.log(`[concurrency] max in flight upstream ${first.maxInFlight} of 8`);
    expect(results.every((s) => s === 200)).toBe(true);
    expect(first.maxInFlight).toBe(8);
    expect(first.rejected429).toBe(0);

    // Gateway A holds 4 slots, B the other 4, C waits; then A dies without releasing.
    await u.control({ mode: 'hold', reset: true });
    const [a, b, c] = gs as [GatewayProcess, GatewayProcess, GatewayProcess];
    const fromA = Array.from({ length: 4 }, () => a.chat('mock').catch(() => null));
    await until(async () => (await u.stats()).inFlight === 4, 10_000, 'A holding 4');
    const fromB = Array.from({ length: 4 }, () => b.chat('mock'));
    await until(async () => (await u.stats()).inFlight === 8, 10_000, 'B holding 4');
    const fromC = Array.from({ length: 4 }, () => c.chat('mock'));
    await new Promise((r) => setTimeout(r, 300));
    expect((await u.stats()).hits).toBe(8); // C waits for a slot
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    await Promise.all(fromA);
    await until(async () => (await u.stats()).hits === 12, leaseMs + 2_000, "C getting A's slots");
    const regainedMs = Date.now() - killedAt;
    console.log(`[concurrency] A's 4 leases came back after ${regainedMs} ms (lease ${leaseMs} ms)`);
    expect(regainedMs).toBeLessThanOrEqual(leaseMs + 1_000);
    expect((await u.stats()).maxInFlight).toBeLessThanOrEqual(8);
    await u.control({ mode: 'ok', release: true });
    expect((await Promise.all([...fromB, ...fromC])).every((r) => r.status === 200)).toBe(true);
  });

  it('4. a breaker opened by gateway A keeps B and C off the origin; one half-open probe for the cluster', async () => {
    const openMs = 1_500;
    const u = await upstream();
    const gs = await cluster(config(u, { circuitBreaker: { failureThreshold: 3, windowMs: 30_000, openDurationMs: openMs } }, {}));
    const [a, b, c] = gs as [GatewayProcess, GatewayProcess, GatewayProcess];
    await u.control({ mode: 'fail' });
    for (let i = 0; i < 3; i++) expect((await a.chat('mock')).status).toBe(502);
    const hitsWhenOpen = (await u.stats()).hits;
    await until(async () => (await b.chat('mock')).body?.error?.code === 'circuit_open', 2_000, 'B seeing the open breaker');
    const hitsAfterB = (await u.stats()).hits;
    for (const g of [b, c]) for (let i = 0; i < 5; i++) expect((await g.chat('mock')).body.error.code).toBe('circuit_open');
    expect((await u.stats()).hits).toBe(hitsAfterB);
    expect(hitsAfterB - hitsWhenOpen).toBeLessThanOrEqual(1); // at most one before B heard of it
    // Past the open duration: everyone tries at once; one probe reaches the origin.
    await new Promise((r) => setTimeout(r, openMs + 100));
    await u.control({ mode: 'ok', delayMs: 300 });
    const before = (await u.stats()).hits;
    const tries = await Promise.all(gs.flatMap((g) => [g.chat('mock'), g.chat('mock'), g.chat('mock')]));
    const probes = (await u.stats()).hits - before;
    console.log(`[breaker] half-open: ${probes} request(s) reached the origin out of ${tries.length}`);
    expect(probes).toBe(1);
    expect(tries.filter((t) => t.status === 200).length).toBe(1);
    // The probe succeeded: closed everywhere.
    await until(async () => (await c.chat('mock')).status === 200, 2_000, 'closed again');
  });

  it('5. redis-server killed mid-run: fail_open rate limits serve, fail_closed budgets refuse, nothing crashes; limits hold after a restart', async () => {
    const u = await upstream();
    const file = config(u, {}, { commandTimeoutMs: 1_000 }, { rl: { rateLimits: { requestsPerMinute: 30, maxWaitMs: 1_000 } }, spend: { budget: { hourlyUsd: 100, onExceeded: 'reject' } } });
    const gs = await cluster(file);
    expect((await gs[0]!.chat('rl')).status).toBe(200);
    expect((await gs[1]!.chat('spend')).status).toBe(200);
    await redis.kill();
    try {
      const rl = await Promise.all(gs.map((g) => g.chat('rl')));
      const spend = await Promise.all(gs.map((g) => g.chat('spend')));
      expect(rl.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(spend.map((r) => r.status)).toEqual([429, 429, 429]);
      expect(spend[0]!.body.error.message).toMatch(/capacity/);
      for (const g of gs) expect(g.alive).toBe(true);
    } finally {
      await redis.restart();
    }
    for (const g of gs) await until(async () => (await g.chat('spend')).status === 200, 15_000, 'reconnected');
    // The restarted server is empty: a full shared bucket of 30, for all three together.
    const t0 = Date.now();
    const statuses = await Promise.all(Array.from({ length: 45 }, (_, i) => gs[i % 3]!.chat('rl').then((r) => r.status)));
    const admitted = statuses.filter((s) => s === 200).length;
    // 30 and what refilled meanwhile (0.5/s), for the three together; each alone would allow 30.
    expect(admitted).toBeLessThanOrEqual(30 + Math.floor(((Date.now() - t0) * 30) / 60_000));
    expect(admitted).toBeGreaterThanOrEqual(28);
    for (const g of gs) {
      expect(g.alive).toBe(true);
      expect(g.log).toMatch(/store store_error rate_limits model=rl fail_open/);
      expect(g.log).toMatch(/store store_error budget model=spend fail_closed/);
      expect(g.log).not.toMatch(/unhandled|fatal/i);
    }
  });

  it('6. bad input: an unreachable URL is named without its password; a wrong mode is a config error', async () => {
    const u = await upstream();
    const unreachable = writeConfig({
      store: { redis: { url: `redis://:\${INFERKIT_TEST_REDIS_PASSWORD}@127.0.0.1:${redis.port === 65535 ? 1 : redis.port + 1}`, connectTimeoutMs: 500 } },
      models: { mock: { runner: 'remote', options: { provider: 'openai-compatible', preset: 'custom', baseUrl: u.baseUrl, policy: false }, supervise: {} } },
    });
    const g1 = GatewayProcess.spawn(unreachable, { INFERKIT_TEST_REDIS_PASSWORD: 'hunter2-secret' });
    expect(await g1.exited).toBe(1);
    expect(g1.log).toMatch(/cannot connect to Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+/);
    expect(g1.log).not.toContain('hunter2-secret');
    const wrongMode = writeConfig({
      store: { redis: { url: redis.url, mode: 'eventual' } },
      models: { mock: { runner: 'remote', options: { provider: 'openai-compatible', preset: 'custom', baseUrl: u.baseUrl, policy: false }, supervise: {} } },
    });
    const g2 = GatewayProcess.spawn(wrongMode);
    expect(await g2.exited).toBe(2);
    expect(g2.log).toContain("config.store.redis.mode: must be 'strict' or 'approximate'");
  });
});
