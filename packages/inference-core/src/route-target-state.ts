import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import type { CircuitBreakerConfig } from './circuit-breaker-config.js';
import type { Clock } from './clock.js';
import type { ExecuteBatch } from './execute-batch.js';
import type { ModelRunner } from './model-runner.js';
import type { RouteEvent } from './route-event.js';

/** Per-target figures of `Router.stats()`. */
export interface RouteTargetStats {
  /** The target's name. */
  name: string;
  /** Requests (and continuations) running on it now. */
  inFlight: number;
  /** Requests whose stream it finished. */
  served: number;
  /** Attempts that failed on it (before or after the first chunk). */
  failed: number;
  /** Requests that left it for another target before their first chunk (`failover` events from it). */
  failovers: number;
  /** Streams that failed on it mid-answer and were continued on another target (`resumed` events from it). */
  resumes: number;
  /** Its circuit breaker's state. */
  state: CircuitState;
}

/** @internal One target's runner, settings, load and health, as the router sees it. */
export class RouteTargetState {
  readonly runner: ModelRunner;
  readonly name: string;
  readonly index: number;
  readonly model: string | undefined;
  readonly weight: number;
  readonly maxConcurrent: number;
  readonly breaker: CircuitBreaker;
  inFlight: number;
  tokensInFlight: number;
  served: number;
  failed: number;
  failovers: number;
  resumes: number;

  constructor(
    init: { runner: ModelRunner; name: string; index: number; model: string | undefined; weight: number; maxConcurrent: number },
    breaker: CircuitBreakerConfig,
    clock: Clock,
    emit: (event: RouteEvent) => void,
  ) {
    this.runner = init.runner;
    this.name = init.name;
    this.index = init.index;
    this.model = init.model;
    this.weight = init.weight;
    this.maxConcurrent = init.maxConcurrent;
    this.inFlight = 0;
    this.tokensInFlight = 0;
    this.served = 0;
    this.failed = 0;
    this.failovers = 0;
    this.resumes = 0;
    const name = init.name;
    this.breaker = new CircuitBreaker(breaker, {
      clock,
      name,
      onTransition: (transition) => {
        if (transition.to === 'open') emit({ type: 'target_down', atMs: transition.atMs, target: name, transition });
        else if (transition.to === 'closed') emit({ type: 'target_up', atMs: transition.atMs, target: name, transition });
      },
    });
  }

  /** Whether a new request fits under `maxConcurrent`. */
  get hasCapacity(): boolean {
    return this.inFlight < this.maxConcurrent;
  }

  /** The batch as this target receives it (`model` rewritten when the target names one). */
  batchFor(batch: ExecuteBatch): ExecuteBatch {
    return this.model === undefined || this.model === batch.model ? batch : { ...batch, model: this.model };
  }

  stats(): RouteTargetStats {
    return {
      name: this.name,
      inFlight: this.inFlight,
      served: this.served,
      failed: this.failed,
      failovers: this.failovers,
      resumes: this.resumes,
      state: this.breaker.state,
    };
  }
}
