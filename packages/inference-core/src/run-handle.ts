import { InferenceError, liftInternal } from './inference-error.js';
import { kEnd, kFail, kPush, kReady, type PushTarget, RunHandleController } from './run-handle-controller.js';
import type { TokenChunk } from './token-chunk.js';
import { Tokens } from './tokens.js';

/**
 * What a runner streams from: an async iterable of chunks, or a factory that receives the
 * handle's `AbortSignal` (aborted on `cancel()`, on a `break` out of `for await`, and when the
 * caller's signal aborts) and returns one. Prefer the factory: it lets the producer stop at once.
 * Runners fed by callbacks use `RunHandle.pushable` instead, which needs no iterable at all.
 */
export type RunHandleSource = AsyncIterable<TokenChunk> | ((signal: AbortSignal) => AsyncIterable<TokenChunk>);

/**
 * Called exactly once when the consumer stops the stream before it ended: `cancel()`, a `break`
 * out of `for await`, or the caller's abort signal. Not called when the stream finished (a chunk
 * with `finishReason` was delivered, or the source ended) or failed. `reason` is the `cancelled`
 * (or caller-supplied) `InferenceError`.
 */
export type RunHandleCancelHook = (reason: InferenceError) => void;

/** Options of `RunHandle.streaming`. */
export interface RunHandleOptions {
  /** The caller's signal (`execute(batch, { signal })`): aborting it cancels with kind `cancelled`. */
  signal?: AbortSignal | undefined;
  /** Request id used in the errors this handle creates. */
  requestId?: string | undefined;
}

/** Options of `RunHandle.pushable`. */
export interface RunHandlePushOptions extends RunHandleOptions {
  /**
   * Chunks buffered before `push` returns `false` (an integer ≥ 1, default 64). The buffer may
   * grow past it if the producer ignores the `false`; the mark only signals when to wait.
   */
  highWaterMark?: number | undefined;
}

/** What `RunHandle.pushable` returns: the handle for `execute` to resolve, and its producer side. */
export interface RunHandlePushable {
  handle: RunHandle;
  controller: RunHandleController;
}

// Source kinds. GUARDED: plain iterable; FAST: factory; PUSH: fed through a RunHandleController.
const GUARDED = 0;
const FAST = 1;
const PUSH = 2;

const DEFAULT_HIGH_WATER_MARK = 64;
// The push buffer is an array read from `head`; it is reset whenever it drains, and compacted
// past this many consumed slots if a producer that ignores backpressure never lets it drain.
const COMPACT_AFTER = 1024;

// Stands for "no iterable: the push source" in the constructor; never iterated.
const PUSH_SOURCE: RunHandleSource = Object.freeze({
  [Symbol.asyncIterator](): AsyncIterator<TokenChunk> {
    throw new TypeError('the push source is fed through its controller');
  },
});

// Handle states. Plain small integers: compared on every chunk.
const OPEN = 0; // producing
const FINISHED = 1; // source ended, or a finish chunk was delivered (no cancel hook after this)
const ENDED = 2; // source iterator returned done
const CANCELLED = 3; // stopped by the consumer
const FAILED = 4; // source threw

/**
 * @internal Lets a wrapper (`supervise`) watch a handle it passes through instead of wrapping it
 * in a second handle: one promise hop per chunk instead of two.
 */
export interface RunObserver {
  /**
   * Every chunk delivered from now on. Leave it out when only the outcome matters: the handle
   * then makes no call per chunk for this observer (a router over a supervised runner pays for
   * supervise's watch alone).
   */
  chunk?(chunk: TokenChunk): void;
  /** Once: the stream finished (finish chunk or end), failed, or was cancelled. */
  settle(outcome: 'ended' | 'failed' | 'cancelled', error: InferenceError | null): void;
}

/** @internal Attaches a `RunObserver` (settles at once if the handle already settled). */
export const kObserve: unique symbol = Symbol.for('inferkit.runHandle.observe.v1');
/** @internal Pushes back one already-read result, returned by the next `next()`. */
export const kUnshift: unique symbol = Symbol.for('inferkit.runHandle.unshift.v1');
/** @internal Whether the consumer has not asked for anything yet (no `next()` so far). */
export const kUnread: unique symbol = Symbol.for('inferkit.runHandle.unread.v1');

const DONE_RESULT: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined }) as IteratorReturnResult<undefined>;

/**
 * The stream of one request. Iterate it once with `for await`, or `collect()` it.
 *
 * - Errors from the runner are thrown from the iterator as `InferenceError` (others are lifted
 *   with `liftInternal`).
 * - `cancel(reason?)` stops the producer (the runner's cancel hook runs exactly once, the source's
 *   signal aborts, its iterator is `return()`ed) and a pending or later `next()` rejects with the
 *   `cancelled` error. A `break` out of `for await` cancels the same way, without an error.
 * - The caller's abort signal cancels with kind `cancelled` (or with its `reason` when that is an
 *   `InferenceError`).
 * - The handle passes chunks through unchanged; it does not police the runner (the conformance
 *   kit does).
 */
export class RunHandle implements AsyncIterable<TokenChunk>, AsyncIterator<TokenChunk>, PushTarget {
  /** Request id given in the options, if any. */
  readonly requestId: string | undefined;

  private state: number;
  private iterated: boolean;
  // Set by the first next(): wrappers use it to tell a consumer that walked away (kUnread).
  private touched: boolean;
  private iterator: AsyncIterator<TokenChunk> | null;
  private error: InferenceError | null;
  private onCancel: RunHandleCancelHook | undefined;
  private controller: AbortController | null;
  private callerSignal: AbortSignal | undefined;
  // The consumer's pending next(): kept so cancel() can reject it at once, even while the source
  // is stuck waiting.
  private resolvePending: ((r: IteratorResult<TokenChunk>) => void) | null;
  private rejectPending: ((e: unknown) => void) | null;
  private prefetched: IteratorResult<TokenChunk> | null;
  private observer: RunObserver | null;
  // The observers that take chunks (a subset of `observer`'s): called on every chunk.
  private chunkObserver: RunObserver | null;
  // Push source state (unused by the other kinds). `producerClosed`: end() or fail() was called.
  private buffer: TokenChunk[];
  private head: number;
  private producerClosed: boolean;
  private pushFailed: boolean;
  private pushError: unknown;
  private resolveReady: ((ok: boolean) => void) | null;
  private readyPromise: Promise<boolean> | null;
  private readonly highWaterMark: number;

  // Bound once here, not per chunk: no closures are allocated on the hot path.
  // Plain-iterable sources cannot see the abort signal, so each next() gets a guard promise that
  // cancel() can reject at once. Factory sources are handed the signal and must honour it (the
  // conformance case `cancel.while-pending` checks that), so they take the fast path: one `then`
  // per chunk and no promise of our own — see bench/run.mjs for what that buys.
  private readonly mode: number;
  private readonly executor: (resolve: (r: IteratorResult<TokenChunk>) => void, reject: (e: unknown) => void) => void;
  private readonly onGuardedValue: (r: IteratorResult<TokenChunk>) => void;
  private readonly onGuardedError: (e: unknown) => void;
  private readonly onFastValue: (r: IteratorResult<TokenChunk>) => IteratorResult<TokenChunk>;
  private readonly onFastError: (e: unknown) => never;
  private readonly onAbort: () => void;
  private readonly parkExecutor: (resolve: (r: IteratorResult<TokenChunk>) => void, reject: (e: unknown) => void) => void;
  private readonly readyExecutor: (resolve: (ok: boolean) => void) => void;

  /** Same as `RunHandle.streaming`. */
  constructor(source: RunHandleSource, onCancel?: RunHandleCancelHook, options?: RunHandleOptions) {
    this.requestId = options?.requestId;
    this.state = OPEN;
    this.iterated = false;
    this.touched = false;
    this.iterator = null;
    this.error = null;
    this.onCancel = onCancel;
    this.controller = null;
    this.callerSignal = options?.signal;
    this.resolvePending = null;
    this.rejectPending = null;
    this.prefetched = null;
    this.observer = null;
    this.chunkObserver = null;
    this.buffer = [];
    this.head = 0;
    this.producerClosed = false;
    this.pushFailed = false;
    this.pushError = undefined;
    this.resolveReady = null;
    this.readyPromise = null;
    this.highWaterMark = DEFAULT_HIGH_WATER_MARK;
    this.mode = source === PUSH_SOURCE ? PUSH : typeof source === 'function' ? FAST : GUARDED;
    this.executor = (resolve, reject) => {
      this.resolvePending = resolve;
      this.rejectPending = reject;
      let p: Promise<IteratorResult<TokenChunk>>;
      try {
        p = this.iterator!.next();
      } catch (e) {
        this.onGuardedError(e);
        return;
      }
      p.then(this.onGuardedValue, this.onGuardedError);
    };
    this.onGuardedValue = (r) => {
      const resolve = this.resolvePending;
      const reject = this.rejectPending!;
      if (resolve === null) return; // already rejected by cancel()
      this.resolvePending = null;
      this.rejectPending = null;
      let accepted: IteratorResult<TokenChunk>;
      try {
        accepted = this.accept(r);
      } catch (e) {
        reject(e);
        return;
      }
      resolve(accepted);
    };
    this.onGuardedError = (e) => {
      const reject = this.rejectPending;
      if (reject === null) return;
      this.resolvePending = null;
      this.rejectPending = null;
      reject(this.fail(e));
    };
    this.onFastValue = (r) => this.accept(r);
    this.onFastError = (e) => {
      throw this.fail(e);
    };
    this.onAbort = () => {
      const reason: unknown = this.callerSignal?.reason;
      this.cancel(InferenceError.isInstance(reason) ? reason : 'aborted by caller signal');
    };
    this.parkExecutor = (resolve, reject) => {
      this.resolvePending = resolve;
      this.rejectPending = reject;
    };
    this.readyExecutor = (resolve) => {
      this.resolveReady = resolve;
    };

    if (this.mode === PUSH) {
      const hwm = (options as RunHandlePushOptions | undefined)?.highWaterMark;
      if (hwm !== undefined) {
        if (!Number.isInteger(hwm) || hwm < 1) {
          throw new InferenceError('bad_request', 'RunHandle.pushable: highWaterMark must be an integer >= 1', {
            details: { param: 'highWaterMark' },
            requestId: this.requestId,
          });
        }
        this.highWaterMark = hwm;
      }
    } else {
      try {
        const iterable = typeof source === 'function' ? source(this.signal) : source;
        this.iterator = iterable[Symbol.asyncIterator]();
      } catch (e) {
        this.state = FAILED;
        this.error = liftInternal(e, this.requestId);
        return;
      }
    }
    const signal = this.callerSignal;
    if (signal !== undefined) {
      if (signal.aborted) this.onAbort();
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /**
   * Builds a handle from a chunk source and an optional cancel hook (called exactly once, see
   * `RunHandleCancelHook`). Runners return this from `execute`.
   */
  static streaming(source: RunHandleSource, onCancel?: RunHandleCancelHook, options?: RunHandleOptions): RunHandle {
    return new RunHandle(source, onCancel, options);
  }

  /**
   * Builds a handle fed by pushes instead of an iterable, for runners whose data arrives through
   * callbacks: `controller.push(chunk)` hands the chunk to a waiting `next()` (or buffers it),
   * `end()` / `fail(err)` finish the stream after the buffered chunks, `ready()` paces the
   * producer, `signal` tells it to stop. Per chunk this costs no async generator and no chained
   * promise; the cancel hook, abort and cancellation rules are those of `streaming`, and a handle
   * whose producer already called `end()` or `fail()` does not run the hook.
   * Throws `bad_request` for an invalid `highWaterMark`.
   */
  static pushable(onCancel?: RunHandleCancelHook, options?: RunHandlePushOptions): RunHandlePushable {
    const handle = new RunHandle(PUSH_SOURCE, onCancel, options);
    return { handle, controller: new RunHandleController(handle) };
  }

  /** Aborted when the handle is cancelled; the factory form of the source receives it. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.state === CANCELLED) this.controller.abort(this.error);
    }
    return this.controller.signal;
  }

  /** Whether the stream was cancelled (by `cancel()`, a `break`, or the caller's signal). */
  get cancelled(): boolean {
    return this.state === CANCELLED;
  }

  /**
   * Stops the request. No-op once the stream ended (a finish chunk was delivered), failed or was
   * already cancelled.
   * @param reason text for the `cancelled` error, or a ready `InferenceError` to fail with.
   */
  cancel(reason?: string | InferenceError): void {
    const state = this.state;
    if (state === FINISHED && this.prefetched === null) {
      // The finish chunk was delivered: the request is complete, so this only closes the source.
      this.state = ENDED;
      this.cleanup();
      this.stopSource();
      return;
    }
    if (state !== OPEN && state !== FINISHED) return;
    // FINISHED with a prefetched chunk: the runner is done but the caller has not seen the end,
    // so the caller gets `cancelled`; the runner's hook is not due.
    const settleDue = state === OPEN;
    // A push producer that already ended or failed has nothing left to stop.
    const hookDue = settleDue && !this.producerClosed;
    this.state = CANCELLED;
    this.prefetched = null;
    const err = InferenceError.isInstance(reason)
      ? reason
      : new InferenceError('cancelled', reason ?? 'cancelled', {
          details: reason !== undefined ? { reason } : {},
          requestId: this.requestId,
        });
    this.error = err;
    this.cleanup();
    if (this.controller !== null) this.controller.abort(err);
    const reject = this.rejectPending;
    if (reject !== null) {
      this.resolvePending = null;
      this.rejectPending = null;
      reject(err);
    }
    this.stopSource();
    if (settleDue) this.settle('cancelled', err);
    const hook = this.onCancel;
    this.onCancel = undefined;
    if (hookDue && hook !== undefined) {
      try {
        hook(err);
      } catch {
        // A throwing hook must not break cancellation; the runner owns its own error reporting.
      }
    }
  }

  /** Reads the whole stream into a `Tokens`. Rejects with the stream's `InferenceError`. */
  async collect(): Promise<Tokens> {
    const tokens = new Tokens();
    for await (const chunk of this) tokens.push(chunk);
    return tokens;
  }

  [Symbol.asyncIterator](): AsyncIterator<TokenChunk> {
    if (this.iterated) {
      throw new InferenceError('internal', 'RunHandle can only be iterated once', { requestId: this.requestId });
    }
    this.iterated = true;
    return this;
  }

  /** Iterator protocol; use `for await` instead of calling this. */
  next(): Promise<IteratorResult<TokenChunk>> {
    this.touched = true;
    const state = this.state;
    if (state === OPEN || state === FINISHED) {
      const pre = this.prefetched;
      if (pre !== null) {
        this.prefetched = null;
        return Promise.resolve(pre);
      }
      const mode = this.mode;
      if (mode === PUSH) return this.nextPushed();
      if (mode === FAST) {
        let p: Promise<IteratorResult<TokenChunk>>;
        try {
          p = this.iterator!.next();
        } catch (e) {
          return Promise.reject(this.fail(e));
        }
        return p.then(this.onFastValue, this.onFastError);
      }
      if (this.rejectPending !== null) {
        return Promise.reject(new InferenceError('internal', 'RunHandle.next() called while a previous next() is pending'));
      }
      return new Promise(this.executor);
    }
    if (state === ENDED) return Promise.resolve(DONE_RESULT);
    return Promise.reject(this.error);
  }

  /** next() of the push source: a buffered chunk, the producer's end or error, or a parked promise. */
  private nextPushed(): Promise<IteratorResult<TokenChunk>> {
    const buf = this.buffer;
    const head = this.head;
    if (head < buf.length) {
      const value = buf[head]!;
      buf[head] = undefined as unknown as TokenChunk; // release the chunk now, not on the next reset
      if (head + 1 === buf.length) {
        buf.length = 0;
        this.head = 0;
        // Drained: a producer waiting on ready() refills while the consumer handles this chunk.
        if (this.resolveReady !== null) this.wakeReady(true);
      } else if (head + 1 > COMPACT_AFTER && (head + 1) * 2 > buf.length) {
        buf.splice(0, head + 1);
        this.head = 0;
      } else {
        this.head = head + 1;
      }
      try {
        return Promise.resolve(this.accept({ done: false, value }));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (this.producerClosed) {
      if (this.pushFailed) return Promise.reject(this.fail(this.pushError));
      return Promise.resolve(this.accept(DONE_RESULT));
    }
    if (this.rejectPending !== null) {
      return Promise.reject(new InferenceError('internal', 'RunHandle.next() called while a previous next() is pending'));
    }
    return new Promise(this.parkExecutor);
  }

  /** @internal See `RunHandleController.push`. */
  [kPush](chunk: TokenChunk): boolean {
    const state = this.state;
    if ((state !== OPEN && state !== FINISHED) || this.producerClosed) return false;
    const resolve = this.resolvePending;
    if (resolve !== null) {
      // The consumer is waiting, so the buffer is empty: hand the chunk over directly.
      const reject = this.rejectPending!;
      this.resolvePending = null;
      this.rejectPending = null;
      let r: IteratorResult<TokenChunk>;
      try {
        r = this.accept({ done: false, value: chunk });
      } catch (e) {
        reject(e);
        return false;
      }
      resolve(r);
      return true;
    }
    const buf = this.buffer;
    buf.push(chunk);
    return buf.length - this.head < this.highWaterMark;
  }

  /** @internal See `RunHandleController.ready`. */
  [kReady](): Promise<boolean> {
    const state = this.state;
    if ((state !== OPEN && state !== FINISHED) || this.producerClosed) return Promise.resolve(false);
    if (this.buffer.length - this.head < this.highWaterMark) return Promise.resolve(true);
    if (this.readyPromise === null) this.readyPromise = new Promise(this.readyExecutor);
    return this.readyPromise;
  }

  /** @internal See `RunHandleController.end`. */
  [kEnd](): void {
    const state = this.state;
    if ((state !== OPEN && state !== FINISHED) || this.producerClosed) return;
    this.producerClosed = true;
    this.wakeReady(false);
    const resolve = this.resolvePending;
    if (resolve !== null) {
      this.resolvePending = null;
      this.rejectPending = null;
      resolve(this.accept(DONE_RESULT));
    }
  }

  /** @internal See `RunHandleController.fail`. */
  [kFail](error: unknown): void {
    const state = this.state;
    if ((state !== OPEN && state !== FINISHED) || this.producerClosed) return;
    this.producerClosed = true;
    this.pushFailed = true;
    this.pushError = error;
    this.wakeReady(false);
    const reject = this.rejectPending;
    if (reject !== null) {
      this.resolvePending = null;
      this.rejectPending = null;
      reject(this.fail(error));
    }
  }

  private wakeReady(ok: boolean): void {
    const resolve = this.resolveReady;
    if (resolve === null) return;
    this.resolveReady = null;
    this.readyPromise = null;
    resolve(ok);
  }

  /** Iterator protocol: called by `break`; stops the producer like `cancel()`, without an error. */
  return(): Promise<IteratorResult<TokenChunk>> {
    if (this.state === OPEN) {
      this.cancel('consumer stopped iterating');
    } else if (this.state === FINISHED) {
      this.state = ENDED;
      this.cleanup();
      this.stopSource();
    }
    return Promise.resolve(DONE_RESULT);
  }

  /** Bookkeeping for one source result; returns what the consumer gets, or throws. */
  private accept(r: IteratorResult<TokenChunk>): IteratorResult<TokenChunk> {
    const state = this.state;
    if (state === CANCELLED || state === FAILED) throw this.error; // stopped while this next() was pending
    if (typeof r !== 'object' || r === null) {
      throw this.fail(new TypeError('RunHandle source iterator returned a non-object result'));
    }
    if (r.done === true) {
      if (state === OPEN) this.settle('ended', null);
      this.state = ENDED;
      this.cleanup();
      return r;
    }
    const v = r.value;
    const co = this.chunkObserver;
    if (co !== null && v != null) co.chunk!(v);
    if (state === OPEN && v != null && v.finishReason !== undefined) {
      this.state = FINISHED;
      this.settle('ended', null);
    }
    return r;
  }

  /** Moves to FAILED (unless cancelled) and returns the error the consumer gets. */
  private fail(e: unknown): InferenceError {
    const state = this.state;
    if (state === CANCELLED || state === FAILED) return this.error!;
    this.state = FAILED;
    const err = liftInternal(e, this.requestId);
    this.error = err;
    this.cleanup();
    if (state === OPEN) this.settle('failed', err);
    return err;
  }

  /** @internal See `RunObserver`. */
  [kObserve](observer: RunObserver): void {
    const s = this.state;
    // Wrappers stack (a router over supervised runners): every observer sees every chunk and settles.
    if (s === OPEN) {
      this.observer = this.observer === null ? observer : new ObserverPair(this.observer, observer);
      if (observer.chunk !== undefined) {
        const co = this.chunkObserver;
        this.chunkObserver = co === null ? observer : new ObserverPair(co, observer);
      }
    }
    else if (s === FAILED) observer.settle('failed', this.error);
    else if (s === CANCELLED) observer.settle('cancelled', this.error);
    else observer.settle('ended', null);
  }

  /** @internal See `kUnshift`. */
  [kUnshift](result: IteratorResult<TokenChunk>): void {
    this.prefetched = result;
    this.touched = false; // handed over with this result unread: the consumer has not asked yet
  }

  /** @internal See `kUnread`. */
  get [kUnread](): boolean {
    return !this.touched;
  }

  private settle(outcome: 'ended' | 'failed' | 'cancelled', error: InferenceError | null): void {
    const o = this.observer;
    if (o === null) return;
    this.observer = null;
    this.chunkObserver = null;
    try {
      o.settle(outcome, error);
    } catch {
      // Observers are internal and must not throw; never let one break the stream.
    }
  }

  private stopSource(): void {
    const it = this.iterator;
    if (it === null || typeof it.return !== 'function') return;
    try {
      const p = it.return();
      if (p !== undefined && typeof (p as Promise<unknown>).then === 'function') (p as Promise<unknown>).then(undefined, noop);
    } catch {
      // The source failed while closing; the consumer has already moved on.
    }
  }

  private cleanup(): void {
    if (this.mode === PUSH) {
      // Terminal: drop what the consumer will never read, and let a waiting producer go.
      this.buffer = [];
      this.head = 0;
      this.pushError = undefined;
      this.wakeReady(false);
    }
    const signal = this.callerSignal;
    if (signal !== undefined) {
      this.callerSignal = undefined;
      signal.removeEventListener('abort', this.onAbort);
    }
  }
}

function noop(): void {}

/** Two observers of one handle, called in the order they were attached. */
class ObserverPair implements RunObserver {
  private readonly first: RunObserver;
  private readonly second: RunObserver;
  constructor(first: RunObserver, second: RunObserver) {
    this.first = first;
    this.second = second;
  }
  // Only built over observers that both take chunks (see kObserve).
  chunk(chunk: TokenChunk): void {
    this.first.chunk!(chunk);
    this.second.chunk!(chunk);
  }
  settle(outcome: 'ended' | 'failed' | 'cancelled', error: InferenceError | null): void {
    try {
      this.first.settle(outcome, error);
    } finally {
      this.second.settle(outcome, error);
    }
  }
}
