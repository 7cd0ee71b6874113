import { describe, expect, test } from 'vitest';
import { estimatePromptTokens, ESTIMATED_TOKENS_PER_IMAGE, ESTIMATED_TOKENS_PER_MESSAGE } from './estimate-prompt-tokens.js';

describe('estimatePromptTokens', () => {
  test('about four characters per token plus per-message and per-image overheads', () => {
    expect(estimatePromptTokens([{ role: 'user', content: 'x'.repeat(40) }])).toBe(10 + ESTIMATED_TOKENS_PER_MESSAGE);
    expect(
      estimatePromptTokens([{ role: 'user', content: [{ type: 'text', text: 'abcd' }, { type: 'image_url', url: 'u' }] }]),
    ).toBe(1 + ESTIMATED_TOKENS_PER_MESSAGE + ESTIMATED_TOKENS_PER_IMAGE);
  });

  test('tool calls and tool definitions count', () => {
    const base = estimatePromptTokens([{ role: 'assistant', content: '' }]);
    const withCall = estimatePromptTokens([{ role: 'assistant', content: '', toolCalls: [{ id: '1', name: 'abcd', arguments: '{"x":1}1' }] }]);
    expect(withCall - base).toBe(3);
    const tools = [{ name: 'f', parameters: { type: 'object' } }];
    expect(estimatePromptTokens([{ role: 'user', content: '' }], tools)).toBeGreaterThan(ESTIMATED_TOKENS_PER_MESSAGE);
  });

  test('a cyclic tool definition does not throw (the runner refuses it later)', () => {
    const p: Record<string, unknown> = {};
    p.self = p;
    expect(estimatePromptTokens([{ role: 'user', content: 'x' }], [{ name: 'f', parameters: p }])).toBe(1 + ESTIMATED_TOKENS_PER_MESSAGE);
  });
});
