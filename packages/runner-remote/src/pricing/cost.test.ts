import { ESTIMATED_TOKENS_PER_MESSAGE, estimatePromptTokens } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { batch } from '../__testing__/batches.js';
import { createOpenAIRunner } from '../openai/openai-runner.js';
import { costFromUsage, estimateCost, findPrice, mergePriceTables } from './cost.js';
import { ANTHROPIC_PRICES, GEMINI_PRICES, OPENAI_PRICES } from './pricing-table.js';

describe('price lookup', () => {
  test('longest prefix wins, dated ids resolve', () => {
    expect(findPrice(OPENAI_PRICES, 'gpt-4o-mini-2024-07-18')).toBe(OPENAI_PRICES['gpt-4o-mini']);
    expect(findPrice(OPENAI_PRICES, 'gpt-4o-2024-08-06')).toBe(OPENAI_PRICES['gpt-4o']);
    expect(findPrice(OPENAI_PRICES, 'gpt-4.1-nano-2025-04-14')).toBe(OPENAI_PRICES['gpt-4.1-nano']);
    expect(findPrice(OPENAI_PRICES, 'o3-mini-2025-01-31')).toBe(OPENAI_PRICES['o3-mini']);
    expect(findPrice(ANTHROPIC_PRICES, 'claude-sonnet-4-5-20250929')).toBe(ANTHROPIC_PRICES['claude-sonnet-4']);
    expect(findPrice(ANTHROPIC_PRICES, 'claude-opus-4-5-20251101')).toBe(ANTHROPIC_PRICES['claude-opus-4-5']);
    expect(findPrice(GEMINI_PRICES, 'gemini-2.5-flash-lite-preview-06-17')).toBe(GEMINI_PRICES['gemini-2.5-flash-lite']);
  });

  test('a prefix matches only at a boundary; unknown models are undefined', () => {
    expect(findPrice(OPENAI_PRICES, 'o1x-custom')).toBeUndefined();
    expect(findPrice(OPENAI_PRICES, 'llama-3-70b')).toBeUndefined();
    expect(findPrice(GEMINI_PRICES, 'gemini-2.5-flashy')).toBeUndefined();
  });

  test('overrides extend, replace and remove entries; invalid prices are refused', () => {
    const t = mergePriceTables(OPENAI_PRICES, { 'my-model': { inputPerMTok: 1, outputPerMTok: 2 }, 'gpt-4o': { inputPerMTok: 9, outputPerMTok: 9 }, o1: null });
    expect(findPrice(t, 'my-model-v2')).toEqual({ inputPerMTok: 1, outputPerMTok: 2 });
    expect(findPrice(t, 'gpt-4o-2024-08-06')?.inputPerMTok).toBe(9);
    expect(findPrice(t, 'o1-2024-12-17')).toBeUndefined();
    expect(OPENAI_PRICES['gpt-4o']?.inputPerMTok).toBe(2.5);
    expect(() => mergePriceTables(OPENAI_PRICES, { x: { inputPerMTok: -1, outputPerMTok: 1 } })).toThrow(
      expect.objectContaining({ kind: 'bad_request', details: { param: 'pricing["x"].inputPerMTok' } }),
    );
    expect(() => mergePriceTables(OPENAI_PRICES, { x: { inputPerMTok: 1, outputPerMTok: Number.NaN } })).toThrow(
      expect.objectContaining({ kind: 'bad_request', details: { param: 'pricing["x"].outputPerMTok' } }),
    );
  });
});

describe('cost', () => {
  const price = { inputPerMTok: 2, cachedInputPerMTok: 0.5, outputPerMTok: 8 };
  test('actual cost splits cached input', () => {
    expect(costFromUsage(price, { inputTokens: 1000, cachedTokens: 400, outputTokens: 100 })).toBeCloseTo((600 * 2 + 400 * 0.5 + 100 * 8) / 1e6, 15);
  });
  test('no cached price → cached tokens at the input price', () => {
    expect(costFromUsage({ inputPerMTok: 1, outputPerMTok: 1 }, { inputTokens: 10, cachedTokens: 5, outputTokens: 0 })).toBeCloseTo(10 / 1e6, 15);
  });
  test('unknown price or missing counts → undefined, never 0', () => {
    expect(costFromUsage(undefined, { inputTokens: 1, outputTokens: 1 })).toBeUndefined();
    expect(costFromUsage(price, undefined)).toBeUndefined();
    expect(costFromUsage(price, { inputTokens: 1 })).toBeUndefined();
  });
  test('estimate: prompt by the core estimatePromptTokens, output by maxTokens or the rest of estimatedTokens', () => {
    const b = batch({ messages: [{ role: 'user', content: 'x'.repeat(400) }], estimatedTokens: 300 });
    const prompt = estimatePromptTokens(b.messages); // 100 for the text + the per-message overhead
    expect(prompt).toBe(100 + ESTIMATED_TOKENS_PER_MESSAGE);
    expect(estimateCost(price, b)).toBeCloseTo((prompt * 2 + (300 - prompt) * 8) / 1e6, 15);
    expect(estimateCost(price, { ...b, sampling: { maxTokens: 50 } })).toBeCloseTo((prompt * 2 + 50 * 8) / 1e6, 15);
    expect(estimateCost(undefined, b)).toBeUndefined();
  });
  test('runner.estimateCostUsd uses the runner table with user overrides', async () => {
    const r = createOpenAIRunner({ apiKey: 'k', pricing: { 'ft:gpt-4o': { inputPerMTok: 3.75, outputPerMTok: 15 } } });
    expect(r.estimateCostUsd(batch({ model: 'gpt-4o', sampling: { maxTokens: 1000 } }))).toBeGreaterThan(0);
    expect(r.estimateCostUsd(batch({ model: 'ft:gpt-4o:org:custom:id' }))).toBeDefined();
    expect(r.estimateCostUsd(batch({ model: 'mystery-model' }))).toBeUndefined();
    await r.close();
  });
});
