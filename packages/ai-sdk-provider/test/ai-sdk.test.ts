// The provider driven by the real `ai` package (v6): what users run. The runner is the core's
// ScriptedRunner, declaring the capabilities each case needs.
import { APICallError, UnsupportedFunctionalityError } from '@ai-sdk/provider';
import { InferenceError, type ExecuteBatch, type TokenChunk } from '@inferkit/inference-core';
import { generateObject, generateText, jsonSchema, Output, RetryError, stepCountIs, streamText, tool } from 'ai';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createInferkit } from '../src/index.js';
import { ALL, captureWarnings, scripted } from './helpers/scripted.js';

let logged: ReturnType<typeof captureWarnings>;
beforeEach(() => {
  logged = captureWarnings();
});
afterEach(() => logged.restore());

const toolDelta = (d: NonNullable<TokenChunk['toolCallDelta']>): { chunk: Partial<TokenChunk> } => ({ chunk: { toolCallDelta: d } });

async function partsOf(stream: AsyncIterable<{ type: string }>): Promise<Array<{ type: string } & Record<string, unknown>>> {
  const parts: Array<{ type: string } & Record<string, unknown>> = [];
  for await (const p of stream) parts.push(p as { type: string } & Record<string, unknown>);
  return parts;
}

describe('streamText', () => {
  test('streams the runner text as it arrives, with usage, finish reason and the request id', async () => {
    const runner = scripted({
      script: [
        { text: 'Once ' },
        { text: 'upon ' },
        { text: 'a time.' },
        { finish: 'stop', usage: { inputTokens: 12, outputTokens: 4, cachedTokens: 2 }, costUsd: 0.0004 },
      ],
    });
    const inferkit = createInferkit({ models: { local: runner } });
    const result = streamText({ model: inferkit('local'), prompt: 'Tell me a story.', maxOutputTokens: 40, temperature: 0.2 });
    const deltas: string[] = [];
    for await (const d of result.textStream) deltas.push(d);
    expect(deltas).toEqual(['Once ', 'upon ', 'a time.']);
    expect(await result.text).toBe('Once upon a time.');
    expect(await result.finishReason).toBe('stop');
    expect(await result.rawFinishReason).toBe('stop');
    const usage = await result.usage;
    expect(usage).toMatchObject({
      inputTokens: 12,
      outputTokens: 4,
      totalTokens: 16,
      inputTokenDetails: { noCacheTokens: 10, cacheReadTokens: 2, cacheWriteTokens: undefined },
      outputTokenDetails: { textTokens: undefined, reasoningTokens: undefined },
    });
    const batch = runner.calls[0]!;
    expect(batch).toMatchObject({
      model: 'local',
      stream: true,
      messages: [{ role: 'user', content: 'Tell me a story.' }],
      sampling: { maxTokens: 40, temperature: 0.2 },
    });
    expect((await result.response).id).toBe(batch.requestId);
    expect(await result.providerMetadata).toEqual({ inferkit: { requestId: batch.requestId, costUsd: 0.0004 } });
    expect(await result.warnings).toEqual([]);
  });

  test('reasoning and text stream as separate blocks in the order they arrive', async () => {
    const runner = scripted({
      script: [
        { chunk: { reasoningDelta: 'The user wants ' } },
        { chunk: { reasoningDelta: 'a number.' } },
        { text: '42' },
        { finish: 'stop', usage: { inputTokens: 3, outputTokens: 9, reasoningTokens: 8 } },
      ],
    });
    const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'Pick a number.' });
    const types = (await partsOf(result.fullStream)).map((p) => p.type);
    expect(types).toEqual([
      'start',
      'start-step',
      'reasoning-start',
      'reasoning-delta',
      'reasoning-delta',
      'reasoning-end',
      'text-start',
      'text-delta',
      'text-end',
      'finish-step',
      'finish',
    ]);
    expect(await result.reasoningText).toBe('The user wants a number.');
    expect(await result.text).toBe('42');
    expect((await result.usage).outputTokenDetails).toEqual({ textTokens: 1, reasoningTokens: 8 });
  });

  test('a stream that ends without a finish chunk finishes as other, with unknown usage', async () => {
    const runner = scripted({ script: [{ text: 'cut' }] });
    const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x' });
    expect(await result.text).toBe('cut');
    expect(await result.finishReason).toBe('other');
    expect(await result.usage).toMatchObject({ inputTokens: undefined, outputTokens: undefined, totalTokens: undefined });
  });

  test('every inferkit finish reason maps to its AI SDK value, the runtime string kept as raw', async () => {
    const cases = [
      ['stop', 'end_turn', 'stop'],
      ['length', undefined, 'length'],
      ['content_filter', 'SAFETY', 'content-filter'],
      ['error', undefined, 'error'],
    ] as const;
    for (const [inferkitReason, raw, unified] of cases) {
      const runner = scripted({ script: [{ text: 'x' }, { chunk: { finishReason: inferkitReason, rawFinishReason: raw } }] });
      const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x' });
      await result.consumeStream();
      expect(await result.finishReason).toBe(unified);
      expect(await result.rawFinishReason).toBe(raw ?? inferkitReason);
    }
  });

  test('aborting mid-stream cancels the runner and ends the AI SDK stream with abort', async () => {
    const runner = scripted({ script: [{ text: 'first ' }, { delayMs: 120_000 }, { text: 'never' }, { finish: 'stop' }] });
    const controller = new AbortController();
    const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', abortSignal: controller.signal });
    const seen: string[] = [];
    for await (const part of result.fullStream) {
      seen.push(part.type);
      if (part.type === 'text-delta') controller.abort();
    }
    expect(seen).toContain('abort');
    expect(seen).not.toContain('finish');
    expect(runner.cancellations).toBe(1);
    expect(runner.produced).toBe(1);
    expect(runner.active).toBe(0);
  });

  test('a runner error before the first chunk reaches onError as an APICallError; the runner is not retried for a non-retryable kind', async () => {
    const runner = scripted({
      script: { executeError: new InferenceError('unauthorized', 'the API key was rejected', { status: 401 }), steps: [] },
    });
    const errors: unknown[] = [];
    const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', onError: ({ error }) => void errors.push(error) });
    await result.consumeStream();
    expect(errors).toHaveLength(1);
    const e = errors[0];
    expect(APICallError.isInstance(e)).toBe(true);
    expect(e).toMatchObject({ message: 'the API key was rejected', statusCode: 401, isRetryable: false, data: { kind: 'unauthorized' } });
    expect(runner.calls).toHaveLength(1);
  });

  test('a mid-stream error is streamed as an error part, keeps the text so far and finishes with error', async () => {
    const runner = scripted({
      script: [
        { text: 'partial' },
        {
          error: new InferenceError('runtime_crashed', 'the engine process exited', {
            details: { exitCode: 139, stderrTail: 'segfault in /home/alice/secret-project/engine.cc' },
          }),
        },
      ],
    });
    const errors: unknown[] = [];
    const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', onError: ({ error }) => void errors.push(error) });
    const parts = await partsOf(result.fullStream);
    const error = parts.find((p) => p.type === 'error')?.error;
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ message: 'the engine process exited', isRetryable: false, data: { kind: 'runtime_crashed' } });
    expect(JSON.stringify(error)).not.toContain('secret-project');
    expect((error as Error).cause).toBeUndefined();
    expect(errors).toEqual([error]);
    expect(await result.text).toBe('partial');
    expect(await result.finishReason).toBe('error');
  });

  test('streams tool input as it arrives and the complete call at the end', async () => {
    const runner = scripted(
      {
        script: [
          toolDelta({ index: 0, id: 'call_1', name: 'weather', argumentsDelta: '{"city":' }),
          toolDelta({ index: 0, argumentsDelta: '"Paris"}' }),
          { finish: 'tool_calls' },
        ],
      },
      ALL,
    );
    const result = streamText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'Weather in Paris?',
      tools: { weather: tool({ inputSchema: z.object({ city: z.string() }) }) },
    });
    const parts = await partsOf(result.fullStream);
    expect(parts.filter((p) => p.type.startsWith('tool-')).map((p) => [p.type, p.delta ?? p.toolName ?? ''])).toEqual([
      ['tool-input-start', 'weather'],
      ['tool-input-delta', '{"city":'],
      ['tool-input-delta', '"Paris"}'],
      ['tool-input-end', ''],
      ['tool-call', 'weather'],
    ]);
    expect(await result.toolCalls).toMatchObject([{ toolCallId: 'call_1', toolName: 'weather', input: { city: 'Paris' } }]);
    expect(await result.finishReason).toBe('tool-calls');
  });
});

describe('generateText', () => {
  test('returns text, usage and finish reason; settings reach the batch', async () => {
    const runner = scripted(
      { script: [{ text: 'Hello' }, { text: ' world' }, { finish: 'length', usage: { inputTokens: 7, outputTokens: 2 } }] },
      ALL,
    );
    const inferkit = createInferkit({ models: { chat: { runner, model: 'tiny-chat-v1' } } });
    const result = await generateText({
      model: inferkit('chat'),
      system: 'Be brief.',
      prompt: 'Greet me.',
      maxOutputTokens: 2,
      temperature: 0,
      topP: 0.9,
      topK: 40,
      presencePenalty: 0.5,
      frequencyPenalty: 0.25,
      stopSequences: ['\n\n'],
      seed: 7,
    });
    expect(result.text).toBe('Hello world');
    expect(result.finishReason).toBe('length');
    expect(result.usage).toMatchObject({ inputTokens: 7, outputTokens: 2, totalTokens: 9 });
    expect(result.warnings).toEqual([]);
    const batch = runner.calls[0]!;
    expect(batch).toMatchObject({
      model: 'tiny-chat-v1',
      stream: false,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Greet me.' },
      ],
      sampling: { maxTokens: 2, temperature: 0, topP: 0.9, topK: 40, presencePenalty: 0.5, frequencyPenalty: 0.25, stop: ['\n\n'], seed: 7 },
    });
    expect(batch.estimatedTokens).toBeGreaterThan(2);
    expect(result.request.body).toBe(batch);
    expect(result.response.modelId).toBe('tiny-chat-v1');
  });

  test('penalties the runner does not declare are not sent, with an unsupported warning each', async () => {
    const runner = scripted({ script: [{ text: 'ok' }, { finish: 'stop' }] });
    const result = await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'x',
      presencePenalty: 0.5,
      frequencyPenalty: 0,
    });
    expect(runner.calls[0]!.sampling).toEqual({});
    expect(result.warnings).toEqual([
      { type: 'unsupported', feature: 'presencePenalty', details: expect.stringContaining('capabilities().penalties') },
    ]);
    expect(logged.warnings).toEqual(result.warnings);
  });

  test('a retryable runner error is retried by the AI SDK (retryAfterMs as its retry-after-ms header), then surfaces as RetryError', async () => {
    // retryAfterMs 1: the AI SDK waits that instead of its own backoff (2 s, then 4 s).
    const runner = scripted({
      script: { executeError: new InferenceError('rate_limited', 'requests per minute exhausted', { status: 429, retryAfterMs: 1 }), steps: [] },
    });
    const err = await generateText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', maxRetries: 2 }).catch((e: unknown) => e);
    expect(RetryError.isInstance(err)).toBe(true);
    const last = (err as RetryError).lastError;
    expect(last).toMatchObject({
      statusCode: 429,
      isRetryable: true,
      responseHeaders: { 'retry-after-ms': '1' },
      data: { kind: 'rate_limited', requestId: runner.calls[2]!.requestId },
    });
    expect(runner.calls).toHaveLength(3);
  });

  test('a non-retryable error is thrown as it is after one call', async () => {
    const runner = scripted({
      script: { executeError: new InferenceError('context_length_exceeded', 'prompt is 9000 tokens, the context 4096'), steps: [] },
    });
    const err = await generateText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x' }).catch((e: unknown) => e);
    expect(APICallError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({ isRetryable: false, statusCode: undefined, data: { kind: 'context_length_exceeded' } });
    expect(runner.calls).toHaveLength(1);
  });

  test('a mid-stream error rejects with the mapped error', async () => {
    const runner = scripted({ script: [{ text: 'a' }, { error: new InferenceError('server_error', 'upstream 502', { status: 502 }) }] });
    const err = await generateText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', maxRetries: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'upstream 502', statusCode: 502, isRetryable: true, data: { kind: 'server_error' } });
  });

  test('an abort signal that fires while waiting cancels the runner and rejects with the abort reason', async () => {
    const runner = scripted({ script: [{ delayMs: 120_000 }, { text: 'late' }, { finish: 'stop' }] });
    const controller = new AbortController();
    const pending = generateText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', abortSignal: controller.signal });
    const deadline = Date.now() + 10_000;
    while (runner.active === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(runner.active).toBe(1);
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(runner.cancellations).toBe(1);
  });

  test('an image the runner does not declare it can see is refused, not dropped', async () => {
    const runner = scripted({ script: [{ text: 'ok' }, { finish: 'stop' }] });
    const err = await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image', image: PNG_1x1 }] }],
    }).catch((e: unknown) => e);
    expect(UnsupportedFunctionalityError.isInstance(err)).toBe(true);
    expect((err as Error).message).toContain('capabilities().images');
    expect(runner.calls).toHaveLength(0);
  });

  test('an image reaches a runner that declares images, as base64 with its sniffed type', async () => {
    const runner = scripted({ script: [{ text: 'a dot' }, { finish: 'stop' }] }, { images: true });
    await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image', image: PNG_1x1 }] }],
    });
    expect(runner.calls[0]!.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_base64', mime: 'image/png', data: Buffer.from(PNG_1x1).toString('base64') },
        ],
      },
    ]);
  });
});

describe('tools', () => {
  const weatherScript = (batch: ExecuteBatch, call: number) =>
    call === 1
      ? [
          { text: 'Let me check.' },
          toolDelta({ index: 0, id: 'call_a', name: 'weather' }),
          toolDelta({ index: 0, argumentsDelta: '{"city":"Paris"}' }),
          toolDelta({ index: 1, id: 'call_b', name: 'weather', argumentsDelta: '{"city":"Oslo"}' }),
          { finish: 'tool_calls' as const, usage: { inputTokens: 20, outputTokens: 15 } },
        ]
      : [{ text: `Done after ${batch.messages.length} messages.` }, { finish: 'stop' as const, usage: { inputTokens: 40, outputTokens: 6 } }];

  test('a multi-step tool loop: calls execute, results go back to the runner, the final answer ends the loop', async () => {
    const runner = scripted({ script: weatherScript }, ALL);
    const executed: string[] = [];
    const result = await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'Weather in Paris and Oslo?',
      tools: {
        weather: tool({
          description: 'Current weather of a city',
          inputSchema: z.object({ city: z.string() }),
          execute: async ({ city }) => {
            executed.push(city);
            return { city, celsius: city === 'Paris' ? 18 : 4 };
          },
        }),
      },
      toolChoice: 'auto',
      stopWhen: stepCountIs(5),
    });
    expect(executed).toEqual(['Paris', 'Oslo']);
    expect(result.steps).toHaveLength(2);
    expect(result.steps[0]!.finishReason).toBe('tool-calls');
    expect(result.text).toBe('Done after 4 messages.');
    expect(result.totalUsage).toMatchObject({ inputTokens: 60, outputTokens: 21 });

    const first = runner.calls[0]!;
    expect(first.tools).toEqual([
      {
        name: 'weather',
        description: 'Current weather of a city',
        parameters: expect.objectContaining({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
      },
    ]);
    expect(first.toolChoice).toBe('auto');
    expect(runner.calls[1]!.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Oslo?' },
      {
        role: 'assistant',
        content: 'Let me check.',
        toolCalls: [
          { id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' },
          { id: 'call_b', name: 'weather', arguments: '{"city":"Oslo"}' },
        ],
      },
      { role: 'tool', toolCallId: 'call_a', content: '{"city":"Paris","celsius":18}' },
      { role: 'tool', toolCallId: 'call_b', content: '{"city":"Oslo","celsius":4}' },
    ]);
  });

  test('the same loop through streamText', async () => {
    const runner = scripted({ script: weatherScript }, ALL);
    const result = streamText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'Weather in Paris and Oslo?',
      tools: { weather: tool({ inputSchema: z.object({ city: z.string() }), execute: async ({ city }) => `${city}: fine` }) },
      stopWhen: stepCountIs(5),
    });
    const parts = await partsOf(result.fullStream);
    expect(parts.filter((p) => p.type === 'tool-result').map((p) => p.output)).toEqual(['Paris: fine', 'Oslo: fine']);
    expect(await result.text).toBe('Done after 4 messages.');
    expect(runner.calls[1]!.messages.slice(2)).toEqual([
      { role: 'tool', toolCallId: 'call_a', content: 'Paris: fine' },
      { role: 'tool', toolCallId: 'call_b', content: 'Oslo: fine' },
    ]);
  });

  test('a forced tool choice maps to { type: tool, name }', async () => {
    const runner = scripted({ script: [toolDelta({ index: 0, name: 'pick', argumentsDelta: '{}' }), { finish: 'tool_calls' }] }, ALL);
    const result = await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'x',
      tools: { pick: tool({ inputSchema: z.object({}) }) },
      toolChoice: { type: 'tool', toolName: 'pick' },
    });
    expect(runner.calls[0]!.toolChoice).toEqual({ type: 'tool', name: 'pick' });
    // The runner gave no call id: the provider made one from the request id.
    expect(result.toolCalls[0]!.toolCallId).toBe(`${runner.calls[0]!.requestId}-call-0`);
  });

  test('tools for a runner that does not declare them are not sent, with an unsupported warning', async () => {
    const runner = scripted({ script: [{ text: 'no tools here' }, { finish: 'stop' }] });
    const result = await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'x',
      tools: { pick: tool({ inputSchema: z.object({}) }) },
      toolChoice: 'auto',
    });
    expect(runner.calls[0]!.tools).toBeUndefined();
    expect(runner.calls[0]!.toolChoice).toBeUndefined();
    expect(result.warnings).toEqual([{ type: 'unsupported', feature: 'tools', details: expect.stringContaining('capabilities().tools') }]);
  });

  test('a tool call streamed without a name is an error, not a silent drop', async () => {
    const runner = scripted({ script: [toolDelta({ index: 0, argumentsDelta: '{}' }), { finish: 'tool_calls' }] }, ALL);
    const err = await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'x',
      tools: { pick: tool({ inputSchema: z.object({}) }) },
    }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('without a tool name');
  });
});

describe('generateObject', () => {
  const schema = z.object({ name: z.string(), age: z.number().int() });

  test('a runner that declares responseFormat gets a json_schema format and the object is parsed', async () => {
    const runner = scripted({ script: [{ text: '{"name":"Ada",' }, { text: '"age":36}' }, { finish: 'stop' }] }, ALL);
    const result = await generateObject({
      model: createInferkit({ models: { m: runner } })('m'),
      schema,
      schemaName: 'person',
      schemaDescription: 'A person',
      prompt: 'Invent a person.',
    });
    expect(result.object).toEqual({ name: 'Ada', age: 36 });
    expect(result.warnings).toEqual([]);
    const batch = runner.calls[0]!;
    expect(batch.responseFormat).toMatchObject({
      type: 'json_schema',
      name: 'person',
      description: 'A person',
      schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } } },
    });
    expect(batch.messages).toEqual([{ role: 'user', content: 'Invent a person.' }]);
  });

  test('a runner without responseFormat gets the schema in the system prompt, with a compatibility warning', async () => {
    const runner = scripted({ script: [{ text: '{"name":"Grace","age":45}' }, { finish: 'stop' }] });
    const result = await generateObject({ model: createInferkit({ models: { m: runner } })('m'), schema, system: 'You invent people.', prompt: 'One person.' });
    expect(result.object).toEqual({ name: 'Grace', age: 45 });
    expect(result.warnings).toEqual([{ type: 'compatibility', feature: 'responseFormat', details: expect.stringContaining('not enforced') }]);
    const batch = runner.calls[0]!;
    expect(batch.responseFormat).toBeUndefined();
    const system = batch.messages[0]!;
    expect(system.role).toBe('system');
    expect(system.content).toMatch(/^You invent people\.\n\nAnswer with one JSON value that matches this JSON schema/);
    expect(system.content).toContain('"age":{"type":"integer"');
  });

  test('JSON without a schema asks for json_object', async () => {
    const runner = scripted({ script: [{ text: '[1,2]' }, { finish: 'stop' }] }, ALL);
    const result = await generateObject({ model: createInferkit({ models: { m: runner } })('m'), output: 'no-schema', prompt: 'x' });
    expect(result.object).toEqual([1, 2]);
    expect(runner.calls[0]!.responseFormat).toEqual({ type: 'json_object' });
  });

  test('a plain JSON schema (jsonSchema) works like a zod one', async () => {
    const runner = scripted({ script: [{ text: '{"ok":true}' }, { finish: 'stop' }] }, ALL);
    const result = await generateObject({
      model: createInferkit({ models: { m: runner } })('m'),
      schema: jsonSchema<{ ok: boolean }>({ type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] }),
      prompt: 'x',
    });
    expect(result.object).toEqual({ ok: true });
    expect(runner.calls[0]!.responseFormat).toMatchObject({ type: 'json_schema', name: 'response' });
  });

  test('generateText with Output.object sends the same json_schema format', async () => {
    const runner = scripted({ script: [{ text: '{"name":"Lin","age":29}' }, { finish: 'stop' }] }, ALL);
    const result = await generateText({ model: createInferkit({ models: { m: runner } })('m'), output: Output.object({ schema }), prompt: 'x' });
    expect(result.output).toEqual({ name: 'Lin', age: 29 });
    expect(runner.calls[0]!.responseFormat).toMatchObject({ type: 'json_schema', schema: { type: 'object' } });
  });

  test('output that does not match the schema fails clearly', async () => {
    const runner = scripted({ script: [{ text: 'I cannot do JSON.' }, { finish: 'stop' }] });
    const err = await generateObject({ model: createInferkit({ models: { m: runner } })('m'), schema, prompt: 'x' }).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AI_NoObjectGeneratedError');
  });
});

// A 1x1 transparent PNG.
const PNG_1x1 = Uint8Array.from(
  Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64'),
);
