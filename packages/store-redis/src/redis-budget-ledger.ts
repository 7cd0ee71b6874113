import type { Budget, BudgetAdmission, BudgetExcess, BudgetLedger } from '@inferkit/inference-core';
import { BUDGET_ADMIT, BUDGET_SETTLE } from './lua-scripts.js';
import { LuaScript } from './redis-connection.js';
import type { StoreContext } from './store-context.js';

const ADMIT = new LuaScript(BUDGET_ADMIT);
const SETTLE = new LuaScript(BUDGET_SETTLE);

class RedisAdmission implements BudgetAdmission {
  readonly excess: BudgetExcess | undefined;
  private ledger: RedisBudgetLedger | null;
  private readonly id: string;
  constructor(ledger: RedisBudgetLedger, excess: BudgetExcess | undefined, id: string) {
    this.excess = excess;
    this.ledger = ledger;
    this.id = id;
  }
  settle(costUsd: number | undefined): void {
    const l = this.ledger;
    if (l === null) return;
    this.ledger = null;
    l._settle(this.id, costUsd);
  }
}

/**
 * A budget shared by every process using the store and key. Admission is one script call that
 * sums the spend of the rolling windows (the hour in one-minute buckets, the day in one-hour
 * buckets: a window is 59–60 minutes, 23–24 hours long) and the reservations of requests in
 * flight in any process, and reserves this request's estimate (a lease: a process that dies
 * frees it after `leaseMs`). `settle` replaces the reservation by the cost with one atomic
 * increment per window. A charge that cannot reach the store is kept and added to the next one.
 *
 * The store unreachable at admission: `fail_closed` (the default for budgets) rejects with
 * `backpressure` (`store_unavailable`); `fail_open` admits.
 */
export class RedisBudgetLedger implements BudgetLedger {
  readonly budget: Budget;
  private readonly ctx: StoreContext;
  private readonly key: string;
  private readonly keys: readonly [string, string, string];
  private readonly hourly: string;
  private readonly daily: string;
  private readonly reject: string;
  private unsentUsd: number;

  constructor(ctx: StoreContext, key: string, budget: Budget) {
    for (const [k, v] of [
      ['hourlyUsd', budget.hourlyUsd],
      ['dailyUsd', budget.dailyUsd],
    ] as const) {
      if (v !== undefined && !(typeof v === 'number' && v >= 0 && Number.isFinite(v))) throw new RangeError(`budget: ${k} must be a finite number >= 0`);
    }
    this.budget = budget;
    this.ctx = ctx;
    this.key = key;
    this.keys = [ctx.key(key, 'spend'), ctx.key(key, 'reserved'), ctx.key(key, 'reserved-usd')];
    this.hourly = String(budget.hourlyUsd ?? -1);
    this.daily = String(budget.dailyUsd ?? -1);
    this.reject = budget.onExceeded === 'reject' ? '1' : '0';
    this.unsentUsd = 0;
  }

  async admit(estimatedUsd: number | undefined): Promise<BudgetAdmission> {
    const id = this.ctx.nextId();
    const est = estimatedUsd !== undefined && estimatedUsd > 0 && Number.isFinite(estimatedUsd) ? estimatedUsd : 0;
    let reply: [string, string, string, string];
    try {
      reply = (await this.ctx.run(ADMIT, this.keys, [this.ctx.now(), this.hourly, this.daily, est, id, this.ctx.leaseMs, this.reject])) as typeof reply;
    } catch (e) {
      if (this.ctx.failed('budget', this.key, e) === 'fail_closed') throw this.ctx.unavailable('budget');
      return new RedisAdmission(this, undefined, id);
    }
    this.ctx.succeeded('budget', this.key);
    if (est > 0) this.ctx.holdLease(id, this.keys[1]);
    const [window, spent, reserved, limit] = reply;
    const excess: BudgetExcess | undefined =
      window === 'hour' || window === 'day'
        ? { window, spentUsd: Number(spent), reservedUsd: Number(reserved), limitUsd: Number(limit) }
        : undefined;
    return new RedisAdmission(this, excess, id);
  }

  /** @internal Called by admissions. */
  _settle(id: string, costUsd: number | undefined): void {
    this.ctx.dropLease(id);
    const cost = (costUsd !== undefined && costUsd > 0 && Number.isFinite(costUsd) ? costUsd : 0) + this.unsentUsd;
    this.unsentUsd = 0;
    this.ctx.run(SETTLE, this.keys, [this.ctx.now(), id, cost]).then(
      () => this.ctx.succeeded('budget', this.key),
      (e: unknown) => {
        this.unsentUsd += cost;
        this.ctx.failed('budget', this.key, e);
      },
    );
  }
}
