import type { Clock } from './clock.js';
import { type InferenceErrorDetails, type InferenceErrorKind, InferenceError, liftInternal } from './inference-error.js';
import type { ModelRunner } from './model-runner.js';
import { raceAbort } from './race-abort.js';
import type { RebuildPolicy } from './rebuild-policy.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
import type { SuperviseEvent } from './supervise-event.js';

/**
 * The rebuild cause an error kind calls for, if any: a poisoned CUDA context is reset, a crashed
 * runtime restarted (`manual`, the documented cause for crashed workers), rejected credentials
 * re-read.
 */
export function rebuildCauseOf(kind: InferenceErrorKind): SessionRebuildCause | undefined {
  if (kind === 'cuda_context_poisoned') return 'cuda_context_poisoned';
  if (kind === 'runtime_crashed') return 'manual';
  if (kind === 'unauthorized') return 'remote_auth_failure';
  return undefined;
}

/**
 * @internal `supervise`'s automatic `rebuildSession` (`SupervisePolicy.rebuild`).
 *
 * Sessions are numbered: `generation` counts the rebuilds started. An attempt is stamped with the
 * session it ran on, so a failure only starts a rebuild when none has started since that attempt
 * began: any number of concurrent failures of one session trigger one rebuild. While a rebuild
 * runs, or after one failed, `busy` is true and attempts wait in `ready()`.
 */
export class SessionHealer {
  private readonly runner: ModelRunner;
  private readonly clock: Clock;
  private readonly emit: (event: SuperviseEvent) => void;
  private readonly maxRebuilds: number;
  private readonly windowMs: number;
  private generation: number;
  // Settles with the rebuild's error, or null once the session works again; never rejects.
  private rebuilding: Promise<InferenceError | null> | null;
  // The last rebuild failed: the session is still broken and the next attempt rebuilds first.
  private broken: boolean;
  // What the next rebuild is for: the session error that called for it, and its cause.
  private lastError: InferenceError | null;
  private lastCause: SessionRebuildCause;
  // Set once the rebuilds gave up: the error every request fails with until a manual rebuild.
  private gaveUp: InferenceError | null;
  // Start times of the automatic rebuilds inside the sliding window, oldest first.
  private readonly starts: number[];

  constructor(runner: ModelRunner, policy: RebuildPolicy, clock: Clock, emit: (event: SuperviseEvent) => void) {
    this.runner = runner;
    this.clock = clock;
    this.emit = emit;
    this.maxRebuilds = policy.maxRebuilds;
    this.windowMs = policy.windowMs;
    this.generation = 0;
    this.rebuilding = null;
    this.broken = false;
    this.lastError = null;
    this.lastCause = 'manual';
    this.gaveUp = null;
    this.starts = [];
  }

  /** Whether an attempt has to go through `ready()` first (false on the healthy path). */
  get busy(): boolean {
    return this.rebuilding !== null || this.broken || this.gaveUp !== null;
  }

  /** The session an attempt starting now runs on (pass it to `failed`). */
  stamp(): number {
    return this.rebuilding !== null ? this.generation - 1 : this.generation;
  }

  /**
   * Waits until the session is usable, bounded by `signal`. Rejects with the abort error, with the
   * fail-fast error once the rebuilds gave up, or with the error of a rebuild it waited for that
   * failed (the next attempt then starts another rebuild, within the limit).
   */
  async ready(signal: AbortSignal | undefined, requestId: string): Promise<void> {
    for (;;) {
      const gaveUp = this.gaveUpError(requestId);
      if (gaveUp !== null) throw gaveUp;
      let rebuild = this.rebuilding;
      if (rebuild === null) {
        if (!this.broken) return;
        rebuild = this.startAutomatic(this.lastCause, this.lastError);
        if (rebuild === null) continue; // gave up
      }
      const failure = await raceAbort(rebuild, signal, requestId);
      if (failure !== null) throw failure;
    }
  }

  /**
   * Reports a failed attempt made on session `stamp`. Starts a rebuild when `error` calls for one
   * and none started since the attempt began. Returns whether the session was, or is being,
   * rebuilt since then (a retry may succeed); false when `error` needs no rebuild or the rebuilds
   * gave up.
   */
  failed(error: InferenceError, stamp: number): boolean {
    const cause = rebuildCauseOf(error.kind);
    if (cause === undefined || this.gaveUp !== null) return false;
    if (stamp < this.generation) return true;
    return this.startAutomatic(cause, error) !== null;
  }

  /** The fail-fast error once the rebuilds gave up, else `null`. */
  gaveUpError(requestId: string): InferenceError | null {
    const last = this.gaveUp;
    if (last === null) return null;
    const rebuildsGaveUp = { rebuilds: this.maxRebuilds, windowMs: this.windowMs };
    return new InferenceError(
      last.kind,
      `session rebuilds gave up (${this.maxRebuilds} within ${this.windowMs} ms); call rebuildSession() to try again. Last error: ${last.message}`,
      {
        details: { ...(last.details as Record<string, unknown>), rebuildsGaveUp } as InferenceErrorDetails,
        cause: last,
        retryable: false,
        ...(last.provider !== undefined ? { provider: last.provider } : {}),
        requestId,
      },
    );
  }

  /**
   * `rebuildSession(cause)` called on the supervised runner: runs after a rebuild in progress,
   * outside the window's count. Success resets everything (a gave-up runner serves again);
   * failure rejects with the typed error and leaves the session broken.
   */
  async manual(cause: SessionRebuildCause): Promise<void> {
    while (this.rebuilding !== null) await this.rebuilding;
    const failure = await this.run(cause, undefined, true);
    if (failure !== null) throw failure;
  }

  private startAutomatic(cause: SessionRebuildCause, error: InferenceError | null): Promise<InferenceError | null> | null {
    const now = this.clock.now();
    const starts = this.starts;
    while (starts.length > 0 && starts[0]! <= now - this.windowMs) starts.shift();
    if (starts.length >= this.maxRebuilds) {
      const last =
        error ?? new InferenceError('internal', 'the session is broken and its rebuilds gave up', { details: {} });
      this.gaveUp = last;
      this.broken = false;
      this.emit({ type: 'rebuild_gave_up', atMs: now, rebuilds: starts.length, windowMs: this.windowMs, error: last });
      return null;
    }
    starts.push(now);
    return this.run(cause, error ?? undefined, false);
  }

  private run(cause: SessionRebuildCause, error: InferenceError | undefined, manual: boolean): Promise<InferenceError | null> {
    this.generation++;
    if (error !== undefined) this.lastError = error;
    this.lastCause = cause;
    const startedAt = this.clock.now();
    this.emit({ type: 'rebuild_started', atMs: startedAt, cause, error });
    const rebuild = this.rebuildOnce(cause).then((failure) => {
      this.rebuilding = null;
      this.broken = failure !== null;
      if (failure === null && manual) {
        this.gaveUp = null;
        this.starts.length = 0;
      }
      const now = this.clock.now();
      this.emit({ type: 'rebuild_finished', atMs: now, cause, durationMs: now - startedAt, error: failure ?? undefined });
      return failure;
    });
    this.rebuilding = rebuild;
    return rebuild;
  }

  private async rebuildOnce(cause: SessionRebuildCause): Promise<InferenceError | null> {
    try {
      await this.runner.rebuildSession(cause);
      return null;
    } catch (e) {
      return liftInternal(e);
    }
  }
}
