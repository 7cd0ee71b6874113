import { InferenceError } from './inference-error.js';
import { kObserve, RunHandle } from './run-handle.js';
import type { TokenChunk } from './token-chunk.js';

/**
 * The `RunHandle` a wrapper can observe. A runner built against another copy of this package
 * returns a handle that still has the (`Symbol.for`-keyed) observer protocol and is used as is;
 * anything else that merely looks like a handle is wrapped once; anything else is `internal`.
 */
export function adoptRunHandle(handle: unknown, signal: AbortSignal | undefined, requestId: string): RunHandle {
  if (typeof (handle as Partial<RunHandle> | null)?.[kObserve] === 'function') return handle as RunHandle;
  const duck = handle as (AsyncIterable<TokenChunk> & { cancel?: (reason?: unknown) => void }) | null;
  if (duck === null || typeof duck !== 'object' || typeof duck[Symbol.asyncIterator] !== 'function') {
    throw new InferenceError('internal', 'runner.execute() did not resolve to a RunHandle', { requestId });
  }
  // A plain iterable, not a factory: the duck was never handed the handle's signal, so only the
  // guarded path (a promise of the handle's own per next()) lets cancel() end a next() it leaves pending.
  return RunHandle.streaming(duck, (reason) => duck.cancel?.(reason), { signal, requestId });
}
