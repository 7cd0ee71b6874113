import type { Budget } from './budget.js';
import { type Clock, realClock } from './clock.js';
import { InferenceError } from './inference-error.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The first exceeded window, or `undefined`. */
export interface BudgetExcess {
  window: 'hour' | 'day';
  spentUsd: number;
  limitUsd: number;
}

/**
 * Rolling hour/day USD spend. `record(costUsd)` adds spend now; `exceeded()` says which window, if
 * any, is at or over its limit; `check()` throws `budget_exceeded` for it. What to do about it
 * (`reject` / `warn` / `throttle`) is `supervise`'s job.
 */
export class BudgetTracker {
  /** The configured budget. */
  readonly budget: Budget;
  private readonly clock: Clock;
  private times: number[];
  private costs: number[];
  private head: number;

  constructor(budget: Budget, options?: { clock?: Clock }) {
    this.budget = budget;
    this.clock = options?.clock ?? realClock;
    this.times = [];
    this.costs = [];
    this.head = 0;
  }

  /** Adds `costUsd` spent now. Non-finite or negative values are ignored. */
  record(costUsd: number): void {
    if (!(costUsd > 0) || !Number.isFinite(costUsd)) return;
    this.times.push(this.clock.now());
    this.costs.push(costUsd);
  }

  /** Spend over the last hour / day (USD). */
  spent(window: 'hour' | 'day'): number {
    const now = this.clock.now();
    this.prune(now);
    const cutoff = now - (window === 'hour' ? HOUR_MS : DAY_MS);
    let sum = 0;
    for (let i = this.times.length - 1; i >= this.head && this.times[i]! > cutoff; i--) sum += this.costs[i]!;
    return sum;
  }

  /** The first window at or over its limit (hour checked first), or `undefined`. */
  exceeded(): BudgetExcess | undefined {
    const { hourlyUsd, dailyUsd } = this.budget;
    if (hourlyUsd !== undefined) {
      const s = this.spent('hour');
      if (s >= hourlyUsd) return { window: 'hour', spentUsd: s, limitUsd: hourlyUsd };
    }
    if (dailyUsd !== undefined) {
      const s = this.spent('day');
      if (s >= dailyUsd) return { window: 'day', spentUsd: s, limitUsd: dailyUsd };
    }
    return undefined;
  }

  /** Throws `InferenceError` kind `budget_exceeded` if a window is exceeded. */
  check(): void {
    const e = this.exceeded();
    if (e !== undefined) {
      throw new InferenceError(
        'budget_exceeded',
        `budget exceeded: spent $${e.spentUsd.toFixed(4)} of $${e.limitUsd} in the last ${e.window}`,
        { details: e },
      );
    }
  }

  private prune(now: number): void {
    const cutoff = now - DAY_MS;
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.costs = this.costs.slice(this.head);
      this.head = 0;
    }
  }
}
