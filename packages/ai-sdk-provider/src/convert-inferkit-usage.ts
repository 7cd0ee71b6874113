import type { JSONObject, LanguageModelV3Usage } from '@ai-sdk/provider';
import type { TokenUsage } from '@inferkit/inference-core';

/**
 * The AI SDK usage for an inferkit `TokenUsage`. Unknown counts stay `undefined`, never 0: a
 * derived count (non-cached input, text output) is given only when both of its parts are known.
 * inferkit does not report cache writes, so `cacheWrite` is always `undefined`.
 */
export function convertInferkitUsage(usage: TokenUsage | undefined): LanguageModelV3Usage {
  const input = usage?.inputTokens;
  const cached = usage?.cachedTokens;
  const output = usage?.outputTokens;
  const reasoning = usage?.reasoningTokens;
  const result: LanguageModelV3Usage = {
    inputTokens: {
      total: input,
      noCache: input !== undefined && cached !== undefined ? input - cached : undefined,
      cacheRead: cached,
      cacheWrite: undefined,
    },
    outputTokens: {
      total: output,
      text: output !== undefined && reasoning !== undefined ? output - reasoning : undefined,
      reasoning,
    },
  };
  if (usage !== undefined) {
    const raw: JSONObject = {};
    if (input !== undefined) raw.inputTokens = input;
    if (output !== undefined) raw.outputTokens = output;
    if (reasoning !== undefined) raw.reasoningTokens = reasoning;
    if (cached !== undefined) raw.cachedTokens = cached;
    result.raw = raw;
  }
  return result;
}
