import { expect, test } from 'vitest';
import { restartDelayMs, restartPolicy } from './restart-policy.js';

test('off unless asked for; defaults when true', () => {
  expect(restartPolicy(undefined)).toBeNull();
  expect(restartPolicy(false)).toBeNull();
  expect(restartPolicy(true)).toEqual({ maxAttempts: 5, initialDelayMs: 500, maxDelayMs: 30_000, resetAfterMs: 60_000 });
  expect(() => restartPolicy({ initialDelayMs: -1 })).toThrow(/initialDelayMs/);
  expect(() => restartPolicy({ maxAttempts: 1.5 })).toThrow(/maxAttempts/);
});

test('exponential, capped, with equal jitter', () => {
  const policy = restartPolicy({ initialDelayMs: 100, maxDelayMs: 1000 })!;
  expect([1, 2, 3, 4, 5, 10].map((a) => restartDelayMs(policy, a, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
  expect([1, 2, 3, 4, 5, 10].map((a) => restartDelayMs(policy, a, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
  expect(restartDelayMs(policy, 2, () => 0.5)).toBe(150);
});
