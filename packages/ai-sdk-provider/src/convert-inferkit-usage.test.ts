import { describe, expect, test } from 'vitest';
import { convertInferkitUsage } from './convert-inferkit-usage.js';

describe('convertInferkitUsage', () => {
  test('known counts map; derived counts only when both parts are known', () => {
    expect(convertInferkitUsage({ inputTokens: 100, cachedTokens: 60, outputTokens: 30, reasoningTokens: 10 })).toEqual({
      inputTokens: { total: 100, noCache: 40, cacheRead: 60, cacheWrite: undefined },
      outputTokens: { total: 30, text: 20, reasoning: 10 },
      raw: { inputTokens: 100, outputTokens: 30, reasoningTokens: 10, cachedTokens: 60 },
    });
    expect(convertInferkitUsage({ inputTokens: 5, outputTokens: 0 })).toEqual({
      inputTokens: { total: 5, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
      outputTokens: { total: 0, text: undefined, reasoning: undefined },
      raw: { inputTokens: 5, outputTokens: 0 },
    });
  });

  test('no usage at all is all unknown, never 0', () => {
    expect(convertInferkitUsage(undefined)).toEqual({
      inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
      outputTokens: { total: undefined, text: undefined, reasoning: undefined },
    });
  });
});
