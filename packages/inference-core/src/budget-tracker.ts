import type { Budget } from './budget.js';
import { type Clock, realClock } from './clock.js';
import { InferenceError } from './inference-error.js';
import type { BudgetAdmission, BudgetLedger } from './policy-store.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The first exceeded window, or `undefined`. */
export interface BudgetExcess {
  window: 'hour' | 'day';
  /** Spend recorded in the window (USD). */
  spentUsd: number;
  /** Estimated cost of the admitted requests still running (USD), counted against the limit too. */
  reservedUsd: number;
  limitUsd: number;
}

class Admission implements BudgetAdmission {
  readonly excess: BudgetExcess | undefined;
  private tracker: BudgetTracker | null;
  private readonly reservedUsd: number;
  constructor(tracker: BudgetTracker, excess: BudgetExcess | undefined, reservedUsd: number) {
    this.excess = excess;
    this.tracker = tracker;
    this.reservedUsd = reservedUsd;
  }
  settle(costUsd: number | undefined): void {
    const t = this.tracker;
    if (t === null) return;
    this.tracker = null;
    t._settle(this.reservedUsd, costUsd);
  }
}

/**
 * Rolling hour/day USD spend, the in-memory `BudgetLedger`. `admit(estimatedUsd)` checks the
 * limits and reserves the estimate until the admission is settled; `record(costUsd)` adds spend
 * now; `exceeded()` says which window, if any, is at or over its limit counting spend and
 * reservations; `check()` throws `budget_exceeded` for it. What to do about it (`reject` / `warn`
 * / `throttle`) is `supervise`'s job.
 */
export class BudgetTracker implements BudgetLedger {
  /** The configured budget. */
  readonly budget: Budget;
  private readonly clock: Clock;
  private times: number[];
  private costs: number[];
  private head: number;
  private reservedUsd: number;

  constructor(budget: Budget, options?: { clock?: Clock }) {
    this.budget = budget;
    this.clock = options?.clock ?? realClock;
    this.times = [];
    this.costs = [];
    this.head = 0;
    this.reservedUsd = 0;
  }

  /** Estimated cost of admitted requests not settled yet (USD). */
  get reserved(): number {
    return this.reservedUsd;
  }

  /**
   * Checks the limits and reserves `estimatedUsd` (ignored unless finite and > 0) until the
   * admission is settled. An exceeded admission reserves nothing with `onExceeded: 'reject'`.
   */
  admit(estimatedUsd: number | undefined): BudgetAdmission {
    const excess = this.exceeded();
    let reserve = 0;
    if (estimatedUsd !== undefined && estimatedUsd > 0 && Number.isFinite(estimatedUsd) && !(excess !== undefined && this.budget.onExceeded === 'reject')) {
      reserve = estimatedUsd;
      this.reservedUsd += reserve;
    }
    return new Admission(this, excess, reserve);
  }

  /** @internal Called by admissions. */
  _settle(reservedUsd: number, costUsd: number | undefined): void {
    // Sums of floats drift: below a nano-dollar the reservation is gone.
    this.reservedUsd = this.reservedUsd - reservedUsd > 1e-9 ? this.reservedUsd - reservedUsd : 0;
    if (costUsd !== undefined) this.record(costUsd);
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

  /** The first window whose spend plus reservations is at or over its limit (hour checked first), or `undefined`. */
  exceeded(): BudgetExcess | undefined {
    const { hourlyUsd, dailyUsd } = this.budget;
    const r = this.reservedUsd;
    if (hourlyUsd !== undefined) {
      const s = this.spent('hour');
      if (s + r >= hourlyUsd) return { window: 'hour', spentUsd: s, reservedUsd: r, limitUsd: hourlyUsd };
    }
    if (dailyUsd !== undefined) {
      const s = this.spent('day');
      if (s + r >= dailyUsd) return { window: 'day', spentUsd: s, reservedUsd: r, limitUsd: dailyUsd };
    }
    return undefined;
  }

  /** Throws `InferenceError` kind `budget_exceeded` if a window is exceeded. */
  check(): void {
    const e = this.exceeded();
    if (e !== undefined) throw budgetExceededError(e);
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

/** The `budget_exceeded` error for an excess (any `BudgetLedger`). */
export function budgetExceededError(e: BudgetExcess, requestId?: string): InferenceError {
  const running = e.reservedUsd > 0 ? ` (+ $${e.reservedUsd.toFixed(4)} reserved by requests in flight)` : '';
  return new InferenceError('budget_exceeded', `budget exceeded: spent $${e.spentUsd.toFixed(4)}${running} of $${e.limitUsd} in the last ${e.window}`, {
    details: { window: e.window, spentUsd: e.spentUsd, reservedUsd: e.reservedUsd, limitUsd: e.limitUsd },
    ...(requestId !== undefined ? { requestId } : {}),
  });
}
