import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch, drain } from '../__testing__/batches.js';
import { sendJson, sendSse, type MockHandler } from '../__testing__/mock-server.js';
import { serverAndRunnerPerTest } from '../__testing__/server-and-runner.js';
import { createGeminiRunner, type GeminiRunnerOptions } from './gemini-runner.js';

const fixture = (name: string) => readFileSync(new URL(`./__fixtures__/${name}.chunks.txt`, import.meta.url));
const gemini = (overrides = {}) => batch({ model: 'gemini-2.5-flash', ...overrides });

const current = serverAndRunnerPerTest();
const start = (handler: MockHandler, options: GeminiRunnerOptions = {}) =>
  current.start(handler, (origin) => createGeminiRunner({ baseUrl: `${origin}/v1beta`, apiKey: 'goog-key', ...options }));
const body = (i = 0): Record<string, any> => JSON.parse(current.server!.requests[i]!.body);

describe('Gemini transcripts assemble into Tokens', () => {
  test('text over CRLF framing; usage from the final usageMetadata, not summed', async () => {
    const { runner, server } = await start((_r, res) => sendSse(res, fixture('gemini-text')));
    const t = await (await runner.execute(gemini())).collect();
    expect(t.text).toBe('Hello! How can I help you today?');
    expect(t.finishReason).toBe('stop');
    expect(t.rawFinishReason).toBe('STOP');
    expect(t.usage).toEqual({ inputTokens: 8, outputTokens: 9 });
    expect(t.costUsd).toBeCloseTo((8 * 0.3 + 9 * 2.5) / 1e6, 12);
    expect(server.requests[0]!.url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(server.requests[0]!.headers['x-goog-api-key']).toBe('goog-key');
  });

  test('function call: whole call in one part, STOP means tool_calls; thoughts count as output', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('gemini-function-call')));
    const t = await (await runner.execute(gemini({ requestId: 'r-fc' }))).collect();
    expect(t.toolCalls).toEqual([{ id: 'r-fc-call-0', name: 'get_weather', arguments: '{"city":"Tokyo"}' }]);
    expect(t.finishReason).toBe('tool_calls');
    expect(t.usage).toEqual({ inputTokens: 30, outputTokens: 22, reasoningTokens: 15, cachedTokens: 10 });
  });

  test('MAX_TOKENS → length; thought parts go to reasoning', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('gemini-max-tokens')));
    const t = await (await runner.execute(gemini())).collect();
    expect(t.reasoning).toBe('Thinking...');
    expect(t.text).toBe('Long answer');
    expect(t.finishReason).toBe('length');
  });

  test('finishReason SAFETY → content_filtered after the delivered text', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('gemini-safety')));
    const { chunks, error } = await drain(await runner.execute(gemini()));
    expect(chunks.map((c) => c.textDelta).join('')).toBe('Sure');
    expect(error?.kind).toBe('content_filtered');
    expect(error?.details).toEqual({ stage: 'output', category: 'SAFETY' });
    expect(error?.retryable).toBe(false);
  });

  test('promptFeedback.blockReason → content_filtered from execute()', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('gemini-prompt-blocked')));
    const err = await rejectionOf(runner.execute(gemini()));
    expect(err.kind).toBe('content_filtered');
    expect(err.details).toEqual({ stage: 'input', category: 'PROHIBITED_CONTENT' });
  });

  test('a body that ends without a finishReason is truncated', async () => {
    const text = fixture('gemini-text').toString();
    const { runner } = await start((_r, res) => sendSse(res, text.slice(0, text.lastIndexOf('data:'))));
    const { error } = await drain(await runner.execute(gemini()));
    expect(error?.kind).toBe('network_error');
  });

  test('error objects inside the stream use their numeric code', async () => {
    const { runner } = await start((_r, res) =>
      sendSse(res, 'data: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n'),
    );
    const err = await rejectionOf(runner.execute(gemini()));
    expect(err.kind).toBe('server_error');
    expect(err.retryable).toBe(true);
  });
});

describe('Gemini requests and errors', () => {
  test('systemInstruction, roles, images, tool turns, generationConfig, json schema, tool config', async () => {
    const { runner } = await start((_r, res) => sendSse(res, fixture('gemini-text')));
    await (
      await runner.execute(
        gemini({
          messages: [
            { role: 'system', content: 'You are terse.' },
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is this?' },
                { type: 'image_base64', mime: 'image/png', data: 'AAAA' },
                { type: 'image_url', url: 'gs://bucket/cat.jpeg' },
              ],
            },
            { role: 'assistant', content: '', toolCalls: [{ id: 'c0', name: 'lookup', arguments: '{"q":"cat"}' }] },
            { role: 'tool', content: 'a cat', toolCallId: 'c0' },
          ],
          sampling: { temperature: 0.7, topP: 0.95, topK: 40, maxTokens: 256, stop: ['END'], seed: 1 },
          tools: [{ name: 'lookup', description: 'Look up', parameters: { type: 'object', properties: { q: { type: 'string' } } } }],
          toolChoice: { type: 'tool', name: 'lookup' },
          responseFormat: { type: 'json_schema', name: 'x', schema: { type: 'object' } },
        }),
      )
    ).collect();
    expect(body()).toEqual({
      systemInstruction: { parts: [{ text: 'You are terse.' }] },
      contents: [
        {
          role: 'user',
          parts: [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: 'AAAA' } }, { fileData: { mimeType: 'image/jpeg', fileUri: 'gs://bucket/cat.jpeg' } }],
        },
        { role: 'model', parts: [{ functionCall: { name: 'lookup', args: { q: 'cat' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'lookup', response: { result: 'a cat' } } }] },
      ],
      generationConfig: {
        temperature: 0.7,
        topP: 0.95,
        topK: 40,
        maxOutputTokens: 256,
        stopSequences: ['END'],
        seed: 1,
        responseMimeType: 'application/json',
        responseJsonSchema: { type: 'object' },
      },
      tools: [{ functionDeclarations: [{ name: 'lookup', description: 'Look up', parametersJsonSchema: { type: 'object', properties: { q: { type: 'string' } } } }] }],
      toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['lookup'] } },
    });
  });

  test('a tool result that answers no earlier call is a bad_request', async () => {
    const { runner, server } = await start((_r, res) => sendSse(res, fixture('gemini-text')));
    const err = await rejectionOf(runner.execute(gemini({ messages: [{ role: 'tool', content: 'x', toolCallId: 'nope' }] })));
    expect(err.kind).toBe('bad_request');
    expect(server.requests).toHaveLength(0);
  });

  test('Vertex: project/location URL and bearer token provider', async () => {
    let calls = 0;
    const { runner, server } = await start((_r, res) => sendSse(res, fixture('gemini-text')), {
      vertex: { project: 'my-proj', location: 'us-central1' },
      apiKey: async () => `ya29.token-${++calls}`,
    });
    await (await runner.execute(gemini())).collect();
    const req = server.requests[0]!;
    expect(req.url).toBe('/v1beta/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(req.headers.authorization).toBe('Bearer ya29.token-1');
    expect(req.headers['x-goog-api-key']).toBeUndefined();
    const r2 = createGeminiRunner({ vertex: { project: 'p', location: 'europe-west4' }, apiKey: () => 't' });
    expect((r2.toJSON() as { origin: string }).origin).toBe('https://europe-west4-aiplatform.googleapis.com');
    await r2.close();
    expect(() => createGeminiRunner({ vertex: { project: 'p', location: 'l' } })).toThrow(/access-token provider/);
  });

  test('unary generateContent', async () => {
    const { runner, server } = await start((_r, res) =>
      sendJson(res, 200, {
        candidates: [{ content: { parts: [{ text: 'Hi' }], role: 'model' }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
      }),
    );
    const t = await (await runner.execute(gemini({ stream: false, model: 'models/gemini-2.5-pro' }))).collect();
    expect(server.requests[0]!.url).toBe('/v1beta/models/gemini-2.5-pro:generateContent');
    expect(t.text).toBe('Hi');
    expect(t.finishReason).toBe('stop');
    expect(t.usage).toEqual({ inputTokens: 3, outputTokens: 1 });
  });

  test('429 RESOURCE_EXHAUSTED with RetryInfo; 400 API_KEY_INVALID → unauthorized', async () => {
    const { runner } = await start((_r, res, n) =>
      n === 0
        ? sendJson(
            res,
            429,
            JSON.stringify(
              {
                error: {
                  code: 429,
                  message: 'Resource has been exhausted',
                  status: 'RESOURCE_EXHAUSTED',
                  details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '27s' }],
                },
              },
              null,
              2,
            ),
          )
        : sendJson(res, 400, {
            error: {
              code: 400,
              message: 'API key not valid. Please pass a valid API key.',
              status: 'INVALID_ARGUMENT',
              details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }],
            },
          }),
    );
    const a = await rejectionOf(runner.execute(gemini()));
    expect(a.kind).toBe('rate_limited');
    expect(a.retryAfterMs).toBe(27_000);
    const b = await rejectionOf(runner.execute(gemini()));
    expect(b.kind).toBe('unauthorized');
  });
});
