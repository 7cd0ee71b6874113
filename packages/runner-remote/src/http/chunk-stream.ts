import { InferenceError, RunHandle, type RunHandleController, type TokenChunk } from '@inferkit/inference-core';

/** Something the stream can throttle and tear down (an `HttpCall`). */
export interface StreamUpstream {
  pause(): void;
  resume(): void;
  abort(error: InferenceError): void;
}

/** Options of `ChunkStream`. */
export interface ChunkStreamOptions {
  /** Stamped on errors that do not carry one yet. */
  requestId: string;
  /** The caller's signal: aborting it cancels the request. */
  signal?: AbortSignal | undefined;
  /**
   * Applied to every error the stream delivers, before anyone sees it: the one place where what
   * a response said (messages, details, echoed headers) is cleaned of secrets.
   */
  redact: (error: InferenceError) => InferenceError;
}

/** Above this many buffered chunks the socket is paused until the consumer drains the buffer. */
const HIGH_WATER_MARK = 1024;

/**
 * One request's output, fed by the HTTP callbacks through `RunHandle.pushable` (no queue or
 * async iterator of our own). Also gates `execute()`: `ready` settles at the first chunk, at the
 * end, or at the first error, so an error that arrives before any output rejects `execute()`
 * itself and a retry policy can try again without duplicating output.
 *
 * `progress` counts chunks pushed: the output watchdog reads it instead of taking the time per
 * chunk (see `OutputWatchdog`).
 */
export class ChunkStream {
  /** The handle `execute()` resolves with. */
  readonly handle: RunHandle;
  /** Settles once there is something to read, the stream ended, or it failed. Never rejects unobserved. */
  readonly ready: Promise<void>;
  /** Chunks pushed so far. */
  progress: number;
  private readonly controller: RunHandleController;
  private readonly requestId: string;
  private readonly redact: (error: InferenceError) => InferenceError;
  private upstream: StreamUpstream | null;
  private watchdog: { stop(): void } | null;
  private paused: boolean;
  private closed: boolean;
  private readyResolve: (() => void) | null;
  private readyReject: ((e: unknown) => void) | null;
  private readonly onDrained: (ok: boolean) => void;

  constructor(options: ChunkStreamOptions) {
    this.requestId = options.requestId;
    this.redact = options.redact;
    this.upstream = null;
    this.watchdog = null;
    this.paused = false;
    this.closed = false;
    this.progress = 0;
    this.readyResolve = null;
    this.readyReject = null;
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // The runner awaits `ready`; this keeps a failure that nobody awaits any more from being
    // reported as an unhandled rejection.
    this.ready.catch(noop);
    this.onDrained = (ok) => {
      this.paused = false;
      if (ok) this.upstream?.resume();
    };
    const { handle, controller } = RunHandle.pushable((reason) => this.onCancel(reason), {
      requestId: options.requestId,
      signal: options.signal,
      highWaterMark: HIGH_WATER_MARK,
    });
    this.handle = handle;
    this.controller = controller;
  }

  attach(upstream: StreamUpstream): void {
    this.upstream = upstream;
  }

  /** Something to stop once the stream is over (the output watchdog). */
  watch(watchdog: { stop(): void }): void {
    if (this.closed) watchdog.stop();
    else this.watchdog = watchdog;
  }

  private stopWatching(): void {
    const w = this.watchdog;
    if (w === null) return;
    this.watchdog = null;
    w.stop();
  }

  /** Whether `end()` or `fail()` was called, or the consumer stopped the stream. */
  get finished(): boolean {
    return this.closed || this.handle.cancelled;
  }

  push(chunk: TokenChunk): void {
    this.progress++;
    if (!this.controller.push(chunk) && !this.paused && !this.closed && !this.handle.cancelled) {
      // At the high-water mark: stop reading the socket until the consumer has drained the buffer.
      this.paused = true;
      this.upstream?.pause();
      void this.controller.ready().then(this.onDrained);
    }
    const resolve = this.readyResolve;
    if (resolve !== null) {
      this.readyResolve = null;
      this.readyReject = null;
      resolve();
    }
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWatching();
    this.controller.end();
    const resolve = this.readyResolve;
    if (resolve !== null) {
      this.readyResolve = null;
      this.readyReject = null;
      resolve();
    }
  }

  /** Fails the stream: chunks already pushed are still delivered, then the (redacted) error. */
  fail(error: InferenceError): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWatching();
    const err = this.redact(error.requestId === undefined ? withRequestId(error, this.requestId) : error);
    this.controller.fail(err);
    const reject = this.readyReject;
    if (reject !== null) {
      this.readyResolve = null;
      this.readyReject = null;
      reject(err);
      // Nobody will read this handle: `execute()` rejects instead. Cancelling it releases the
      // caller's signal listener (the producer is closed, so no cancel hook runs).
      this.handle.cancel(err);
    }
  }

  /** Tears the request down from our side (deadline, close): the upstream is aborted, readers see `error`. */
  abort(error: InferenceError): void {
    if (this.closed || this.handle.cancelled) return;
    this.upstream?.abort(error);
    this.fail(error);
  }

  /** The consumer stopped early (cancel, break, the caller's signal): stop the request. */
  private onCancel(reason: InferenceError): void {
    this.closed = true;
    this.stopWatching();
    this.upstream?.abort(reason);
    const reject = this.readyReject;
    if (reject !== null) {
      this.readyResolve = null;
      this.readyReject = null;
      reject(reason);
    }
  }
}

function noop(): void {}

/** A copy of `e` that carries `requestId` (errors are immutable once thrown). */
export function withRequestId(e: InferenceError, requestId: string): InferenceError {
  return new InferenceError(e.kind, e.message, {
    details: e.details,
    cause: e.cause,
    retryable: e.retryable,
    requestId,
    ...(e.status !== undefined ? { status: e.status } : {}),
    ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    ...(e.provider !== undefined ? { provider: e.provider } : {}),
  });
}
