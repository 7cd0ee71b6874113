import { Counter, Gauge, type Registry } from 'prom-client';
import type { RouteTargetStats } from '@inferkit/inference-core';

/** A model whose runner is a `Router`: its name (the `route` label) and the router's figures. */
export interface RoutedModel {
  readonly model: string;
  stats(): readonly RouteTargetStats[];
  /** Requests waiting for a free slot on any target. */
  readonly waiting: number;
}

type Stat = 'served' | 'failed' | 'failovers' | 'resumes';

/**
 * Per-target series of routed models, labelled `{route, target}`: read from each router's
 * `stats()` when Prometheus scrapes (prom-client's `collect`), so requests pay nothing for them
 * and routers built by the application are covered as well as the config's.
 */
export class RouteMetrics {
  constructor(registry: Registry, routed: () => Iterable<RoutedModel>) {
    const each = (fn: (route: string, s: RouteTargetStats) => void): void => {
      for (const r of routed()) for (const s of r.stats()) fn(r.model, s);
    };
    new Gauge({
      name: 'inferkit_route_target_in_flight',
      help: 'Requests (and continuations) running on a route target now.',
      labelNames: ['route', 'target'] as const,
      registers: [registry],
      collect() {
        this.reset();
        each((route, s) => this.set({ route, target: s.name }, s.inFlight));
      },
    });
    new Gauge({
      name: 'inferkit_route_target_open',
      help: "1 while a route target's circuit breaker is open (it gets no requests until its probe), else 0.",
      labelNames: ['route', 'target'] as const,
      registers: [registry],
      collect() {
        this.reset();
        each((route, s) => this.set({ route, target: s.name }, s.state === 'open' ? 1 : 0));
      },
    });
    new Gauge({
      name: 'inferkit_route_waiting',
      help: 'Requests waiting for a free slot on any target of a route.',
      labelNames: ['route'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const r of routed()) this.set({ route: r.model }, r.waiting);
      },
    });
    const counter = (name: string, help: string, stat: Stat): void => {
      new Counter({
        name,
        help,
        labelNames: ['route', 'target'] as const,
        registers: [registry],
        collect() {
          // The router keeps the totals; the series are re-read, never accumulated here.
          this.reset();
          each((route, s) => this.inc({ route, target: s.name }, s[stat]));
        },
      });
    };
    counter('inferkit_route_target_served_total', 'Streams a route target finished.', 'served');
    counter('inferkit_route_target_failed_total', 'Attempts that failed on a route target (before or after the first chunk).', 'failed');
    counter('inferkit_route_target_failover_total', 'Requests that left a route target for another before their first chunk.', 'failovers');
    counter('inferkit_route_target_resume_total', 'Streams that failed on a route target mid-answer and were continued on another.', 'resumes');
  }
}
