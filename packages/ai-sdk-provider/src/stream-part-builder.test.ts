import { InvalidResponseDataError, type LanguageModelV3StreamPart } from '@ai-sdk/provider';
import type { TokenChunk } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { StreamPartBuilder } from './stream-part-builder.js';

function build(): { parts: LanguageModelV3StreamPart[]; builder: StreamPartBuilder; push: (c: Partial<TokenChunk>) => void } {
  const parts: LanguageModelV3StreamPart[] = [];
  const builder = new StreamPartBuilder((p) => parts.push(p), 'req-1', 'inferkit');
  return { parts, builder, push: (c) => builder.push({ requestId: 'req-1', textDelta: '', ...c }) };
}

describe('StreamPartBuilder', () => {
  test('interleaved reasoning and text keep their order as separate blocks; empty deltas emit nothing', () => {
    const { parts, push } = build();
    push({ textDelta: '' });
    push({ reasoningDelta: 'think', textDelta: 'A' });
    push({ textDelta: 'B' });
    push({ reasoningDelta: 'more' });
    push({ textDelta: 'C', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 3 } });
    expect(parts.map((p) => ('delta' in p ? `${p.type}:${p.id}:${p.delta}` : 'id' in p ? `${p.type}:${p.id}` : p.type))).toEqual([
      'reasoning-start:reasoning-0',
      'reasoning-delta:reasoning-0:think',
      'reasoning-end:reasoning-0',
      'text-start:text-1',
      'text-delta:text-1:A',
      'text-delta:text-1:B',
      'text-end:text-1',
      'reasoning-start:reasoning-2',
      'reasoning-delta:reasoning-2:more',
      'reasoning-end:reasoning-2',
      'text-start:text-3',
      'text-delta:text-3:C',
      'text-end:text-3',
      'finish',
    ]);
  });

  test('usage merges field by field, the latest defined value winning; cost goes to providerMetadata', () => {
    const { parts, push } = build();
    push({ usage: { inputTokens: 10 } });
    push({ usage: { outputTokens: 2, inputTokens: undefined }, costUsd: 0.5 });
    push({ usage: { outputTokens: 5, reasoningTokens: 1 }, finishReason: 'length', rawFinishReason: 'max_tokens' });
    expect(parts.at(-1)).toEqual({
      type: 'finish',
      usage: {
        inputTokens: { total: 10, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: 5, text: 4, reasoning: 1 },
        raw: { inputTokens: 10, outputTokens: 5, reasoningTokens: 1 },
      },
      finishReason: { unified: 'length', raw: 'max_tokens' },
      providerMetadata: { inferkit: { requestId: 'req-1', costUsd: 0.5 } },
    });
  });

  test('tool calls: input streams once the name is known, buffered input first; calls complete at the finish, by index', () => {
    const { parts, push } = build();
    push({ toolCallDelta: { index: 1, argumentsDelta: '{"a"' } });
    push({ toolCallDelta: { index: 0, id: 'x', name: 'first', argumentsDelta: '' } });
    push({ toolCallDelta: { index: 1, id: 'y', name: 'second', argumentsDelta: ':1}' } });
    push({ toolCallDelta: { index: 1, id: 'ignored-after-start', name: 'ignored' } });
    push({ textDelta: 'text between' });
    push({ finishReason: 'tool_calls' });
    const tools = parts.filter((p) => p.type.startsWith('tool-'));
    expect(tools).toEqual([
      { type: 'tool-input-start', id: 'x', toolName: 'first' },
      { type: 'tool-input-start', id: 'y', toolName: 'second' },
      { type: 'tool-input-delta', id: 'y', delta: '{"a":1}' },
      { type: 'tool-input-end', id: 'x' },
      { type: 'tool-call', toolCallId: 'x', toolName: 'first', input: '{}' },
      { type: 'tool-input-end', id: 'y' },
      { type: 'tool-call', toolCallId: 'y', toolName: 'second', input: '{"a":1}' },
    ]);
    // The text block is closed before the calls complete.
    expect(parts.findIndex((p) => p.type === 'text-end')).toBeLessThan(parts.findIndex((p) => p.type === 'tool-input-end'));
  });

  test('a call that never got a name is an error part; the others still complete', () => {
    const { parts, push } = build();
    push({ toolCallDelta: { index: 0, argumentsDelta: '{}' } });
    push({ toolCallDelta: { index: 1, name: 'ok' } });
    push({ finishReason: 'tool_calls' });
    const error = parts.find((p) => p.type === 'error');
    expect(error !== undefined && InvalidResponseDataError.isInstance(error.error)).toBe(true);
    expect(parts.filter((p) => p.type === 'tool-call')).toEqual([{ type: 'tool-call', toolCallId: 'req-1-call-1', toolName: 'ok', input: '{}' }]);
  });

  test('finish and fail happen once; nothing follows the finish', () => {
    const { parts, builder, push } = build();
    push({ textDelta: 'a' });
    builder.fail(new Error('boom'));
    builder.finish('stop', undefined);
    push({ textDelta: 'late' });
    // The error goes out where it happened; the open block still closes before the finish.
    expect(parts.map((p) => p.type)).toEqual(['text-start', 'text-delta', 'error', 'text-end', 'finish']);
    expect(parts.at(-1)).toMatchObject({ finishReason: { unified: 'error', raw: 'error' } });
    expect(builder.finished).toBe(true);
  });

  test('a chunk that breaks the TokenChunk contract throws InvalidResponseDataError', () => {
    const bad: unknown[] = [
      null,
      { requestId: 'r' },
      { requestId: 'r', textDelta: '', reasoningDelta: 4 },
      { requestId: 'r', textDelta: '', usage: 'many' },
      { requestId: 'r', textDelta: '', toolCallDelta: null },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: -1 } },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: 0.5 } },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: 0, id: 1 } },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: 0, name: {} } },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: 0, argumentsDelta: [] } },
    ];
    for (const chunk of bad) {
      const { builder } = build();
      expect(() => builder.push(chunk as TokenChunk), JSON.stringify(chunk)).toThrow(InvalidResponseDataError);
    }
  });
});
