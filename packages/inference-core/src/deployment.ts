import type { Budget } from './budget.js';
import type { CircuitBreakerConfig } from './circuit-breaker-config.js';
import type { RateLimits } from './rate-limits.js';
import type { RetryPolicy } from './retry-policy.js';
import type { RuntimeKind } from './runtime-kind.js';
import type { Serving } from './serving.js';
import type { Timeouts } from './timeouts.js';
import type { WeightSource } from './weight-source.js';

/**
 * The declarative description of one served model: what runs it and which policies wrap it.
 * Check untrusted input with `validateDeployment`.
 */
export interface Deployment {
  /** Unique name (used in events, metrics and as the public model name of a gateway). */
  name: string;
  /** Model id as the runtime knows it. */
  model: string;
  /** Engine family; `undefined` = `inferRuntime(model)`. */
  runtime?: RuntimeKind;
  /** Where local runtimes load weights from. */
  weights?: WeightSource;
  /** Request/token rate limits (else the runner's own `rateLimits()`). */
  rateLimits?: RateLimits;
  /** Retry behaviour (else no retries). */
  retry?: RetryPolicy;
  /** Deadlines. */
  timeouts?: Timeouts;
  /** Circuit breaker (else none). */
  circuitBreaker?: CircuitBreakerConfig;
  /** USD spend limits (else none). */
  budget?: Budget;
  /** Local concurrency. */
  serving?: Serving;
}
