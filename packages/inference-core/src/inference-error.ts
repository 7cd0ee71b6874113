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
 * | `backpressure`            | yes       | no              | local queue full, max wait exceeded, or a shared store down (fail closed) |
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
    /** Set by `supervise` when its automatic rebuilds gave up (`SupervisePolicy.rebuild`). */
    rebuildsGaveUp?: { rebuilds: number; windowMs: number };
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
     * queueing disabled; `store_unavailable`: the shared `PolicyStore` cannot be reached and the
     * policy fails closed (`policy` says which). */
    reason: 'queue_full' | 'max_wait' | 'capacity' | 'store_unavailable';
    /** With `store_unavailable`: the policy that failed closed. */
    policy?: 'rate_limits' | 'budget' | 'circuit_breaker';
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
    /** Estimated cost of requests in flight, counted against the limit too (USD). */
    reservedUsd?: number;
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
    /** Set by `supervise` when its automatic rebuilds gave up (`SupervisePolicy.rebuild`). */
    rebuildsGaveUp?: { rebuilds: number; windowMs: number };
  };
  runtime_crashed: {
    /** Exit code of the crashed process, if any. */
    exitCode?: number | null;
    /** Signal that killed it, if any. */
    signal?: string | null;
    /** Last lines of its stderr, for diagnosis (never contains credentials). */
    stderrTail?: string;
    /** Set by `supervise` when its automatic rebuilds gave up (`SupervisePolicy.rebuild`). */
    rebuildsGaveUp?: { rebuilds: number; windowMs: number };
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
    return toJSONAt(this, 1);
  }

  /**
   * Rebuilds an error from `toJSON()` output (e.g. received from a child process). Malformed input
   * never throws: it becomes kind `internal` describing what was wrong. The input is treated as
   * hostile: the cause chain is followed at most `FROM_JSON_LIMITS.causeDepth` levels (without
   * recursion), strings are cut to `FROM_JSON_LIMITS.messageChars`, and `details` keeps only
   * bounded JSON (depth, keys, string lengths), so no payload can exhaust the stack or memory.
   */
  static fromJSON(json: unknown): InferenceError {
    // Collect the chain iteratively, then build it from the innermost cause outwards.
    const chain: Array<Record<string, unknown>> = [];
    let node: unknown = json;
    let truncated = false;
    for (;;) {
      if (typeof node !== 'object' || node === null) break;
      if (chain.length === FROM_JSON_LIMITS.causeDepth) {
        truncated = true;
        break;
      }
      const n = node as Record<string, unknown>;
      chain.push(n);
      if (n.name !== 'InferenceError' || !isInferenceErrorKind(n.kind)) break;
      node = n.cause;
    }
    if (chain.length === 0) return new InferenceError('internal', `malformed InferenceError JSON: ${cut(safeString(json))}`);
    let cause: unknown = truncated ? plainError('Error', 'cause chain truncated') : undefined;
    for (let i = chain.length - 1; i >= 1; i--) {
      const c = chain[i]!;
      if (c.name === 'InferenceError' && isInferenceErrorKind(c.kind)) cause = fromJSONNode(c, cause);
      else cause = plainError(typeof c.name === 'string' ? cut(c.name) : 'Error', typeof c.message === 'string' ? cut(c.message) : '');
    }
    const top = chain[0]!;
    if (!isInferenceErrorKind(top.kind)) {
      const message = typeof top.message === 'string' ? cut(top.message) : 'unknown error';
      return new InferenceError('internal', `unknown InferenceError kind ${cut(safeString(top.kind))}: ${message}`);
    }
    return fromJSONNode(top, cause);
  }
}

/** Bounds `InferenceError.fromJSON` applies to what it reads. */
export const FROM_JSON_LIMITS = Object.freeze({
  /** Errors in a cause chain (the error itself included); deeper causes are cut off. */
  causeDepth: 8,
  /** Characters kept of `message`, `stack` and every string in `details`. */
  messageChars: 16_384,
  /** Nesting kept in `details` (deeper values become `'[truncated]'`). */
  detailsDepth: 4,
  /** Keys or items kept per object or array in `details`. */
  detailsEntries: 64,
});

/** `toJSON` with the cause chain cut at `FROM_JSON_LIMITS.causeDepth`, like `fromJSON` reads it. */
function toJSONAt(e: InferenceError, depth: number): InferenceErrorJSON {
  const json: InferenceErrorJSON = {
    name: 'InferenceError',
    kind: e.kind,
    message: e.message,
    details: { ...(e.details as Record<string, unknown>) },
    retryable: e.retryable,
  };
  if (e.status !== undefined) json.status = e.status;
  if (e.retryAfterMs !== undefined) json.retryAfterMs = e.retryAfterMs;
  if (e.provider !== undefined) json.provider = e.provider;
  if (e.requestId !== undefined) json.requestId = e.requestId;
  const cause = e.cause;
  if (cause !== undefined) {
    if (InferenceError.isInstance(cause)) {
      json.cause = depth < FROM_JSON_LIMITS.causeDepth ? toJSONAt(cause, depth + 1) : { name: 'Error', message: 'cause chain truncated' };
    } else if (cause instanceof Error) json.cause = { name: cause.name, message: cause.message };
    else json.cause = { name: typeof cause, message: safeString(cause) };
  }
  // No stack: this JSON may reach API clients. Pass `stack` yourself where it is safe.
  return json;
}

function fromJSONNode(j: Record<string, unknown>, cause: unknown): InferenceError {
  const kind = j.kind as InferenceErrorKind;
  const message = typeof j.message === 'string' ? cut(j.message) : 'unknown error';
  const details = boundedDetails(j.details);
  const err = new InferenceError(kind, message, {
    details,
    cause,
    status: typeof j.status === 'number' ? j.status : undefined,
    retryAfterMs: typeof j.retryAfterMs === 'number' ? j.retryAfterMs : undefined,
    retryable: typeof j.retryable === 'boolean' ? j.retryable : undefined,
    provider: typeof j.provider === 'string' ? cut(j.provider) : undefined,
    requestId: typeof j.requestId === 'string' ? cut(j.requestId) : undefined,
  });
  if (typeof j.stack === 'string') err.stack = cut(j.stack);
  return err;
}

function plainError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

function cut(s: string): string {
  const max = FROM_JSON_LIMITS.messageChars;
  return s.length <= max ? s : `${s.slice(0, max)}… [${s.length - max} more characters]`;
}

/** A bounded copy of untrusted details: plain JSON only, limited depth, entries and string length. */
function boundedDetails(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return boundedValue(value, 1) as Record<string, unknown>;
}

function boundedValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return cut(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (typeof value !== 'object') return undefined;
  if (depth > FROM_JSON_LIMITS.detailsDepth) return '[truncated]';
  const max = FROM_JSON_LIMITS.detailsEntries;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length && i < max; i++) out.push(boundedValue(value[i], depth + 1));
    return out;
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const key of Object.keys(value)) {
    if (n++ === max) break;
    if (key === '__proto__') continue;
    const v = boundedValue((value as Record<string, unknown>)[key], depth + 1);
    if (v !== undefined) out[key] = v;
  }
  return out;
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
