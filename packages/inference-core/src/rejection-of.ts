import { InferenceError } from './inference-error.js';

/**
 * For tests: the `InferenceError` that `p` rejects with (or that `p()` throws or rejects with).
 * Resolving rejects with "expected a rejection"; any other thrown value is rethrown as it is, so
 * the test fails on the real error and its stack.
 */
export async function rejectionOf(p: Promise<unknown> | (() => unknown)): Promise<InferenceError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (InferenceError.isInstance(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}
