import type { PriceTable } from './model-price.js';

/**
 * List prices (USD per million tokens, standard tier, prompts under any long-context
 * threshold) as published by each provider in 2025–2026. Keys are id prefixes: the longest
 * matching prefix wins, so `gpt-4o-mini-2024-07-18` takes `gpt-4o-mini`, not `gpt-4o`.
 * Users extend or override them per runner (`pricing` option); unknown ids price as
 * `undefined`, never 0.
 */
export const OPENAI_PRICES: PriceTable = {
  'gpt-5': { inputPerMTok: 1.25, cachedInputPerMTok: 0.125, outputPerMTok: 10 },
  'gpt-5-mini': { inputPerMTok: 0.25, cachedInputPerMTok: 0.025, outputPerMTok: 2 },
  'gpt-5-nano': { inputPerMTok: 0.05, cachedInputPerMTok: 0.005, outputPerMTok: 0.4 },
  'gpt-4.1': { inputPerMTok: 2, cachedInputPerMTok: 0.5, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, cachedInputPerMTok: 0.1, outputPerMTok: 1.6 },
  'gpt-4.1-nano': { inputPerMTok: 0.1, cachedInputPerMTok: 0.025, outputPerMTok: 0.4 },
  'gpt-4o': { inputPerMTok: 2.5, cachedInputPerMTok: 1.25, outputPerMTok: 10 },
  'gpt-4o-mini': { inputPerMTok: 0.15, cachedInputPerMTok: 0.075, outputPerMTok: 0.6 },
  'gpt-4-turbo': { inputPerMTok: 10, outputPerMTok: 30 },
  'gpt-3.5-turbo': { inputPerMTok: 0.5, outputPerMTok: 1.5 },
  o1: { inputPerMTok: 15, cachedInputPerMTok: 7.5, outputPerMTok: 60 },
  'o1-mini': { inputPerMTok: 1.1, cachedInputPerMTok: 0.55, outputPerMTok: 4.4 },
  o3: { inputPerMTok: 2, cachedInputPerMTok: 0.5, outputPerMTok: 8 },
  'o3-mini': { inputPerMTok: 1.1, cachedInputPerMTok: 0.55, outputPerMTok: 4.4 },
  'o4-mini': { inputPerMTok: 1.1, cachedInputPerMTok: 0.275, outputPerMTok: 4.4 },
};

/** Cache reads are 0.1× input; cache writes are priced as plain input here (a slight underestimate). */
export const ANTHROPIC_PRICES: PriceTable = {
  'claude-opus-4-5': { inputPerMTok: 5, cachedInputPerMTok: 0.5, outputPerMTok: 25 },
  'claude-opus-4': { inputPerMTok: 15, cachedInputPerMTok: 1.5, outputPerMTok: 75 },
  'claude-sonnet-4': { inputPerMTok: 3, cachedInputPerMTok: 0.3, outputPerMTok: 15 },
  'claude-haiku-4-5': { inputPerMTok: 1, cachedInputPerMTok: 0.1, outputPerMTok: 5 },
  'claude-3-7-sonnet': { inputPerMTok: 3, cachedInputPerMTok: 0.3, outputPerMTok: 15 },
  'claude-3-5-sonnet': { inputPerMTok: 3, cachedInputPerMTok: 0.3, outputPerMTok: 15 },
  'claude-3-5-haiku': { inputPerMTok: 0.8, cachedInputPerMTok: 0.08, outputPerMTok: 4 },
  'claude-3-haiku': { inputPerMTok: 0.25, cachedInputPerMTok: 0.03, outputPerMTok: 1.25 },
};

/** Prompts up to 200k tokens for the Pro tier (longer prompts cost more and are not modelled). */
export const GEMINI_PRICES: PriceTable = {
  'gemini-2.5-pro': { inputPerMTok: 1.25, cachedInputPerMTok: 0.31, outputPerMTok: 10 },
  'gemini-2.5-flash': { inputPerMTok: 0.3, cachedInputPerMTok: 0.075, outputPerMTok: 2.5 },
  'gemini-2.5-flash-lite': { inputPerMTok: 0.1, cachedInputPerMTok: 0.025, outputPerMTok: 0.4 },
  'gemini-2.0-flash': { inputPerMTok: 0.1, cachedInputPerMTok: 0.025, outputPerMTok: 0.4 },
  'gemini-2.0-flash-lite': { inputPerMTok: 0.075, outputPerMTok: 0.3 },
};

export const DEEPSEEK_PRICES: PriceTable = {
  'deepseek-chat': { inputPerMTok: 0.27, cachedInputPerMTok: 0.07, outputPerMTok: 1.1 },
  'deepseek-reasoner': { inputPerMTok: 0.55, cachedInputPerMTok: 0.14, outputPerMTok: 2.19 },
};
