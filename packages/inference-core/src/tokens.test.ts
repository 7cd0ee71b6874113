import { describe, expect, it } from 'vitest';
import { Tokens } from './tokens.js';

describe('Tokens', () => {
  it('assembles tool calls from deltas, merges usage, keeps finish and cost', () => {
    const t = Tokens.from([
      { requestId: 'r', textDelta: 'Let me ', usage: { inputTokens: 12 } },
      { requestId: 'r', textDelta: 'check.', reasoningDelta: 'think' },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: 1, id: 'call_b', name: 'time', argumentsDelta: '{}' } },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: 0, id: 'call_a', name: 'weather', argumentsDelta: '{"city":' } },
      { requestId: 'r', textDelta: '', toolCallDelta: { index: 0, argumentsDelta: '"Paris"}' } },
      { requestId: 'r', textDelta: '', finishReason: 'tool_calls', rawFinishReason: 'tool_use', usage: { outputTokens: 20 }, costUsd: 0.002 },
    ]);
    expect(t.requestId).toBe('r');
    expect(t.text).toBe('Let me check.');
    expect(t.reasoning).toBe('think');
    expect(t.toolCalls).toEqual([
      { id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' },
      { id: 'call_b', name: 'time', arguments: '{}' },
    ]);
    expect(t.usage).toEqual({ inputTokens: 12, outputTokens: 20 });
    expect(t.finishReason).toBe('tool_calls');
    expect(t.rawFinishReason).toBe('tool_use');
    expect(t.costUsd).toBe(0.002);
    expect(t.chunkCount).toBe(6);
  });

  it('leaves unknowns undefined, never 0', () => {
    const t = Tokens.from([{ requestId: 'r', textDelta: 'x' }]);
    expect(t.usage).toBeUndefined();
    expect(t.costUsd).toBeUndefined();
    expect(t.finishReason).toBeUndefined();
    expect(t.toolCalls).toEqual([]);
  });
});
