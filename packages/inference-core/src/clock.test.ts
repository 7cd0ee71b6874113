import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, MAX_TIMER_DELAY_MS, realClock } from './clock.js';
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

describe('clocks: any delay', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // vitest's fake timers treat a delay past 2^31 - 1 ms as 1 ms, as Node does.
  it('realClock waits a delay past 2^31 - 1 ms in pieces: the callback runs once, after the whole delay', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const delay = 2 * MAX_TIMER_DELAY_MS + 10;
    let fired = 0;
    realClock.setTimeout(() => fired++, delay);
    vi.advanceTimersByTime(1_000);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS); // past the first piece
    expect(fired).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(delay - 1_000 - MAX_TIMER_DELAY_MS - 1);
    expect(fired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('realClock.clearTimeout stops a long timer between its pieces', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let fired = 0;
    const timer = realClock.setTimeout(() => fired++, 3 * MAX_TIMER_DELAY_MS);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS + 5);
    realClock.clearTimeout(timer);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(3 * MAX_TIMER_DELAY_MS);
    expect(fired).toBe(0);
  });

  it('realClock: Infinity never fires and arms nothing, a negative delay fires at once, NaN is refused', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const fired: string[] = [];
    const never = realClock.setTimeout(() => fired.push('never'), Infinity);
    expect(vi.getTimerCount()).toBe(0);
    realClock.setTimeout(() => fired.push('negative'), -5);
    realClock.setTimeout(() => fired.push('-Infinity'), -Infinity);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual(['negative', '-Infinity']);
    vi.advanceTimersByTime(10 * MAX_TIMER_DELAY_MS);
    expect(fired).toEqual(['negative', '-Infinity']);
    realClock.clearTimeout(never); // a no-op, not an error
    expect(() => realClock.setTimeout(() => undefined, NaN)).toThrow(RangeError);
    expect(() => realClock.setTimeout(() => undefined, undefined as unknown as number)).toThrow(/delayMs must be a number/);
  });

  it('realClock emits no TimeoutOverflowWarning for a delay past 2^31 - 1 ms', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      const timer = realClock.setTimeout(() => warnings.push('fired'), 2 ** 31);
      // Node emits the warning on the next tick, before setImmediate callbacks run.
      await new Promise((r) => setImmediate(r));
      realClock.clearTimeout(timer);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('FakeClock agrees: huge delays fire exactly on time, Infinity never, negative at once, NaN is refused', async () => {
    const clock = new FakeClock(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('huge'), 2 * MAX_TIMER_DELAY_MS);
    const never = clock.setTimeout(() => fired.push('never'), Infinity);
    clock.setTimeout(() => fired.push('negative'), -1);
    expect(clock.pendingTimers).toBe(3);
    clock.advance(0);
    expect(fired).toEqual(['negative']);
    expect(clock.nextTimerAt()).toBe(1_000 + 2 * MAX_TIMER_DELAY_MS);
    clock.advance(2 * MAX_TIMER_DELAY_MS - 1);
    expect(fired).toEqual(['negative']);
    clock.advance(1);
    expect(fired).toEqual(['negative', 'huge']);
    expect(clock.nextTimerAt()).toBeUndefined(); // only the Infinity one is left
    await clock.runAllAsync();
    expect(fired).toEqual(['negative', 'huge']);
    expect(clock.pendingTimers).toBe(1);
    clock.clearTimeout(never);
    expect(clock.pendingTimers).toBe(0);
    expect(() => clock.setTimeout(() => undefined, NaN)).toThrow(RangeError);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Infinity)).toThrow(RangeError);
  });

  it('sleep(Infinity) waits until its signal aborts; sleep(NaN) rejects with RangeError', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const s = sleep(clock, Infinity, ac.signal);
    await clock.advanceAsync(1e15);
    ac.abort();
    await expect(s).rejects.toMatchObject({ kind: 'cancelled' });
    expect(clock.pendingTimers).toBe(0);
    await expect(sleep(clock, NaN)).rejects.toThrow(RangeError);
  });
});
