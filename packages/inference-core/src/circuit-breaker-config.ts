/** Settings of a `CircuitBreaker`. */
export interface CircuitBreakerConfig {
  /** Failures (errors with `countsAsCircuitFailure`) inside `windowMs` that open the breaker. */
  failureThreshold: number;
  /** Rolling window in which failures are counted (ms). */
  windowMs: number;
  /** How long the breaker stays open before letting probes through (ms). */
  openDurationMs: number;
  /** Cap of the open duration, which doubles after each failed probe (default 8 × `openDurationMs`). */
  maxOpenDurationMs?: number;
  /** Probes allowed in flight at once while half-open (default 1). */
  halfOpenMaxProbes?: number;
}
