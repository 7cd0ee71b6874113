import { InferenceError, type TokenChunk } from '@inferkit/inference-core';

/** Something the stream can throttle and tear down (an `HttpCall`). */
export interface StreamUpstream {
  pause(): void;
  resume(): void;
  abort(error: InferenceError): void;
}

/** Above this many queued chunks the socket is paused; below the low mark it resumes. */
const HIGH_WATER_MARK = 1024;
const LOW_WATER_MARK = 256;

/**
 * Queue between the HTTP callbacks (producer) and the consumer's `for await` (an async
 * iterator). Also gates `execute()`: `ready` settles at the first chunk, at the end, or at the
 * first error, so an error that arrives before any output rejects `execute()` itself and a
 * retry policy can try again without duplicating output.
 */
export class ChunkStream implements AsyncIterableIterator<TokenChunk> {
  /** Settles once there is something to read, the stream ended, or it failed. Never rejects unobserved. */
  readonly ready: Promise<void>;
  private queue: (TokenChunk | undefined)[];
  private head: number;
  private upstream: StreamUpstream | null;
  private upstreamPaused: boolean;
  private ended: boolean;
  private error: InferenceError | null;
  private waitingResolve: ((r: IteratorResult<TokenChunk>) => void) | null;
  private waitingReject: ((e: unknown) => void) | null;
  private readyResolve: (() => void) | null;
  private readyReject: ((e: unknown) => void) | null;
  private readonly requestId: string | undefined;

  /** @param requestId stamped on errors that do not carry one yet. */
  constructor(requestId?: string) {
    this.requestId = requestId;
    this.queue = [];
    this.head = 0;
    this.upstream = null;
    this.upstreamPaused = false;
    this.ended = false;
    this.error = null;
    this.waitingResolve = null;
    this.waitingReject = null;
    this.readyResolve = null;
    this.readyReject = null;
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // The runner awaits `ready`; this keeps a failure that nobody awaits any more from being
    // reported as an unhandled rejection.
    this.ready.catch(noop);
  }

  attach(upstream: StreamUpstream): void {
    this.upstream = upstream;
  }

  get finished(): boolean {
    return this.ended || this.error !== null;
  }

  push(chunk: TokenChunk): void {
    if (this.ended || this.error !== null) return;
    const resolve = this.waitingResolve;
    if (resolve !== null) {
      this.waitingResolve = null;
      this.waitingReject = null;
      resolve({ value: chunk, done: false });
    } else {
      this.queue.push(chunk);
      if (!this.upstreamPaused && this.queue.length - this.head >= HIGH_WATER_MARK && this.upstream !== null) {
        this.upstreamPaused = true;
        this.upstream.pause();
      }
    }
    this.settleReady();
  }

  end(): void {
    if (this.ended || this.error !== null) return;
    this.ended = true;
    const resolve = this.waitingResolve;
    if (resolve !== null && this.head === this.queue.length) {
      this.waitingResolve = null;
      this.waitingReject = null;
      resolve({ value: undefined, done: true });
    }
    this.settleReady();
  }

  /** Fails the stream: queued chunks are still delivered, then `error` is thrown. */
  fail(error: InferenceError): void {
    if (this.ended || this.error !== null) return;
    if (error.requestId === undefined && this.requestId !== undefined) error = withRequestId(error, this.requestId);
    this.error = error;
    const reject = this.waitingReject;
    if (reject !== null && this.head === this.queue.length) {
      this.waitingResolve = null;
      this.waitingReject = null;
      reject(error);
    }
    const readyReject = this.readyReject;
    if (readyReject !== null) {
      this.readyResolve = null;
      this.readyReject = null;
      readyReject(error);
    }
  }

  next(): Promise<IteratorResult<TokenChunk>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head]!;
      this.queue[this.head] = undefined;
      this.head++;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      if (this.upstreamPaused && this.queue.length - this.head <= LOW_WATER_MARK) {
        this.upstreamPaused = false;
        this.upstream?.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.error !== null) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waitingResolve = resolve;
      this.waitingReject = reject;
    });
  }

  /** The consumer stopped early: tear the request down. */
  return(): Promise<IteratorResult<TokenChunk>> {
    this.cancel(new InferenceError('cancelled', 'consumer stopped reading'));
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Cancels the request: the upstream is aborted and readers see `error`. */
  cancel(error: InferenceError): void {
    if (this.ended || this.error !== null) return;
    this.queue = [];
    this.head = 0;
    this.fail(error);
    this.upstream?.abort(this.error!);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private settleReady(): void {
    const resolve = this.readyResolve;
    if (resolve !== null) {
      this.readyResolve = null;
      this.readyReject = null;
      resolve();
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
