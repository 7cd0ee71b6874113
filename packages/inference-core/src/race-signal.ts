import { abortError } from './abort-error.js';

/**
 * Settles like `promise`, or rejects with the signal's `InferenceError` (`abortError`) as soon as
 * `signal` aborts, whatever `promise` does: a runner or a rebuild that never settles cannot hold
 * the caller past its abort or deadline. A value that arrives after the abort goes to `onLate`
 * (to cancel a handle nobody will read); a late rejection is swallowed.
 */
export function raceSignal<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  requestId: string | undefined,
  onLate?: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    let lost = false;
    const onAbort = (): void => {
      lost = true;
      reject(abortError(signal, requestId));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (!lost) resolve(value);
        else if (onLate !== undefined) onLate(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error); // a no-op once the abort won
      },
    );
  });
}
