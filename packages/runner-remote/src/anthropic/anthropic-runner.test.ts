import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch, drain } from '../__testing__/batches.js';
import { sendJson, sendSse, type MockHandler } from '../__testing__/mock-server.js';
import { serverAndRunnerPerTest } from '../__testing__/server-and-runner.js';
import { createAnthropicRunner, type AnthropicRunnerOptions } from './anthropic-runner.js';

const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}.chunks.txt`, import.meta.url));
const claude = (overrides = {}) => batch({ model: 'claude-sonnet-4-5', ...overrides });

const current = serverAndRunnerPerTest();
const start = (handler: MockHandler, options: AnthropicRunnerOptions = {}) =>
  current.start(handler, (origin) => createAnthropicRunner({ baseUrl: `${origin}/v1`, apiKey: 'sk-ant-test', ...options }));
const body = (i = 0): Record<string, any> => JSON.parse(current.server!.requests[i]!.body);

describe('Anthropic transcripts assemble into Tokens', () => {
  test('text: input usage from message_start, output from message_delta', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('anthropic-text')));
    const t = await (await runner.execute(claude())).collect();
    expect(t.text).toBe('Hello there!');
    expect(t.finishReason).toBe('stop');
    expect(t.rawFinishReason).toBe('end_turn');
    expect(t.usage).toEqual({ inputTokens: 12, cachedTokens: 0, outputTokens: 6 });
    expect(t.costUsd).toBeCloseTo((12 * 3 + 6 * 15) / 1e6, 12);
  });

  test('text then tool_use: partial_json fragments assemble', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('anthropic-tool-use')));
    const t = await (await runner.execute(claude())).collect();
    expect(t.text).toBe("I'll check the weather in Paris.");
    expect(t.toolCalls).toEqual([{ id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn', name: 'get_weather', arguments: '{"location": "Paris"}' }]);
    expect(t.finishReason).toBe('tool_calls');
    expect(t.usage?.outputTokens).toBe(65);
  });

  test('thinking, citations and unknown blocks are tolerated; max_tokens is not overwritten later', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('anthropic-thinking-max-tokens')));
    const t = await (await runner.execute(claude())).collect();
    expect(t.reasoning).toBe('Let me think.');
    expect(t.text).toBe('The answer is');
    expect(t.finishReason).toBe('length');
    expect(t.rawFinishReason).toBe('max_tokens');
    // input_tokens 40 + cache reads 30.
    expect(t.usage).toEqual({ inputTokens: 70, cachedTokens: 30, outputTokens: 16 });
    expect(t.costUsd).toBeCloseTo((40 * 3 + 30 * 0.3 + 16 * 15) / 1e6, 12);
  });

  test('stop_sequence and refusal', async () => {
    const { runner: r } = await start((_req, res, n) => sendSse(res, fixture(n === 0 ? 'anthropic-stop-sequence' : 'anthropic-refusal')));
    const a = await (await r.execute(claude())).collect();
    expect(a.finishReason).toBe('stop');
    expect(a.rawFinishReason).toBe('stop_sequence');
    const b = await (await r.execute(claude())).collect();
    expect(b.finishReason).toBe('content_filter');
    expect(b.rawFinishReason).toBe('refusal');
  });

  test('a stream cut before message_stop is a network_error', async () => {
    const text = fixture('anthropic-text').toString();
    const { runner } = await start((_r, res) => sendSse(res, text.slice(0, text.indexOf('event: message_delta'))));
    const { chunks, error } = await drain(await runner.execute(claude()));
    expect(chunks.map((c) => c.textDelta).join('')).toBe('Hello there!');
    expect(error?.kind).toBe('network_error');
  });

  test('a tool call with its input in content_block_start and no deltas', async () => {
    const ev = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    const { runner } = await start((_r, res) =>
      sendSse(
        res,
        ev('message_start', { type: 'message_start', message: { usage: { input_tokens: 5, output_tokens: 1 } } }) +
          ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't1', name: 'now', input: {} } }) +
          ev('content_block_stop', { type: 'content_block_stop', index: 0 }) +
          ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } }) +
          ev('message_stop', { type: 'message_stop' }),
      ),
    );
    const t = await (await runner.execute(claude())).collect();
    expect(t.toolCalls).toEqual([{ id: 't1', name: 'now', arguments: '{}' }]);
  });
});

describe('Anthropic request building', () => {
  test('system → top-level, images, tools, tool_use/tool_result turns, headers', async () => {
    const { runner, server } = await start((_r, res) => sendSse(res, fixture('anthropic-text')), { betas: ['a', 'b'] });
    await (
      await runner.execute(
        claude({
          messages: [
            { role: 'system', content: 'Be brief.' },
            {
              role: 'user',
              content: [
                { type: 'text', text: 'Look' },
                { type: 'image_base64', mime: 'image/png', data: 'AAAA' },
                { type: 'image_url', url: 'data:image/jpeg;base64,BBBB' },
                { type: 'image_url', url: 'https://example.com/x.png' },
              ],
            },
            {
              role: 'assistant',
              content: 'Checking',
              toolCalls: [
                { id: 't1', name: 'get_weather', arguments: '{"city":"Paris"}' },
                { id: 't2', name: 'get_time', arguments: '' },
              ],
            },
            { role: 'tool', content: '21C', toolCallId: 't1' },
            { role: 'tool', content: '12:00', toolCallId: 't2' },
          ],
          sampling: { maxTokens: 100, temperature: 0.5, topK: 3, stop: ['END'] },
          tools: [{ name: 'get_weather', parameters: { type: 'object' } }],
          toolChoice: 'required',
        }),
      )
    ).collect();
    const b = body();
    expect(b.system).toEqual([{ type: 'text', text: 'Be brief.' }]);
    expect(b.max_tokens).toBe(100);
    expect(b.top_k).toBe(3);
    expect(b.stop_sequences).toEqual(['END']);
    expect(b.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'BBBB' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/x.png' } },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking' },
          { type: 'tool_use', id: 't1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 't2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: '21C' },
          { type: 'tool_result', tool_use_id: 't2', content: '12:00' },
        ],
      },
    ]);
    expect(b.tools).toEqual([{ name: 'get_weather', input_schema: { type: 'object' } }]);
    expect(b.tool_choice).toEqual({ type: 'any' });
    const h = server.requests[0]!.headers;
    expect(h['x-api-key']).toBe('sk-ant-test');
    expect(h['anthropic-version']).toBe('2023-06-01');
    expect(h['anthropic-beta']).toBe('a,b');
    expect(server.requests[0]!.url).toBe('/v1/messages');
  });

  test('max_tokens defaults to defaultMaxTokens (the API requires one)', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('anthropic-text')), { defaultMaxTokens: 1234 });
    await (await runner.execute(claude())).collect();
    expect(body().max_tokens).toBe(1234);
  });

  test('unsupported inputs are bad_request, nothing sent', async () => {
    const { runner, server } = await start((_r, res) => sendSse(res, fixture('anthropic-text')));
    for (const b of [
      claude({ sampling: { seed: 1 } }),
      claude({ sampling: { presencePenalty: 1 } }),
      claude({ responseFormat: { type: 'json_schema', name: 'x', schema: {} } }),
      claude({ messages: [{ role: 'system', content: 'only system' }] }),
      claude({ messages: [{ role: 'assistant', content: '', toolCalls: [{ id: 'x', name: 'y', arguments: '{bad' }] }] }),
    ]) {
      expect((await rejectionOf(runner.execute(b))).kind).toBe('bad_request');
    }
    expect(server.requests).toHaveLength(0);
  });

  test('unary response with thinking, text and tool_use', async () => {
    const { runner } = await start((_r, res) =>
      sendJson(res, 200, {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'hmm', signature: 's' },
          { type: 'text', text: 'Sure.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 7 },
      }),
    );
    const t = await (await runner.execute(claude({ stream: false }))).collect();
    expect(body().stream).toBeUndefined();
    expect(t.reasoning).toBe('hmm');
    expect(t.text).toBe('Sure.');
    expect(t.toolCalls).toEqual([{ id: 'toolu_1', name: 'get_weather', arguments: '{"location":"Paris"}' }]);
    expect(t.finishReason).toBe('tool_calls');
    expect(t.usage).toEqual({ inputTokens: 15, cachedTokens: 5, outputTokens: 7 });
  });

  test('529 overloaded → retryable server_error; 400 prompt too long → context_length_exceeded', async () => {
    const { runner } = await start((_r, res, n) =>
      n === 0
        ? sendJson(res, 529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })
        : sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long: 210000 tokens > 200000 maximum' } }),
    );
    const a = await rejectionOf(runner.execute(claude()));
    expect(a.kind).toBe('server_error');
    expect(a.status).toBe(529);
    expect(a.retryable).toBe(true);
    const b = await rejectionOf(runner.execute(claude()));
    expect(b.kind).toBe('context_length_exceeded');
    expect(b.details).toEqual({ maxContextTokens: 200000, requestedTokens: 210000 });
  });
});
