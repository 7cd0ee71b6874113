import { abortError } from './abort-error.js';
import { adoptRunHandle } from './adopt-run-handle.js';
import { capabilitiesOf } from './capabilities-of.js';
import type { CircuitTicket } from './circuit-breaker.js';
import { type Clock, realClock } from './clock.js';
import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError, isInferenceErrorKind, liftInternal, type InferenceErrorKind } from './inference-error.js';
import type { ExecuteOptions, ModelRunner } from './model-runner.js';
import { raceAbort } from './race-abort.js';
import { ResumingStream } from './resuming-stream.js';
import type { RouteEvent } from './route-event.js';
import { DEFAULT_ABANDONED_HANDLE_MS } from './serving.js';
import { SPAN_STATUS_ERROR, type SpanTracer, type TraceSpan } from './span-tracer.js';
import { DEFAULT_FALLBACK_KINDS, DEFAULT_ROUTE_BREAKER, type RouteOptions, type RouteStrategy } from './route-options.js';
import type { RouteTarget } from './route-target.js';
import { RouteTargetState, type RouteTargetStats } from './route-target-state.js';
import { kObserve, kUnshift, type RunHandle, type RunObserver } from './run-handle.js';
import { RUNNER_CAPABILITY_NAMES, type RunnerCapabilities } from './runner-capabilities.js';
import type { RuntimeKind } from './runtime-kind.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
import type { TokenChunk } from './token-chunk.js';
import type { TransportKind } from './transport-kind.js';
import { validateBatch } from './validate-batch.js';

/** One target tried for a request, as listed in `details.attempts` of the error `route` throws. */
export interface RouteAttempt {
  /** The target's name. */
  target: string;
  /** The kind of error it failed with. */
  kind: InferenceErrorKind;
}

/**
 * Builds a `Router` over `targets` (see `RouteOptions`). Throws at once, naming the field, for
 * unusable input: `TypeError` for wrong types (no targets, a target that is not a runner),
 * `RangeError` for wrong values (duplicate names, unknown strategy, negative `maxResumes`).
 */
export function route(targets: readonly RouteTarget[], options: RouteOptions): Router {
  return new Router(targets, options);
}

const STRATEGIES: ReadonlySet<string> = new Set<RouteStrategy>(['fallback', 'least_loaded', 'cheapest']);

/**
 * A `ModelRunner` that sends each request to one of several runners:
 * - picks targets by `strategy`, only among those whose capabilities cover the request and whose
 *   breaker lets traffic through, waiting for a slot when every eligible target is at its
 *   `maxConcurrent`;
 * - before the first chunk, moves to the next target on a `fallbackOn` kind (each target at most
 *   once per request); when all fail, throws the last error with every attempt in
 *   `details.attempts`;
 * - with `resume`, continues a stream that fails after chunks reached the caller on a target that
 *   declares `continuation` (see `ResumingStream`); otherwise the caller iterates the target's own
 *   handle, which the router only observes (at its settling: no call per chunk).
 */
export class Router implements ModelRunner {
  /** Name used in errors and events. */
  readonly name: string;
  /** @internal */
  readonly targets: readonly RouteTargetState[];
  /** @internal */
  readonly clock: Clock;
  /** @internal */
  readonly maxResumes: number;
  /** @internal */
  readonly abandonedHandleMs: number;
  private readonly strategy: RouteStrategy;
  private readonly fallbackOn: ReadonlySet<string>;
  private readonly maxCostUsd: number | undefined;
  private readonly onEvent: ((event: RouteEvent) => void) | undefined;
  private readonly tracer: SpanTracer | undefined;
  // Requests waiting for a free slot on any target (FIFO); each entry re-runs the selection.
  private waiters: Array<() => void>;
  private roundRobin: number;
  private closed: boolean;
  // Which targets delivered each handle this router returned (see servedBy); weak, so a handle
  // nobody holds any more takes its entry with it.
  private readonly served: WeakMap<RunHandle, readonly string[]>;

  constructor(targets: readonly RouteTarget[], options: RouteOptions) {
    if (!Array.isArray(targets)) throw new TypeError('route: targets must be an array of runners');
    if (targets.length === 0) throw new TypeError('route: targets must not be empty');
    if (typeof options !== 'object' || options === null) throw new TypeError('route: options must be an object');
    if (!STRATEGIES.has(options.strategy)) {
      throw new RangeError(`route: options.strategy must be 'fallback', 'least_loaded' or 'cheapest', got ${JSON.stringify(options.strategy)}`);
    }
    const maxResumes = options.resume?.maxResumes ?? 0;
    if (options.resume !== undefined && (typeof options.resume !== 'object' || options.resume === null)) {
      throw new TypeError('route: options.resume must be an object { maxResumes }');
    }
    if (!Number.isSafeInteger(maxResumes) || maxResumes < 0) {
      throw new RangeError(`route: options.resume.maxResumes must be an integer >= 0, got ${String(maxResumes)}`);
    }
    if (options.maxCostUsd !== undefined && !(typeof options.maxCostUsd === 'number' && options.maxCostUsd >= 0)) {
      throw new RangeError('route: options.maxCostUsd must be a number >= 0');
    }
    const fallbackOn = options.fallbackOn ?? DEFAULT_FALLBACK_KINDS;
    if (!Array.isArray(fallbackOn)) throw new TypeError('route: options.fallbackOn must be an array of error kinds');
    fallbackOn.forEach((k, i) => {
      if (!isInferenceErrorKind(k)) throw new RangeError(`route: options.fallbackOn[${i}] is not an error kind: ${JSON.stringify(k)}`);
    });
    this.name = options.name ?? 'router';
    this.clock = options.clock ?? realClock;
    this.strategy = options.strategy;
    this.fallbackOn = new Set(fallbackOn);
    this.maxResumes = maxResumes;
    const abandoned = options.abandonedHandleMs ?? DEFAULT_ABANDONED_HANDLE_MS;
    if (!(typeof abandoned === 'number' && abandoned > 0)) throw new RangeError('route: options.abandonedHandleMs must be a number > 0 (Infinity = never)');
    this.abandonedHandleMs = abandoned;
    this.maxCostUsd = options.maxCostUsd;
    this.onEvent = options.onEvent;
    this.tracer = options.tracer;
    this.waiters = [];
    this.roundRobin = 0;
    this.closed = false;
    this.served = new WeakMap();
    const emit = (e: RouteEvent): void => this.emit(e);
    const names = new Set<string>();
    this.targets = targets.map((t, index) => {
      const at = `targets[${index}]`;
      const spec = isRunner(t) ? { runner: t } : t;
      if (typeof spec !== 'object' || spec === null || !isRunner(spec.runner)) {
        throw new TypeError(`route: ${at} must be a ModelRunner or { runner: ModelRunner, … }`);
      }
      const name = spec.name ?? `${safeKind(spec.runner)}#${index}`;
      if (typeof name !== 'string' || name === '') throw new TypeError(`route: ${at}.name must be a non-empty string`);
      if (names.has(name)) throw new RangeError(`route: ${at}.name ${JSON.stringify(name)} is used by another target`);
      names.add(name);
      if (spec.model !== undefined && (typeof spec.model !== 'string' || spec.model === '')) throw new TypeError(`route: ${at}.model must be a non-empty string`);
      const weight = spec.weight ?? 1;
      if (!(typeof weight === 'number' && Number.isFinite(weight) && weight > 0)) throw new RangeError(`route: ${at}.weight must be a number > 0`);
      const max = spec.maxConcurrent ?? Infinity;
      if (max !== Infinity && !(Number.isSafeInteger(max) && max > 0)) throw new RangeError(`route: ${at}.maxConcurrent must be an integer > 0`);
      return new RouteTargetState(
        { runner: spec.runner, name, index, model: spec.model, weight, maxConcurrent: max },
        options.circuitBreaker ?? DEFAULT_ROUTE_BREAKER,
        this.clock,
        emit,
      );
    });
  }

  runtimeKind(): RuntimeKind {
    return 'custom:router';
  }

  /** The first target's transport (a router over mixed targets has no single one). */
  transportKind(): TransportKind {
    return this.targets[0]!.runner.transportKind();
  }

  /** What at least one target can do; each request goes only to targets that cover what it uses. */
  capabilities(): RunnerCapabilities {
    const out: RunnerCapabilities = {};
    for (const t of this.targets) {
      const caps = capabilitiesOf(t.runner);
      for (const name of RUNNER_CAPABILITY_NAMES) if (caps[name]) out[name] = true;
    }
    return out;
  }

  /** The estimate of the target the strategy would try first now; `undefined` when unknown. */
  estimateCostUsd(batch: ExecuteBatch): number | undefined {
    const first = this.order(batch, needsOf(batch), new Set())[0];
    return first?.runner.estimateCostUsd?.(first.batchFor(batch));
  }

  /** Per-target load and health. */
  stats(): RouteTargetStats[] {
    return this.targets.map((t) => t.stats());
  }

  /**
   * Which target delivered the first chunk of `handle` (a handle this router's `execute`
   * returned): its name, then, when that target is itself a `Router`, the name of the target it
   * picked, and so on down to a runner. A resume does not change it: the answer began there
   * (`resumed` events and the `resumes` count of `stats()` tell where it moved). `undefined` for
   * a handle this router did not return.
   */
  servedBy(handle: RunHandle): readonly string[] | undefined {
    return this.served.get(handle);
  }

  /** @internal Records that `target` delivered the first chunk of `handle` (its own handle `from`). */
  recordServed(handle: RunHandle, target: RouteTargetState, from: RunHandle): void {
    const inner = (target.runner as Partial<Router>).servedBy;
    const below = typeof inner === 'function' ? inner.call(target.runner, from) : undefined;
    this.served.set(handle, below === undefined ? [target.name] : [target.name, ...below]);
  }

  /** Requests waiting for a free slot on some target. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Passes `cause` to every target (each ignores causes meant for another kind of runtime). */
  async rebuildSession(cause: SessionRebuildCause): Promise<void> {
    if (this.closed) throw closedError(this.name);
    const results = await Promise.allSettled(this.targets.map((t) => t.runner.rebuildSession(cause)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw liftInternal(failed.reason);
  }

  /** Closes every target; final (later requests fail with `cancelled`). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    await Promise.allSettled(this.targets.map((t) => t.runner.close?.()));
  }

  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    validateBatch(batch, { label: this.name, capabilities: this.capabilities() });
    const requestId = batch.requestId;
    if (this.closed) throw closedError(this.name, requestId);
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, requestId);
    const needs = needsOf(batch);
    const tried = new Set<RouteTargetState>();
    const attempts: RouteAttempt[] = [];
    let last: InferenceError | undefined;
    const span = this.tracer !== undefined ? startRouteSpan(this.tracer, this, batch) : null;
    try {
      for (let attempt = 1; ; attempt++) {
        const picked = await this.acquire(batch, needs, tried, signal);
        if (!('target' in picked)) {
          for (const o of picked.open) attempts.push({ target: o.target.name, kind: o.error.kind });
          throw this.exhausted(picked.open.at(-1)?.error ?? last, attempts, requestId);
        }
        const { target, ticket } = picked;
        tried.add(target);
        spanEvent(span, 'gen_ai.inferkit.routed', { 'gen_ai.inferkit.route.target': target.name, 'gen_ai.inferkit.route.attempt': attempt });
        const r = await this.attempt(target, ticket, batch, signal, attempt);
        if ('error' in r) {
          last = r.error;
          attempts.push({ target: target.name, kind: r.error.kind });
          if (signal?.aborted || !this.fallbackOn.has(r.error.kind)) throw attempts.length > 1 ? withAttempts(r.error, attempts) : r.error;
          target.failovers++;
          this.emit({ type: 'failover', requestId, atMs: this.clock.now(), from: target.name, error: r.error });
          spanEvent(span, 'gen_ai.inferkit.failover', { 'gen_ai.inferkit.route.target': target.name, 'error.type': r.error.kind });
          continue;
        }
        if (this.maxResumes === 0 || r.first.done === true) {
          const watch = new RouteWatch(this, target, ticket, estimateOf(batch), span);
          if (r.first.done !== true) r.handle[kUnshift](r.first);
          r.handle[kObserve](watch);
          this.recordServed(r.handle, target, r.handle);
          return r.handle;
        }
        const stream = new ResumingStream(this, batch, signal, needs, { target, ticket, handle: r.handle, first: r.first.value }, span).handle;
        this.recordServed(stream, target, r.handle);
        return stream;
      }
    } catch (e) {
      endRouteSpan(span, liftInternal(e, requestId));
      throw e;
    }
  }

  /**
   * @internal The next target for a request: the first in strategy order (excluding `tried`) with
   * a free slot whose breaker admits it; the slot is taken at once (so concurrent requests see it
   * taken) and given back by `release`. Waits while every remaining target is full. Targets whose
   * breaker refuses are returned in `open` when nothing else is left.
   */
  async acquire(
    batch: ExecuteBatch,
    needs: Needs,
    tried: Set<RouteTargetState>,
    signal: AbortSignal | undefined,
  ): Promise<{ target: RouteTargetState; ticket: CircuitTicket } | { open: Array<{ target: RouteTargetState; error: InferenceError }> }> {
    for (;;) {
      if (this.closed) throw closedError(this.name, batch.requestId);
      const open: Array<{ target: RouteTargetState; error: InferenceError }> = [];
      let full = false;
      for (const t of this.order(batch, needs, tried)) {
        if (!t.hasCapacity) {
          full = true;
          continue;
        }
        try {
          const ticket = t.breaker.acquire();
          t.inFlight++;
          t.tokensInFlight += estimateOf(batch);
          return { target: t, ticket };
        } catch (e) {
          open.push({ target: t, error: liftInternal(e, batch.requestId) });
        }
      }
      if (!full) {
        for (const o of open) tried.add(o.target);
        return { open };
      }
      await this.waitForSlot(signal, batch.requestId);
    }
  }

  /**
   * @internal Sends `batch` to `target` (whose slot `acquire` took) and waits for its first chunk
   * (or the end of its stream), racing the caller's signal so that a runner that ignores it cannot
   * hold the caller. On failure the slot is released and the breaker told.
   */
  async attempt(
    target: RouteTargetState,
    ticket: CircuitTicket,
    batch: ExecuteBatch,
    signal: AbortSignal | undefined,
    attempt: number,
  ): Promise<{ handle: RunHandle; first: IteratorResult<TokenChunk> } | { error: InferenceError }> {
    const requestId = batch.requestId;
    const estimate = estimateOf(batch);
    this.emit({ type: 'routed', requestId, atMs: this.clock.now(), target: target.name, attempt });
    let handle: RunHandle | null = null;
    try {
      const raw = await raceAbort(target.runner.execute(target.batchFor(batch), signal === undefined ? undefined : { signal }), signal, requestId, cancelLate);
      handle = adoptRunHandle(raw, signal, requestId);
      const first = await raceAbort(handle.next(), signal, requestId);
      if (first.done !== true && (typeof first.value !== 'object' || first.value === null)) {
        throw new InferenceError('internal', `target ${target.name} streamed a chunk that is not an object`, { requestId });
      }
      return { handle, first };
    } catch (e) {
      const error = signal?.aborted ? abortError(signal, requestId) : liftInternal(e, requestId);
      if (handle !== null && !handle.cancelled) handle.cancel(error);
      ticket.record(error);
      if (error.kind !== 'cancelled') target.failed++;
      this.release(target, estimate);
      return { error };
    }
  }

  /** @internal Frees a slot on `target` and lets the first waiting request pick again. */
  release(target: RouteTargetState, estimate: number): void {
    target.inFlight--;
    target.tokensInFlight -= estimate;
    const wake = this.waiters.shift();
    if (wake !== undefined) wake();
  }

  /** @internal Eligible targets (not tried, capable, within `maxCostUsd`) in strategy order. */
  order(batch: ExecuteBatch, needs: Needs, tried: ReadonlySet<RouteTargetState>): RouteTargetState[] {
    const eligible: Array<{ t: RouteTargetState; cost: number | undefined }> = [];
    for (const t of this.targets) {
      if (tried.has(t) || !covers(t, needs)) continue;
      let cost: number | undefined;
      if (this.strategy === 'cheapest' || this.maxCostUsd !== undefined) {
        cost = t.runner.estimateCostUsd?.(t.batchFor(batch));
        if (cost !== undefined && !Number.isFinite(cost)) cost = undefined;
        if (this.maxCostUsd !== undefined && cost !== undefined && cost > this.maxCostUsd) continue;
      }
      eligible.push({ t, cost });
    }
    if (this.strategy === 'fallback') return eligible.map((e) => e.t);
    const turn = this.roundRobin++;
    const n = this.targets.length;
    // Round robin among equals: rotate the index origin by one every request.
    const rotated = (t: RouteTargetState): number => (t.index - (turn % n) + n) % n;
    if (this.strategy === 'least_loaded') {
      eligible.sort(
        (a, b) =>
          a.t.inFlight - b.t.inFlight ||
          a.t.tokensInFlight - b.t.tokensInFlight ||
          b.t.weight - a.t.weight ||
          rotated(a.t) - rotated(b.t),
      );
    } else {
      eligible.sort((a, b) => {
        if (a.cost !== b.cost) {
          if (a.cost === undefined) return 1;
          if (b.cost === undefined) return -1;
          return a.cost - b.cost;
        }
        return b.t.weight - a.t.weight || rotated(a.t) - rotated(b.t);
      });
    }
    return eligible.map((e) => e.t);
  }

  /** @internal Whether `kind` moves a request to another target (or resumes it). */
  failsOver(kind: InferenceErrorKind): boolean {
    return this.fallbackOn.has(kind);
  }

  /** @internal */
  emit(event: RouteEvent): void {
    const cb = this.onEvent;
    if (cb === undefined) return;
    try {
      cb(event);
    } catch {
      // Listeners must not break requests.
    }
  }

  private waitForSlot(signal: AbortSignal | undefined, requestId: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal, requestId));
        return;
      }
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(wake);
        if (i !== -1) this.waiters.splice(i, 1);
        reject(abortError(signal!, requestId));
      };
      this.waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** @internal The error when no target is left: the last failure, or why none could serve. */
  exhausted(last: InferenceError | undefined, attempts: RouteAttempt[], requestId: string): InferenceError {
    if (last !== undefined) return withAttempts(last, attempts);
    return new InferenceError('bad_request', `${this.name}: no target can serve this request (capabilities or maxCostUsd)`, {
      details: { param: this.maxCostUsd !== undefined ? 'maxCostUsd' : 'targets' },
      requestId,
    });
  }
}

/** @internal What a request needs from a target's capabilities. */
export interface Needs {
  tools: boolean;
  responseFormat: boolean;
  images: boolean;
  continuation: boolean;
  penalties: boolean;
  repetitionPenalty: boolean;
  tokenIds: boolean;
}

/** @internal */
export function needsOf(batch: ExecuteBatch): Needs {
  const s = batch.sampling;
  let images = false;
  for (const m of batch.messages) {
    if (Array.isArray(m.content)) for (const p of m.content) if (p.type !== 'text') images = true;
  }
  return {
    tools: batch.tools !== undefined && batch.tools.length > 0,
    responseFormat: batch.responseFormat !== undefined && batch.responseFormat.type !== 'text',
    images,
    continuation: batch.messages[batch.messages.length - 1]?.prefix === true,
    penalties: (s?.presencePenalty ?? 0) !== 0 || (s?.frequencyPenalty ?? 0) !== 0,
    repetitionPenalty: (s?.repetitionPenalty ?? 1) !== 1,
    tokenIds: batch.continuationTokenIds !== undefined,
  };
}

/** @internal Whether `target` declares everything `needs` asks for. */
export function covers(target: RouteTargetState, needs: Needs): boolean {
  const caps = capabilitiesOf(target.runner);
  return (
    (!needs.tools || caps.tools) &&
    (!needs.responseFormat || caps.responseFormat) &&
    (!needs.images || caps.images) &&
    (!needs.continuation || caps.continuation) &&
    (!needs.penalties || caps.penalties) &&
    (!needs.repetitionPenalty || caps.repetitionPenalty) &&
    (!needs.tokenIds || caps.tokenIds)
  );
}

/** @internal Tokens a request counts for in `least_loaded` (its estimate; 0 when absent or bad). */
export function estimateOf(batch: ExecuteBatch): number {
  const e = batch.estimatedTokens;
  return typeof e === 'number' && Number.isFinite(e) && e > 0 ? e : 0;
}

/** The last error, with every attempt in `details.attempts` (and the original as `cause`). */
export function withAttempts(error: InferenceError, attempts: RouteAttempt[]): InferenceError {
  const list = attempts.map((a) => `${a.target}: ${a.kind}`).join(', ');
  return new InferenceError(error.kind, `${error.message} (targets tried: ${list})`, {
    details: { ...(error.details as object), attempts: attempts.slice() } as never,
    cause: error,
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
    retryable: error.retryable,
    ...(error.provider !== undefined ? { provider: error.provider } : {}),
    ...(error.requestId !== undefined ? { requestId: error.requestId } : {}),
  });
}

/**
 * Observes a stream the caller iterates directly (no resume): frees the slot, records the
 * breaker outcome and counts it, once, when the stream settles.
 */
class RouteWatch implements RunObserver {
  private readonly router: Router;
  private readonly target: RouteTargetState;
  private ticket: CircuitTicket | null;
  private readonly estimate: number;
  private readonly span: TraceSpan | null;

  constructor(router: Router, target: RouteTargetState, ticket: CircuitTicket, estimate: number, span: TraceSpan | null) {
    this.router = router;
    this.target = target;
    this.ticket = ticket;
    this.estimate = estimate;
    this.span = span;
  }

  settle(outcome: 'ended' | 'failed' | 'cancelled', error: InferenceError | null): void {
    const ticket = this.ticket;
    if (ticket === null) return;
    this.ticket = null;
    ticket.record(outcome === 'failed' ? (error ?? undefined) : undefined);
    if (outcome === 'ended') this.target.served++;
    else if (outcome === 'failed') this.target.failed++;
    this.router.release(this.target, this.estimate);
    endRouteSpan(this.span, outcome === 'failed' ? (error ?? undefined) : undefined);
  }
}

/** The span of one routed request; a tracer that throws costs the request nothing. */
function startRouteSpan(tracer: SpanTracer, router: Router, batch: ExecuteBatch): TraceSpan | null {
  try {
    return tracer.startSpan(`route ${router.name}`, {
      attributes: { 'gen_ai.request.model': batch.model, 'gen_ai.inferkit.route.name': router.name, 'gen_ai.inferkit.request_id': batch.requestId },
    });
  } catch {
    return null;
  }
}

/** @internal */
export function spanEvent(span: TraceSpan | null, name: string, attributes: Record<string, string | number>): void {
  if (span === null) return;
  try {
    span.addEvent(name, attributes);
  } catch {
    // Tracing must not break requests.
  }
}

/** @internal Ends a route span, with `error.type` and an error status when the request failed. */
export function endRouteSpan(span: TraceSpan | null, error: InferenceError | undefined): void {
  if (span === null) return;
  try {
    if (error !== undefined) {
      span.setAttribute('error.type', error.kind);
      span.setStatus({ code: SPAN_STATUS_ERROR, message: error.message });
    }
    span.end();
  } catch {
    // Tracing must not break requests.
  }
}

function isRunner(v: unknown): v is ModelRunner {
  return typeof v === 'object' && v !== null && typeof (v as ModelRunner).execute === 'function' && typeof (v as ModelRunner).runtimeKind === 'function';
}

function safeKind(runner: ModelRunner): string {
  try {
    return String(runner.runtimeKind());
  } catch {
    return 'target';
  }
}

function cancelLate(late: unknown): void {
  (late as { cancel?: (reason?: string) => void } | null)?.cancel?.('the caller gave up before the runner answered');
}

function closedError(name: string, requestId?: string): InferenceError {
  return new InferenceError('cancelled', `${name} was closed`, { details: { reason: 'close' }, ...(requestId !== undefined ? { requestId } : {}) });
}
