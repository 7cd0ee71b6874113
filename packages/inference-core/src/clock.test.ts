import { describe, expect, it } from 'vitest';
import { FakeClock, realClock } from './clock.js';
import { sleep } from './sleep.js';

describe('clocks', () => {
  it('FakeClock fires timers in time order, ties in creation order, and supports clearTimeout', () => {
    const clock = new FakeClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    clock.setTimeout(() => fired.push('a'), 10);
    const t = clock.setTimeout(() => fired.push('x'), 15);
    clock.setTimeout(() => fired.push('c'), 20);
    clock.clearTimeout(t);
    clock.advance(19);
    expect(fired).toEqual(['a']);
    clock.advance(1);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(clock.now()).toBe(120);
  });

  it('sleep() on a FakeClock resolves when advanced and rejects with cancelled on abort', async () => {
    const clock = new FakeClock();
    let done = false;
    const p = sleep(clock, 50).then(() => (done = true));
    await clock.advanceAsync(49);
    expect(done).toBe(false);
    await clock.advanceAsync(1);
    await p;
    expect(done).toBe(true);
    const ac = new AbortController();
    const s = sleep(clock, 50, ac.signal);
    ac.abort();
    await expect(s).rejects.toMatchObject({ kind: 'cancelled' });
    expect(clock.pendingTimers).toBe(0);
  });

  it('realClock is epoch-based and monotonic', () => {
    const a = realClock.now();
    const b = realClock.now();
    expect(b).toBeGreaterThanOrEqual(a);
    expect(Math.abs(a - Date.now())).toBeLessThan(60_000);
  });
});
