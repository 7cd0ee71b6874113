import { InferenceError, type RouteTargetStats, type RunHandle } from '@inferkit/inference-core';
import { MAX_CHARS_PER_TOKEN, type GatewayModel } from './gateway-options.js';
import { ModelHealth } from './health/model-health.js';

/** What the gateway uses of a `Router` (duck-typed: a router built against another copy of the core works too). */
export interface RouterView {
  stats(): readonly RouteTargetStats[];
  readonly waiting: number;
  servedBy(handle: RunHandle): readonly string[] | undefined;
}

function routerOf(runner: unknown): RouterView | undefined {
  const r = runner as Partial<RouterView>;
  return typeof r.stats === 'function' && typeof r.servedBy === 'function' ? (runner as RouterView) : undefined;
}

/** The gateway's state for one served model. */
export class ModelEntry {
  readonly name: string;
  readonly model: GatewayModel;
  /** The model's runner when it is a `Router`: per-target metrics and `x-inferkit-target`. */
  readonly router: RouterView | undefined;
  /** Not listed in `/v1/models` nor served by name: only reachable as a route's target. */
  readonly hidden: boolean;
  /** `created` in `GET /v1/models` (seconds). */
  readonly created: number;
  readonly health: ModelHealth;
  private readonly maxPromptChars: number;
  private contextTokens: number | undefined;

  constructor(name: string, model: GatewayModel, created: number, defaultMaxPromptChars: number) {
    this.name = name;
    this.model = model;
    this.router = routerOf(model.runner);
    this.hidden = model.hidden === true;
    this.created = created;
    this.health = model.health ?? new ModelHealth();
    this.maxPromptChars = model.maxPromptChars ?? defaultMaxPromptChars;
    this.contextTokens = model.contextTokens;
  }

  /**
   * The `x-inferkit-target` of a response: the runner that delivered its first chunk (for a
   * router, the last name of `servedBy`, e.g. a replica `local#1`; otherwise this model).
   */
  targetOf(handle: RunHandle): string {
    const path = this.router?.servedBy(handle);
    return path !== undefined && path.length > 0 ? path[path.length - 1]! : this.name;
  }

  /**
   * Most prompt characters a request may carry (`GatewayModel.maxPromptChars`, narrowed by the
   * known context window), and the context window when it is the tighter bound.
   */
  promptLimit(): { chars: number; contextTokens: number | undefined } {
    const ctx = this.contextTokens;
    if (ctx !== undefined && ctx * MAX_CHARS_PER_TOKEN < this.maxPromptChars) return { chars: ctx * MAX_CHARS_PER_TOKEN, contextTokens: ctx };
    return { chars: this.maxPromptChars, contextTokens: undefined };
  }

  /**
   * Learns the context window from a runner's `context_length_exceeded` error. The largest
   * reported value wins, so a router over models with different windows is never narrowed to
   * its smallest; a configured `contextTokens` is not overridden.
   */
  learnFrom(err: unknown): void {
    if (this.model.contextTokens !== undefined || !InferenceError.isInstance(err) || err.kind !== 'context_length_exceeded') return;
    const n = (err.details as { maxContextTokens?: unknown }).maxContextTokens;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) return;
    if (this.contextTokens === undefined || n > this.contextTokens) this.contextTokens = n;
  }
}
