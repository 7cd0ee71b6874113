import type { BudgetExcess } from './budget-tracker.js';
import type { CircuitTransition } from './circuit-breaker.js';
import type { InferenceError } from './inference-error.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
import type { TokenUsage } from './token-usage.js';

/**
 * What `supervise` reports through `onEvent` (told apart by `type`). Times are clock ms;
 * durations are measured from `execute`.
 */
export type SuperviseEvent =
  | { type: 'request_start'; requestId: string; atMs: number }
  | {
      type: 'first_token';
      requestId: string;
      atMs: number;
      /** From `execute` to the first chunk, retries and waits included. */
      latencyMs: number;
      /** Attempts made (1 = no retry). */
      attempts: number;
    }
  | {
      type: 'request_finish';
      requestId: string;
      atMs: number;
      durationMs: number;
      /** `ended`: the stream completed; `cancelled`: the consumer stopped it. */
      outcome: 'ended' | 'cancelled';
      /** Cost charged to the budget; `undefined` = unknown. */
      costUsd: number | undefined;
      /** Last usage reported by the runner. */
      usage: TokenUsage | undefined;
    }
  | {
      type: 'request_error';
      requestId: string;
      atMs: number;
      durationMs: number;
      error: InferenceError;
      /** Whether chunks had already reached the caller (then no retry was possible). */
      afterFirstChunk: boolean;
    }
  | {
      type: 'retry';
      requestId: string;
      atMs: number;
      /** The retry about to happen (1 = first retry). */
      retry: number;
      delayMs: number;
      error: InferenceError;
    }
  | { type: 'breaker'; atMs: number; transition: CircuitTransition }
  | {
      type: 'budget_exceeded';
      requestId: string;
      atMs: number;
      excess: BudgetExcess;
      /** What was done about it. */
      action: 'reject' | 'warn' | 'throttle';
    }
  | { type: 'budget_unknown_cost'; requestId: string; atMs: number }
  | {
      /** `execute` resolved a handle that was neither read nor cancelled in time (`serving.abandonedHandleMs`): it was cancelled and its slots freed. */
      type: 'handle_abandoned';
      requestId: string;
      atMs: number;
      /** How long it waited for its first read (ms). */
      idleMs: number;
    }
  | {
      /** `rebuildSession(cause)` started: automatically (`SupervisePolicy.rebuild`) or by a call on the supervised runner. */
      type: 'rebuild_started';
      atMs: number;
      cause: SessionRebuildCause;
      /** The error that called for it; `undefined` for a rebuild asked for by a call. */
      error: InferenceError | undefined;
    }
  | {
      type: 'rebuild_finished';
      atMs: number;
      cause: SessionRebuildCause;
      durationMs: number;
      /** Set when the rebuild itself failed (the session stays broken). */
      error: InferenceError | undefined;
    }
  | {
      /** `rebuild.maxRebuilds` were started within `rebuild.windowMs`: requests fail fast until `rebuildSession()` is called. */
      type: 'rebuild_gave_up';
      atMs: number;
      /** Rebuilds started inside the window. */
      rebuilds: number;
      windowMs: number;
      /** The session error that would have needed one more. */
      error: InferenceError;
    };
