import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, InferenceError, type RateLimitPermit } from '@inferkit/inference-core';
import { createRedisStore, type RedisPolicyStore, type RedisStoreEvent, type RedisStoreOptions } from '../src/index.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

let server: RedisServer;
const stores: RedisPolicyStore[] = [];
let prefixSeq = 0;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
  await server?.stop();
});

/** `n` stores on one prefix: `n` processes sharing limits. */
async function cluster(n: number, options: Partial<RedisStoreOptions> = {}): Promise<RedisPolicyStore[]> {
  const prefix = `t${prefixSeq++}:`;
  const out: RedisPolicyStore[] = [];
  for (let i = 0; i < n; i++) {
    const s = await createRedisStore({ url: server.url, prefix, ...options });
    stores.push(s);
    out.push(s);
  }
  return out;
}

/** Waits (real time) until `cond` holds, failing at the deadline. */
async function until(cond: () => boolean, deadlineMs = 10_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('strict rate limits', () => {
  it('three processes share one RPM bucket exactly (fake clock on both sides)', async () => {
    const clock = new FakeClock(1_000_000);
    const gates = (await cluster(3, { clock })).map((s) => s.rateLimiter('m', { requestsPerMinute: 600 }, { clock }));
    let granted = 0;
    const all = Array.from({ length: 900 }, (_, i) => gates[i % 3]!.acquire().then(() => granted++));
    await until(() => granted === 600 && gates.every((g) => g.queueLength > 0));
    await new Promise((r) => setTimeout(r, 50));
    expect(granted).toBe(600); // the full bucket, nothing more
    // Fake time moves in steps, each long enough in real time for the store's replies.
    const advance = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 100) {
        await clock.advanceAsync(100);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await advance(6_000); // refills 60
    await new Promise((r) => setTimeout(r, 50));
    expect(granted).toBe(660);
    await advance(24_000);
    await until(() => granted === 900);
    await Promise.all(all);
  });

  it('TPM is corrected from actual usage, for every process', async () => {
    const clock = new FakeClock(2_000_000);
    const [a, b] = (await cluster(2, { clock })).map((s) => s.rateLimiter('m', { tokensPerMinute: 1000 }, { clock }));
    const p = await a!.acquire({ tokens: 800 });
    p.release({ actualTokens: 200 }); // 600 given back
    await new Promise((r) => setTimeout(r, 30));
    const q = await Promise.race([b!.acquire({ tokens: 750 }), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
    expect(q).not.toBe('waiting');
  });

  it('concurrency slots are leases: a release anywhere wakes a waiter, a dead holder frees them after leaseMs', async () => {
    const [a, b] = await cluster(2, { leaseMs: 600 });
    const ga = a!.rateLimiter('m', { maxConcurrent: 2 }, { clock: new FakeClock() as never });
    void ga;
    const clock = { now: () => Date.now(), setTimeout: (f: () => void, ms: number) => setTimeout(f, ms), clearTimeout: (t: unknown) => clearTimeout(t as never) };
    const gateA = a!.rateLimiter('c', { maxConcurrent: 2 }, { clock });
    const gateB = b!.rateLimiter('c', { maxConcurrent: 2 }, { clock });
    const held: RateLimitPermit[] = [await gateA.acquire(), await gateA.acquire()];
    let third: RateLimitPermit | null = null;
    void gateB.acquire().then((p) => (third = p));
    await new Promise((r) => setTimeout(r, 300));
    expect(third).toBeNull(); // both slots held (and renewed past leaseMs / 3)
    held[0]!.release();
    await until(() => third !== null, 2_000);
    // A holder that dies: close the store without releasing (renewals stop).
    let fourth: RateLimitPermit | null = null;
    const t0 = Date.now();
    void gateB.acquire().then((p) => (fourth = p));
    await a!.close();
    await until(() => fourth !== null, 5_000);
    expect(Date.now() - t0).toBeLessThan(600 + 1_000);
    third!.release();
    fourth!.release();
  });
});

describe('approximate rate limits', () => {
  it('three processes never exceed the shared bucket, with no store call per request', async () => {
    const syncMs = 50;
    const clock = { now: () => Date.now(), setTimeout: (f: () => void, ms: number) => setTimeout(f, ms), clearTimeout: (t: unknown) => clearTimeout(t as never) };
    const gates = (await cluster(3, { mode: 'approximate', syncMs })).map((s) => s.rateLimiter('m', { requestsPerMinute: 6000, maxWaitMs: 1_500 }, { clock }));
    const t0 = Date.now();
    let granted = 0;
    const all = Array.from({ length: 9000 }, (_, i) =>
      gates[i % 3]!.acquire().then(
        () => granted++,
        () => undefined,
      ),
    );
    await Promise.all(all);
    const elapsed = Date.now() - t0;
    const rate = 6000 / 60_000;
    const bound = 6000 + rate * elapsed;
    expect(granted).toBeGreaterThan(6000 * 0.98);
    expect(granted).toBeLessThanOrEqual(Math.ceil(bound));
  });
});

describe('shared budget', () => {
  it('reservations across processes stop admissions within one request of the cap; settle charges once', async () => {
    const [a, b] = await cluster(2);
    const la = a!.budgetLedger('m', { hourlyUsd: 1, onExceeded: 'reject' }, { clock: null as never });
    const lb = b!.budgetLedger('m', { hourlyUsd: 1, onExceeded: 'reject' }, { clock: null as never });
    const r1 = await la.admit(0.4);
    const r2 = await lb.admit(0.4);
    const r3 = await la.admit(0.4); // 0.8 reserved < 1: the one that may cross
    const r4 = await lb.admit(0.4);
    expect([r1.excess, r2.excess, r3.excess]).toEqual([undefined, undefined, undefined]);
    expect(r4.excess).toMatchObject({ window: 'hour', reservedUsd: 1.2, limitUsd: 1 });
    for (const r of [r1, r2, r3]) {
      r.settle(0.4);
      r.settle(0.4); // a second settle is ignored
    }
    await new Promise((r) => setTimeout(r, 100));
    const after = await lb.admit(0.01);
    expect(after.excess?.spentUsd).toBeCloseTo(1.2, 9);
    expect(after.excess?.reservedUsd).toBe(0);
  });

  it('a reservation of a process that died expires after leaseMs', async () => {
    const [a, b] = await cluster(2, { leaseMs: 300 });
    const la = a!.budgetLedger('m', { hourlyUsd: 1, onExceeded: 'reject' }, { clock: null as never });
    const lb = b!.budgetLedger('m', { hourlyUsd: 1, onExceeded: 'reject' }, { clock: null as never });
    await la.admit(1);
    expect((await lb.admit(0.1)).excess?.reservedUsd).toBe(1);
    await a!.close();
    await new Promise((r) => setTimeout(r, 700));
    expect((await lb.admit(0.1)).excess).toBeUndefined();
  });
});

describe('shared circuit breaker', () => {
  it('opened by one process keeps the others off, and lets one probe through for all', async () => {
    const ss = await cluster(3);
    const clock = { now: () => Date.now(), setTimeout: (f: () => void, ms: number) => setTimeout(f, ms), clearTimeout: (t: unknown) => clearTimeout(t as never) };
    const transitions: string[] = [];
    const bs = ss.map((s, i) =>
      s.circuitBreaker('origin', { failureThreshold: 3, windowMs: 10_000, openDurationMs: 400 }, { clock, name: `b${i}`, onTransition: (t) => transitions.push(`${i}:${t.to}`) }),
    );
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 3; i++) (await bs[0]!.acquire()).record(new InferenceError('server_error', 'boom'));
    await until(() => bs.every((b) => b.state === 'open'), 2_000);
    expect(() => bs[1]!.acquire()).toThrow(/open/);
    await new Promise((r) => setTimeout(r, 450));
    const tries = await Promise.allSettled(bs.flatMap((b) => [b.acquire(), b.acquire()]).map((x) => Promise.resolve(x)));
    const probes = tries.filter((t) => t.status === 'fulfilled' && t.value.probe);
    expect(probes.length).toBe(1);
    expect(tries.filter((t) => t.status === 'rejected').length).toBe(5);
    (probes[0] as PromiseFulfilledResult<{ record(e?: unknown): void }>).value.record();
    await until(() => bs.every((b) => b.state === 'closed'), 2_000);
    expect(transitions).toContain('1:open');
    expect(transitions).toContain('2:closed');
  });
});

describe('store failures', () => {
  it('fail_open / fail_closed as configured, events without crashing, limits back after a restart', async () => {
    const events: RedisStoreEvent[] = [];
    const clock = { now: () => Date.now(), setTimeout: (f: () => void, ms: number) => setTimeout(f, ms), clearTimeout: (t: unknown) => clearTimeout(t as never) };
    const [open] = await cluster(1, { onEvent: (e) => events.push(e), commandTimeoutMs: 300 });
    const [closed] = await cluster(1, { onStoreError: 'fail_closed', commandTimeoutMs: 300 });
    const gOpen = open!.rateLimiter('m', { requestsPerMinute: 2 }, { clock });
    const gClosed = closed!.rateLimiter('m', { requestsPerMinute: 1000 }, { clock });
    const ledger = open!.budgetLedger('m', { hourlyUsd: 5, onExceeded: 'reject' }, { clock });
    (await gOpen.acquire()).release();
    await server.kill();
    try {
      // fail_open: the local fallback (its own bucket of 2/min) admits
      const p = await gOpen.acquire();
      p.release();
      await expect(gClosed.acquire()).rejects.toMatchObject({ kind: 'backpressure', details: { reason: 'store_unavailable', policy: 'rate_limits' } });
      await expect(ledger.admit(0.1)).rejects.toMatchObject({ kind: 'backpressure', details: { reason: 'store_unavailable', policy: 'budget' } });
      expect(events.some((e) => e.type === 'store_error' && e.policy === 'rate_limits' && e.action === 'fail_open')).toBe(true);
      expect(events.some((e) => e.type === 'store_error' && e.policy === 'budget' && e.action === 'fail_closed')).toBe(true);
    } finally {
      await server.restart();
    }
    await until(() => open!.connected && closed!.connected, 10_000);
    // Limits hold again: the bucket is new (nothing persisted) and shared.
    const got: RateLimitPermit[] = [];
    for (let i = 0; i < 2; i++) got.push(await gOpen.acquire());
    const third = await Promise.race([gOpen.acquire().then(() => 'admitted'), new Promise((r) => setTimeout(() => r('waiting'), 300))]);
    expect(third).toBe('waiting');
    expect((await ledger.admit(0.1)).excess).toBeUndefined();
    expect(events.some((e) => e.type === 'store_recovered')).toBe(true);
  });
});

describe('bad input', () => {
  it('an unreachable URL names the URL without the password', async () => {
    process.env.INFERKIT_TEST_REDIS_PW = 's3cr3t-pw';
    const port = server.port + 1 === 65536 ? server.port - 1 : server.port + 1;
    const err = await createRedisStore({ url: `redis://:\${INFERKIT_TEST_REDIS_PW}@127.0.0.1:${port}`, connectTimeoutMs: 500 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`redis://:***@127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain('s3cr3t-pw');
  });

  it('refuses a wrong mode, unknown keys and a missing password variable, naming the option', async () => {
    await expect(createRedisStore({ url: server.url, mode: 'fast' as never })).rejects.toMatchObject({ kind: 'bad_request', details: { param: 'mode' } });
    await expect(createRedisStore({ url: server.url, typo: 1 } as never)).rejects.toMatchObject({ kind: 'bad_request', details: { param: 'typo' } });
    await expect(createRedisStore({ url: 'redis://:${INFERKIT_TEST_UNSET_VAR}@127.0.0.1:1' })).rejects.toThrow(/INFERKIT_TEST_UNSET_VAR is unset/);
    await expect(createRedisStore({ url: 'http://127.0.0.1:1' })).rejects.toMatchObject({ details: { param: 'url' } });
    await expect(createRedisStore({ url: server.url, onStoreError: { budget: 'maybe' } as never })).rejects.toMatchObject({ details: { param: 'onStoreError.budget' } });
  });
});
