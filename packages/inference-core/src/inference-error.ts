/**
 * `InferenceError` — the one error type every runner and policy throws.
 *
 * Construct: `new InferenceError(kind, message, { details?, cause?, status?, retryAfterMs?,
 * retryable?, provider?, requestId? })`. Match on `kind` (the stable code), never on `message`.
 * Check with `InferenceError.isInstance(e)` rather than `instanceof`: the `Symbol.for` brand works
 * across two copies of this package. Errors cross process boundaries as `toJSON()` /
 * `InferenceError.fromJSON()`. Anything else is wrapped with `liftInternal(err)`.
 *
 * | kind                      | retryable | circuit failure | meaning                                     |
 * |---------------------------|-----------|-----------------|---------------------------------------------|
 * | `rate_limited`            | yes       | no              | provider/limiter quota hit (HTTP 429)       |
 * | `circuit_open`            | no        | no              | breaker open; retry after `retryAtMs`       |
 * | `content_filtered`        | no        | no              | input or output refused by a safety filter  |
 * | `context_length_exceeded` | no        | no              | prompt + output exceed the context window   |
 * | `bad_request`             | no        | no              | invalid request (HTTP 400/422)              |
 * | `unauthorized`            | no        | no              | missing/invalid credentials (HTTP 401)      |
 * | `forbidden`               | no        | no              | credentials lack access (HTTP 403)          |
 * | `not_found`               | no        | no              | unknown model/endpoint (HTTP 404)           |
 * | `backpressure`            | yes       | no              | local queue full or max wait exceeded       |
 * | `budget_exceeded`         | no        | no              | USD budget for the window spent             |
 * | `network_error`           | yes       | yes             | connection reset/refused, DNS, TLS          |
 * | `server_error`            | yes       | yes             | HTTP 5xx / engine-reported failure          |
 * | `timeout`                 | yes       | yes             | connect/first-byte/idle/total deadline hit  |
 * | `cancelled`               | no        | no              | caller cancelled or aborted                 |
 * | `cuda_context_poisoned`   | no        | yes             | sticky CUDA error; needs `rebuildSession`   |
 * | `runtime_crashed`         | no        | yes             | engine/worker process died; needs rebuild   |
 * | `internal`                | no        | yes             | a bug or an unclassified failure            |
 */

/** Every error kind; the stable code to match on. */
export const INFERENCE_ERROR_KINDS = [
  'rate_limited',
  'circuit_open',
  'content_filtered',
  'context_length_exceeded',
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'backpressure',
  'budget_exceeded',
  'network_error',
  'server_error',
  'timeout',
  'cancelled',
  'cuda_context_poisoned',
  'runtime_crashed',
  'internal',
] as const;

/** The `kind` discriminant of `InferenceError`. */
export type InferenceErrorKind = (typeof INFERENCE_ERROR_KINDS)[number];

/** Typed details per kind. Every field is optional unless the producer always knows it. */
export interface InferenceErrorDetailsByKind {
  rate_limited: {
    /** Which limit was hit: `'requests'`, `'tokens'`, `'concurrency'`, or a provider string. */
    scope?: string;
    /** The limit value, if known. */
    limit?: number;
    /** Remaining capacity reported by the provider, if known. */
    remaining?: number;
  };
  circuit_open: {
    /** When the breaker opened (clock ms). */
    openedAtMs: number;
    /** When the breaker will let a probe through (clock ms). */
    retryAtMs: number;
    /** Breaker name, if several exist. */
    breaker?: string;
  };
  content_filtered: {
    /** Filter category reported by the provider, if any. */
    category?: string;
    /** Whether the input (`'input'`) or the output (`'output'`) was filtered. */
    stage?: 'input' | 'output';
  };
  context_length_exceeded: {
    /** Context window of the model, if known. */
    maxContextTokens?: number;
    /** Tokens the request needed, if known. */
    requestedTokens?: number;
  };
  bad_request: {
    /** Offending parameter, if known. */
    param?: string;
    /** Provider error code, if any. */
    code?: string;
  };
  unauthorized: {
    /** Provider error code, if any. */
    code?: string;
  };
  forbidden: {
    /** Provider error code, if any. */
    code?: string;
  };
  not_found: {
    /** What was not found (model name, endpoint). */
    resource?: string;
  };
  backpressure: {
    /** `queue_full`: too many waiters; `max_wait`: waited too long; `capacity`: no slot and
     * queueing disabled. */
    reason: 'queue_full' | 'max_wait' | 'capacity';
    /** Waiters at the time of rejection. */
    queueLength?: number;
    /** How long this request waited (ms). */
    waitedMs?: number;
  };
  budget_exceeded: {
    /** The rolling window whose limit was hit. */
    window: 'hour' | 'day';
    /** Spend in the window (USD). */
    spentUsd: number;
    /** Limit of the window (USD). */
    limitUsd: number;
  };
  network_error: {
    /** System or library error code, e.g. `'ECONNRESET'`, `'UND_ERR_SOCKET'`. */
    code?: string;
  };
  server_error: {
    /** Provider error code or type, if any. */
    code?: string;
  };
  timeout: {
    /** Which deadline: `'connect'`, `'first_byte'`, `'idle'`, `'total'`, or a runner-specific phase. */
    phase?: string;
    /** The deadline that was exceeded (ms). */
    timeoutMs?: number;
  };
  cancelled: {
    /** Human-readable reason given to `cancel()` or the abort signal. */
    reason?: string;
  };
  cuda_context_poisoned: {
    /** CUDA error name, e.g. `'cudaErrorIllegalAddress'`. */
    cudaError?: string;
    /** Device ordinal. */
    device?: number;
  };
  runtime_crashed: {
    /** Exit code of the crashed process, if any. */
    exitCode?: number | null;
    /** Signal that killed it, if any. */
    signal?: string | null;
    /** Last lines of its stderr, for diagnosis (never contains credentials). */
    stderrTail?: string;
  };
  internal: {
    /** `name` of the wrapped error, when lifted by `liftInternal`. */
    originalName?: string;
  };
}

/** Details type of one kind. */
export type InferenceErrorDetails<K extends InferenceErrorKind = InferenceErrorKind> = InferenceErrorDetailsByKind[K];

/** Options of the `InferenceError` constructor. */
export interface InferenceErrorOptions<K extends InferenceErrorKind = InferenceErrorKind> {
  /** Typed details for this kind (defaults to `{}`). */
  details?: InferenceErrorDetailsByKind[K];
  /** The underlying error. */
  cause?: unknown;
  /** HTTP status of the upstream response, if any. */
  status?: number;
  /** Delay the server asked for (Retry-After), in ms. */
  retryAfterMs?: number;
  /** Overrides the kind's default `retryable`. */
  retryable?: boolean;
  /** Provider or runtime that produced the error (e.g. `'openai'`). */
  provider?: string;
  /** `ExecuteBatch.requestId`, when known. */
  requestId?: string;
}

/** The JSON form produced by `toJSON()` and accepted by `fromJSON()`. */
export interface InferenceErrorJSON {
  name: 'InferenceError';
  kind: InferenceErrorKind;
  message: string;
  details: Record<string, unknown>;
  retryable: boolean;
  status?: number;
  retryAfterMs?: number;
  provider?: string;
  requestId?: string;
  /** The cause, flattened to `{ name, message }` (plus `kind` etc. when it was an InferenceError). */
  cause?: { name: string; message: string } | InferenceErrorJSON;
  /** Not written by `toJSON()`; read by `fromJSON()` when present. */
  stack?: string;
}

// Retryable default per kind, each with why.
const RETRYABLE: Record<InferenceErrorKind, boolean> = {
  rate_limited: true, // quota refills; wait and try again
  circuit_open: false, // retrying now fails again; wait until retryAtMs
  content_filtered: false, // same input gets filtered again
  context_length_exceeded: false, // same input is still too long
  bad_request: false, // same request is still invalid
  unauthorized: false, // needs new credentials (rebuildSession), not a retry
  forbidden: false, // access will not appear by retrying
  not_found: false, // the model/endpoint will not appear by retrying
  backpressure: true, // local overload is transient
  budget_exceeded: false, // spend only drops when the window rolls over
  network_error: true, // connections fail transiently
  server_error: true, // 5xx are usually transient
  timeout: true, // a slow attempt may succeed next time
  cancelled: false, // the caller asked to stop
  cuda_context_poisoned: false, // needs rebuildSession before anything can succeed
  runtime_crashed: false, // needs rebuildSession (restart) first
  internal: false, // a bug; retrying hides it
};

// Whether an error of this kind says the backend is unhealthy (feeds the circuit breaker).
const CIRCUIT_FAILURE: Record<InferenceErrorKind, boolean> = {
  rate_limited: false, // 429 means "busy for you", not "broken"
  circuit_open: false, // produced by the breaker itself
  content_filtered: false, // a verdict on content, backend is fine
  context_length_exceeded: false, // caller's input
  bad_request: false, // caller's input
  unauthorized: false, // configuration, not health
  forbidden: false, // configuration, not health
  not_found: false, // configuration, not health
  backpressure: false, // local shedding
  budget_exceeded: false, // local policy
  network_error: true, // backend unreachable
  server_error: true, // backend failing
  timeout: true, // backend too slow
  cancelled: false, // caller's choice
  cuda_context_poisoned: true, // engine unusable
  runtime_crashed: true, // engine unusable
  internal: true, // unknown failure: be conservative
};

const BRAND = Symbol.for('inferkit.inference-core.InferenceError');
const KIND_SET: ReadonlySet<string> = new Set(INFERENCE_ERROR_KINDS);

/** Whether `value` is one of the known kinds. */
export function isInferenceErrorKind(value: unknown): value is InferenceErrorKind {
  return typeof value === 'string' && KIND_SET.has(value);
}

/** The error type thrown by every runner, policy and `RunHandle`. See the table at the top of this file. */
export class InferenceError<K extends InferenceErrorKind = InferenceErrorKind> extends Error {
  /** Stable code to match on. */
  readonly kind: K;
  /** Typed details for `kind`. */
  readonly details: InferenceErrorDetailsByKind[K];
  /** Whether retrying the same request may succeed (kind default, overridable). */
  readonly retryable: boolean;
  /** HTTP status of the upstream response, if any. */
  readonly status: number | undefined;
  /** Delay the server asked for (Retry-After), in ms, if any. */
  readonly retryAfterMs: number | undefined;
  /** Provider or runtime that produced the error, if known. */
  readonly provider: string | undefined;
  /** Request id, if known. */
  readonly requestId: string | undefined;

  constructor(kind: K, message: string, options?: InferenceErrorOptions<K>) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'InferenceError';
    this.kind = kind;
    this.details = (options?.details ?? {}) as InferenceErrorDetailsByKind[K];
    this.retryable = options?.retryable ?? RETRYABLE[kind] ?? false;
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
    this.provider = options?.provider;
    this.requestId = options?.requestId;
  }

  /** Brand checked by `isInstance` (shared across package copies via `Symbol.for`). */
  get [BRAND](): true {
    return true;
  }

  /** Whether this error should count toward opening a circuit breaker. */
  get countsAsCircuitFailure(): boolean {
    return CIRCUIT_FAILURE[this.kind] ?? true;
  }

  /** Narrows to one kind: `if (err.is('rate_limited')) err.details.scope`. */
  is<T extends InferenceErrorKind>(kind: T): this is InferenceError<T> {
    return (this.kind as string) === kind;
  }

  /** True for any `InferenceError`, from this or another copy of the package. */
  static isInstance(value: unknown): value is InferenceError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** The kind's default `retryable`. */
  static isRetryableKind(kind: InferenceErrorKind): boolean {
    return RETRYABLE[kind];
  }

  /** Whether errors of this kind count toward a circuit breaker. */
  static countsAsCircuitFailureKind(kind: InferenceErrorKind): boolean {
    return CIRCUIT_FAILURE[kind];
  }

  /**
   * Serializable form; `fromJSON(toJSON(e))` reproduces kind, message, details, fields and cause.
   * The stack is left out (this may reach API clients); `fromJSON` accepts a `stack` if you add one.
   */
  toJSON(): InferenceErrorJSON {
    const json: InferenceErrorJSON = {
      name: 'InferenceError',
      kind: this.kind,
      message: this.message,
      details: { ...(this.details as Record<string, unknown>) },
      retryable: this.retryable,
    };
    if (this.status !== undefined) json.status = this.status;
    if (this.retryAfterMs !== undefined) json.retryAfterMs = this.retryAfterMs;
    if (this.provider !== undefined) json.provider = this.provider;
    if (this.requestId !== undefined) json.requestId = this.requestId;
    const cause = this.cause;
    if (cause !== undefined) {
      if (InferenceError.isInstance(cause)) json.cause = cause.toJSON();
      else if (cause instanceof Error) json.cause = { name: cause.name, message: cause.message };
      else json.cause = { name: typeof cause, message: safeString(cause) };
    }
    // No stack: this JSON may reach API clients. Pass `stack` yourself where it is safe.
    return json;
  }

  /**
   * Rebuilds an error from `toJSON()` output (e.g. received from a child process). Malformed input
   * never throws: it becomes kind `internal` describing what was wrong.
   */
  static fromJSON(json: unknown): InferenceError {
    if (typeof json !== 'object' || json === null) {
      return new InferenceError('internal', `malformed InferenceError JSON: ${safeString(json)}`);
    }
    const j = json as Partial<InferenceErrorJSON> & Record<string, unknown>;
    const message = typeof j.message === 'string' ? j.message : 'unknown error';
    if (!isInferenceErrorKind(j.kind)) {
      return new InferenceError('internal', `unknown InferenceError kind ${safeString(j.kind)}: ${message}`);
    }
    let cause: unknown;
    if (typeof j.cause === 'object' && j.cause !== null) {
      const c = j.cause as Record<string, unknown>;
      if (c.name === 'InferenceError' && isInferenceErrorKind(c.kind)) cause = InferenceError.fromJSON(c);
      else {
        const e = new Error(typeof c.message === 'string' ? c.message : '');
        e.name = typeof c.name === 'string' ? c.name : 'Error';
        cause = e;
      }
    }
    const details = typeof j.details === 'object' && j.details !== null ? { ...j.details } : {};
    const err = new InferenceError(j.kind, message, {
      details,
      cause,
      status: typeof j.status === 'number' ? j.status : undefined,
      retryAfterMs: typeof j.retryAfterMs === 'number' ? j.retryAfterMs : undefined,
      retryable: typeof j.retryable === 'boolean' ? j.retryable : undefined,
      provider: typeof j.provider === 'string' ? j.provider : undefined,
      requestId: typeof j.requestId === 'string' ? j.requestId : undefined,
    });
    if (typeof j.stack === 'string') err.stack = j.stack;
    return err;
  }
}

/**
 * Wraps anything thrown into an `InferenceError`. InferenceErrors (from any package copy) are
 * returned as they are; an `AbortError` becomes `cancelled`, a `TimeoutError` (e.g. from
 * `AbortSignal.timeout`) becomes `timeout`; everything else becomes `internal` with the original
 * as `cause`.
 */
export function liftInternal(err: unknown, requestId?: string): InferenceError {
  if (InferenceError.isInstance(err)) return err;
  const name = typeof err === 'object' && err !== null && typeof (err as Error).name === 'string' ? (err as Error).name : undefined;
  const message = err instanceof Error ? err.message : safeString(err);
  if (name === 'AbortError') {
    // An abort whose reason is itself an InferenceError keeps that error.
    const reason = (err as { cause?: unknown }).cause;
    if (InferenceError.isInstance(reason)) return reason;
    return new InferenceError('cancelled', message || 'aborted', { details: { reason: message }, cause: err, requestId });
  }
  if (name === 'TimeoutError') {
    return new InferenceError('timeout', message || 'timed out', { cause: err, requestId });
  }
  return new InferenceError('internal', message || 'internal error', {
    details: name !== undefined ? { originalName: name } : {},
    cause: err,
    requestId,
  });
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : String(value);
  } catch {
    return '[unprintable]';
  }
}
