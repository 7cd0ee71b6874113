import { InferenceError } from '@inferkit/inference-core';

/** The InferenceError `p` rejects with; anything else (a plain Error, a resolution) fails the test. */
export async function errorOf(p: Promise<unknown> | (() => Promise<unknown>)): Promise<InferenceError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (InferenceError.isInstance(e)) return e;
    throw new Error(`expected an InferenceError, got ${String(e)}`);
  }
  throw new Error('expected a rejection');
}
