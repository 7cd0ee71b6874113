import {
  abortError,
  type Clock,
  type RateGate,
  type RateLimitCost,
  RateLimiter,
  type RateLimitObservation,
  type RateLimitPermit,
  type RateLimits,
} from '@inferkit/inference-core';
import { RATE_SYNC } from './lua-scripts.js';
import { isSlowReply, LuaScript } from './redis-connection.js';
import type { StoreContext } from './store-context.js';
import { StrictRateGate } from './strict-rate-gate.js';

const SYNC = new LuaScript(RATE_SYNC);

/** A local permit (its release corrects the local TPM level, given back at the next sync) and a slot. */
class ApproximatePermit implements RateLimitPermit {
  readonly tokens: number;
  private readonly local: RateLimitPermit;
  private slot: RateLimitPermit | null;
  constructor(local: RateLimitPermit, slot: RateLimitPermit | null) {
    this.tokens = local.tokens;
    this.local = local;
    this.slot = slot;
  }
  release(usage?: { actualTokens?: number }): void {
    this.local.release(usage);
    this.slot?.release();
    this.slot = null;
  }
}

/**
 * Approximate mode: RPM and TPM are decided by a process-local `RateLimiter` that does not refill
 * by itself: it holds capacity claimed from the shared buckets. Every `syncMs` the process gives
 * back what it holds (and the usage corrections of its released permits) and claims what it
 * expects to need until the next sync (twice what it used in the last period, plus what waits),
 * in one script call; no store call is on the request path. Whatever a process admits was taken
 * from the shared buckets first, so the processes together never exceed the shared limit; what
 * is approximate is latency and fairness: a request may wait up to one `syncMs` for capacity
 * that another process holds or that was not claimed yet. Concurrency slots stay strict
 * (leases, one store call per request): an approximate slot count is no limit.
 *
 * The store unreachable (a sync failed for another reason than a slow reply): `fail_open` admits
 * through a process-local `RateLimiter` with the same limits (each process then enforces the
 * whole limit by itself), `fail_closed` rejects with `backpressure` (`store_unavailable`), until
 * a sync succeeds again.
 */
export class ApproximateRateGate implements RateGate {
  private readonly ctx: StoreContext;
  private readonly key: string;
  private readonly clock: Clock;
  private readonly local: RateLimiter;
  private readonly fallback: RateLimiter;
  private readonly slots: StrictRateGate | null;
  private readonly bucketKey: string;
  private readonly membersKey: string;
  private readonly reqCap: string;
  private readonly tokCap: string;
  private readonly hasBuckets: boolean;
  private usedRequests: number;
  private usedTokens: number;
  // Requests (and their tokens) waiting in the local limiter: demand for the next claim.
  private waitingRequests: number;
  private waitingTokens: number;
  // Tokens per request lately: an idle process claims room for one such request.
  private tokensPerRequest: number;
  private syncing: boolean;
  // The last sync failed for another reason than slowness: the store is down.
  private storeDown: boolean;
  private readonly timer: ReturnType<typeof setInterval> | null;

  constructor(ctx: StoreContext, key: string, limits: RateLimits, clock: Clock) {
    this.ctx = ctx;
    this.key = key;
    this.clock = clock;
    const { maxConcurrent, ...buckets } = limits;
    this.local = new RateLimiter(buckets, { clock, refill: false });
    this.local.setLevels({ requests: 0, tokens: 0 }); // nothing is admitted before the first claim
    this.fallback = new RateLimiter(buckets, { clock });
    this.slots =
      maxConcurrent !== undefined
        ? new StrictRateGate(ctx, key, { maxConcurrent, ...(limits.maxWaitMs !== undefined ? { maxWaitMs: limits.maxWaitMs } : {}) }, clock)
        : null;
    this.bucketKey = ctx.key(key, 'rate');
    this.membersKey = ctx.key(key, 'members');
    this.reqCap = String(limits.requestsPerMinute ?? -1);
    this.tokCap = String(limits.tokensPerMinute ?? -1);
    this.hasBuckets = limits.requestsPerMinute !== undefined || limits.tokensPerMinute !== undefined;
    this.usedRequests = 0;
    this.usedTokens = 0;
    this.waitingRequests = 0;
    this.waitingTokens = 0;
    this.tokensPerRequest = 0;
    this.syncing = false;
    this.storeDown = false;
    this.timer = null;
    if (this.hasBuckets) {
      this.sync();
      this.timer = setInterval(() => this.sync(), ctx.syncMs);
      this.timer.unref();
    }
  }

  get inFlight(): number {
    return this.local.inFlight + this.fallback.inFlight;
  }

  get queueLength(): number {
    return this.local.queueLength + (this.slots?.queueLength ?? 0);
  }

  async acquire(cost?: RateLimitCost, options?: { signal?: AbortSignal }): Promise<RateLimitPermit> {
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal);
    let local: RateLimitPermit;
    if (this.hasBuckets && this.storeDown) {
      if (this.ctx.action('rate_limits') === 'fail_closed') throw this.ctx.unavailable('rate_limits');
      local = await this.fallback.acquire(cost, options);
    } else {
      const requests = cost?.requests ?? 1;
      const tokens = cost?.tokens ?? 0;
      this.waitingRequests += requests;
      this.waitingTokens += tokens;
      try {
        local = await this.local.acquire(cost, options);
      } finally {
        this.waitingRequests -= requests;
        this.waitingTokens -= tokens;
      }
      this.usedRequests += requests;
      this.usedTokens += tokens;
    }
    let slot: RateLimitPermit | null = null;
    if (this.slots !== null) {
      try {
        slot = await this.slots.acquire({ requests: 0, tokens: 0 }, options);
      } catch (e) {
        local.release();
        throw e;
      }
    }
    return new ApproximatePermit(local, slot);
  }

  observe(observation: RateLimitObservation): void {
    this.local.observe(observation);
    this.fallback.observe(observation);
  }

  private sync(): void {
    if (this.syncing) return;
    this.syncing = true;
    // Hand everything back (the local buckets hold nothing while the claim is on its way).
    const held = this.local.levels;
    const giveReq = this.reqCap === '-1' ? 0 : held.requests;
    const giveTok = this.tokCap === '-1' ? 0 : held.tokens;
    this.local.setLevels({ requests: 0, tokens: 0 });
    const usedReq = this.usedRequests;
    const usedTok = this.usedTokens;
    this.usedRequests = 0;
    this.usedTokens = 0;
    if (usedReq > 0) this.tokensPerRequest = usedTok / usedReq;
    const wantReq = Math.max(1, 2 * usedReq + this.waitingRequests);
    const wantTok = Math.max(this.tokensPerRequest, 2 * usedTok + this.waitingTokens);
    this.ctx
      .run(SYNC, [this.bucketKey, this.membersKey], [this.ctx.now(), this.reqCap, this.tokCap, giveReq, giveTok, wantReq, wantTok, this.ctx.processId, 3 * this.ctx.syncMs + 1000])
      .then(
        (reply) => {
          this.syncing = false;
          this.ctx.succeeded('rate_limits', this.key);
          const [cr, ct] = reply as [string, string];
          // Corrections from permits released meanwhile are in the local levels already.
          const now = this.local.levels;
          this.local.setLevels({ requests: now.requests + Number(cr), tokens: now.tokens + Number(ct) });
          this.storeDown = false;
        },
        (e: unknown) => {
          this.syncing = false;
          // Not given back: keep it (the store did not take it).
          const now = this.local.levels;
          this.local.setLevels({ requests: now.requests + giveReq, tokens: now.tokens + giveTok });
          if (isSlowReply(e) && this.ctx.conn.ready) return; // slow, not down: the next sync tries again
          this.storeDown = true;
          this.ctx.failed('rate_limits', this.key, e);
        },
      );
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.slots?.close();
  }
}
