import { describe, expect, it } from 'vitest';
import { BudgetTracker } from './budget-tracker.js';
import { FakeClock } from './clock.js';

describe('BudgetTracker', () => {
  it('sums spend over rolling hour and day windows', () => {
    const clock = new FakeClock();
    const b = new BudgetTracker({ hourlyUsd: 1, dailyUsd: 3, onExceeded: 'reject' }, { clock });
    b.record(0.5);
    clock.advance(30 * 60_000);
    b.record(0.4);
    expect(b.exceeded()).toBeUndefined();
    b.record(0.2);
    expect(b.exceeded()).toMatchObject({ window: 'hour', limitUsd: 1 });
    expect(() => b.check()).toThrow(expect.objectContaining({ kind: 'budget_exceeded' }));
    clock.advance(30 * 60_000); // first 0.5 leaves the hour
    expect(b.spent('hour')).toBeCloseTo(0.6);
    expect(b.exceeded()).toBeUndefined();
    for (let i = 0; i < 4; i++) {
      clock.advance(60 * 60_000);
      b.record(0.6);
    }
    expect(b.exceeded()).toMatchObject({ window: 'day' });
    clock.advance(24 * 60 * 60_000);
    expect(b.spent('day')).toBe(0);
  });

  it('ignores unknown, negative and non-finite costs', () => {
    const b = new BudgetTracker({ hourlyUsd: 1, onExceeded: 'warn' }, { clock: new FakeClock() });
    b.record(Number.NaN);
    b.record(-1);
    b.record(Infinity);
    expect(b.spent('hour')).toBe(0);
  });
});
