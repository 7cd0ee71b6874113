import type { Budget } from './budget.js';
import { BudgetTracker } from './budget-tracker.js';
import { CircuitBreaker, type CircuitTicket } from './circuit-breaker.js';
import type { CircuitBreakerConfig } from './circuit-breaker-config.js';
import { type Clock, type ClockTimer, realClock } from './clock.js';
import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError, liftInternal } from './inference-error.js';
import type { ExecuteOptions, LoadWeightsOptions, ModelRunner } from './model-runner.js';
import { RateLimiter, type RateLimitPermit } from './rate-limiter.js';
import type { RateLimits } from './rate-limits.js';
import { decideRetry } from './retry-delay.js';
import type { RetryPolicy } from './retry-policy.js';
import { kObserve, kUnshift, RunHandle, type RunObserver } from './run-handle.js';
import type { RunnerCapabilities } from './runner-capabilities.js';
import type { RuntimeKind } from './runtime-kind.js';
import type { Serving } from './serving.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
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
  /** `firstChunkMs` and `totalMs` are enforced here. */
  timeouts?: Timeouts;
  /** Circuit breaker; default none. */
  circuitBreaker?: CircuitBreakerConfig;
  /** USD budget; default none. */
  budget?: Budget;
  /** Local concurrency. */
  serving?: Serving;
  /** Name used for the breaker and in errors. */
  name?: string;
  /** Time source (default `realClock`). */
  clock?: Clock;
  /** RNG for retry jitter (default `Math.random`). */
  random?: () => number;
  /** Receives events; called synchronously, exceptions are swallowed. No logging dependency. */
  onEvent?: (event: SuperviseEvent) => void;
}

/**
 * Wraps `runner` in the reliability policies and returns a `ModelRunner` (see `SupervisedRunner`).
 * Throws `RangeError` at once for an unusable policy (e.g. budget `throttle` without
 * `serving.maxConcurrent`).
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
 * Hot path: after the first chunk the caller iterates the runner's own `RunHandle` directly; the
 * supervisor only observes it (one observer call per chunk), so it adds no promise hop per chunk.
 */
export class SupervisedRunner implements ModelRunner {
  /** The wrapped runner. */
  readonly runner: ModelRunner;
  /** The breaker, if configured. */
  readonly breaker: CircuitBreaker | undefined;
  /** The rate limiter (policy or runner limits), if any. */
  readonly limiter: RateLimiter | undefined;
  /** Serving concurrency, if `serving.maxConcurrent` is set. */
  readonly capacity: RateLimiter | undefined;
  /** Budget tracker, if a budget is configured. */
  readonly budget: BudgetTracker | undefined;
  /** Optional `loadWeights`, present when the runner has one. */
  readonly loadWeights?: (source: WeightSource, options?: LoadWeightsOptions) => Promise<void>;

  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly retry: RetryPolicy | undefined;
  private readonly timeouts: Timeouts | undefined;
  private readonly onEvent: ((event: SuperviseEvent) => void) | undefined;
  private readonly baseConcurrency: number | undefined;
  private stopObserving: (() => void) | null;

  constructor(runner: ModelRunner, policy: SupervisePolicy = {}) {
    this.runner = runner;
    this.clock = policy.clock ?? realClock;
    this.random = policy.random ?? Math.random;
    this.retry = policy.retry;
    this.timeouts = policy.timeouts;
    this.onEvent = policy.onEvent;
    this.breaker =
      policy.circuitBreaker !== undefined
        ? new CircuitBreaker(policy.circuitBreaker, {
            clock: this.clock,
            name: policy.name,
            onTransition: (transition) => this.emit({ type: 'breaker', atMs: transition.atMs, transition }),
          })
        : undefined;
    const limits = policy.rateLimits ?? runner.rateLimits?.();
    this.limiter = limits !== undefined ? new RateLimiter(limits, { clock: this.clock }) : undefined;
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
      this.budget = new BudgetTracker(policy.budget, { clock: this.clock });
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
  rebuildSession(cause: SessionRebuildCause): Promise<void> {
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

    // Deadlines share one controller whose signal also carries the caller's.
    let signal = options?.signal;
    let deadline: Deadline | null = null;
    const t = this.timeouts;
    if (t !== undefined && (t.firstChunkMs !== undefined || t.totalMs !== undefined)) {
      deadline = new Deadline(clock, requestId, t.firstChunkMs, t.totalMs);
      signal = signal === undefined ? deadline.controller.signal : AbortSignal.any([signal, deadline.controller.signal]);
    }

    let capacityPermit: RateLimitPermit | null = null;
    try {
      this.applyBudget(requestId);
      if (this.capacity !== undefined) capacityPermit = await this.capacity.acquire({ requests: 1 }, { signal });
      for (let attempt = 1; ; attempt++) {
        let ticket: CircuitTicket | null = null;
        let ratePermit: RateLimitPermit | null = null;
        let handle: RunHandle | null = null;
        try {
          if (signal?.aborted) throw abortError(signal, requestId);
          if (this.breaker !== undefined) ticket = this.breaker.acquire();
          if (this.limiter !== undefined) {
            ratePermit = await this.limiter.acquire({ requests: 1, tokens: batch.estimatedTokens }, { signal });
          }
          handle = adopt(await this.runner.execute(batch, signal === undefined ? undefined : { signal }), signal, requestId);
          const first = await handle.next();
          deadline?.firstChunkArrived();
          const now = clock.now();
          if (!first.done) this.emit({ type: 'first_token', requestId, atMs: now, latencyMs: now - startedAt, attempts: attempt });
          const watch = new RunWatch(this, batch, startedAt, ticket, ratePermit, capacityPermit, deadline);
          capacityPermit = null; // owned by the watch now
          if (!first.done) {
            watch.chunk(first.value);
            handle[kUnshift](first);
          }
          handle[kObserve](watch);
          return handle;
        } catch (e) {
          let err = liftInternal(e, requestId);
          if (signal?.aborted) err = abortError(signal, requestId);
          if (handle !== null && !handle.cancelled) handle.cancel(err);
          ticket?.record(err);
          ratePermit?.release();
          const decision = this.retry !== undefined && !signal?.aborted ? decideRetry(err, attempt - 1, this.retry, this.random) : null;
          if (decision === null || !decision.retry) throw err;
          this.emit({ type: 'retry', requestId, atMs: clock.now(), retry: attempt, delayMs: decision.delayMs, error: err });
          await sleep(clock, decision.delayMs, signal);
        }
      }
    } catch (e) {
      const err = liftInternal(e, requestId);
      capacityPermit?.release();
      deadline?.clear();
      const now = clock.now();
      this.emit({ type: 'request_error', requestId, atMs: now, durationMs: now - startedAt, error: err, afterFirstChunk: false });
      throw err;
    }
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

  /** @internal Records spend at the end of a request. */
  chargeBudget(requestId: string, batch: ExecuteBatch, costUsd: number | undefined): number | undefined {
    const tracker = this.budget;
    if (tracker === undefined) return costUsd;
    const cost = costUsd ?? this.runner.estimateCostUsd?.(batch);
    if (cost === undefined) this.emit({ type: 'budget_unknown_cost', requestId, atMs: this.clock.now() });
    else tracker.record(cost);
    return cost;
  }

  private applyBudget(requestId: string): void {
    const tracker = this.budget;
    if (tracker === undefined) return;
    const excess = tracker.exceeded();
    const action = tracker.budget.onExceeded;
    if (action === 'throttle') {
      const base = this.baseConcurrency!;
      this.capacity!.setMaxConcurrent(excess !== undefined ? Math.max(1, Math.floor(base / 2)) : base);
    }
    if (excess === undefined) return;
    this.emit({ type: 'budget_exceeded', requestId, atMs: this.clock.now(), excess, action });
    if (action === 'reject') tracker.check();
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
    if (firstChunkMs !== undefined) this.firstTimer = clock.setTimeout(fire('first_chunk', firstChunkMs), firstChunkMs);
    if (totalMs !== undefined) this.totalTimer = clock.setTimeout(fire('total', totalMs), totalMs);
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

  constructor(
    sup: SupervisedRunner,
    batch: ExecuteBatch,
    startedAt: number,
    ticket: CircuitTicket | null,
    ratePermit: RateLimitPermit | null,
    capacityPermit: RateLimitPermit | null,
    deadline: Deadline | null,
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
  }

  chunk(chunk: TokenChunk): void {
    // Two property checks per chunk; usage/cost usually arrive once, on the last chunk.
    if (chunk.costUsd !== undefined) this.costUsd = chunk.costUsd;
    if (chunk.usage !== undefined) this.usage = mergeUsage(this.usage, chunk.usage);
  }

  settle(outcome: 'ended' | 'failed' | 'cancelled', error: InferenceError | null): void {
    const sup = this.sup;
    const requestId = this.batch.requestId;
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
    const cost = sup.chargeBudget(requestId, this.batch, this.costUsd);
    const now = sup['clock'].now();
    if (outcome === 'failed') {
      sup.emit({
        type: 'request_error',
        requestId,
        atMs: now,
        durationMs: now - this.startedAt,
        error: error ?? new InferenceError('internal', 'stream failed', { requestId }),
        afterFirstChunk: true,
      });
    } else {
      sup.emit({ type: 'request_finish', requestId, atMs: now, durationMs: now - this.startedAt, outcome, costUsd: cost, usage: u });
    }
  }
}

/**
 * A runner built against another copy of this package returns a RunHandle that still has the
 * (Symbol.for-keyed) observer protocol; anything else that merely looks like a handle is wrapped
 * once, so it can be observed too.
 */
function adopt(handle: RunHandle, signal: AbortSignal | undefined, requestId: string): RunHandle {
  if (typeof (handle as Partial<RunHandle>)[kObserve] === 'function') return handle;
  const duck = handle as unknown as AsyncIterable<TokenChunk> & { cancel?: (reason?: unknown) => void };
  if (duck === null || typeof duck !== 'object' || typeof duck[Symbol.asyncIterator] !== 'function') {
    throw new InferenceError('internal', 'runner.execute() did not resolve to a RunHandle', { requestId });
  }
  return RunHandle.streaming(() => duck, (reason) => duck.cancel?.(reason), { signal, requestId });
}

function mergeUsage(acc: TokenUsage | undefined, u: TokenUsage): TokenUsage {
  const out: TokenUsage = acc === undefined ? {} : acc;
  if (u.inputTokens !== undefined) out.inputTokens = u.inputTokens;
  if (u.outputTokens !== undefined) out.outputTokens = u.outputTokens;
  if (u.reasoningTokens !== undefined) out.reasoningTokens = u.reasoningTokens;
  if (u.cachedTokens !== undefined) out.cachedTokens = u.cachedTokens;
  return out;
}
