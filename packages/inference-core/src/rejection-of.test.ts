import { describe, expect, test } from 'vitest';
import { InferenceError } from './inference-error.js';
import { rejectionOf } from './rejection-of.js';

describe('rejectionOf', () => {
  test('returns the InferenceError a promise rejects with, or a function throws or rejects with', async () => {
    const err = new InferenceError('timeout', 'late');
    expect(await rejectionOf(Promise.reject(err))).toBe(err);
    expect(
      await rejectionOf(() => {
        throw err;
      }),
    ).toBe(err);
    expect(await rejectionOf(async () => Promise.reject(err))).toBe(err);
  });

  test('a resolution and any other error fail', async () => {
    await expect(rejectionOf(Promise.resolve(1))).rejects.toThrow('expected a rejection');
    const plain = new Error('plain');
    await expect(rejectionOf(Promise.reject(plain))).rejects.toBe(plain);
  });
});
