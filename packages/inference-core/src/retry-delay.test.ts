import { describe, expect, it } from 'vitest';
import { InferenceError } from './inference-error.js';
import { computeBackoffMs, decideRetry } from './retry-delay.js';
import type { RetryPolicy } from './retry-policy.js';

const policy: RetryPolicy = { maxRetries: 5, initialDelayMs: 100, maxDelayMs: 2000, multiplier: 2 };

describe('retry delays', () => {
  it.each([
    ['full', 0, 1],
    ['equal', 0.5, 1],
  ] as const)('10,000 delays with %s jitter stay inside the bounds and are not all equal', (jitter, lo, hi) => {
    for (let retry = 0; retry < 6; retry++) {
      const base = Math.min(2000, 100 * 2 ** retry);
      const seen = new Set<number>();
      let min = Infinity;
      let max = -Infinity;
      const outside: number[] = [];
      for (let i = 0; i < 10_000; i++) {
        const d = computeBackoffMs(retry, { ...policy, jitter }); // real Math.random
        if (d < base * lo || d > base * hi) outside.push(d);
        seen.add(d);
        min = Math.min(min, d);
        max = Math.max(max, d);
      }
      expect(outside).toEqual([]);
      expect(seen.size).toBeGreaterThan(9000);
      expect(max - min).toBeGreaterThan(base * (hi - lo) * 0.9); // the spread is really used
    }
  });

  it('no jitter gives the exact capped exponential backoff', () => {
    expect([0, 1, 2, 3, 4, 5].map((r) => computeBackoffMs(r, { ...policy, jitter: 'none' }))).toEqual([100, 200, 400, 800, 1600, 2000]);
  });

  it('uses an injected RNG', () => {
    expect(computeBackoffMs(2, { ...policy, jitter: 'full' }, () => 0.25)).toBe(100);
    expect(computeBackoffMs(2, { ...policy, jitter: 'equal' }, () => 0.5)).toBe(300);
  });

  it('honours a Retry-After of 2 s and fails fast on 120 s with the demanded delay in the error', () => {
    const two = new InferenceError('rate_limited', '429', { retryAfterMs: 2000 });
    expect(decideRetry(two, 0, policy)).toEqual({ retry: true, delayMs: 2000, fromRetryAfter: true });
    const long = new InferenceError('rate_limited', '429', { retryAfterMs: 120_000 });
    const d = decideRetry(long, 0, policy);
    expect(d).toMatchObject({ retry: false, reason: 'retry_after_too_long' });
    if (!d.retry) expect(d.error.retryAfterMs).toBe(120_000);
    expect(decideRetry(long, 0, { ...policy, retryAfterCapMs: 180_000 })).toMatchObject({ retry: true, delayMs: 120_000 });
  });

  it('stops at maxRetries, on non-retryable errors and when not idempotent', () => {
    const e = new InferenceError('server_error', '500');
    expect(decideRetry(e, 4, policy).retry).toBe(true);
    expect(decideRetry(e, 5, policy)).toMatchObject({ retry: false, reason: 'max_retries' });
    expect(decideRetry(new InferenceError('bad_request', '400'), 0, policy)).toMatchObject({ retry: false, reason: 'not_retryable' });
    expect(decideRetry(e, 0, { ...policy, idempotent: false })).toMatchObject({ retry: false, reason: 'not_idempotent' });
  });
});
