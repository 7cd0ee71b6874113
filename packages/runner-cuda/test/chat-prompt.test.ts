import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { InferenceError, type Message } from '@inferkit/inference-core';
import { ChatPrompt, chatMessages } from '../src/chat/chat-prompt.js';
import { INFERKIT_TINY_DIR } from './helpers/paths.js';
import { tinyTokenizer } from './helpers/tokenizer.js';

const contextOf = async (name: Parameters<typeof tinyTokenizer>[0]) => {
  const t = await tinyTokenizer(name);
  return { t, prompt: new ChatPrompt(t.chatTemplate, { bosToken: t.bosToken, eosToken: t.eosToken, addBos: t.addBosToken }) };
};
const render = (prompt: ChatPrompt, messages: Message[]) => prompt.render(chatMessages(messages));

function kindOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return InferenceError.isInstance(e) ? e.kind : 'not an InferenceError';
  }
  return 'no error';
}

describe('ChatPrompt', () => {
  test("renders the model's template from tokenizer_config.json with BOS and a generation prompt", async () => {
    const { prompt } = await contextOf('llama-gqa');
    expect(prompt.modelTemplate).toBe(true);
    expect(render(prompt, [{ role: 'user', content: '  hi  ' }])).toBe('<|begin_of_text|><|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
  });

  test('ChatML template adds its default system prompt', async () => {
    const { prompt } = await contextOf('qwen2-bias');
    expect(render(prompt, [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }])).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  test('a model without a template gets the plain one', async () => {
    const { prompt } = await contextOf('mistral-sharded');
    expect(prompt.modelTemplate).toBe(false);
    expect(render(prompt, [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }])).toBe('system: be brief\nuser: hi\nassistant:');
  });

  test('special tokens in the rendered prompt encode to their single ids', async () => {
    const { t, prompt } = await contextOf('llama-gqa');
    const ids = t.encode(render(prompt, [{ role: 'user', content: 'hi' }]), false);
    expect(ids[0]).toBe(t.tokenId('<|begin_of_text|>'));
    expect(ids[1]).toBe(t.tokenId('<|im_start|>'));
    expect(ids.filter((id) => id === t.tokenId('<|im_end|>'))).toHaveLength(1);
  });

  test('bad conversations are bad_request', async () => {
    const { prompt } = await contextOf('llama-gqa');
    expect(kindOf(() => render(prompt, []))).toBe('bad_request');
    expect(kindOf(() => render(prompt, [{ role: 'user', content: [{ type: 'image_url', url: 'https://x/y.png' }] }]))).toBe('bad_request');
    expect(kindOf(() => render(prompt, [{ role: 'wizard' as 'user', content: 'x' }]))).toBe('bad_request');
    const strict = new ChatPrompt("{{ raise_exception('roles must alternate') }}", { bosToken: undefined, eosToken: undefined, addBos: false });
    expect(kindOf(() => render(strict, [{ role: 'user', content: 'x' }]))).toBe('bad_request');
    expect(kindOf(() => new ChatPrompt('{% for %}', { bosToken: undefined, eosToken: undefined, addBos: false }))).toBe('bad_request');
  });
});

// The official Llama 3 template (meta-llama/Meta-Llama-3-8B-Instruct, tokenizer_config.json): it
// trims every message's content.
const LLAMA3_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

describe('ChatPrompt continuation (a final assistant message with prefix: true)', () => {
  const embedded = JSON.parse(readFileSync(join(INFERKIT_TINY_DIR, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
  const templates = async (): Promise<Array<{ name: string; prompt: ChatPrompt; open: string }>> => [
    {
      name: "the embedded model's (ChatML without a default system prompt)",
      prompt: new ChatPrompt(embedded.chat_template, { bosToken: undefined, eosToken: '<|im_end|>', addBos: false }),
      open: '<|im_start|>user\nCount to five.<|im_end|>\n<|im_start|>assistant\nOne, two, ',
    },
    {
      name: 'ChatML with a default system prompt (qwen2-bias)',
      prompt: (await contextOf('qwen2-bias')).prompt,
      open: '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nCount to five.<|im_end|>\n<|im_start|>assistant\nOne, two, ',
    },
    {
      name: 'Llama 3 (content trimmed by the template)',
      prompt: new ChatPrompt(LLAMA3_TEMPLATE, { bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>', addBos: false }),
      open: '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nCount to five.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nOne, two, ',
    },
  ];
  const conversation = (assistant: string): Message[] => [
    { role: 'user', content: 'Count to five.' },
    { role: 'assistant', content: assistant, prefix: true },
  ];

  test('the turn stays open right after the content (no end-of-turn token), trailing space kept', async () => {
    for (const t of await templates()) {
      expect(t.prompt.render(chatMessages(conversation('One, two, '))), t.name).toBe(t.open);
    }
  });

  test('the open turn of a continuation by token ids is the generation prompt of the conversation before it', async () => {
    for (const t of await templates()) {
      const generationPrompt = t.prompt.render(chatMessages([{ role: 'user', content: 'Count to five.' }]));
      const open = t.prompt.renderOpenTurn(chatMessages(conversation('One, two, ')));
      expect(open, t.name).toBe(generationPrompt);
      // ... which, for these templates, is also where the assistant message's content starts.
      expect(t.open.startsWith(open), t.name).toBe(true);
      expect(t.open.slice(open.length), t.name).toBe('One, two, ');
    }
  });

  test('an assistant prefix alone opens its own turn', async () => {
    const [chatml] = await templates();
    expect(chatml!.prompt.renderOpenTurn(chatMessages([{ role: 'assistant', content: 'x', prefix: true }]))).toBe('<|im_start|>assistant\n');
  });

  test('a template that does not render the content verbatim cannot be continued: bad_request naming the message', () => {
    const hiding = new ChatPrompt("{% for m in messages %}{{ m['role'] }}: {{ m['content'] | length }}\n{% endfor %}", { bosToken: undefined, eosToken: undefined, addBos: false });
    let err: unknown;
    try {
      hiding.render(chatMessages(conversation('One')));
    } catch (e) {
      err = e;
    }
    expect(InferenceError.isInstance(err) && err.kind).toBe('bad_request');
    expect((err as InferenceError).details).toMatchObject({ param: 'messages[1].prefix' });
  });
});
