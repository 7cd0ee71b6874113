import { InferenceError, type RateLimitObservation } from '@inferkit/inference-core';
import { toObservation, type RateLimitSnapshot } from './response-headers.js';

/**
 * Caps the waits a provider's rate-limit headers demand, as the retry policy caps Retry-After.
 * `x-ratelimit-remaining-requests: 0` with a reset of `100000h` would otherwise park every later
 * request for as long as the server says (and a wait past 2³¹ ms overflows a timer).
 *
 * A reset up to `maxWaitMs` passes on to the observers (`supervise`'s limiter pauses admission
 * until then). A longer one is kept here instead: requests fail at once with `rate_limited` and
 * `retryAfterMs` = the time the server demands, so a retry policy fails fast on them and a
 * router fails over. The block is re-checked with the server every `maxWaitMs`: one request goes
 * out, and the headers of its response renew or lift the block.
 */
export class RateLimitGate {
  private readonly maxWaitMs: number;
  private readonly provider: string;
  private blockedUntil: number;
  private recheckAt: number;
  private scope: 'requests' | 'tokens';

  constructor(maxWaitMs: number, provider: string) {
    this.maxWaitMs = maxWaitMs;
    this.provider = provider;
    this.blockedUntil = -Infinity;
    this.recheckAt = -Infinity;
    this.scope = 'requests';
  }

  /**
   * Reads one response's rate-limit state; returns what the observers may act on (the reset
   * removed when it is over the cap).
   */
  observe(snapshot: RateLimitSnapshot, nowMs: number = performance.now()): RateLimitObservation {
    const obs = toObservation(snapshot);
    const reset = obs.resetMs;
    if (reset !== undefined && reset > this.maxWaitMs) {
      this.blockedUntil = nowMs + reset;
      this.recheckAt = nowMs + this.maxWaitMs;
      this.scope = obs.remainingRequests === 0 ? 'requests' : 'tokens';
      delete obs.resetMs;
    } else {
      // The server's latest word: whatever blocked us before no longer holds.
      this.blockedUntil = -Infinity;
    }
    return obs;
  }

  /** The error for a request arriving while a long block holds, or `undefined` to let it through. */
  check(requestId: string, nowMs: number = performance.now()): InferenceError | undefined {
    if (nowMs >= this.blockedUntil) return undefined;
    if (nowMs >= this.recheckAt) {
      // This request asks the server again; the ones after it keep failing fast until it answers.
      this.recheckAt = nowMs + this.maxWaitMs;
      return undefined;
    }
    const retryAfterMs = Math.ceil(this.blockedUntil - nowMs);
    return new InferenceError(
      'rate_limited',
      `${this.provider}: the provider reported its ${this.scope} limit exhausted for ${describeMs(retryAfterMs)}, longer than the ${this.maxWaitMs} ms this runner waits (maxRateLimitWaitMs)`,
      { provider: this.provider, requestId, retryAfterMs, details: { scope: this.scope, remaining: 0 } },
    );
  }

  /** Forgets any block (new credentials or configuration). */
  clear(): void {
    this.blockedUntil = -Infinity;
  }
}

function describeMs(ms: number): string {
  if (ms >= 3_600_000) return `${Math.round(ms / 3_600_000)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.ceil(ms / 1000)} s`;
}
