import {
  abortError,
  type Clock,
  type ClockTimer,
  InferenceError,
  type RateGate,
  type RateLimitCost,
  RateLimiter,
  type RateLimitObservation,
  type RateLimitPermit,
  type RateLimits,
} from '@inferkit/inference-core';
import { RATE_ACQUIRE, RATE_OBSERVE, RATE_RELEASE } from './lua-scripts.js';
import { isSlowReply, LuaScript } from './redis-connection.js';
import type { StoreContext } from './store-context.js';

const ACQUIRE = new LuaScript(RATE_ACQUIRE);
const RELEASE = new LuaScript(RATE_RELEASE);
const OBSERVE = new LuaScript(RATE_OBSERVE);

// Attempts of one gate in flight at once while nobody waits (they pipeline on one connection).
const MAX_PARALLEL_ATTEMPTS = 256;
// Longest a waiter for a slot sleeps before asking again: a release normally wakes it at once
// (pub/sub), this covers a missed message and a lease that expired without one.
const SLOT_POLL_MS = 200;
// After a reply that came too late, the head asks again after this long.
const SLOW_RETRY_MS = 20;

interface Waiter {
  requests: number;
  tokens: number;
  enqueuedAt: number;
  resolve: (p: RateLimitPermit) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
  maxWaitTimer: ClockTimer | null;
  attempting: boolean;
  gone: boolean;
}

class StrictPermit implements RateLimitPermit {
  readonly tokens: number;
  private gate: StrictRateGate | null;
  private readonly leaseId: string;
  constructor(gate: StrictRateGate, tokens: number, leaseId: string) {
    this.tokens = tokens;
    this.gate = gate;
    this.leaseId = leaseId;
  }
  release(usage?: { actualTokens?: number }): void {
    const g = this.gate;
    if (g === null) return;
    this.gate = null;
    g._release(this.leaseId, this.tokens, usage?.actualTokens, 0);
  }
}

/**
 * Strict mode: every permit is one atomic script call against the shared buckets (RPM, TPM, with
 * the same refill and usage correction as `RateLimiter`) and concurrency slots, which are leases
 * renewed while the request runs and expiring `leaseMs` after a process dies. Waiters queue in
 * this process in FIFO order; once one is refused, only the head asks again, when the script
 * says capacity returns or when a slot is released anywhere (pub/sub), so a long queue costs the
 * store one call per admission, not one per waiter.
 *
 * The store unreachable: `fail_open` admits through a process-local `RateLimiter` with the same
 * limits (each process then enforces the whole limit by itself), `fail_closed` rejects with
 * `backpressure` (`store_unavailable`).
 */
export class StrictRateGate implements RateGate {
  private readonly ctx: StoreContext;
  private readonly key: string;
  private readonly clock: Clock;
  private readonly bucketKey: string;
  private readonly slotKey: string;
  private readonly channel: string;
  private readonly reqCap: string;
  private readonly tokCap: string;
  private readonly maxConcurrent: string;
  private readonly maxWaitMs: number | undefined;
  private readonly maxQueueLength: number | undefined;
  private readonly fallback: RateLimiter;
  private readonly queue: Waiter[];
  private inFlightCount: number;
  private attempts: number;
  // A waiter was refused: until the queue drains only its head asks again.
  private blocked: boolean;
  private wakeTimer: ClockTimer | null;

  constructor(ctx: StoreContext, key: string, limits: RateLimits, clock: Clock) {
    for (const [k, v] of [
      ['requestsPerMinute', limits.requestsPerMinute],
      ['tokensPerMinute', limits.tokensPerMinute],
      ['maxConcurrent', limits.maxConcurrent],
    ] as const) {
      if (v !== undefined && !(typeof v === 'number' && v > 0)) throw new RangeError(`RateLimiter: ${k} must be > 0`);
    }
    this.ctx = ctx;
    this.key = key;
    this.clock = clock;
    this.bucketKey = ctx.key(key, 'rate');
    this.slotKey = ctx.key(key, 'slots');
    this.channel = limits.maxConcurrent !== undefined ? ctx.key(key, 'released') : '';
    this.reqCap = String(limits.requestsPerMinute ?? -1);
    this.tokCap = String(limits.tokensPerMinute ?? -1);
    this.maxConcurrent = String(limits.maxConcurrent !== undefined ? Math.floor(limits.maxConcurrent) : -1);
    this.maxWaitMs = limits.maxWaitMs;
    this.maxQueueLength = limits.maxQueueLength;
    this.fallback = new RateLimiter(limits, { clock });
    this.queue = [];
    this.inFlightCount = 0;
    this.attempts = 0;
    this.blocked = false;
    this.wakeTimer = null;
    if (this.channel !== '') {
      ctx.conn.subscribe(this.channel, () => this.wake()).catch(() => undefined);
    }
  }

  get inFlight(): number {
    return this.inFlightCount + this.fallback.inFlight;
  }

  get queueLength(): number {
    return this.queue.length + this.fallback.queueLength;
  }

  acquire(cost?: RateLimitCost, options?: { signal?: AbortSignal }): Promise<RateLimitPermit> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const max = this.maxQueueLength;
    if (max !== undefined && this.blocked && this.queue.length >= max) {
      return Promise.reject(
        new InferenceError('backpressure', max === 0 ? 'no capacity available' : `rate limiter queue is full (${max})`, {
          details: { reason: max === 0 ? 'capacity' : 'queue_full', queueLength: this.queue.length },
        }),
      );
    }
    return new Promise<RateLimitPermit>((resolve, reject) => {
      const w: Waiter = {
        requests: cost?.requests ?? 1,
        tokens: cost?.tokens ?? 0,
        enqueuedAt: this.clock.now(),
        resolve,
        reject,
        signal,
        onAbort: null,
        maxWaitTimer: null,
        attempting: false,
        gone: false,
      };
      if (signal !== undefined) {
        w.onAbort = () => this.remove(w, abortError(signal));
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      if (this.maxWaitMs !== undefined) {
        const maxWaitMs = this.maxWaitMs;
        w.maxWaitTimer = this.clock.setTimeout(() => {
          w.maxWaitTimer = null;
          this.remove(
            w,
            new InferenceError('backpressure', `waited more than ${maxWaitMs} ms for rate-limit capacity`, {
              details: { reason: 'max_wait', waitedMs: this.clock.now() - w.enqueuedAt, queueLength: this.queue.length },
            }),
          );
        }, maxWaitMs);
      }
      this.queue.push(w);
      this.pump();
    });
  }

  observe(observation: RateLimitObservation): void {
    this.fallback.observe(observation);
    const num = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? String(v) : '');
    this.ctx
      .run(OBSERVE, [this.bucketKey], [this.ctx.now(), this.reqCap, this.tokCap, num(observation.remainingRequests), num(observation.remainingTokens), num(observation.resetMs)])
      .catch((e: unknown) => this.ctx.failed('rate_limits', this.key, e));
  }

  /** @internal Called by permits (and for a grant that found its waiter gone: `refund`). */
  _release(leaseId: string, charged: number, actualTokens: number | undefined, refund: number): void {
    this.inFlightCount--;
    this.ctx.dropLease(leaseId);
    const correct = actualTokens !== undefined && Number.isFinite(actualTokens) && actualTokens !== charged && this.tokCap !== '-1';
    // Nothing to free, correct or give back: no store call at all.
    if (!correct && this.channel === '' && refund === 0) return;
    const actual = correct ? String(actualTokens) : '';
    this.ctx
      .run(RELEASE, [this.bucketKey, this.slotKey], [this.ctx.now(), this.reqCap, this.tokCap, leaseId, charged, actual, refund, this.channel])
      // Not released: the lease expires by itself within leaseMs.
      .catch((e: unknown) => this.ctx.failed('rate_limits', this.key, e));
    if (this.channel !== '') this.wake();
  }

  /** Something was released: the head asks again now instead of at its timer. */
  private wake(): void {
    if (!this.blocked || this.wakeTimer === null) return;
    this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
    this.pump();
  }

  private pump(): void {
    if (this.blocked) {
      const head = this.queue[0];
      if (head === undefined) {
        this.blocked = false;
        return;
      }
      if (!head.attempting && this.wakeTimer === null) this.attempt(head);
      return;
    }
    for (const w of this.queue) {
      if (this.attempts >= MAX_PARALLEL_ATTEMPTS) break;
      if (!w.attempting) this.attempt(w);
    }
  }

  private attempt(w: Waiter): void {
    w.attempting = true;
    this.attempts++;
    const leaseId = this.ctx.nextId();
    this.ctx
      .run(ACQUIRE, [this.bucketKey, this.slotKey], [this.ctx.now(), this.reqCap, this.tokCap, w.requests, w.tokens, this.maxConcurrent, leaseId, this.ctx.leaseMs])
      .then(
        (reply) => this.onReply(w, leaseId, reply as [number, number, string?]),
        (e: unknown) => this.onStoreError(w, e),
      );
  }

  private onReply(w: Waiter, leaseId: string, reply: [number, number, string?]): void {
    this.attempts--;
    w.attempting = false;
    this.ctx.succeeded('rate_limits', this.key);
    if (Number(reply[0]) === 1) {
      this.inFlightCount++;
      if (this.channel !== '') this.ctx.holdLease(leaseId, this.slotKey);
      if (w.gone) {
        this._release(leaseId, w.tokens, undefined, w.requests); // nobody to hand it to: give it all back
      } else {
        this.take(w);
        w.resolve(new StrictPermit(this, w.tokens, leaseId));
      }
      this.pump();
      return;
    }
    if (w.gone) {
      this.pump();
      return;
    }
    this.blocked = true;
    if (this.queue[0] !== w || this.wakeTimer !== null) return; // the head's own reply decides
    const waitMs = Number(reply[1]);
    const delay = reply[2] === 'slots' ? Math.min(waitMs, SLOT_POLL_MS) : waitMs;
    this.wakeTimer = this.clock.setTimeout(() => {
      this.wakeTimer = null;
      this.pump();
    }, Math.max(1, delay));
  }

  private onStoreError(w: Waiter, error: unknown): void {
    this.attempts--;
    w.attempting = false;
    if (w.gone) {
      this.pump();
      return;
    }
    if (isSlowReply(error) && this.ctx.conn.ready) {
      // Slow, not down: the waiter keeps its place, bounded by its own maxWaitMs and signal. The
      // late command may still have granted (its token is lost; a slot lease expires unrenewed).
      this.blocked = true;
      if (this.queue[0] === w && this.wakeTimer === null) {
        this.wakeTimer = this.clock.setTimeout(() => {
          this.wakeTimer = null;
          this.pump();
        }, SLOW_RETRY_MS);
      }
      return;
    }
    const action = this.ctx.failed('rate_limits', this.key, error);
    this.take(w);
    if (action === 'fail_open') {
      this.fallback.acquire({ requests: w.requests, tokens: w.tokens }, w.signal === undefined ? undefined : { signal: w.signal }).then(w.resolve, w.reject);
    } else {
      w.reject(this.ctx.unavailable('rate_limits'));
    }
    this.pump();
  }

  /** Takes a waiter out of the queue (granted or failed) and stops its timers. */
  private take(w: Waiter): void {
    const i = this.queue.indexOf(w);
    if (i >= 0) this.queue.splice(i, 1);
    if (w.onAbort !== null) {
      w.signal!.removeEventListener('abort', w.onAbort);
      w.onAbort = null;
    }
    if (w.maxWaitTimer !== null) {
      this.clock.clearTimeout(w.maxWaitTimer);
      w.maxWaitTimer = null;
    }
  }

  private remove(w: Waiter, err: InferenceError): void {
    if (w.gone || !this.queue.includes(w)) return;
    const wasHead = this.queue[0] === w;
    this.take(w);
    w.gone = true;
    w.reject(err);
    if (wasHead && this.wakeTimer !== null) {
      this.clock.clearTimeout(this.wakeTimer);
      this.wakeTimer = null;
    }
    this.pump();
  }

  /** Stops timers (the store is closing). */
  close(): void {
    if (this.wakeTimer !== null) this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
  }
}
