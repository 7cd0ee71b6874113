import type { TokenChunk } from './token-chunk.js';

/** @internal The handle side of a push source; `RunHandle` implements it with these keys. */
export const kPush: unique symbol = Symbol.for('inferkit.runHandle.push.v1');
/** @internal */
export const kEnd: unique symbol = Symbol.for('inferkit.runHandle.end.v1');
/** @internal */
export const kFail: unique symbol = Symbol.for('inferkit.runHandle.fail.v1');
/** @internal */
export const kReady: unique symbol = Symbol.for('inferkit.runHandle.ready.v1');

/** @internal What a `RunHandleController` feeds. */
export interface PushTarget {
  readonly signal: AbortSignal;
  [kPush](chunk: TokenChunk): boolean;
  [kEnd](): void;
  [kFail](error: unknown): void;
  [kReady](): Promise<boolean>;
}

/**
 * The producer side of `RunHandle.pushable`: a runner whose data arrives through callbacks
 * (undici `onData`, a native thread-safe-function batch, a bridge frame) pushes chunks here and
 * the handle hands them to the consumer's `next()` directly, with no async generator in between.
 *
 * Producer loop:
 * ```ts
 * if (!controller.push(chunk) && !(await controller.ready())) return; // stopped: stop producing
 * ```
 * Callback producers that cannot wait pause their source when `push` returns `false` and resume
 * when `ready()` resolves `true`.
 */
export class RunHandleController {
  private readonly target: PushTarget;

  /** @internal Built by `RunHandle.pushable`. */
  constructor(target: PushTarget) {
    this.target = target;
  }

  /**
   * Queues one chunk for the consumer (or hands it to a `next()` that is waiting). Returns `true`
   * while the producer may keep pushing, `false` when the buffer reached its high-water mark (the
   * chunk is still kept; wait for `ready()`) or when the handle no longer takes chunks (it was
   * cancelled, failed, ended or the consumer finished: the chunk is dropped, `ready()` resolves
   * `false`). Chunks after a finish chunk are passed through, as with the other source kinds.
   */
  push(chunk: TokenChunk): boolean {
    return this.target[kPush](chunk);
  }

  /**
   * Resolves `true` once the consumer has drained the buffer (at once when it is below the
   * high-water mark), or `false` once the handle no longer takes chunks: then stop producing.
   * Never rejects.
   */
  ready(): Promise<boolean> {
    return this.target[kReady]();
  }

  /** Ends the stream: the consumer gets the chunks already pushed, then `done`. Later calls are ignored. */
  end(): void {
    this.target[kEnd]();
  }

  /**
   * Fails the stream: the consumer gets the chunks already pushed, then this error (lifted with
   * `liftInternal` unless it is an `InferenceError`). Ignored once the stream ended or was stopped.
   */
  fail(error: unknown): void {
    this.target[kFail](error);
  }

  /** The handle's signal: aborted on `cancel()`, a `break`, or the caller's signal. Stop producing then. */
  get signal(): AbortSignal {
    return this.target.signal;
  }
}
