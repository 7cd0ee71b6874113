import type { CircuitBreakerConfig } from './circuit-breaker-config.js';
import type { Clock } from './clock.js';
import type { InferenceErrorKind } from './inference-error.js';
import type { RouteEvent } from './route-event.js';
import type { SpanTracer } from './span-tracer.js';

/** How `route()` orders the targets for a request. */
export type RouteStrategy = 'fallback' | 'least_loaded' | 'cheapest';

/** Options of `route()`. */
export interface RouteOptions {
  /**
   * - `fallback`: targets in the given order; the next one only when one fails.
   * - `least_loaded`: fewest requests in flight, then fewest estimated tokens in flight; ties by
   *   weight, then round robin.
   * - `cheapest`: ascending `estimateCostUsd(batch)`, unknown prices last; targets above
   *   `maxCostUsd` are skipped.
   */
  strategy: RouteStrategy;
  /**
   * Error kinds that move a request to the next target before its first chunk (and, with
   * `resume`, continue it after). Default `DEFAULT_FALLBACK_KINDS`.
   */
  fallbackOn?: readonly InferenceErrorKind[];
  /**
   * Streams that survive: when a stream fails with a fallback kind after chunks reached the
   * caller, continue it (at most `maxResumes` times) on a target that declares `continuation`,
   * with the text delivered so far as a final `prefix` assistant message. Default 0 (off).
   */
  resume?: { maxResumes: number };
  /** Skip targets whose estimated cost for the request is above this (USD). */
  maxCostUsd?: number;
  /**
   * With `resume`: a handle that is neither read nor cancelled for this long (ms) is cancelled
   * (`cancelled`, `details.reason: 'abandoned'`), so a caller that walked away does not keep a
   * target's slot. Default 60,000, as `supervise`'s `serving.abandonedHandleMs`; `Infinity` = never.
   * (Without `resume` the caller holds the target's own handle, which its supervisor times.)
   */
  abandonedHandleMs?: number;
  /** Circuit breaker of each target (default `DEFAULT_ROUTE_BREAKER`). */
  circuitBreaker?: CircuitBreakerConfig;
  /** Name used in errors and events (default `'router'`). */
  name?: string;
  /** Time source (default `realClock`). */
  clock?: Clock;
  /** Receives events; called synchronously, exceptions are swallowed. */
  onEvent?: (event: RouteEvent) => void;
  /**
   * Emits one span per routed request (`route <name>`, an OpenTelemetry `Tracer`) with an event
   * per target tried (`gen_ai.inferkit.routed`), failover and resume; ended when the stream
   * settles. The targets' own supervisors emit their CLIENT spans as usual.
   */
  tracer?: SpanTracer;
}

/** Failover kinds when `fallbackOn` is not given: the backend is busy, broken or unreachable. */
export const DEFAULT_FALLBACK_KINDS: readonly InferenceErrorKind[] = Object.freeze([
  'rate_limited',
  'circuit_open',
  'backpressure',
  'budget_exceeded',
  'server_error',
  'network_error',
  'timeout',
  'runtime_crashed',
  'cuda_context_poisoned',
] as const);

/** Breaker of each target when `circuitBreaker` is not given: 5 failures in 30 s open it for 10 s. */
export const DEFAULT_ROUTE_BREAKER: Readonly<CircuitBreakerConfig> = Object.freeze({
  failureThreshold: 5,
  windowMs: 30_000,
  openDurationMs: 10_000,
});
