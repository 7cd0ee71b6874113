import type { ExecuteBatch, Message } from '@inferkit/inference-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch } from './__testing__/batches.js';
import { dataEvents, MockServer, sendJson, sendSse } from './__testing__/mock-server.js';
import { createAnthropicRunner } from './anthropic/anthropic-runner.js';
import { createGeminiRunner } from './gemini/gemini-runner.js';
import { createAzureOpenAIRunner } from './openai/azure-openai-runner.js';
import { createOpenAICompatibleRunner, type OpenAICompatiblePreset } from './openai/openai-compatible-runner.js';
import { createOpenAIRunner } from './openai/openai-runner.js';
import type { RemoteRunner } from './remote-runner.js';

// Issue #13: a final `{ role: 'assistant', content, prefix: true }` message asks the runner to
// continue that text. The wire transcripts below are the request bodies as each provider
// documents them (Anthropic: the prefill is the last message; vLLM: continue_final_message with
// add_generation_prompt false), and the continuation as the caller receives it.

const ev = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
/** Anthropic continuing "One, two," the way the model does: its text starts with the space. */
const ANTHROPIC_CONTINUATION = [
  ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-haiku-4-5', usage: { input_tokens: 15, output_tokens: 1 } } }),
  ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' ' } }),
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'three, four' } }),
  ev('content_block_stop', { index: 0 }),
  ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 4 } }),
  ev('message_stop', {}),
].join('');
const OPENAI_CONTINUATION = dataEvents([
  { choices: [{ index: 0, delta: { content: 'three,' }, finish_reason: null }] },
  { choices: [{ index: 0, delta: { content: ' four' }, finish_reason: null }] },
  { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
  { choices: [], usage: { prompt_tokens: 21, completion_tokens: 3 } },
]);

let server: MockServer;
beforeAll(async () => {
  server = await MockServer.start((req, res) => {
    if (req.url.endsWith('/messages')) {
      if (JSON.parse(req.body).stream === true) sendSse(res, ANTHROPIC_CONTINUATION);
      else
        sendJson(res, 200, {
          id: 'msg_2',
          type: 'message',
          role: 'assistant',
          content: [{ type: 'text', text: '\n three' }],
          stop_reason: 'end_turn',
          usage: { input_tokens: 15, output_tokens: 2 },
        });
    } else sendSse(res, OPENAI_CONTINUATION);
  });
});
afterAll(async () => {
  await server.close();
});

const continuing = (prefill: string, extra: Partial<ExecuteBatch> = {}): ExecuteBatch => {
  const messages: Message[] = [
    { role: 'user', content: 'Count to five.' },
    { role: 'assistant', content: prefill, prefix: true },
  ];
  return batch({ model: 'claude-haiku-4-5', messages, sampling: { maxTokens: 64 }, ...extra });
};

async function withRunner<T>(runner: RemoteRunner, fn: (r: RemoteRunner) => Promise<T>): Promise<T> {
  try {
    return await fn(runner);
  } finally {
    await runner.close();
  }
}

describe('continuation (issue #13): Anthropic prefill', () => {
  test('the prefill is the last message, sent without its trailing whitespace; the output drops that whitespace', async () => {
    const before = server.requests.length;
    const tokens = await withRunner(createAnthropicRunner({ baseUrl: `${server.url}/v1`, apiKey: 'sk-ant' }), async (r) => {
      expect(r.capabilities().continuation).toBe(true);
      return (await r.execute(continuing('One, two, '))).collect();
    });
    // Wire transcript: the request body as Anthropic documents a prefill.
    expect(JSON.parse(server.requests[before]!.body)).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Count to five.' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'One, two,' }] },
      ],
      stream: true,
    });
    // "One, two, " + "three, four" is what the model wrote after "One, two,".
    expect(tokens.text).toBe('three, four');
    expect(tokens.finishReason).toBe('stop');
    // Usage across the continuation is reported as usual (the prefill counts as input).
    expect(tokens.usage).toEqual({ inputTokens: 15, outputTokens: 4 });
  });

  test('without trailing whitespace nothing is dropped; output that does not start with the held whitespace is kept whole', async () => {
    await withRunner(createAnthropicRunner({ baseUrl: `${server.url}/v1`, apiKey: 'sk-ant' }), async (r) => {
      expect((await (await r.execute(continuing('One, two,'))).collect()).text).toBe(' three, four');
      // Unary: "\n three" after a held " ": the newline does not match, so the text is passed on as is.
      const unary = await (await r.execute(continuing('One, two, ', { stream: false }))).collect();
      expect(unary.text).toBe('\n three');
      expect(unary.usage).toEqual({ inputTokens: 15, outputTokens: 2 });
    });
  });

  test('a prefill of whitespace only sends no assistant message at all', async () => {
    const before = server.requests.length;
    await withRunner(createAnthropicRunner({ baseUrl: `${server.url}/v1`, apiKey: 'sk-ant' }), async (r) => {
      expect((await (await r.execute(continuing('  '))).collect()).text).toBe('three, four');
    });
    expect(JSON.parse(server.requests[before]!.body).messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Count to five.' }] }]);
  });
});

describe('continuation (issue #13): OpenAI-compatible servers', () => {
  for (const preset of ['vllm', 'llamacpp'] as const) {
    test(`${preset}: continue_final_message with add_generation_prompt false, the message sent as is`, async () => {
      const before = server.requests.length;
      const tokens = await withRunner(
        createOpenAICompatibleRunner({ preset, baseUrl: `${server.url}/v1`, extraBody: { add_generation_prompt: true, continue_final_message: false, echo: false } }),
        async (r) => {
          expect(r.capabilities().continuation).toBe(true);
          return (await r.execute(continuing('One, two, ', { model: 'qwen' }))).collect();
        },
      );
      // Wire transcript (vLLM ChatCompletionRequest extra parameters; llama-server takes the same).
      expect(JSON.parse(server.requests[before]!.body)).toEqual({
        model: 'qwen',
        messages: [
          { role: 'user', content: 'Count to five.' },
          { role: 'assistant', content: 'One, two, ' },
        ],
        stream: true,
        stream_options: { include_usage: true },
        max_tokens: 64,
        continue_final_message: true,
        add_generation_prompt: false,
        echo: false, // extraBody passes through, but never over the two fields the continuation needs
      });
      expect(tokens.text).toBe('three, four');
      expect(tokens.usage).toEqual({ inputTokens: 21, outputTokens: 3 });
    });
  }

  test('a custom server declared able to continue gets the same fields', async () => {
    const before = server.requests.length;
    await withRunner(createOpenAICompatibleRunner({ preset: 'custom', baseUrl: `${server.url}/v1`, capabilities: { continuation: true } }), async (r) => {
      await (await r.execute(continuing('One,', { model: 'm' }))).collect();
    });
    expect(JSON.parse(server.requests[before]!.body)).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
  });
});

describe('continuation (issue #13): runners that cannot continue refuse it', () => {
  const refusing: Array<[string, () => RemoteRunner]> = [
    ['OpenAI', () => createOpenAIRunner({ baseUrl: `${server.url}/v1`, apiKey: 'sk' })],
    ['Azure OpenAI', () => createAzureOpenAIRunner({ endpoint: server.url, apiKey: 'az' })],
    ['Gemini', () => createGeminiRunner({ baseUrl: `${server.url}/v1beta`, apiKey: 'g' })],
    ...(['ollama', 'litellm', 'openrouter', 'groq', 'together', 'deepseek'] as OpenAICompatiblePreset[]).map(
      (preset): [string, () => RemoteRunner] => [`preset ${preset}`, () => createOpenAICompatibleRunner({ preset, baseUrl: `${server.url}/v1`, apiKey: 'k' })],
    ),
  ];
  for (const [name, make] of refusing) {
    test(`${name}: bad_request naming the prefix, nothing sent`, async () => {
      const before = server.requests.length;
      await withRunner(make(), async (r) => {
        expect(r.capabilities().continuation).not.toBe(true);
        const err = await rejectionOf(r.execute(continuing('One, two,')));
        expect(err.kind).toBe('bad_request');
        expect(err.details).toEqual({ param: 'messages[1].prefix' });
      });
      expect(server.requests.length).toBe(before);
    });
  }
});
