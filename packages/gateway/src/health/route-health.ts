import type { SuperviseEvent } from '@inferkit/inference-core';
import { ModelHealth, type ModelHealthSnapshot } from './model-health.js';

/**
 * The health of a model served by a router, derived from its targets' health: `ready` while any
 * target is ready (the router sends requests there), else `rebuilding` while one rebuilds, else
 * `loading` while one loads, else `failed` when every target failed to load, else `down`
 * (`reason: 'no_target_ready'`). Request outcomes and `supervise` events do not move it: they
 * belong to the targets.
 */
export class RouteHealth extends ModelHealth {
  private readonly targets: readonly ModelHealth[];

  constructor(targets: readonly ModelHealth[]) {
    super();
    this.targets = targets;
    for (const t of targets) t.subscribe(() => this.set(this.derive()));
    this.set(this.derive());
  }

  private derive(): ModelHealthSnapshot {
    const states = this.targets.map((t) => t.snapshot().state);
    if (states.includes('ready')) return { state: 'ready' };
    if (states.includes('rebuilding')) return { state: 'rebuilding' };
    if (states.includes('loading')) return { state: 'loading' };
    if (states.every((s) => s === 'failed')) return { state: 'failed', reason: 'load_failed' };
    return { state: 'down', reason: 'no_target_ready' };
  }

  override loading(): void {}
  override loaded(): void {}
  override loadFailed(): void {}
  override recordSuccess(): void {}
  override recordFailure(): void {}
  override observe(_event: SuperviseEvent): void {}
}
