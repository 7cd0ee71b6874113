import {
  type BreakerGate,
  type CircuitBreakerConfig,
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitTicket,
  type CircuitTransition,
  type Clock,
  InferenceError,
} from '@inferkit/inference-core';
import { BREAKER_ACQUIRE, BREAKER_READ, BREAKER_RECORD } from './lua-scripts.js';
import { LuaScript } from './redis-connection.js';
import type { StoreContext } from './store-context.js';

const ACQUIRE = new LuaScript(BREAKER_ACQUIRE);
const RECORD = new LuaScript(BREAKER_RECORD);
const READ = new LuaScript(BREAKER_READ);

type Outcome = 'failure' | 'probe_ok' | 'probe_failed' | 'probe_neutral';

class RedisTicket implements CircuitTicket {
  readonly probe: boolean;
  private breaker: RedisCircuitBreaker | null;
  private readonly gen: number;
  private readonly id: string;
  constructor(breaker: RedisCircuitBreaker, probe: boolean, gen: number, id: string) {
    this.probe = probe;
    this.breaker = breaker;
    this.gen = gen;
    this.id = id;
  }
  record(error?: unknown): void {
    const b = this.breaker;
    if (b === null) return;
    this.breaker = null;
    b._record(this.probe, this.gen, this.id, error);
  }
}

/**
 * A circuit breaker whose state lives in the store, shared by every process using the key (one
 * origin): failures counted anywhere open it everywhere, and while half-open only
 * `halfOpenMaxProbes` probes run across all processes (probes are leases: a process that dies
 * mid-probe frees its slot after `leaseMs`). Semantics are the in-memory `CircuitBreaker`'s.
 *
 * Each process keeps a view of the state, updated by every script reply and by the transitions
 * other processes publish. A closed view admits without a store call (the hot path); an open
 * view refuses without one until `retryAt`; past it, and while half-open, `acquire` asks the
 * store (one script call that moves open → half-open and claims a probe atomically). Failures
 * and probe outcomes are one script call each, off the request's path.
 *
 * The store unreachable: `fail_open` (the default) admits as if closed; `fail_closed` refuses
 * with `backpressure` (`store_unavailable`) what the view cannot admit by itself.
 */
export class RedisCircuitBreaker implements BreakerGate {
  private readonly ctx: StoreContext;
  private readonly key: string;
  private readonly keys: readonly [string, string, string];
  private readonly channel: string;
  private readonly clock: Clock;
  private readonly name: string | undefined;
  private readonly onTransition: ((t: CircuitTransition) => void) | undefined;
  private readonly failureThreshold: number;
  private readonly windowMs: number;
  private readonly baseOpenMs: number;
  private readonly maxOpenMs: number;
  private readonly maxProbes: number;
  private view: CircuitState;
  private gen: number;
  private openedAt: number;
  private retryAt: number; // store clock
  private skewMs: number; // store clock - local clock, from the last reply
  private probesInFlight: number;

  constructor(ctx: StoreContext, key: string, config: CircuitBreakerConfig, options: CircuitBreakerOptions) {
    if (!(config.failureThreshold >= 1)) throw new RangeError('CircuitBreaker: failureThreshold must be >= 1');
    if (!(config.windowMs > 0)) throw new RangeError('CircuitBreaker: windowMs must be > 0');
    if (!(config.openDurationMs > 0)) throw new RangeError('CircuitBreaker: openDurationMs must be > 0');
    this.ctx = ctx;
    this.key = key;
    this.keys = [ctx.key(key, 'breaker'), ctx.key(key, 'breaker-failures'), ctx.key(key, 'breaker-probes')];
    this.channel = ctx.key(key, 'breaker-changes');
    this.clock = options.clock ?? { now: () => Date.now(), setTimeout: () => null, clearTimeout: () => undefined };
    this.name = options.name;
    this.onTransition = options.onTransition;
    this.failureThreshold = config.failureThreshold;
    this.windowMs = config.windowMs;
    this.baseOpenMs = config.openDurationMs;
    this.maxOpenMs = Math.max(config.openDurationMs, config.maxOpenDurationMs ?? config.openDurationMs * 8);
    this.maxProbes = Math.max(1, config.halfOpenMaxProbes ?? 1);
    this.view = 'closed';
    this.gen = 0; // a missing state is generation 0; the first reply brings the stored one
    this.openedAt = 0;
    this.retryAt = 0;
    this.skewMs = 0;
    this.probesInFlight = 0;
    ctx.conn
      .subscribe(this.channel, (message) => {
        const [s, g, o, r, now] = message.split(' ');
        this.apply(s as CircuitState, Number(g), Number(o), Number(r), Number(now));
      })
      .catch(() => undefined);
    // Learn the current state (a breaker opened before this process started).
    ctx
      .run(READ, [this.keys[0]], [ctx.now()])
      .then((reply) => this.applyReply(reply))
      .catch(() => undefined);
  }

  /** This process's view (open → half-open is decided by the store, on the next acquire). */
  get state(): CircuitState {
    return this.view;
  }

  /** Probes this process runs. */
  get probes(): number {
    return this.probesInFlight;
  }

  acquire(): CircuitTicket | Promise<CircuitTicket> {
    if (this.view === 'closed') return new RedisTicket(this, false, this.gen, this.ctx.nextId());
    if (this.view === 'open' && this.clock.now() + this.skewMs < this.retryAt) throw this.openError();
    return this.acquireRemote();
  }

  recordFailure(): void {
    if (this.view !== 'closed') return;
    this.send('failure', this.gen, this.ctx.nextId());
  }

  /** @internal Called by tickets. */
  _record(probe: boolean, gen: number, id: string, error: unknown): void {
    if (probe) {
      this.probesInFlight--;
      this.send(error === undefined ? 'probe_ok' : countsAsFailure(error) ? 'probe_failed' : 'probe_neutral', gen, id);
      return;
    }
    if (error !== undefined && countsAsFailure(error) && this.view === 'closed' && gen === this.gen) this.send('failure', gen, id);
  }

  private async acquireRemote(): Promise<CircuitTicket> {
    const id = this.ctx.nextId();
    let reply: unknown;
    try {
      reply = await this.ctx.run(ACQUIRE, this.keys, [this.ctx.now(), this.maxProbes, id, this.ctx.leaseMs, this.baseOpenMs, this.channel]);
    } catch (e) {
      if (this.ctx.failed('circuit_breaker', this.key, e) === 'fail_closed') throw this.ctx.unavailable('circuit_breaker');
      return new RedisTicket(this, false, -2, id); // admitted blind: its outcome is not recorded
    }
    this.ctx.succeeded('circuit_breaker', this.key);
    this.applyReply(reply);
    const admitted = Number((reply as unknown[])[5]);
    if (admitted === 2) {
      this.probesInFlight++;
      this.ctx.holdLease(id, this.keys[2]);
      return new RedisTicket(this, true, this.gen, id);
    }
    if (admitted === 1) return new RedisTicket(this, false, this.gen, id);
    throw this.openError();
  }

  private send(outcome: Outcome, gen: number, id: string): void {
    if (outcome !== 'failure') this.ctx.dropLease(id);
    if (gen === -2) return;
    this.ctx
      .run(RECORD, this.keys, [
        this.ctx.now(),
        outcome,
        gen,
        id,
        this.failureThreshold,
        this.windowMs,
        this.baseOpenMs,
        this.maxOpenMs,
        this.channel,
      ])
      .then(
        (reply) => {
          this.ctx.succeeded('circuit_breaker', this.key);
          this.applyReply(reply);
        },
        (e: unknown) => this.ctx.failed('circuit_breaker', this.key, e),
      );
  }

  private applyReply(reply: unknown): void {
    const [s, g, o, r, now] = reply as [string, number, number, number, number];
    this.apply(s as CircuitState, Number(g), Number(o), Number(r), Number(now));
  }

  /** Moves the view to a state the store reported, unless an older one than the view. */
  private apply(state: CircuitState, gen: number, openedAt: number, retryAt: number, storeNow: number): void {
    if (!(gen >= this.gen) || (state !== 'closed' && state !== 'open' && state !== 'half_open')) return;
    this.skewMs = storeNow - this.clock.now();
    const from = this.view;
    const changed = gen > this.gen && state !== from;
    this.gen = gen;
    this.view = state;
    this.openedAt = openedAt;
    this.retryAt = retryAt;
    if (!changed || this.onTransition === undefined || from === state) return;
    const t: CircuitTransition = { breaker: this.name, from, to: state, atMs: this.clock.now() };
    if (state !== 'closed') t.openedAtMs = openedAt - this.skewMs;
    if (state === 'open') t.retryAtMs = retryAt - this.skewMs;
    try {
      this.onTransition(t);
    } catch {
      // Listeners must not break the breaker.
    }
  }

  private openError(): InferenceError {
    const retryAtMs = this.view === 'open' ? this.retryAt - this.skewMs : this.clock.now();
    return new InferenceError(
      'circuit_open',
      this.view === 'open'
        ? `circuit${this.name ? ` ${this.name}` : ''} is open (shared) until ${new Date(retryAtMs).toISOString()}`
        : `circuit${this.name ? ` ${this.name}` : ''} is half-open and its ${this.maxProbes} probe(s) are in flight (shared)`,
      { details: { openedAtMs: this.openedAt - this.skewMs, retryAtMs, breaker: this.name } },
    );
  }
}

function countsAsFailure(error: unknown): boolean {
  return InferenceError.isInstance(error) ? error.countsAsCircuitFailure : true;
}
