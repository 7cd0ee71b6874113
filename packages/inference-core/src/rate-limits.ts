/**
 * Request-rate limits for one runner or deployment. Every field is optional; `undefined` means
 * "no limit of this kind". A runner may advertise its provider's limits via `rateLimits()`.
 */
export interface RateLimits {
  /** Requests per minute (a bucket of this size refilling continuously). */
  requestsPerMinute?: number;
  /** Tokens per minute, charged with `ExecuteBatch.estimatedTokens`, corrected from actual usage. */
  tokensPerMinute?: number;
  /** Maximum requests in flight at once. */
  maxConcurrent?: number;
  /** Longest a request may wait for capacity before failing with `backpressure`. */
  maxWaitMs?: number;
  /** Most requests that may wait at once; the next one fails with `backpressure`. */
  maxQueueLength?: number;
}
