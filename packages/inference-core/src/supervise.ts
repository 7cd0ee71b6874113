import type { Budget } from './budget.js';
import { adoptRunHandle } from './adopt-run-handle.js';
import { budgetExceededError } from './budget-tracker.js';
import type { CircuitTicket } from './circuit-breaker.js';
import type { CircuitBreakerConfig } from './circuit-breaker-config.js';
import { type Clock, type ClockTimer, realClock } from './clock.js';
import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError, liftInternal } from './inference-error.js';
import type { ExecuteOptions, LoadWeightsOptions, ModelRunner } from './model-runner.js';
import { memoryPolicyStore, type BreakerGate, type BudgetAdmission, type BudgetLedger, type PolicyStore, type RateGate } from './policy-store.js';
import { RateLimiter, type RateLimitObservation, type RateLimitPermit } from './rate-limiter.js';
import type { RateLimits } from './rate-limits.js';
import { raceAbort } from './race-abort.js';
import type { RebuildPolicy } from './rebuild-policy.js';
import { decideRetry } from './retry-delay.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';
import { kObserve, kUnread, kUnshift, RunHandle, type RunObserver } from './run-handle.js';
import type { RunnerCapabilities } from './runner-capabilities.js';
import type { RuntimeKind } from './runtime-kind.js';
import { DEFAULT_ABANDONED_HANDLE_MS, type Serving } from './serving.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
import { SPAN_KIND_CLIENT, SPAN_STATUS_ERROR, type SpanTracer, type TraceSpan } from './span-tracer.js';
import { rebuildCauseOf, SessionHealer } from './session-healer.js';
import { abortError } from './abort-error.js';
import { sleep } from './sleep.js';
import type { SuperviseEvent } from './supervise-event.js';
import type { Timeouts } from './timeouts.js';
import type { TokenChunk } from './token-chunk.js';
import type { TokenUsage } from './token-usage.js';
import type { TransportKind } from './transport-kind.js';
import type { WeightSource } from './weight-source.js';

/** Policies `supervise` applies. A `Deployment` is accepted as is (other fields are ignored). */
export interface SupervisePolicy {
  /** Request/token rate limits; default `runner.rateLimits()`. */
  rateLimits?: RateLimits;
  /** Retries before the first chunk; default none. */
  retry?: RetryPolicy;
  /**
   * `firstChunkMs` and `totalMs` are enforced here, whether or not the runner honours its signal
   * (each > 0; `Infinity` = none).
   */
  timeouts?: Timeouts;
  /** Circuit breaker; default none. */
  circuitBreaker?: CircuitBreakerConfig;
  /** USD budget; default none. */
  budget?: Budget;
  /** Local concurrency, and how long a returned handle may go unread (`abandonedHandleMs`). */
  serving?: Serving;
  /** Automatic `rebuildSession` after session failures; default none. See `RebuildPolicy`. */
  rebuild?: RebuildPolicy;
  /** Name used for the breaker and in errors; with a shared `store`, the key of the shared state. */
  name?: string;
  /**
   * Where the rate limits, breaker and budget keep their state (default `memoryPolicyStore`: this
   * process). Processes sharing a store and a `name` share one limit, one breaker and one budget.
   */
  store?: PolicyStore;
  /**
   * Emits one span per request (an OpenTelemetry `Tracer`, e.g. `trace.getTracer('app')`),
   * following the GenAI semantic conventions, with events for retries and rebuilds.
   */
  tracer?: SpanTracer;
  /** Time source (default `realClock`). */
  clock?: Clock;
  /** RNG for retry jitter (default `Math.random`). */
  random?: () => number;
  /** Receives events; called synchronously, exceptions are swallowed. No logging dependency. */
  onEvent?: (event: SuperviseEvent) => void;
}

/**
 * Wraps `runner` in the reliability policies and returns a `ModelRunner` (see `SupervisedRunner`).
 * Throws `RangeError` naming the field at once for an unusable policy (e.g. budget `throttle`
 * without `serving.maxConcurrent`, `rebuild.maxRebuilds` that is not an integer >= 1, a timeout
 * that is not a number > 0).
 */
export function supervise(runner: ModelRunner, policy: SupervisePolicy = {}): SupervisedRunner {
  return new SupervisedRunner(runner, policy);
}

/**
 * A `ModelRunner` applying, in order: budget (reject/warn/throttle), serving concurrency
 * (`onCapacityExhausted` reject|queue), then per attempt the circuit breaker and the rate limiter,
 * with retries while no chunk has reached the caller. `execute` resolves once the first chunk
 * (or the end of the stream) is in, so retries never duplicate output; after that, errors are
 * delivered as they are.
 *
 * The runner is not trusted to honour its signal. `runner.execute()` and the first `next()` are
 * raced against the caller's signal and the deadlines (a handle that arrives after the race was
 * lost is cancelled); after the first chunk, the signal cancels the handle itself, which rejects
 * a pending `next()` at once for push sources and plain iterables. A factory source (the fast
 * path) is handed the signal and must honour it (conformance case `cancel.while-pending`): if it
 * does not, the slots are still freed and the outcome reported at the deadline, but the
 * consumer's pending `next()` settles only when the source next yields. Every path frees the
 * slots: a first chunk that is not an object fails with `internal`, and a handle nobody reads
 * or cancels is cancelled after `serving.abandonedHandleMs` (default 60 s; a timer, not a
 * FinalizationRegistry: a push producer keeps its handle reachable, so it would never be
 * collected).
 *
 * With `rebuild`, an attempt failing with `cuda_context_poisoned`, `runtime_crashed` or
 * `unauthorized` rebuilds the session (one rebuild for any number of concurrent failures);
 * requests arriving meanwhile wait for it (bounded by their signal and deadlines), and the failed
 * request is retried afterwards if the retry policy allows and no chunk was delivered. Past
 * `maxRebuilds` within `windowMs` every request fails fast with the last error's kind
 * (`details.rebuildsGaveUp`) until `rebuildSession()` is called on this runner.
 *
 * Hot path: after the first chunk the caller iterates the runner's own `RunHandle` directly; the
 * supervisor only observes it (one observer call per chunk), so it adds no promise hop per chunk.
 */
export class SupervisedRunner implements ModelRunner {
  /** The wrapped runner. */
  readonly runner: ModelRunner;
  /** The breaker, if configured (a `CircuitBreaker` with the default store). */
  readonly breaker: BreakerGate | undefined;
  /** The rate limiter (policy or runner limits), if any (a `RateLimiter` with the default store). */
  readonly limiter: RateGate | undefined;
  /** Serving concurrency, if `serving.maxConcurrent` is set (always in this process). */
  readonly capacity: RateLimiter | undefined;
  /** The spend ledger, if a budget is configured (a `BudgetTracker` with the default store). */
  readonly budget: BudgetLedger | undefined;
  /** Optional `loadWeights`, present when the runner has one. */
  readonly loadWeights?: (source: WeightSource, options?: LoadWeightsOptions) => Promise<void>;

  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retry: RetryPolicy | undefined;
  private readonly timeouts: Timeouts | undefined;
  private readonly onEvent: ((event: SuperviseEvent) => void) | undefined;
  private readonly baseConcurrency: number | undefined;
  private stopObserving: (() => void) | null;
  private readonly abandonedHandleMs: number;
  private readonly healer: SessionHealer | null;
  private readonly tracer: SpanTracer | undefined;

  constructor(runner: ModelRunner, policy: SupervisePolicy = {}) {
    checkPolicy(policy);
    this.runner = runner;
    this.clock = policy.clock ?? realClock;
    this.random = policy.random ?? Math.random;
    this.retry = policy.retry;
    this.timeouts = policy.timeouts;
    this.onEvent = policy.onEvent;
    this.abandonedHandleMs = policy.serving?.abandonedHandleMs ?? DEFAULT_ABANDONED_HANDLE_MS;
    this.tracer = policy.tracer;
    this.healer = policy.rebuild !== undefined ? new SessionHealer(runner, policy.rebuild, this.clock, (e) => this.emit(e)) : null;
    const store = policy.store ?? memoryPolicyStore;
    const key = policy.name ?? '';
    const clock = this.clock;
    this.breaker =
      policy.circuitBreaker !== undefined
        ? store.circuitBreaker(key, policy.circuitBreaker, {
            clock,
            name: policy.name,
            onTransition: (transition) => this.emit({ type: 'breaker', atMs: transition.atMs, transition }),
          })
        : undefined;
    const limits = policy.rateLimits ?? runner.rateLimits?.();
    this.limiter = limits !== undefined ? store.rateLimiter(key, limits, { clock }) : undefined;
    // What the runner learns about its limits (a provider's rate-limit headers) feeds the limiter.
    const limiter = this.limiter;
    this.stopObserving =
      limiter !== undefined && typeof runner.observeRateLimits === 'function' ? runner.observeRateLimits((o) => limiter.observe(o)) : null;
    const serving = policy.serving;
    this.baseConcurrency = serving?.maxConcurrent;
    this.capacity =
      serving?.maxConcurrent !== undefined
        ? new RateLimiter(
            {
              maxConcurrent: serving.maxConcurrent,
              maxQueueLength: serving.onCapacityExhausted === 'reject' ? 0 : serving.maxQueueLength,
              maxWaitMs: serving.onCapacityExhausted === 'reject' ? undefined : serving.maxQueueWaitMs,
            },
            { clock: this.clock },
          )
        : undefined;
    if (policy.budget !== undefined) {
      if (policy.budget.onExceeded === 'throttle' && this.capacity === undefined) {
        throw new RangeError("supervise: budget.onExceeded 'throttle' needs serving.maxConcurrent");
      }
      this.budget = store.budgetLedger(key, policy.budget, { clock });
    }
    if (typeof runner.loadWeights === 'function') {
      this.loadWeights = (source, options) => runner.loadWeights!(source, options);
    }
  }

  runtimeKind(): RuntimeKind {
    return this.runner.runtimeKind();
  }
  transportKind(): TransportKind {
    return this.runner.transportKind();
  }
  gilPinned(): boolean {
    if (typeof this.runner.gilPinned === 'function') return this.runner.gilPinned();
    const kind = this.runner.runtimeKind();
    return kind === 'vllm' || kind.startsWith('python:');
  }
  rateLimits(): RateLimits | undefined {
    return this.runner.rateLimits?.();
  }
  estimateCostUsd(batch: ExecuteBatch): number | undefined {
    return this.runner.estimateCostUsd?.(batch);
  }
  capabilities(): RunnerCapabilities {
    return this.runner.capabilities?.() ?? {};
  }
  /** The wrapped runner's feedback, passed on: a supervisor around this one gets it too. */
  observeRateLimits(listener: (observation: RateLimitObservation) => void): () => void {
    return typeof this.runner.observeRateLimits === 'function' ? this.runner.observeRateLimits(listener) : noop;
  }
  /**
   * Delegates to the runner. With `rebuild` configured, it runs after an automatic rebuild in
   * progress, requests wait for it, and its success resets the automatic rebuilds (a runner whose
   * rebuilds gave up serves again); a failure rejects with an `InferenceError`.
   */
  rebuildSession(cause: SessionRebuildCause): Promise<void> {
    if (this.healer !== null) return this.healer.manual(cause);
    return this.runner.rebuildSession(cause);
  }
  async close(): Promise<void> {
    this.stopObserving?.();
    this.stopObserving = null;
    await this.runner.close?.();
  }

  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    const clock = this.clock;
    const requestId = batch.requestId;
    const startedAt = clock.now();
    this.emit({ type: 'request_start', requestId, atMs: startedAt });
    let span = this.tracer !== undefined ? startSpan(this.tracer, this.runner, batch) : null;

    // Deadlines share one controller whose signal also carries the caller's.
    let signal = options?.signal;
    let deadline: Deadline | null = null;
    const t = this.timeouts;
    if (t !== undefined && (armed(t.firstChunkMs) || armed(t.totalMs))) {
      deadline = new Deadline(clock, requestId, t.firstChunkMs, t.totalMs);
      signal = signal === undefined ? deadline.controller.signal : AbortSignal.any([signal, deadline.controller.signal]);
    }

    const healer = this.healer;
    let capacityPermit: RateLimitPermit | null = null;
    let admission: BudgetAdmission | null = null;
    try {
      if (this.budget !== undefined) admission = await this.admitBudget(batch);
      // Arriving during a rebuild: wait for it before taking a slot.
      if (healer !== null && healer.busy) await healer.ready(signal, requestId);
      if (this.capacity !== undefined) capacityPermit = await this.capacity.acquire({ requests: 1 }, { signal });
      for (let attempt = 1; ; attempt++) {
        let ticket: CircuitTicket | null = null;
        let ratePermit: RateLimitPermit | null = null;
        let handle: RunHandle | null = null;
        let session = -1; // the session the runner was called on; -1 = not called
        try {
          if (signal?.aborted) throw abortError(signal, requestId);
          if (healer !== null && healer.busy) {
            span?.addEvent('gen_ai.inferkit.rebuild_wait');
            await healer.ready(signal, requestId);
          }
          if (this.breaker !== undefined) {
            const t = this.breaker.acquire();
            ticket = t instanceof Promise ? await t : t;
          }
          if (this.limiter !== undefined) {
            ratePermit = await this.limiter.acquire({ requests: 1, tokens: batch.estimatedTokens }, { signal });
          }
          session = healer !== null ? healer.stamp() : 0;
          // Raced: a runner whose execute() never settles cannot outlive the abort or a deadline.
          const started = raceAbort(
            Promise.resolve(this.runner.execute(batch, signal === undefined ? undefined : { signal })),
            signal,
            requestId,
            signal === undefined ? undefined : (late) => cancelLate(late, abortError(signal!, requestId)),
          );
          handle = adoptRunHandle(await started, signal, requestId);
          const first = await raceAbort(handle.next(), signal, requestId);
          if (!first.done && (typeof first.value !== 'object' || first.value === null)) {
            throw new InferenceError('internal', `the runner streamed a first chunk that is not an object (${first.value === null ? 'null' : typeof first.value})`, {
              requestId,
            });
          }
          deadline?.firstChunkArrived();
          const now = clock.now();
          if (!first.done) this.emit({ type: 'first_token', requestId, atMs: now, latencyMs: now - startedAt, attempts: attempt });
          const watch = new RunWatch(this, batch, startedAt, ticket, ratePermit, capacityPermit, deadline, handle, signal, session, admission, span);
          capacityPermit = null; // owned by the watch now, as are these
          admission = null;
          span = null;
          if (!first.done) {
            watch.chunk(first.value);
            handle[kUnshift](first);
          }
          handle[kObserve](watch);
          watch.watch(this.abandonedHandleMs);
          return handle;
        } catch (e) {
          let err = liftInternal(e, requestId);
          if (signal?.aborted) err = abortError(signal, requestId);
          if (handle !== null && !handle.cancelled) handle.cancel(err);
          ticket?.record(err);
          ratePermit?.release();
          if (signal?.aborted) throw err;
          if (healer !== null && session >= 0) {
            if (healer.failed(err, session)) {
              span?.addEvent('gen_ai.inferkit.rebuild', { 'error.type': err.kind, 'gen_ai.inferkit.rebuild.cause': rebuildCauseOf(err.kind) });
              // Rebuilt (or being rebuilt) since this attempt began: the next attempt waits for it.
              if (!this.mayRetryAfterRebuild(attempt)) throw err;
              span?.addEvent('gen_ai.inferkit.retry', { 'gen_ai.inferkit.retry.number': attempt, 'gen_ai.inferkit.retry.delay_ms': 0, 'error.type': err.kind });
              this.emit({ type: 'retry', requestId, atMs: clock.now(), retry: attempt, delayMs: 0, error: err });
              continue;
            }
            if (rebuildCauseOf(err.kind) !== undefined) err = healer.gaveUpError(requestId) ?? err;
          }
          const decision = this.retry !== undefined ? decideRetry(err, attempt - 1, this.retry, this.random) : null;
          if (decision === null || !decision.retry) throw err;
          span?.addEvent('gen_ai.inferkit.retry', { 'gen_ai.inferkit.retry.number': attempt, 'gen_ai.inferkit.retry.delay_ms': decision.delayMs, 'error.type': err.kind });
          this.emit({ type: 'retry', requestId, atMs: clock.now(), retry: attempt, delayMs: decision.delayMs, error: err });
          await sleep(clock, decision.delayMs, signal);
        }
      }
    } catch (e) {
      const err = liftInternal(e, requestId);
      capacityPermit?.release();
      admission?.settle(undefined);
      deadline?.clear();
      if (span !== null) endSpan(span, err, undefined, undefined, undefined, 0);
      const now = clock.now();
      this.emit({ type: 'request_error', requestId, atMs: now, durationMs: now - startedAt, error: err, afterFirstChunk: false });
      throw err;
    }
  }

  /** @internal A stream that failed after its first chunk may call for a rebuild too. */
  streamFailed(error: InferenceError, session: number): void {
    this.healer?.failed(error, session);
  }

  /**
   * An attempt whose error needed a rebuild is retried after it when the policy allows one more
   * attempt; the error's own `retryable` (false for these kinds: nothing succeeds before the
   * rebuild) does not matter any more, and the rebuild is the wait.
   */
  private mayRetryAfterRebuild(attempt: number): boolean {
    const r = this.retry;
    return r !== undefined && r.idempotent !== false && attempt - 1 < (r.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries);
  }

  /** @internal */
  emit(event: SuperviseEvent): void {
    const cb = this.onEvent;
    if (cb === undefined) return;
    try {
      cb(event);
    } catch {
      // Listeners must not break requests.
    }
  }

  /** @internal Settles the request's budget admission with what it spent, once, at its end. */
  chargeBudget(requestId: string, batch: ExecuteBatch, costUsd: number | undefined, admission: BudgetAdmission | null): number | undefined {
    if (admission === null) return costUsd;
    const cost = costUsd ?? this.runner.estimateCostUsd?.(batch);
    if (cost === undefined) this.emit({ type: 'budget_unknown_cost', requestId, atMs: this.clock.now() });
    admission.settle(cost);
    return cost;
  }

  /**
   * Admits the request into the budget once (however many attempts follow), reserving its
   * estimated cost; `reject` throws `budget_exceeded`, `throttle` halves serving concurrency.
   */
  private async admitBudget(batch: ExecuteBatch): Promise<BudgetAdmission> {
    const ledger = this.budget!;
    const requestId = batch.requestId;
    const pending = ledger.admit(this.runner.estimateCostUsd?.(batch));
    const admission = pending instanceof Promise ? await pending : pending;
    const excess = admission.excess;
    const action = ledger.budget.onExceeded;
    if (action === 'throttle') {
      const base = this.baseConcurrency!;
      this.capacity!.setMaxConcurrent(excess !== undefined ? Math.max(1, Math.floor(base / 2)) : base);
    }
    if (excess === undefined) return admission;
    this.emit({ type: 'budget_exceeded', requestId, atMs: this.clock.now(), excess, action });
    if (action === 'reject') {
      admission.settle(undefined);
      throw budgetExceededError(excess, requestId);
    }
    return admission;
  }
}

/** Per-request deadlines (`firstChunkMs`, `totalMs`) on the supervisor's clock. */
class Deadline {
  readonly controller: AbortController;
  private firstTimer: ClockTimer | null;
  private totalTimer: ClockTimer | null;
  private readonly clock: Clock;

  constructor(clock: Clock, requestId: string, firstChunkMs: number | undefined, totalMs: number | undefined) {
    this.clock = clock;
    this.controller = new AbortController();
    this.firstTimer = null;
    this.totalTimer = null;
    const fire = (phase: string, ms: number) => () =>
      this.controller.abort(
        new InferenceError('timeout', `no ${phase === 'first_chunk' ? 'first chunk' : 'completion'} within ${ms} ms`, {
          details: { phase, timeoutMs: ms },
          requestId,
        }),
      );
    if (armed(firstChunkMs)) this.firstTimer = clock.setTimeout(fire('first_chunk', firstChunkMs), firstChunkMs);
    if (armed(totalMs)) this.totalTimer = clock.setTimeout(fire('total', totalMs), totalMs);
  }

  firstChunkArrived(): void {
    if (this.firstTimer !== null) {
      this.clock.clearTimeout(this.firstTimer);
      this.firstTimer = null;
    }
  }

  clear(): void {
    this.firstChunkArrived();
    if (this.totalTimer !== null) {
      this.clock.clearTimeout(this.totalTimer);
      this.totalTimer = null;
    }
  }
}

/**
 * Observes one delivered stream: per chunk it only remembers cost and usage (no allocation);
 * at the end it releases permits, records the breaker outcome, charges the budget and emits.
 * Until then it also holds the request's signal to the handle (the runner may ignore it) and
 * cancels a handle left unread (`abandonedHandleMs`).
 */
class RunWatch implements RunObserver {
  private readonly sup: SupervisedRunner;
  private readonly batch: ExecuteBatch;
  private readonly startedAt: number;
  private ticket: CircuitTicket | null;
  private ratePermit: RateLimitPermit | null;
  private capacityPermit: RateLimitPermit | null;
  private deadline: Deadline | null;
  private costUsd: number | undefined;
  private usage: TokenUsage | undefined;
  private handle: RunHandle | null;
  private signal: AbortSignal | undefined;
  private readonly session: number;
  private admission: BudgetAdmission | null;
  private span: TraceSpan | null;
  private finishReason: string | undefined;
  private settled: boolean;
  private abandonTimer: ClockTimer | null;
  private returnedAt: number;
  private readonly onAbort: () => void;
  private readonly onAbandon: () => void;

  constructor(
    sup: SupervisedRunner,
    batch: ExecuteBatch,
    startedAt: number,
    ticket: CircuitTicket | null,
    ratePermit: RateLimitPermit | null,
    capacityPermit: RateLimitPermit | null,
    deadline: Deadline | null,
    handle: RunHandle,
    signal: AbortSignal | undefined,
    session: number,
    admission: BudgetAdmission | null,
    span: TraceSpan | null,
  ) {
    this.sup = sup;
    this.batch = batch;
    this.startedAt = startedAt;
    this.ticket = ticket;
    this.ratePermit = ratePermit;
    this.capacityPermit = capacityPermit;
    this.deadline = deadline;
    this.costUsd = undefined;
    this.usage = undefined;
    this.handle = handle;
    this.signal = signal;
    this.session = session;
    this.admission = admission;
    this.span = span;
    this.finishReason = undefined;
    this.settled = false;
    this.abandonTimer = null;
    this.returnedAt = 0;
    // Per request, not per chunk: the two callbacks are bound once here.
    this.onAbort = () => {
      const h = this.handle;
      const s = this.signal;
      if (h !== null && s !== undefined) h.cancel(abortError(s, batch.requestId));
    };
    this.onAbandon = () => {
      this.abandonTimer = null;
      const h = this.handle;
      if (h === null || h[kUnread] !== true) return; // read meanwhile: the consumer is there
      const now = sup['clock'].now();
      const idleMs = now - this.returnedAt;
      sup.emit({ type: 'handle_abandoned', requestId: batch.requestId, atMs: now, idleMs });
      h.cancel(
        new InferenceError('cancelled', `the handle was neither read nor cancelled within ${idleMs} ms (abandoned)`, {
          details: { reason: 'abandoned' },
          requestId: batch.requestId,
        }),
      );
    };
  }

  /** Once the handle is handed over: binds the signal to it and arms the abandonment timer. */
  watch(abandonedHandleMs: number): void {
    const h = this.handle;
    if (this.settled || h === null) return; // the stream already ended
    const s = this.signal;
    if (s !== undefined) {
      if (s.aborted) {
        this.onAbort();
        return;
      }
      s.addEventListener('abort', this.onAbort, { once: true });
    }
    // A handle from an older copy of this package cannot tell whether it was read: not timed.
    if (abandonedHandleMs !== Infinity && h[kUnread] === true) {
      const clock = this.sup['clock'];
      this.returnedAt = clock.now();
      this.abandonTimer = clock.setTimeout(this.onAbandon, abandonedHandleMs);
    }
  }

  chunk(chunk: TokenChunk): void {
    // Two property checks per chunk; usage/cost usually arrive once, on the last chunk.
    if (chunk.costUsd !== undefined) this.costUsd = chunk.costUsd;
    if (chunk.usage !== undefined) this.usage = mergeUsage(this.usage, chunk.usage);
    if (chunk.finishReason !== undefined) this.finishReason = chunk.finishReason;
  }

  settle(outcome: 'ended' | 'failed' | 'cancelled', error: InferenceError | null): void {
    const sup = this.sup;
    const requestId = this.batch.requestId;
    this.settled = true;
    this.handle = null;
    if (this.signal !== undefined) {
      this.signal.removeEventListener('abort', this.onAbort);
      this.signal = undefined;
    }
    if (this.abandonTimer !== null) {
      sup['clock'].clearTimeout(this.abandonTimer);
      this.abandonTimer = null;
    }
    this.deadline?.clear();
    this.deadline = null;
    this.ticket?.record(outcome === 'ended' ? undefined : (error ?? undefined));
    this.ticket = null;
    const u = this.usage;
    const actualTokens =
      u !== undefined && (u.inputTokens !== undefined || u.outputTokens !== undefined)
        ? (u.inputTokens ?? 0) + (u.outputTokens ?? 0)
        : undefined;
    this.ratePermit?.release({ actualTokens });
    this.ratePermit = null;
    this.capacityPermit?.release();
    this.capacityPermit = null;
    const cost = sup.chargeBudget(requestId, this.batch, this.costUsd, this.admission);
    this.admission = null;
    const now = sup['clock'].now();
    if (this.span !== null) {
      const failed = outcome === 'failed' || (outcome === 'cancelled' && error !== null && error.kind !== 'cancelled');
      endSpan(this.span, failed ? (error ?? undefined) : undefined, u, cost, this.finishReason, 1);
      this.span = null;
    }
    // A deadline cancels the handle with its `timeout`: reported as the error it is.
    if (outcome === 'failed' || (outcome === 'cancelled' && error !== null && error.kind !== 'cancelled')) {
      const err = error ?? new InferenceError('internal', 'stream failed', { requestId });
      if (outcome === 'failed') sup.streamFailed(err, this.session);
      sup.emit({ type: 'request_error', requestId, atMs: now, durationMs: now - this.startedAt, error: err, afterFirstChunk: true });
    } else {
      sup.emit({ type: 'request_finish', requestId, atMs: now, durationMs: now - this.startedAt, outcome, costUsd: cost, usage: u });
    }
  }
}

/**
 * The request's span, named and attributed as the OpenTelemetry GenAI conventions say for an
 * inference call (`{gen_ai.operation.name} {gen_ai.request.model}`, kind CLIENT). It covers the
 * whole logical request, retries included. A tracer that throws costs the request nothing.
 */
function startSpan(tracer: SpanTracer, runner: ModelRunner, batch: ExecuteBatch): TraceSpan | null {
  try {
    const transport = runner.transportKind();
    const s = batch.sampling;
    return tracer.startSpan(`chat ${batch.model}`, {
      kind: SPAN_KIND_CLIENT,
      attributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': transport.kind === 'remote' ? transport.provider : runner.runtimeKind(),
        'gen_ai.request.model': batch.model,
        'gen_ai.request.max_tokens': s?.maxTokens,
        'gen_ai.request.temperature': s?.temperature,
        'gen_ai.request.top_p': s?.topP,
        'gen_ai.inferkit.request_id': batch.requestId,
      },
    });
  } catch {
    return null;
  }
}

/** Ends a request's span with its usage, finish reason, cost, or its error (`error.type` = the kind). */
function endSpan(
  span: TraceSpan,
  error: InferenceError | undefined,
  usage: TokenUsage | undefined,
  costUsd: number | undefined,
  finishReason: string | undefined,
  delivered: number,
): void {
  try {
    if (usage?.inputTokens !== undefined) span.setAttribute('gen_ai.usage.input_tokens', usage.inputTokens);
    if (usage?.outputTokens !== undefined) span.setAttribute('gen_ai.usage.output_tokens', usage.outputTokens);
    if (finishReason !== undefined) span.setAttribute('gen_ai.response.finish_reasons', [finishReason]);
    if (costUsd !== undefined) span.setAttribute('gen_ai.inferkit.cost_usd', costUsd);
    if (error !== undefined) {
      span.setAttribute('error.type', error.kind);
      if (delivered > 0) span.setAttribute('gen_ai.inferkit.after_first_chunk', true);
      span.setStatus({ code: SPAN_STATUS_ERROR, message: error.message });
    }
    span.end();
  } catch {
    // Tracing must not break requests.
  }
}

/** Cancels a handle that `execute` resolved after its request had already ended. */
function cancelLate(late: unknown, reason: InferenceError): void {
  try {
    const cancel = (late as { cancel?: unknown } | null)?.cancel;
    if (typeof cancel === 'function') cancel.call(late, reason);
  } catch {
    // Nobody is left to tell; the runner owns its own error reporting.
  }
}

/** Whether a deadline is set: `undefined` and `Infinity` mean none. */
function armed(ms: number | undefined): ms is number {
  return ms !== undefined && ms !== Infinity;
}


/** Refuses unusable policy values with a `RangeError` naming the field. */
function checkPolicy(policy: SupervisePolicy): void {
  const positive = (value: unknown, field: string): void => {
    if (value !== undefined && !(typeof value === 'number' && value > 0)) {
      throw new RangeError(`supervise: ${field} must be a number > 0 (Infinity = none), got ${String(value)}`);
    }
  };
  positive(policy.timeouts?.firstChunkMs, 'timeouts.firstChunkMs');
  positive(policy.timeouts?.totalMs, 'timeouts.totalMs');
  positive(policy.serving?.abandonedHandleMs, 'serving.abandonedHandleMs');
  if (policy.store !== undefined && policy.store !== memoryPolicyStore && !(typeof policy.name === 'string' && policy.name.length > 0)) {
    throw new RangeError('supervise: name is required with a shared store (it is the key of the shared state)');
  }
  const r = policy.rebuild;
  if (r !== undefined) {
    if (typeof r !== 'object' || r === null) throw new RangeError('supervise: rebuild must be an object { maxRebuilds, windowMs }');
    if (!(Number.isInteger(r.maxRebuilds) && r.maxRebuilds >= 1)) {
      throw new RangeError(`supervise: rebuild.maxRebuilds must be an integer >= 1, got ${String(r.maxRebuilds)}`);
    }
    if (r.windowMs === undefined) throw new RangeError('supervise: rebuild.windowMs is required');
    positive(r.windowMs, 'rebuild.windowMs');
  }
}

function mergeUsage(acc: TokenUsage | undefined, u: TokenUsage): TokenUsage {
  const out: TokenUsage = acc === undefined ? {} : acc;
  if (u.inputTokens !== undefined) out.inputTokens = u.inputTokens;
  if (u.outputTokens !== undefined) out.outputTokens = u.outputTokens;
  if (u.reasoningTokens !== undefined) out.reasoningTokens = u.reasoningTokens;
  if (u.cachedTokens !== undefined) out.cachedTokens = u.cachedTokens;
  return out;
}

function noop(): void {}
