import { describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { ChatPrompt } from '../src/chat/chat-prompt.js';
import { tinyTokenizer } from './helpers/tokenizer.js';

const contextOf = async (name: Parameters<typeof tinyTokenizer>[0]) => {
  const t = await tinyTokenizer(name);
  return { t, prompt: new ChatPrompt(t.chatTemplate, { bosToken: t.bosToken, eosToken: t.eosToken, addBos: t.addBosToken }) };
};

describe('ChatPrompt', () => {
  test("renders the model's template from tokenizer_config.json with BOS and a generation prompt", async () => {
    const { prompt } = await contextOf('llama-gqa');
    expect(prompt.modelTemplate).toBe(true);
    expect(prompt.render([{ role: 'user', content: '  hi  ' }])).toBe('<|begin_of_text|><|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  test('ChatML template adds its default system prompt', async () => {
    const { prompt } = await contextOf('qwen2-bias');
    expect(prompt.render([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }])).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  test('a model without a template gets the plain one', async () => {
    const { prompt } = await contextOf('mistral-sharded');
    expect(prompt.modelTemplate).toBe(false);
    expect(prompt.render([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }])).toBe('system: be brief\nuser: hi\nassistant:');
  });

  test('special tokens in the rendered prompt encode to their single ids', async () => {
    const { t, prompt } = await contextOf('llama-gqa');
    const ids = t.encode(prompt.render([{ role: 'user', content: 'hi' }]), false);
    expect(ids[0]).toBe(t.tokenId('<|begin_of_text|>'));
    expect(ids[1]).toBe(t.tokenId('<|im_start|>'));
    expect(ids.filter((id) => id === t.tokenId('<|im_end|>'))).toHaveLength(1);
  });

  test('bad conversations are bad_request', async () => {
    const { prompt } = await contextOf('llama-gqa');
    const kindOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return InferenceError.isInstance(e) ? e.kind : 'not an InferenceError';
      }
      return 'no error';
    };
    expect(kindOf(() => prompt.render([]))).toBe('bad_request');
    expect(kindOf(() => prompt.render([{ role: 'user', content: [{ type: 'image_url', url: 'https://x/y.png' }] }]))).toBe('bad_request');
    expect(kindOf(() => prompt.render([{ role: 'wizard' as 'user', content: 'x' }]))).toBe('bad_request');
    const strict = new ChatPrompt("{{ raise_exception('roles must alternate') }}", { bosToken: undefined, eosToken: undefined, addBos: false });
    expect(kindOf(() => strict.render([{ role: 'user', content: 'x' }]))).toBe('bad_request');
    expect(kindOf(() => new ChatPrompt('{% for %}', { bosToken: undefined, eosToken: undefined, addBos: false }))).toBe('bad_request');
  });
});
