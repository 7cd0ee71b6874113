/**
 * Time source for the policies. Injected so tests run on a `FakeClock` instead of real sleeps.
 * Times are milliseconds; `now()` is epoch-based and never goes backwards.
 */
export interface Clock {
  /** Current time in epoch milliseconds (monotonic). */
  now(): number;
  /**
   * Calls `callback` once, `delayMs` from now; returns a handle for `clearTimeout`. Any delay is
   * honoured exactly (see `checkTimerDelay`): a negative one means "as soon as possible",
   * `Infinity` means "never" (the handle can still be cleared), `NaN` or a non-number throws
   * `RangeError`.
   */
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  /** Cancels a timer; unknown or already-fired handles are ignored. */
  clearTimeout(timer: ClockTimer): void;
}

/** Opaque timer handle returned by `Clock.setTimeout`. */
export type ClockTimer = unknown;

/**
 * Longest delay Node's `setTimeout` takes (2^31 - 1 ms, about 24.8 days). A longer one overflows:
 * Node prints a `TimeoutOverflowWarning` and fires after 1 ms.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/**
 * The delay a `Clock` waits for `delayMs`: negative ones (and `-Infinity`) become 0, `Infinity`
 * stays (a timer that never fires); `NaN` and non-numbers throw `RangeError`, since they are
 * always a bug upstream and firing at once or never would hide it.
 */
export function checkTimerDelay(delayMs: number): number {
  if (typeof delayMs !== 'number' || Number.isNaN(delayMs)) {
    throw new RangeError(`Clock.setTimeout: delayMs must be a number, got ${typeof delayMs === 'number' ? 'NaN' : typeof delayMs}`);
  }
  return delayMs > 0 ? delayMs : 0;
}

/**
 * A real timer past `MAX_TIMER_DELAY_MS`: waits in pieces of at most that length, so the callback
 * runs once, after the whole delay. `Infinity` arms nothing and so does not keep the process
 * alive (there is nothing it could ever wait for).
 */
class LongTimer {
  private remainingMs: number;
  private timer: ReturnType<typeof setTimeout> | null;
  private readonly callback: () => void;
  private readonly onPiece: () => void;

  constructor(callback: () => void, delayMs: number) {
    this.remainingMs = delayMs;
    this.timer = null;
    this.callback = callback;
    // Counts down by the pieces waited rather than re-reading the clock: a late piece only ever
    // makes the whole wait later, never earlier.
    this.onPiece = () => {
      this.timer = null;
      if (this.remainingMs > 0) this.arm();
      else this.callback();
    };
    if (delayMs !== Infinity) this.arm();
  }

  clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    const piece = Math.min(this.remainingMs, MAX_TIMER_DELAY_MS);
    this.remainingMs -= piece;
    this.timer = setTimeout(this.onPiece, piece);
  }
}

/**
 * The real clock: `performance.timeOrigin + performance.now()` (epoch ms that never jumps back
 * when the wall clock is adjusted) and the global timers, chained for delays past
 * `MAX_TIMER_DELAY_MS`.
 */
export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (callback, delayMs) => {
    const ms = checkTimerDelay(delayMs);
    return ms <= MAX_TIMER_DELAY_MS ? setTimeout(callback, ms) : new LongTimer(callback, ms);
  },
  clearTimeout: (timer) => {
    if (timer instanceof LongTimer) timer.clear();
    else clearTimeout(timer as ReturnType<typeof setTimeout>);
  },
};

interface FakeTimer {
  id: number;
  at: number;
  callback: () => void;
}

/**
 * A manually advanced clock for tests. Timers fire in time order (ties in creation order) when
 * `advance` / `advanceAsync` passes their due time. Delays follow `realClock` (`checkTimerDelay`):
 * a negative delay is due now, an `Infinity` one never fires, `NaN` throws `RangeError`.
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
    const at = this.current + checkTimerDelay(delayMs); // Infinity: sorts last, never comes due
    const id = this.nextId++;
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

  /** Number of timers neither fired nor cleared (`Infinity` ones included). */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Due time of the earliest timer that will fire, or `undefined` (none, or only `Infinity` ones). */
  nextTimerAt(): number | undefined {
    const at = this.timers[0]?.at;
    return at === Infinity ? undefined : at;
  }

  /**
   * Moves time forward by `ms` (a finite number >= 0, else `RangeError`), firing due timers
   * synchronously (no microtasks run between them).
   */
  advance(ms: number): void {
    const target = this.current + checkAdvance(ms);
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
    const target = this.current + checkAdvance(ms);
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

  /**
   * Fires every pending timer that will fire (including ones scheduled meanwhile; `Infinity` ones
   * stay pending), up to `limit` timers.
   */
  async runAllAsync(limit = 10_000): Promise<void> {
    await flush();
    for (let n = 0; n < limit; n++) {
      const t = this.timers[0];
      if (t === undefined || t.at === Infinity) return;
      this.timers.shift();
      this.current = Math.max(this.current, t.at);
      t.callback();
      await flush();
    }
    throw new Error(`FakeClock.runAllAsync: more than ${limit} timers`);
  }
}

function checkAdvance(ms: number): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`FakeClock: advance by a finite number of ms >= 0, got ${String(ms)}`);
  }
  return ms;
}

/** Lets pending promise callbacks run: yields to the macrotask queue once. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
