import type { Clock } from './clock.js';
import { abortError } from './abort-error.js';

/**
 * Waits `ms` on `clock`. Rejects with `InferenceError` kind `cancelled` when `signal` aborts (or
 * with the signal's reason when that is an `InferenceError`).
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
