import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { InferenceError } from './inference-error.js';
import { RateLimiter, type RateLimitPermit } from './rate-limiter.js';
import { sleep } from './sleep.js';

async function expectKind(p: Promise<unknown>, kind: string): Promise<InferenceError> {
  const err = await p.then(
    () => {
      throw new Error(`expected rejection with ${kind}`);
    },
    (e: unknown) => e,
  );
  expect(InferenceError.isInstance(err)).toBe(true);
  expect((err as InferenceError).kind).toBe(kind);
  return err as InferenceError;
}

describe('RateLimiter', () => {
  it('1,000 concurrent acquires never exceed the concurrency limit and all complete', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ maxConcurrent: 10 }, { clock });
    let active = 0;
    let maxActive = 0;
    let done = 0;
    const jobs = Array.from({ length: 1000 }, (_, i) =>
      limiter.acquire({ tokens: 5 }).then(async (permit) => {
        active++;
        maxActive = Math.max(maxActive, active);
        expect(limiter.inFlight).toBeLessThanOrEqual(10);
        await sleep(clock, 1 + (i % 7)); // fake time: work of varying length
        active--;
        done++;
        permit.release();
      }),
    );
    expect(limiter.inFlight).toBe(10);
    expect(limiter.queueLength).toBe(990);
    await clock.runAllAsync();
    await Promise.all(jobs);
    expect(done).toBe(1000);
    expect(maxActive).toBe(10);
    expect(limiter.inFlight).toBe(0);
    expect(limiter.queueLength).toBe(0);
  });

  it('serves waiters in FIFO order as the request bucket refills', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerMinute: 60 }, { clock }); // 1 per second, burst 60
    for (let i = 0; i < 60; i++) (await limiter.acquire()).release();
    const admitted: Array<[string, number]> = [];
    const names = ['a', 'b', 'c', 'd', 'e'];
    const all = names.map((n) => limiter.acquire().then((p) => (admitted.push([n, clock.now()]), p.release())));
    await clock.advanceAsync(999);
    expect(admitted).toEqual([]);
    await clock.advanceAsync(1);
    expect(admitted).toEqual([['a', 1000]]);
    await clock.advanceAsync(4000);
    await Promise.all(all);
    expect(admitted).toEqual([
      ['a', 1000],
      ['b', 2000],
      ['c', 3000],
      ['d', 4000],
      ['e', 5000],
    ]);
  });

  it('never lets a small request overtake a large one at the head of the queue', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ tokensPerMinute: 600 }, { clock }); // 10 tokens/s
    await limiter.acquire({ tokens: 600 }); // bucket empty
    const order: string[] = [];
    const big = limiter.acquire({ tokens: 300 }).then(() => order.push('big'));
    const small = limiter.acquire({ tokens: 10 }).then(() => order.push('small'));
    await clock.advanceAsync(1000); // 10 tokens: enough for small, not for big
    expect(order).toEqual([]);
    await clock.advanceAsync(29_000);
    await big;
    await clock.advanceAsync(1000);
    await small;
    expect(order).toEqual(['big', 'small']);
  });

  it('rejects a waiter with cancelled when its signal aborts, and serves the rest in order', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ maxConcurrent: 1 }, { clock });
    const holder = await limiter.acquire();
    const ac = new AbortController();
    const order: string[] = [];
    const a = limiter.acquire({}, { signal: ac.signal });
    const b = limiter.acquire().then((p) => (order.push('b'), p));
    expect(limiter.queueLength).toBe(2);
    ac.abort();
    await expectKind(a, 'cancelled');
    expect(limiter.queueLength).toBe(1);
    holder.release();
    (await b).release();
    expect(order).toEqual(['b']);
    await expectKind(limiter.acquire({}, { signal: ac.signal }), 'cancelled'); // already aborted
    expect(limiter.inFlight).toBe(0);
  });

  it('TPM correction through release() changes when the next waiter is admitted', async () => {
    const run = async (actualTokens: number | undefined): Promise<number> => {
      const clock = new FakeClock();
      const limiter = new RateLimiter({ tokensPerMinute: 1200 }, { clock }); // 20 tokens/s
      const first = await limiter.acquire({ tokens: 1200 }); // estimate drains the bucket
      let admittedAt = -1;
      const next = limiter.acquire({ tokens: 600 }).then((p) => {
        admittedAt = clock.now();
        return p;
      });
      await clock.advanceAsync(1000);
      first.release(actualTokens === undefined ? undefined : { actualTokens });
      await clock.advanceAsync(60_000);
      await next;
      return admittedAt;
    };
    expect(await run(undefined)).toBe(30_000); // no correction: 600 tokens refill in 30 s
    expect(await run(200)).toBe(1000); // 1,000 tokens refunded: admitted at release
    expect(await run(1800)).toBe(60_000); // 600 extra tokens charged: 30 s later
  });

  it('rejects with backpressure past maxQueueLength or maxWaitMs, and capacity with a zero-length queue', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ maxConcurrent: 1, maxQueueLength: 1, maxWaitMs: 500 }, { clock });
    const p = await limiter.acquire();
    const waiting = expectKind(limiter.acquire(), 'backpressure');
    const full = await expectKind(limiter.acquire(), 'backpressure');
    expect(full.details).toMatchObject({ reason: 'queue_full' });
    await clock.advanceAsync(500);
    const waited = await waiting;
    expect(waited.details).toMatchObject({ reason: 'max_wait', waitedMs: 500 });
    p.release();

    const noQueue = new RateLimiter({ maxConcurrent: 1, maxQueueLength: 0 }, { clock });
    await noQueue.acquire();
    const cap = await expectKind(noQueue.acquire(), 'backpressure');
    expect(cap.details).toMatchObject({ reason: 'capacity' });
  });

  it('observe() caps the buckets and pauses admission until the provider reset', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerMinute: 600 }, { clock });
    limiter.observe({ remainingRequests: 0, resetMs: 5000 });
    let admittedAt = -1;
    const p = limiter.acquire().then((permit: RateLimitPermit) => {
      admittedAt = clock.now();
      return permit;
    });
    await clock.advanceAsync(4999);
    expect(admittedAt).toBe(-1);
    await clock.advanceAsync(1);
    await p;
    expect(admittedAt).toBe(5000);
  });

  it('release() is idempotent', async () => {
    const limiter = new RateLimiter({ maxConcurrent: 2 }, { clock: new FakeClock() });
    const p = await limiter.acquire();
    p.release();
    p.release();
    expect(limiter.inFlight).toBe(0);
  });

  it('validates limits at construction', () => {
    expect(() => new RateLimiter({ requestsPerMinute: 0 })).toThrow(RangeError);
    expect(() => new RateLimiter({ maxConcurrent: -1 })).toThrow(/maxConcurrent/);
  });
});
