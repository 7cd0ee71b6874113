import {
  type Budget,
  type BudgetLedger,
  type BreakerGate,
  type CircuitBreakerConfig,
  type CircuitBreakerOptions,
  InferenceError,
  type PolicyStore,
  type PolicyStoreOptions,
  type RateGate,
  type RateLimits,
  RunnerOptions,
} from '@inferkit/inference-core';
import { ApproximateRateGate } from './approximate-rate-gate.js';
import { RedisBudgetLedger } from './redis-budget-ledger.js';
import { RedisCircuitBreaker } from './redis-circuit-breaker.js';
import { RedisConnection } from './redis-connection.js';
import type { RedisStoreMode, RedisStoreOptions } from './redis-store-options.js';
import type { StorePolicy } from './redis-store-event.js';
import { resolveRedisUrl } from './redis-url.js';
import { StoreContext, type StoreErrorAction } from './store-context.js';
import { StrictRateGate } from './strict-rate-gate.js';

const OPTION_KEYS = ['url', 'prefix', 'mode', 'syncMs', 'leaseMs', 'onStoreError', 'connectTimeoutMs', 'commandTimeoutMs', 'clock', 'onEvent'] as const;
const ACTIONS = ['fail_open', 'fail_closed'] as const;
const KEY_PART = /^[^\s{}]{1,200}$/;

/**
 * A `PolicyStore` on Redis (or Valkey): pass it as `supervise(runner, { name, store })` in every
 * process that shares the limits. Build it with `createRedisStore` (which connects first).
 */
export class RedisPolicyStore implements PolicyStore {
  readonly description: string;
  /** `strict` or `approximate`. */
  readonly mode: RedisStoreMode;
  private readonly ctx: StoreContext;
  private readonly gates: Array<{ close(): void }>;

  /** @internal Use `createRedisStore`. */
  constructor(ctx: StoreContext, mode: RedisStoreMode) {
    this.ctx = ctx;
    this.mode = mode;
    this.description = `redis ${ctx.conn.redacted} (${mode})`;
    this.gates = [];
  }

  /** Whether the connection is usable now (it reconnects by itself). */
  get connected(): boolean {
    return this.ctx.conn.ready;
  }

  rateLimiter(key: string, limits: RateLimits, options: PolicyStoreOptions): RateGate {
    checkKey(key);
    const gate = this.mode === 'strict' ? new StrictRateGate(this.ctx, key, limits, options.clock) : new ApproximateRateGate(this.ctx, key, limits, options.clock);
    this.gates.push(gate);
    return gate;
  }

  circuitBreaker(key: string, config: CircuitBreakerConfig, options: CircuitBreakerOptions): BreakerGate {
    checkKey(key);
    return new RedisCircuitBreaker(this.ctx, key, config, options);
  }

  budgetLedger(key: string, budget: Budget, _options: PolicyStoreOptions): BudgetLedger {
    checkKey(key);
    return new RedisBudgetLedger(this.ctx, key, budget);
  }

  /** Stops timers and closes the connections; leases still held expire by themselves. */
  async close(): Promise<void> {
    for (const g of this.gates) g.close();
    this.ctx.close();
    await this.ctx.conn.close();
  }
}

/**
 * Validates the options, connects, and returns the store. Bad options reject with
 * `InferenceError('bad_request')` naming the option; a server that cannot be reached rejects
 * with an `Error` naming the URL (password shown as `***`).
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<RedisPolicyStore> {
  const o = new RunnerOptions(options, 'RedisStore', OPTION_KEYS);
  const url = o.string('url', { nonEmpty: true });
  if (url === undefined) throw o.error('url', 'is required');
  let resolved;
  try {
    resolved = resolveRedisUrl(url);
  } catch (e) {
    throw o.error('url', `is not usable: ${(e as Error).message}`);
  }
  const prefix = o.string('prefix') ?? 'inferkit:';
  if (/[\s{}]/.test(prefix) || prefix.length > 100) throw o.error('prefix', 'must be at most 100 characters without spaces or braces');
  const mode = o.oneOf('mode', ['strict', 'approximate'] as const) ?? 'strict';
  const syncMs = o.number('syncMs', { min: 5, max: 60_000 }) ?? 50;
  const leaseMs = o.number('leaseMs', { min: 100, max: 3_600_000 }) ?? 10_000;
  const connectTimeoutMs = o.number('connectTimeoutMs', { min: 1, max: 600_000 }) ?? 2_000;
  const commandTimeoutMs = o.number('commandTimeoutMs', { min: 1, max: 600_000 }) ?? 2_000;
  const actions = readActions(o);
  const clock = o.raw.clock as RedisStoreOptions['clock'];
  if (clock !== undefined && (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function')) throw o.error('clock', 'must be a Clock');
  const onEvent = o.fn<NonNullable<RedisStoreOptions['onEvent']>>('onEvent') ?? (() => undefined);
  const conn = new RedisConnection(resolved, { connectTimeoutMs, commandTimeoutMs, onEvent });
  await conn.connect();
  const ctx = new StoreContext({ conn, prefix, leaseMs: Math.floor(leaseMs), syncMs, clock, actions, onEvent });
  return new RedisPolicyStore(ctx, mode);
}

function readActions(o: RunnerOptions): Record<StorePolicy, StoreErrorAction> {
  const out: Record<StorePolicy, StoreErrorAction> = { rate_limits: 'fail_open', budget: 'fail_closed', circuit_breaker: 'fail_open' };
  const v = o.raw.onStoreError;
  if (v === undefined) return out;
  if (typeof v === 'string') {
    const a = o.oneOf('onStoreError', ACTIONS)!;
    return { rate_limits: a, budget: a, circuit_breaker: a };
  }
  const n = new RunnerOptions(v, 'RedisStore.onStoreError', ['rateLimits', 'budget', 'circuitBreaker']);
  const pick = (k: 'rateLimits' | 'budget' | 'circuitBreaker'): StoreErrorAction | undefined => {
    try {
      return n.oneOf(k, ACTIONS);
    } catch {
      throw o.error(`onStoreError.${k}`, "must be 'fail_open' or 'fail_closed'");
    }
  };
  out.rate_limits = pick('rateLimits') ?? out.rate_limits;
  out.budget = pick('budget') ?? out.budget;
  out.circuit_breaker = pick('circuitBreaker') ?? out.circuit_breaker;
  return out;
}

function checkKey(key: string): void {
  if (!KEY_PART.test(key)) {
    throw new InferenceError('bad_request', `RedisStore: the policy key must be 1 to 200 characters without spaces or braces, got ${JSON.stringify(key.slice(0, 40))}`, {
      details: { param: 'name' },
    });
  }
}
