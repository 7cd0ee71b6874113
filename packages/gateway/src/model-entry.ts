import { InferenceError } from '@inferkit/inference-core';
import { MAX_CHARS_PER_TOKEN, type GatewayModel } from './gateway-options.js';
import { ModelHealth } from './health/model-health.js';

/** The gateway's state for one served model. */
export class ModelEntry {
  readonly name: string;
  readonly model: GatewayModel;
  /** `created` in `GET /v1/models` (seconds). */
  readonly created: number;
  readonly health: ModelHealth;
  private readonly maxPromptChars: number;
  private contextTokens: number | undefined;

  constructor(name: string, model: GatewayModel, created: number, defaultMaxPromptChars: number) {
    this.name = name;
    this.model = model;
    this.created = created;
    this.health = model.health ?? new ModelHealth();
    this.maxPromptChars = model.maxPromptChars ?? defaultMaxPromptChars;
    this.contextTokens = model.contextTokens;
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
