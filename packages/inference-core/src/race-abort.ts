import { abortError } from './abort-error.js';

/**
 * `promise`, unless `signal` aborts first: then it rejects at once with `abortError(signal)`, and
 * `onLate` receives the value if the promise still resolves (so a handle that arrives after its
 * caller gave up can be cancelled instead of leaking). A runner that ignores its signal therefore
 * cannot hold a caller. The abort listener is removed when either side settles.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, requestId?: string, onLate?: (value: T) => void): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.then(onLate, noop);
    return Promise.reject(abortError(signal, requestId));
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      if (settled) return;
      settled = true;
      promise.then(onLate, noop);
      reject(abortError(signal, requestId));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function noop(): void {}
