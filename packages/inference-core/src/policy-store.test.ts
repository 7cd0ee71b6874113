import { describe, expect, it } from 'vitest';
import { BudgetTracker } from './budget-tracker.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { FakeClock } from './clock.js';
import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError } from './inference-error.js';
import { memoryPolicyStore, type BreakerGate, type BudgetLedger, type PolicyStore } from './policy-store.js';
import { RateLimiter } from './rate-limiter.js';
import { ScriptedRunner } from './scripted-runner.js';
import { supervise } from './supervise.js';

const batch = (id: string): ExecuteBatch => ({ requestId: id, model: 'm', messages: [{ role: 'user', content: 'x' }], sampling: {}, stream: true, estimatedTokens: 10 });

/** The in-memory policies behind promises, as a store that must ask elsewhere would answer. */
function asyncStore(keys: string[]): PolicyStore {
  return {
    description: 'async test store',
    rateLimiter: (key, limits, o) => (keys.push(`rate:${key}`), new RateLimiter(limits, { clock: o.clock })),
    circuitBreaker: (key, config, o): BreakerGate => {
      keys.push(`breaker:${key}`);
      const b = new CircuitBreaker(config, o);
      return { get state() { return b.state; }, acquire: () => Promise.resolve().then(() => b.acquire()), recordFailure: () => b.recordFailure() };
    },
    budgetLedger: (key, budget, o): BudgetLedger => {
      keys.push(`budget:${key}`);
      const t = new BudgetTracker(budget, { clock: o.clock });
      return { budget, admit: (est) => Promise.resolve().then(() => t.admit(est)), ledger: t } as BudgetLedger;
    },
  };
}

describe('BudgetTracker admissions', () => {
  it('reserve the estimate until settled, so concurrent requests stop within one request of the cap', () => {
    const t = new BudgetTracker({ hourlyUsd: 1, onExceeded: 'reject' }, { clock: new FakeClock() });
    const a = t.admit(0.4);
    const b = t.admit(0.4);
    const c = t.admit(0.4); // 0.8 reserved < 1: the one that may cross
    const d = t.admit(0.4);
    expect([a.excess, b.excess, c.excess]).toEqual([undefined, undefined, undefined]);
    expect(d.excess).toMatchObject({ window: 'hour', spentUsd: 0, limitUsd: 1 });
    expect(d.excess!.reservedUsd).toBeCloseTo(1.2);
    expect(t.reserved).toBeCloseTo(1.2); // the refused one reserved nothing
    a.settle(0.3);
    a.settle(0.3); // once
    expect(t.spent('hour')).toBeCloseTo(0.3);
    expect(t.reserved).toBeCloseTo(0.8);
    b.settle(undefined);
    c.settle(undefined);
    expect(t.reserved).toBe(0);
    expect(t.exceeded()).toBeUndefined();
  });

  it('warn and throttle still reserve when exceeded; unknown estimates reserve nothing', () => {
    const t = new BudgetTracker({ hourlyUsd: 0.1, onExceeded: 'warn' }, { clock: new FakeClock() });
    t.record(0.2);
    expect(t.admit(0.05).excess).toBeDefined();
    expect(t.reserved).toBeCloseTo(0.05);
    t.admit(undefined);
    t.admit(Number.NaN);
    expect(t.reserved).toBeCloseTo(0.05);
  });
});

describe('supervise with a PolicyStore', () => {
  it('uses the store for limits, breaker and budget keyed by name, awaiting what it answers with promises', async () => {
    const keys: string[] = [];
    const store = asyncStore(keys);
    const runner = new ScriptedRunner({
      estimatedCostUsd: 0.25,
      script: (_b, call) => (call === 1 ? [{ error: new InferenceError('server_error', 'boom') }] : [{ text: 'ok' }, { finish: 'stop', costUsd: 0.2 }]),
    });
    const sup = supervise(runner, {
      name: 'shared-key',
      store,
      retry: { maxRetries: 1, initialDelayMs: 1 },
      rateLimits: { requestsPerMinute: 100 },
      circuitBreaker: { failureThreshold: 5, windowMs: 1000, openDurationMs: 1000 },
      budget: { hourlyUsd: 0.3, onExceeded: 'reject' },
    });
    expect(keys).toEqual(['breaker:shared-key', 'rate:shared-key', 'budget:shared-key']);
    const text = await (await sup.execute(batch('r1'))).collect();
    expect(text.text).toBe('ok');
    const tracker = (sup.budget as unknown as { ledger: BudgetTracker }).ledger;
    expect(tracker.spent('hour')).toBeCloseTo(0.2); // charged once for two attempts
    expect(tracker.reserved).toBe(0);
    // 0.2 spent + 0.25 estimated of the next: admitted (0.2 < 0.3), then refused.
    await (await sup.execute(batch('r2'))).collect();
    await expect(sup.execute(batch('r3'))).rejects.toMatchObject({ kind: 'budget_exceeded' });
  });

  it('a shared store needs a name; the memory store does not', () => {
    const runner = new ScriptedRunner();
    expect(() => supervise(runner, { store: asyncStore([]), rateLimits: { requestsPerMinute: 1 } })).toThrow(/name is required/);
    expect(() => supervise(runner, { store: memoryPolicyStore, rateLimits: { requestsPerMinute: 1 } })).not.toThrow();
  });
});
