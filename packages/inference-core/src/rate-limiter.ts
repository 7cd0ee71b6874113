import { type Clock, type ClockTimer, realClock } from './clock.js';
import { InferenceError } from './inference-error.js';
import type { RateLimits } from './rate-limits.js';
import { abortError } from './abort-error.js';
import type { RateGate } from './policy-store.js';

/** What one request costs the limiter. */
export interface RateLimitCost {
  /** Requests (default 1). */
  requests?: number;
  /** Estimated tokens (default 0), corrected by `release({ actualTokens })`. */
  tokens?: number;
}

/** A granted slot. Release it exactly once when the request ends (extra calls are ignored). */
export interface RateLimitPermit {
  /** Tokens charged at admission. */
  readonly tokens: number;
  /** Frees the concurrency slot; `actualTokens` corrects the token bucket by the difference. */
  release(usage?: { actualTokens?: number }): void;
}

/** Rate-limit state reported by a provider (e.g. `x-ratelimit-*` headers). */
export interface RateLimitObservation {
  /** Requests left in the provider's window. */
  remainingRequests?: number;
  /** Tokens left in the provider's window. */
  remainingTokens?: number;
  /** Time until the provider's window resets (ms); with nothing remaining, admission pauses until then. */
  resetMs?: number;
}

/** Options of `RateLimiter`. */
export interface RateLimiterOptions {
  /** Time source (default `realClock`). */
  clock?: Clock;
  /**
   * Whether the RPM / TPM buckets refill with time (default true). `false`: they hold only what
   * `setLevels` puts in them, for a store that hands out capacity claimed from a shared bucket
   * (`@inferkit/store-redis`'s approximate mode).
   */
  refill?: boolean;
}

class Permit implements RateLimitPermit {
  readonly tokens: number;
  private limiter: RateLimiter | null;
  constructor(limiter: RateLimiter, tokens: number) {
    this.tokens = tokens;
    this.limiter = limiter;
  }
  release(usage?: { actualTokens?: number }): void {
    const l = this.limiter;
    if (l === null) return;
    this.limiter = null;
    l._release(this.tokens, usage?.actualTokens);
  }
}

interface Waiter {
  requests: number;
  tokens: number;
  enqueuedAt: number;
  resolve: (p: RateLimitPermit) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
  timer: ClockTimer | null;
}

/**
 * Requests-per-minute and tokens-per-minute buckets (refilling continuously, full at start) plus a
 * concurrency limit. `acquire` WAITS for capacity in FIFO order — a waiter is never overtaken —
 * and rejects only on abort (`cancelled`) or when `maxQueueLength` / `maxWaitMs` is exceeded
 * (`backpressure`). A request larger than a whole bucket is admitted when that bucket is full and
 * drives it negative, so it is paid back before the next one.
 */
export class RateLimiter implements RateGate {
  private readonly clock: Clock;
  private readonly reqCap: number;
  private readonly reqRate: number; // per ms
  private reqLevel: number;
  private readonly tokCap: number;
  private readonly tokRate: number; // per ms
  private tokLevel: number;
  private lastRefill: number;
  private readonly refills: boolean;
  private maxConcurrentValue: number;
  private readonly maxWaitMs: number | undefined;
  private readonly maxQueueLength: number | undefined;
  private inFlightCount: number;
  private blockedUntil: number;
  private readonly queue: Waiter[];
  private timer: ClockTimer | null;
  private timerAt: number;
  private readonly onTimer: () => void;

  constructor(limits: RateLimits, options?: RateLimiterOptions) {
    this.clock = options?.clock ?? realClock;
    this.reqCap = limits.requestsPerMinute ?? Infinity;
    this.reqRate = this.reqCap / 60_000;
    this.reqLevel = this.reqCap;
    this.tokCap = limits.tokensPerMinute ?? Infinity;
    this.tokRate = this.tokCap / 60_000;
    this.tokLevel = this.tokCap;
    this.lastRefill = this.clock.now();
    this.refills = options?.refill !== false;
    this.maxConcurrentValue = limits.maxConcurrent ?? Infinity;
    this.maxWaitMs = limits.maxWaitMs;
    this.maxQueueLength = limits.maxQueueLength;
    this.inFlightCount = 0;
    this.blockedUntil = -Infinity;
    this.queue = [];
    this.timer = null;
    this.timerAt = Infinity;
    this.onTimer = () => {
      this.timer = null;
      this.timerAt = Infinity;
      this.drain();
    };
    for (const [k, v] of [
      ['requestsPerMinute', limits.requestsPerMinute],
      ['tokensPerMinute', limits.tokensPerMinute],
      ['maxConcurrent', limits.maxConcurrent],
    ] as const) {
      if (v !== undefined && !(typeof v === 'number' && v > 0)) throw new RangeError(`RateLimiter: ${k} must be > 0`);
    }
  }

  /** Requests holding a permit. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Requests waiting. */
  get queueLength(): number {
    return this.queue.length;
  }

  /** Current concurrency limit (`Infinity` = none). */
  get maxConcurrent(): number {
    return this.maxConcurrentValue;
  }

  /** Changes the concurrency limit (e.g. budget throttling); waiters are admitted at once if it grew. */
  setMaxConcurrent(n: number | undefined): void {
    this.maxConcurrentValue = n === undefined ? Infinity : Math.max(1, n);
    this.drain();
  }

  /**
   * Waits for capacity, then resolves with a permit. Rejects with `cancelled` if `signal` aborts
   * while waiting, with `backpressure` if the queue is full (`reason: 'capacity'` when
   * `maxQueueLength` is 0) or `maxWaitMs` passes.
   */
  acquire(cost?: RateLimitCost, options?: { signal?: AbortSignal }): Promise<RateLimitPermit> {
    const requests = cost?.requests ?? 1;
    const tokens = cost?.tokens ?? 0;
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    // Fast path: nobody waiting and capacity available → no waiter object, no timer.
    if (this.queue.length === 0) {
      this.refill(this.clock.now());
      if (this.admissible(requests, tokens)) return Promise.resolve(this.grant(requests, tokens));
    }
    const max = this.maxQueueLength;
    if (max !== undefined && this.queue.length >= max) {
      return Promise.reject(
        new InferenceError('backpressure', max === 0 ? 'no capacity available' : `rate limiter queue is full (${max})`, {
          details: { reason: max === 0 ? 'capacity' : 'queue_full', queueLength: this.queue.length },
        }),
      );
    }
    return new Promise<RateLimitPermit>((resolve, reject) => {
      const w: Waiter = {
        requests,
        tokens,
        enqueuedAt: this.clock.now(),
        resolve,
        reject,
        signal,
        onAbort: null,
        timer: null,
      };
      if (signal !== undefined) {
        w.onAbort = () => this.removeWaiter(w, abortError(signal));
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (this.maxWaitMs !== undefined) {
        const maxWaitMs = this.maxWaitMs;
        w.timer = this.clock.setTimeout(() => {
          w.timer = null;
          this.removeWaiter(
            w,
            new InferenceError('backpressure', `waited more than ${maxWaitMs} ms for rate-limit capacity`, {
              details: { reason: 'max_wait', waitedMs: this.clock.now() - w.enqueuedAt, queueLength: this.queue.length },
            }),
          );
        }, maxWaitMs);
      }
      this.queue.push(w);
      this.drain();
    });
  }

  /**
   * Sets the levels of the RPM / TPM buckets (`undefined`: unchanged), capped at their size; a
   * negative level is a debt paid back before the next admission. For a store that keeps the
   * real bucket elsewhere (`RateLimiterOptions.refill`). Waiters that fit now are admitted.
   */
  /** Current levels of the RPM / TPM buckets (`Infinity` for no limit). */
  get levels(): { requests: number; tokens: number } {
    this.refill(this.clock.now());
    return { requests: this.reqLevel, tokens: this.tokLevel };
  }

  setLevels(levels: { requests?: number; tokens?: number }): void {
    this.refill(this.clock.now());
    const { requests, tokens } = levels;
    if (requests !== undefined && Number.isFinite(requests) && this.reqCap !== Infinity) this.reqLevel = Math.min(this.reqCap, requests);
    if (tokens !== undefined && Number.isFinite(tokens) && this.tokCap !== Infinity) this.tokLevel = Math.min(this.tokCap, tokens);
    this.drain();
  }

  /** Feeds provider-reported limits: buckets never hold more than the provider says remains. */
  observe(observation: RateLimitObservation): void {
    const now = this.clock.now();
    this.refill(now);
    const { remainingRequests: rr, remainingTokens: rt, resetMs } = observation;
    if (rr !== undefined && Number.isFinite(rr) && this.reqCap !== Infinity) this.reqLevel = Math.min(this.reqLevel, rr);
    if (rt !== undefined && Number.isFinite(rt) && this.tokCap !== Infinity) this.tokLevel = Math.min(this.tokLevel, rt);
    if (resetMs !== undefined && resetMs > 0 && (rr === 0 || rt === 0)) {
      this.blockedUntil = Math.max(this.blockedUntil, now + resetMs);
    }
    this.drain();
  }

  /** @internal Called by permits. */
  _release(charged: number, actualTokens: number | undefined): void {
    this.inFlightCount--;
    if (actualTokens !== undefined && this.tokCap !== Infinity && Number.isFinite(actualTokens)) {
      this.refill(this.clock.now());
      this.tokLevel = Math.min(this.tokCap, this.tokLevel + charged - actualTokens);
    }
    this.drain();
  }

  private refill(now: number): void {
    const dt = now - this.lastRefill;
    if (dt <= 0 || !this.refills) return;
    this.lastRefill = now;
    if (this.reqLevel < this.reqCap) this.reqLevel = Math.min(this.reqCap, this.reqLevel + dt * this.reqRate);
    if (this.tokLevel < this.tokCap) this.tokLevel = Math.min(this.tokCap, this.tokLevel + dt * this.tokRate);
  }

  private admissible(requests: number, tokens: number): boolean {
    return (
      this.inFlightCount < this.maxConcurrentValue &&
      this.clock.now() >= this.blockedUntil &&
      this.reqLevel + 1e-9 >= Math.min(requests, this.reqCap) &&
      this.tokLevel + 1e-9 >= Math.min(tokens, this.tokCap)
    );
  }

  private grant(requests: number, tokens: number): RateLimitPermit {
    if (this.reqCap !== Infinity) this.reqLevel -= requests;
    if (this.tokCap !== Infinity) this.tokLevel -= tokens;
    this.inFlightCount++;
    return new Permit(this, tokens);
  }

  private drain(): void {
    const now = this.clock.now();
    this.refill(now);
    while (this.queue.length > 0) {
      const w = this.queue[0]!;
      if (!this.admissible(w.requests, w.tokens)) break;
      this.queue.shift();
      this.detach(w);
      w.resolve(this.grant(w.requests, w.tokens));
    }
    const head = this.queue[0];
    if (head === undefined) {
      if (this.timer !== null) {
        this.clock.clearTimeout(this.timer);
        this.timer = null;
        this.timerAt = Infinity;
      }
      return;
    }
    if (this.inFlightCount >= this.maxConcurrentValue || !this.refills) return; // a release (or setLevels) wakes us
    // Head is blocked by a bucket or a provider reset: wake when enough has refilled.
    let wait = Math.max(0, this.blockedUntil - now);
    const needReq = Math.min(head.requests, this.reqCap) - this.reqLevel;
    if (needReq > 0) wait = Math.max(wait, needReq / this.reqRate);
    const needTok = Math.min(head.tokens, this.tokCap) - this.tokLevel;
    if (needTok > 0) wait = Math.max(wait, needTok / this.tokRate);
    const at = now + Math.max(1, Math.ceil(wait));
    if (this.timer !== null && this.timerAt <= at) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(this.onTimer, at - now);
  }

  private detach(w: Waiter): void {
    if (w.onAbort !== null) {
      w.signal!.removeEventListener('abort', w.onAbort);
      w.onAbort = null;
    }
    if (w.timer !== null) {
      this.clock.clearTimeout(w.timer);
      w.timer = null;
    }
  }

  private removeWaiter(w: Waiter, err: InferenceError): void {
    const i = this.queue.indexOf(w);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.detach(w);
    w.reject(err);
    if (i === 0) this.drain(); // the next waiter may fit now
  }
}
