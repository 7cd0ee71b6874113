/**
 * Time source for the policies. Injected so tests run on a `FakeClock` instead of real sleeps.
 * Times are milliseconds; `now()` is epoch-based and never goes backwards.
 */
export interface Clock {
  /** Current time in epoch milliseconds (monotonic). */
  now(): number;
  /** Calls `callback` after `delayMs`; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  /** Cancels a timer; unknown or already-fired handles are ignored. */
  clearTimeout(timer: ClockTimer): void;
}

/** Opaque timer handle returned by `Clock.setTimeout`. */
export type ClockTimer = unknown;

/**
 * The real clock: `performance.timeOrigin + performance.now()` (epoch ms that never jumps back
 * when the wall clock is adjusted) and the global timers.
 */
export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

interface FakeTimer {
  id: number;
  at: number;
  callback: () => void;
}

/**
 * A manually advanced clock for tests. Timers fire in time order (ties in creation order) when
 * `advance` / `advanceAsync` passes their due time.
 */
export class FakeClock implements Clock {
  private current: number;
  private nextId: number;
  private timers: FakeTimer[];

  /** @param startMs initial `now()` value (default 0). */
  constructor(startMs = 0) {
    this.current = startMs;
    this.nextId = 1;
    this.timers = [];
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): ClockTimer {
    const id = this.nextId++;
    const at = this.current + Math.max(0, Number.isFinite(delayMs) ? delayMs : 0);
    // Insert keeping (at, id) order; timers lists are short in tests.
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.at > at) i--;
    this.timers.splice(i, 0, { id, at, callback });
    return id;
  }

  clearTimeout(timer: ClockTimer): void {
    const i = this.timers.findIndex((t) => t.id === timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Due time of the earliest pending timer, or `undefined`. */
  nextTimerAt(): number | undefined {
    return this.timers[0]?.at;
  }

  /** Moves time forward by `ms`, firing due timers synchronously (no microtasks run between them). */
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const t = this.timers[0];
      if (t === undefined || t.at > target) break;
      this.timers.shift();
      this.current = Math.max(this.current, t.at);
      t.callback();
    }
    this.current = target;
  }

  /**
   * Moves time forward by `ms`, firing due timers one at a time and letting promise callbacks
   * settle before and after each one. Use this for async code under test.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.current + ms;
    await flush();
    for (;;) {
      const t = this.timers[0];
      if (t === undefined || t.at > target) break;
      this.timers.shift();
      this.current = Math.max(this.current, t.at);
      t.callback();
      await flush();
    }
    this.current = target;
    await flush();
  }

  /** Fires every pending timer (including ones scheduled meanwhile), up to `limit` timers. */
  async runAllAsync(limit = 10_000): Promise<void> {
    await flush();
    for (let n = 0; n < limit; n++) {
      const t = this.timers.shift();
      if (t === undefined) return;
      this.current = Math.max(this.current, t.at);
      t.callback();
      await flush();
    }
    throw new Error(`FakeClock.runAllAsync: more than ${limit} timers`);
  }
}

/** Lets pending promise callbacks run: yields to the macrotask queue once. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
