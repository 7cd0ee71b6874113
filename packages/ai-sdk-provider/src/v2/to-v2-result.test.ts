import { describe, expect, test } from 'vitest';
import { toV2StreamPart, toV2Usage, toV2Warning } from './to-v2-result.js';

describe('v3 results in v2 terms', () => {
  test('warnings: call settings are unsupported-setting (compatibility too), the rest other', () => {
    expect(toV2Warning({ type: 'unsupported', feature: 'tools', details: 'd' })).toEqual({ type: 'unsupported-setting', setting: 'tools', details: 'd' });
    expect(toV2Warning({ type: 'compatibility', feature: 'responseFormat' })).toEqual({ type: 'unsupported-setting', setting: 'responseFormat' });
    expect(toV2Warning({ type: 'unsupported', feature: 'reasoning in assistant messages', details: 'not sent' })).toEqual({
      type: 'other',
      message: 'reasoning in assistant messages: not sent',
    });
    expect(toV2Warning({ type: 'unsupported', feature: 'provider-defined tool x.y' })).toEqual({ type: 'other', message: 'provider-defined tool x.y is not supported' });
    expect(toV2Warning({ type: 'other', message: 'm' })).toEqual({ type: 'other', message: 'm' });
  });

  test('usage: totals, reasoning, cache reads; the total only when both sides are known', () => {
    const unknown = { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined };
    expect(toV2Usage({ inputTokens: { ...unknown, total: 5, cacheRead: 2 }, outputTokens: { total: 3, text: undefined, reasoning: 1 } })).toEqual({
      inputTokens: 5,
      outputTokens: 3,
      totalTokens: 8,
      reasoningTokens: 1,
      cachedInputTokens: 2,
    });
    expect(toV2Usage({ inputTokens: unknown, outputTokens: { total: 3, text: undefined, reasoning: undefined } }).totalTokens).toBeUndefined();
  });

  test('stream parts: stream-start and finish are translated, the others pass as they are', () => {
    const usage = { inputTokens: { total: 1, noCache: undefined, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: 2, text: undefined, reasoning: undefined } };
    expect(toV2StreamPart({ type: 'finish', usage, finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, providerMetadata: { inferkit: { requestId: 'r' } } })).toEqual({
      type: 'finish',
      usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3, reasoningTokens: undefined, cachedInputTokens: undefined },
      finishReason: 'tool-calls',
      providerMetadata: { inferkit: { requestId: 'r' } },
    });
    expect(toV2StreamPart({ type: 'stream-start', warnings: [{ type: 'unsupported', feature: 'frequencyPenalty' }] })).toEqual({
      type: 'stream-start',
      warnings: [{ type: 'unsupported-setting', setting: 'frequencyPenalty' }],
    });
    const delta = { type: 'text-delta' as const, id: 't', delta: 'x' };
    expect(toV2StreamPart(delta)).toBe(delta);
  });
});
