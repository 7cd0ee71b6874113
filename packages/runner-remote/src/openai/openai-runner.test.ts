import { readFileSync } from 'node:fs';
import type { TokenChunk } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch } from '../__testing__/batches.js';
import { sendJson, sendSse, type MockHandler } from '../__testing__/mock-server.js';
import { serverAndRunnerPerTest } from '../__testing__/server-and-runner.js';
import type { RemoteRunner } from '../remote-runner.js';
import { createAzureOpenAIRunner } from './azure-openai-runner.js';
import { createOpenAICompatibleRunner } from './openai-compatible-runner.js';
import { createOpenAIRunner } from './openai-runner.js';

const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}.chunks.txt`, import.meta.url));

const current = serverAndRunnerPerTest();
const start = (handler: MockHandler, make = (origin: string): RemoteRunner => createOpenAIRunner({ baseUrl: `${origin}/v1`, apiKey: 'sk-test' })) =>
  current.start(handler, make);
const body = (i = 0): Record<string, any> => JSON.parse(current.server!.requests[i]!.body);

describe('OpenAI transcripts assemble into Tokens', () => {
  test('text + usage (include_usage), cost from actual usage', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-text')));
    const t = await (await runner.execute(batch())).collect();
    expect(t.text).toBe('Hello there!');
    expect(t.finishReason).toBe('stop');
    expect(t.rawFinishReason).toBe('stop');
    expect(t.usage).toEqual({ inputTokens: 17, outputTokens: 3 });
    // gpt-4o: $2.50 in, $10 out per million.
    expect(t.costUsd).toBeCloseTo((17 * 2.5 + 3 * 10) / 1e6, 12);
    expect(t.toolCalls).toEqual([]);
  });

  test('exactly one final chunk carries finishReason and usage, and it is last', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-text')));
    const chunks: TokenChunk[] = [];
    for await (const c of await runner.execute(batch())) chunks.push(c);
    const finals = chunks.filter((c) => c.finishReason !== undefined);
    expect(finals).toHaveLength(1);
    expect(chunks[chunks.length - 1]).toBe(finals[0]);
    expect(finals[0]!.usage).toEqual({ inputTokens: 17, outputTokens: 3 });
    expect(chunks.every((c) => c.requestId === chunks[0]!.requestId)).toBe(true);
  });

  test('length with cached and reasoning details', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-length')));
    const t = await (await runner.execute(batch())).collect();
    expect(t.text).toBe('Once upon a time');
    expect(t.finishReason).toBe('length');
    expect(t.usage).toEqual({ inputTokens: 20, outputTokens: 4, cachedTokens: 16, reasoningTokens: 0 });
    expect(t.costUsd).toBeCloseTo((4 * 2.5 + 16 * 1.25 + 4 * 10) / 1e6, 12);
  });

  test('content_filter', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-content-filter')));
    const t = await (await runner.execute(batch())).collect();
    expect(t.text).toBe('I');
    expect(t.finishReason).toBe('content_filter');
  });

  test('streamed tool-call fragments assemble into one call', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-tool-call')));
    const t = await (await runner.execute(batch({ model: 'gpt-5-mini-2025-08-07' }))).collect();
    expect(t.finishReason).toBe('tool_calls');
    expect(t.toolCalls).toEqual([{ id: 'call_TMbEoYn9q0ZKtoxav5LpD9Ts', name: 'get_weather', arguments: '{"city":"Tokyo"}' }]);
    expect(JSON.parse(t.toolCalls[0]!.arguments)).toEqual({ city: 'Tokyo' });
    // No usage chunk in this transcript: the price is known but usage is not, so cost is unknown.
    expect(t.usage).toBeUndefined();
    expect(t.costUsd).toBeUndefined();
  });

  test('interleaved parallel tool calls assemble by index', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-parallel-tool-calls')));
    const t = await (await runner.execute(batch({ model: 'gpt-5-mini-2025-08-07' }))).collect();
    expect(t.toolCalls).toEqual([
      { id: 'call_A1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'call_B2', name: 'get_time', arguments: '{"tz":"Europe/Paris"}' },
    ]);
    expect(t.usage).toEqual({ inputTokens: 80, outputTokens: 40, cachedTokens: 64, reasoningTokens: 12 });
    expect(t.costUsd).toBeCloseTo((16 * 0.25 + 64 * 0.025 + 40 * 2) / 1e6, 12);
  });

  test('reasoning_content deltas (DeepSeek/vLLM) go to reasoning, not text', async () => {
    const ev = (d: object, fr: string | null = null) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: d, finish_reason: fr }] })}\n\n`;
    const { runner } = await start((_r, res) =>
      sendSse(res, ev({ reasoning_content: 'think' }) + ev({ content: 'answer' }) + ev({}, 'stop') + 'data: [DONE]\n\n'),
    );
    const t = await (await runner.execute(batch())).collect();
    expect(t.reasoning).toBe('think');
    expect(t.text).toBe('answer');
  });

  test('unknown finish reasons keep the raw value', async () => {
    const { runner } = await start((_r, res) =>
      sendSse(res, `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'abort' }] })}\n\ndata: [DONE]\n\n`),
    );
    const t = await (await runner.execute(batch())).collect();
    expect(t.finishReason).toBe('error');
    expect(t.rawFinishReason).toBe('abort');
  });

  test('keep-alive comments (OpenRouter) are skipped', async () => {
    const { runner } = await start((_r, res) => sendSse(res, `: OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n${fixture('openai-text').toString()}`));
    expect((await (await runner.execute(batch())).collect()).text).toBe('Hello there!');
  });

  test('a vLLM-style error event with a numeric code is classified by that status', async () => {
    const err = { error: { object: 'error', message: 'This model only supports 4096 tokens', type: 'BadRequestError', code: 400 } };
    const { runner } = await start((_r, res) => sendSse(res, `data: ${JSON.stringify(err)}\n\n`));
    const e = await rejectionOf(runner.execute(batch()));
    expect(e.kind).toBe('bad_request');
    expect(e.status).toBe(400);
  });

  test('a finish chunk followed by a clean end without [DONE] completes', async () => {
    const { runner } = await start((_r, res) =>
      sendSse(res, `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'stop' }] })}\n\n`),
    );
    const t = await (await runner.execute(batch())).collect();
    expect(t.text).toBe('x');
    expect(t.finishReason).toBe('stop');
  });
});

describe('OpenAI request building', () => {
  test('streaming body: include_usage, sampling fields, headers', async () => {
    const { runner, server } = await start((_r, res) => sendSse(res, fixture('openai-text')));
    await (
      await runner.execute(
        batch({
          sampling: { temperature: 0.2, topP: 0.9, maxTokens: 50, stop: ['END'], presencePenalty: 0.1, frequencyPenalty: 0.2, seed: 7 },
        }),
      )
    ).collect();
    expect(body()).toEqual({
      model: 'gpt-4o-2024-08-06',
      messages: [{ role: 'user', content: 'Hello' }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 50,
      temperature: 0.2,
      top_p: 0.9,
      stop: ['END'],
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      seed: 7,
    });
    const h = server.requests[0]!.headers;
    expect(h.authorization).toBe('Bearer sk-test');
    expect(h['content-type']).toBe('application/json');
    expect(server.requests[0]!.url).toBe('/v1/chat/completions');
  });

  test('reasoning models get max_completion_tokens', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-text')));
    for (const model of ['o3-mini', 'o1-2024-12-17', 'gpt-5-mini', 'gpt-5.1']) {
      await (await runner.execute(batch({ model, sampling: { maxTokens: 10 } }))).collect();
    }
    for (let i = 0; i < 4; i++) {
      expect(body(i).max_completion_tokens).toBe(10);
      expect(body(i).max_tokens).toBeUndefined();
    }
  });

  test('tools, tool choice, json_schema response format, images and tool turns', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('openai-text')));
    await (
      await runner.execute(
        batch({
          messages: [
            { role: 'system', content: 'Be brief.' },
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is this?' },
                { type: 'image_base64', mime: 'image/png', data: 'iVBORw0KGgo=' },
                { type: 'image_url', url: 'https://example.com/cat.jpg' },
              ],
            },
            { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
            { role: 'tool', content: '{"temp":21}', toolCallId: 'call_1' },
          ],
          tools: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true }],
          toolChoice: { type: 'tool', name: 'get_weather' },
          responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object' }, strict: true },
        }),
      )
    ).collect();
    const b = body();
    expect(b.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ],
      },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', content: '{"temp":21}', tool_call_id: 'call_1' },
    ]);
    expect(b.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true } },
    ]);
    expect(b.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    expect(b.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } });
  });

  test('n other than 1 is rejected at construction; other extra body fields pass through', async () => {
    expect(() => createOpenAIRunner({ apiKey: 'k', extraBody: { n: 2 } })).toThrow(/only n=1/);
    const { runner } = await start(
      (_r, res) => sendSse(res, fixture('openai-text')),
      (url) => createOpenAIRunner({ baseUrl: `${url}/v1`, apiKey: 'k', extraBody: { n: 1, reasoning_effort: 'low', model: 'ignored' } }),
    );
    await (await runner.execute(batch())).collect();
    expect(body().reasoning_effort).toBe('low');
    expect(body().model).toBe('gpt-4o-2024-08-06');
  });

  test('bad input is a bad_request before anything is sent', async () => {
    const { runner, server } = await start((_r, res) => sendSse(res, fixture('openai-text')));
    const cases = [
      batch({ sampling: { topK: 5 } }),
      batch({ messages: [] }),
      batch({ messages: [{ role: 'tool', content: 'x' }] }),
      batch({ messages: [{ role: 'user', content: [{ type: 'image_base64', mime: 'text/plain', data: 'x' }] }] }),
      batch({ messages: [{ role: 'wizard' as 'user', content: 'x' }] }),
      batch({ model: '' }),
      batch({ sampling: { maxTokens: -1 } }),
    ];
    for (const b of cases) {
      const err = await rejectionOf(runner.execute(b));
      expect(err.kind).toBe('bad_request');
    }
    expect(server.requests).toHaveLength(0);
  });

  test('unary call: one request without stream, text + tool calls + usage as chunks', async () => {
    const { runner } = await start((_r, res) =>
      sendJson(res, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: 'Checking.',
              tool_calls: [
                { id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } },
                { id: 'c2', type: 'function', function: { name: 'b', arguments: '{"x":1}' } },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12, prompt_tokens_details: { cached_tokens: 0 } },
      }),
    );
    const t = await (await runner.execute(batch({ stream: false }))).collect();
    expect(body().stream).toBeUndefined();
    expect(t.text).toBe('Checking.');
    expect(t.toolCalls).toEqual([
      { id: 'c1', name: 'a', arguments: '{}' },
      { id: 'c2', name: 'b', arguments: '{"x":1}' },
    ]);
    expect(t.finishReason).toBe('tool_calls');
    expect(t.usage).toEqual({ inputTokens: 9, outputTokens: 3, cachedTokens: 0 });
    expect(t.costUsd).toBeCloseTo((9 * 2.5 + 3 * 10) / 1e6, 12);
  });

  test('unary malformed body → server_error', async () => {
    const { runner } = await start((_r, res) => sendJson(res, 200, '{"choices": []}'));
    const err = await rejectionOf(runner.execute(batch({ stream: false })));
    expect(err.kind).toBe('server_error');
  });
});

describe('OpenAI-compatible presets and Azure', () => {
  test('vLLM preset: local base path, optional key, top_k, runtime vllm but never GIL-pinned', async () => {
    const { runner, server } = await start(
      (_r, res) => sendSse(res, fixture('openai-text')),
      (url) => createOpenAICompatibleRunner({ preset: 'vllm', baseUrl: `${url}/v1` }),
    );
    await (await runner.execute(batch({ model: 'meta-llama/Llama-3.1-8B-Instruct', sampling: { topK: 20, maxTokens: 5 } }))).collect();
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
    expect(body().top_k).toBe(20);
    expect(body().max_tokens).toBe(5);
    expect(runner.runtimeKind()).toBe('vllm');
    expect(runner.gilPinned()).toBe(false);
    expect(runner.transportKind()).toEqual({ kind: 'remote', provider: 'openai' });
    // Self-hosted model: no price known.
    expect(runner.estimateCostUsd(batch({ model: 'meta-llama/Llama-3.1-8B-Instruct' }))).toBeUndefined();
  });

  test('preset defaults', () => {
    const check = (preset: 'ollama' | 'groq' | 'openrouter' | 'together' | 'deepseek' | 'llamacpp' | 'litellm', origin: string) => {
      const r = createOpenAICompatibleRunner({ preset, apiKey: 'k' });
      expect((r.toJSON() as { origin: string }).origin).toBe(origin);
      void r.close();
      return r;
    };
    check('ollama', 'http://localhost:11434');
    check('llamacpp', 'http://localhost:8080');
    check('groq', 'https://api.groq.com');
    check('openrouter', 'https://openrouter.ai');
    check('together', 'https://api.together.xyz');
    const ds = check('deepseek', 'https://api.deepseek.com');
    expect(ds.priceFor('deepseek-chat')).toBeDefined();
    const lite = check('litellm', 'http://localhost:4000');
    expect(lite.runtimeKind()).toBe('litellm');
    expect(lite.transportKind()).toEqual({ kind: 'remote', provider: 'litellm' });
    expect(() => createOpenAICompatibleRunner({ preset: 'custom' })).toThrow(/baseUrl is required/);
    expect(() => createOpenAICompatibleRunner({ preset: 'nope' as 'vllm' })).toThrow(/option 'preset' must be one of/);
  });

  test('hosted presets refuse to send without a key', async () => {
    const saved = process.env.GROQ_API_KEY;
    delete process.env.GROQ_API_KEY;
    const { runner, server } = await start(
      (_r, res) => sendSse(res, fixture('openai-text')),
      (url) => createOpenAICompatibleRunner({ preset: 'groq', baseUrl: `${url}/openai/v1` }),
    );
    const err = await rejectionOf(runner.execute(batch()));
    expect(err.kind).toBe('unauthorized');
    expect(err.message).toContain('GROQ_API_KEY');
    expect(server.requests).toHaveLength(0);
    if (saved !== undefined) process.env.GROQ_API_KEY = saved;
  });

  test('Azure: deployment URL, api-version, api-key header, no model in body', async () => {
    const { runner, server } = await start(
      (_r, res) => sendSse(res, fixture('openai-text')),
      (url) => createAzureOpenAIRunner({ endpoint: url, deployment: 'my-gpt4o', apiVersion: '2024-10-21', apiKey: 'azure-key' }),
    );
    const t = await (await runner.execute(batch())).collect();
    expect(t.text).toBe('Hello there!');
    const req = server.requests[0]!;
    expect(req.url).toBe('/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21');
    expect(req.headers['api-key']).toBe('azure-key');
    expect(req.headers.authorization).toBeUndefined();
    expect(body().model).toBeUndefined();
  });

  test('Azure with an Entra token provider uses bearer auth; deployment defaults to the model', async () => {
    const { runner, server } = await start(
      (_r, res) => sendSse(res, fixture('openai-text')),
      (url) => createAzureOpenAIRunner({ endpoint: url, entraToken: async () => 'entra-token' }),
    );
    await (await runner.execute(batch({ model: 'gpt-4o' }))).collect();
    expect(server.requests[0]!.url).toBe('/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    expect(server.requests[0]!.headers.authorization).toBe('Bearer entra-token');
  });

  test('Azure prompt filter results chunk (choices: []) is tolerated', async () => {
    const first = { choices: [], prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }] };
    const { runner } = await start(
      (_r, res) => sendSse(res, `data: ${JSON.stringify(first)}\n\n${fixture('openai-text').toString()}`),
      (url) => createAzureOpenAIRunner({ endpoint: url, apiKey: 'k' }),
    );
    expect((await (await runner.execute(batch())).collect()).text).toBe('Hello there!');
  });
});
