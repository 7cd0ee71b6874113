import type { CircuitBreakerConfig } from './circuit-breaker-config.js';
import { type Clock, realClock } from './clock.js';
import { InferenceError } from './inference-error.js';
import type { BreakerGate } from './policy-store.js';

/** Breaker state. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Emitted on every state change. */
export interface CircuitTransition {
  /** Breaker name (from the options). */
  breaker: string | undefined;
  from: CircuitState;
  to: CircuitState;
  /** Clock time of the change (ms). */
  atMs: number;
  /** When the current/last open period began (ms); set when `to` is `open` or `half_open`. */
  openedAtMs?: number;
  /** When probes will be allowed (ms); set when `to` is `open`. */
  retryAtMs?: number;
  /** Failures counted in the window when it opened from `closed`. */
  failures?: number;
}

/** Options of `CircuitBreaker`. */
export interface CircuitBreakerOptions {
  /** Time source (default `realClock`). */
  clock?: Clock;
  /** Name used in events and errors. */
  name?: string;
  /** Called on every transition (synchronously; exceptions are swallowed). */
  onTransition?: (t: CircuitTransition) => void;
}

/**
 * Outcome reporter for one admitted call. Call `record` exactly once (extra calls are ignored):
 * with no error for success, or with the error. Errors that do not `countsAsCircuitFailure`
 * (429, content filter, budget, cancel...) are neutral: they neither open nor close the breaker.
 */
export interface CircuitTicket {
  /** Whether this call is a half-open probe. */
  readonly probe: boolean;
  record(error?: unknown): void;
}

class Ticket implements CircuitTicket {
  readonly probe: boolean;
  private breaker: CircuitBreaker | null;
  private readonly gen: number;
  constructor(breaker: CircuitBreaker, probe: boolean, gen: number) {
    this.probe = probe;
    this.breaker = breaker;
    this.gen = gen;
  }
  record(error?: unknown): void {
    const b = this.breaker;
    if (b === null) return;
    this.breaker = null;
    b._record(this.probe, this.gen, error);
  }
}

/**
 * closed → open after `failureThreshold` failures inside the rolling `windowMs` → half-open once
 * `openDurationMs` has passed (checked lazily on `acquire` / `state`) → at most
 * `halfOpenMaxProbes` concurrent probes → a failed probe re-opens with the open duration doubled
 * (capped by `maxOpenDurationMs`) → a successful probe closes and resets the duration.
 */
export class CircuitBreaker implements BreakerGate {
  private readonly clock: Clock;
  private readonly name: string | undefined;
  private readonly onTransition: ((t: CircuitTransition) => void) | undefined;
  private readonly failureThreshold: number;
  private readonly windowMs: number;
  private readonly baseOpenMs: number;
  private readonly maxOpenMs: number;
  private readonly maxProbes: number;
  private current: CircuitState;
  private failures: number[]; // failure times inside the window (closed state)
  private openedAt: number;
  private retryAt: number;
  private openMs: number;
  private probesInFlight: number;
  private generation: number; // bumps on every transition; stale tickets are ignored

  constructor(config: CircuitBreakerConfig, options?: CircuitBreakerOptions) {
    if (!(config.failureThreshold >= 1)) throw new RangeError('CircuitBreaker: failureThreshold must be >= 1');
    if (!(config.windowMs > 0)) throw new RangeError('CircuitBreaker: windowMs must be > 0');
    if (!(config.openDurationMs > 0)) throw new RangeError('CircuitBreaker: openDurationMs must be > 0');
    this.clock = options?.clock ?? realClock;
    this.name = options?.name;
    this.onTransition = options?.onTransition;
    this.failureThreshold = config.failureThreshold;
    this.windowMs = config.windowMs;
    this.baseOpenMs = config.openDurationMs;
    this.maxOpenMs = Math.max(config.openDurationMs, config.maxOpenDurationMs ?? config.openDurationMs * 8);
    this.maxProbes = Math.max(1, config.halfOpenMaxProbes ?? 1);
    this.current = 'closed';
    this.failures = [];
    this.openedAt = 0;
    this.retryAt = 0;
    this.openMs = this.baseOpenMs;
    this.probesInFlight = 0;
    this.generation = 0;
  }

  /** Current state (moves open → half-open when the open duration has passed). */
  get state(): CircuitState {
    this.tick(this.clock.now());
    return this.current;
  }

  /** Probes currently in flight (half-open). */
  get probes(): number {
    return this.probesInFlight;
  }

  /**
   * Admits one call or throws `InferenceError` kind `circuit_open` (details `openedAtMs`,
   * `retryAtMs`). In half-open state at most `halfOpenMaxProbes` calls are admitted at once.
   */
  acquire(): CircuitTicket {
    const now = this.clock.now();
    this.tick(now);
    if (this.current === 'closed') return new Ticket(this, false, this.generation);
    if (this.current === 'half_open' && this.probesInFlight < this.maxProbes) {
      this.probesInFlight++;
      return new Ticket(this, true, this.generation);
    }
    const retryAtMs = this.current === 'open' ? this.retryAt : now;
    throw new InferenceError(
      'circuit_open',
      this.current === 'open'
        ? `circuit${this.name ? ` ${this.name}` : ''} is open until ${new Date(this.retryAt).toISOString()}`
        : `circuit${this.name ? ` ${this.name}` : ''} is half-open and its ${this.maxProbes} probe(s) are in flight`,
      { details: { openedAtMs: this.openedAt, retryAtMs, breaker: this.name } },
    );
  }

  /** Records a failure outside of a ticket (counts like a ticketed failure in closed state). */
  recordFailure(): void {
    this.onClosedFailure(this.clock.now());
  }

  /** @internal Called by tickets. */
  _record(probe: boolean, gen: number, error: unknown): void {
    if (gen !== this.generation) return; // the breaker moved on since admission: stale outcome
    if (!probe) {
      if (error !== undefined && this.current === 'closed' && countsAsFailure(error)) this.onClosedFailure(this.clock.now());
      return;
    }
    this.probesInFlight--;
    const now = this.clock.now();
    if (error === undefined) {
      this.openMs = this.baseOpenMs;
      this.failures = [];
      this.transition('closed', now);
    } else if (countsAsFailure(error)) {
      this.openMs = Math.min(this.maxOpenMs, this.openMs * 2);
      this.open(now, undefined);
    }
    // Neutral error: the probe slot is free again, state unchanged.
  }

  private onClosedFailure(now: number): void {
    if (this.current !== 'closed') return;
    const cutoff = now - this.windowMs;
    let drop = 0;
    while (drop < this.failures.length && this.failures[drop]! <= cutoff) drop++;
    if (drop > 0) this.failures.splice(0, drop);
    this.failures.push(now);
    if (this.failures.length >= this.failureThreshold) {
      const n = this.failures.length;
      this.failures = [];
      this.open(now, n);
    }
  }

  private open(now: number, failures: number | undefined): void {
    this.openedAt = now;
    this.retryAt = now + this.openMs;
    this.probesInFlight = 0;
    this.transition('open', now, failures);
  }

  private tick(now: number): void {
    if (this.current === 'open' && now >= this.retryAt) {
      this.probesInFlight = 0;
      this.transition('half_open', now);
    }
  }

  private transition(to: CircuitState, now: number, failures?: number): void {
    const from = this.current;
    this.current = to;
    this.generation++;
    const cb = this.onTransition;
    if (cb === undefined) return;
    const t: CircuitTransition = { breaker: this.name, from, to, atMs: now };
    if (to !== 'closed') t.openedAtMs = this.openedAt;
    if (to === 'open') t.retryAtMs = this.retryAt;
    if (failures !== undefined) t.failures = failures;
    try {
      cb(t);
    } catch {
      // Listeners must not break the breaker.
    }
  }
}

function countsAsFailure(error: unknown): boolean {
  // Non-InferenceErrors are treated like `internal`, which counts.
  return InferenceError.isInstance(error) ? error.countsAsCircuitFailure : true;
}
