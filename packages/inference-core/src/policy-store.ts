import type { Budget } from './budget.js';
import { type BudgetExcess, BudgetTracker } from './budget-tracker.js';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState, type CircuitTicket } from './circuit-breaker.js';
import type { CircuitBreakerConfig } from './circuit-breaker-config.js';
import type { Clock } from './clock.js';
import { type RateLimitCost, RateLimiter, type RateLimitObservation, type RateLimitPermit } from './rate-limiter.js';
import type { RateLimits } from './rate-limits.js';

/**
 * Where `supervise` keeps the state of its shared policies (rate limits, circuit breaker, budget).
 * `memoryPolicyStore`, the default, keeps it in this process; a store such as
 * `@inferkit/store-redis` shares it between processes, so that several gateways behind a load
 * balancer enforce one limit instead of one each. `key` names the state (supervise passes its
 * `name`): processes that use the same store and key share it.
 *
 * Serving concurrency (`Serving.maxConcurrent`) and session rebuilds stay per process: they
 * protect this process, not the provider.
 */
export interface PolicyStore {
  /** What the store is, for logs (never a secret): `memory`, `redis (strict)`. */
  readonly description: string;
  /** The rate gate for `key`: RPM/TPM buckets and concurrency slots of `limits`. */
  rateLimiter(key: string, limits: RateLimits, options: PolicyStoreOptions): RateGate;
  /** The breaker for `key` (one origin). */
  circuitBreaker(key: string, config: CircuitBreakerConfig, options: CircuitBreakerOptions): BreakerGate;
  /** The spend ledger for `key`. */
  budgetLedger(key: string, budget: Budget, options: PolicyStoreOptions): BudgetLedger;
}

/** What every policy a store builds is given. */
export interface PolicyStoreOptions {
  /** The supervisor's time source. A shared store may keep its own (one clock for all processes). */
  clock: Clock;
}

/**
 * Admission by rate limits (`RateLimiter` is the in-memory one). `acquire` waits for capacity and
 * rejects only with an `InferenceError` (`cancelled` on abort, `backpressure` for a full queue,
 * too long a wait, or a shared store that fails closed).
 */
export interface RateGate {
  /** Waits for capacity; the permit is released exactly once when the request ends. */
  acquire(cost?: RateLimitCost, options?: { signal?: AbortSignal }): Promise<RateLimitPermit>;
  /** Provider-reported limits (`x-ratelimit-*`): the buckets never hold more than that. */
  observe(observation: RateLimitObservation): void;
  /** Requests holding a permit from this process. */
  readonly inFlight: number;
  /** Requests of this process waiting. */
  readonly queueLength: number;
}

/**
 * Admission by a circuit breaker (`CircuitBreaker` is the in-memory one). `acquire` returns the
 * ticket at once when it can tell (the in-memory breaker always can); a shared one returns a
 * promise where it must ask the store (a half-open probe is claimed across processes). It
 * throws, or rejects, with `circuit_open`.
 */
export interface BreakerGate {
  /** This process's view of the state. */
  readonly state: CircuitState;
  acquire(): CircuitTicket | Promise<CircuitTicket>;
  /** Counts a failure outside of a ticket. */
  recordFailure(): void;
}

/**
 * A spend ledger (`BudgetTracker` is the in-memory one). Each request is admitted once: the
 * admission reserves its estimated cost while it runs, so concurrent requests (in any process
 * sharing the ledger) cannot all pass a nearly spent budget; `settle` replaces the reservation
 * by what was spent. A request is therefore charged once however many attempts it took.
 */
export interface BudgetLedger {
  readonly budget: Budget;
  /**
   * Checks the limits, counting spend and the reservations of requests in flight, and reserves
   * `estimatedUsd` (`undefined`: unknown, nothing reserved). With `onExceeded: 'reject'` an
   * exceeded admission reserves nothing. A shared ledger may return a promise.
   */
  admit(estimatedUsd: number | undefined): BudgetAdmission | Promise<BudgetAdmission>;
}

/** One admitted request's place in a `BudgetLedger`. */
export interface BudgetAdmission {
  /** The first window at or over its limit at admission, or `undefined`. */
  readonly excess: BudgetExcess | undefined;
  /** Ends the reservation and charges `costUsd` (`undefined`: nothing). Later calls are ignored. */
  settle(costUsd: number | undefined): void;
}

/** The default `PolicyStore`: everything in this process (`RateLimiter`, `CircuitBreaker`, `BudgetTracker`). */
export const memoryPolicyStore: PolicyStore = Object.freeze({
  description: 'memory',
  rateLimiter: (_key: string, limits: RateLimits, options: PolicyStoreOptions): RateGate => new RateLimiter(limits, { clock: options.clock }),
  circuitBreaker: (_key: string, config: CircuitBreakerConfig, options: CircuitBreakerOptions): BreakerGate => new CircuitBreaker(config, options),
  budgetLedger: (_key: string, budget: Budget, options: PolicyStoreOptions): BudgetLedger => new BudgetTracker(budget, { clock: options.clock }),
});
