import { estimatePromptTokens, InferenceError, type ExecuteBatch, type TokenUsage } from '@inferkit/inference-core';
import type { ModelPrice, PriceTable } from './model-price.js';

/**
 * Finds the price of `model` by longest matching prefix. A prefix only matches at a boundary
 * (end of id, `-`, `.`, `:`, `@` or `/`), so `o1` does not price `o1x-custom`. `undefined`
 * means unknown.
 */
export function findPrice(table: PriceTable, model: string): ModelPrice | undefined {
  let best: string | undefined;
  for (const prefix of Object.keys(table)) {
    if (!model.startsWith(prefix)) continue;
    if (model.length > prefix.length && !'-.:@/'.includes(model[prefix.length]!)) continue;
    if (best === undefined || prefix.length > best.length) best = prefix;
  }
  return best === undefined ? undefined : table[best];
}

/** Builds a table from defaults and user overrides (overrides win; `null` removes an entry). */
export function mergePriceTables(defaults: PriceTable, overrides: Record<string, ModelPrice | null> | undefined): PriceTable {
  if (overrides === undefined) return defaults;
  const merged: Record<string, ModelPrice> = { ...defaults };
  for (const [prefix, price] of Object.entries(overrides)) {
    if (price === null) {
      delete merged[prefix];
      continue;
    }
    validatePrice(prefix, price);
    merged[prefix] = price;
  }
  return merged;
}

function validatePrice(prefix: string, price: ModelPrice): void {
  const fields: (keyof ModelPrice)[] = ['inputPerMTok', 'outputPerMTok', 'cachedInputPerMTok'];
  for (const f of fields) {
    const v = price?.[f];
    if (v === undefined && f === 'cachedInputPerMTok') continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      const param = `pricing[${JSON.stringify(prefix)}].${f}`;
      throw new InferenceError('bad_request', `${param} must be a finite number >= 0`, { details: { param } });
    }
  }
}

/** Cost of actual usage; `undefined` when the price or a needed count is unknown. */
export function costFromUsage(price: ModelPrice | undefined, usage: TokenUsage | undefined): number | undefined {
  if (price === undefined || usage === undefined) return undefined;
  const input = usage.inputTokens;
  const output = usage.outputTokens;
  if (input === undefined || output === undefined) return undefined;
  const cached = Math.min(usage.cachedTokens ?? 0, input);
  const cachedRate = price.cachedInputPerMTok ?? price.inputPerMTok;
  return ((input - cached) * price.inputPerMTok + cached * cachedRate + output * price.outputPerMTok) / 1e6;
}

/**
 * Estimated cost before the call: the prompt sized by the core's `estimatePromptTokens` (text,
 * tool calls, tool definitions, images), output `sampling.maxTokens` when set, else whatever
 * `estimatedTokens` leaves after the prompt.
 */
export function estimateCost(price: ModelPrice | undefined, batch: ExecuteBatch): number | undefined {
  if (price === undefined) return undefined;
  const promptTokens = estimatePromptTokens(batch.messages, batch.tools);
  const estimated = Number.isFinite(batch.estimatedTokens) ? Math.max(0, batch.estimatedTokens) : 0;
  const outputTokens = batch.sampling?.maxTokens ?? Math.max(0, estimated - promptTokens);
  return (promptTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
}
