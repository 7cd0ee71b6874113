// The specification v2 provider (`@inferkit/ai-sdk-provider/v2`) driven by the real `ai` 5.
import { APICallError } from '@ai-sdk/provider';
import { InferenceError, type ExecuteBatch, type TokenChunk } from '@inferkit/inference-core';
import { generateObject, generateText, RetryError, stepCountIs, streamText, tool } from 'ai-v5';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createInferkit } from '../src/v2.js';
import { ALL, captureWarnings, scripted } from './helpers/scripted.js';

let logged: ReturnType<typeof captureWarnings>;
beforeEach(() => {
  logged = captureWarnings();
});
afterEach(() => logged.restore());

const toolDelta = (d: NonNullable<TokenChunk['toolCallDelta']>): { chunk: Partial<TokenChunk> } => ({ chunk: { toolCallDelta: d } });

describe('ai 5 (specification v2)', () => {
  test('the models declare specification v2, which ai 5 requires', () => {
    const model = createInferkit({ models: { m: scripted({}) } })('m');
    expect(model).toMatchObject({ specificationVersion: 'v2', provider: 'inferkit', modelId: 'm' });
  });

  test('streamText streams text, reasoning, usage (v2 shape) and the finish reason', async () => {
    const runner = scripted({
      script: [
        { chunk: { reasoningDelta: 'hmm' } },
        { text: 'Once ' },
        { text: 'upon a time.' },
        { finish: 'stop', usage: { inputTokens: 12, outputTokens: 6, reasoningTokens: 2, cachedTokens: 4 }, costUsd: 0.001 },
      ],
    });
    const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'Tell me a story.' });
    const deltas: string[] = [];
    for await (const d of result.textStream) deltas.push(d);
    expect(deltas).toEqual(['Once ', 'upon a time.']);
    expect(await result.reasoningText).toBe('hmm');
    expect(await result.finishReason).toBe('stop');
    expect(await result.usage).toEqual({ inputTokens: 12, outputTokens: 6, totalTokens: 18, reasoningTokens: 2, cachedInputTokens: 4 });
    expect(await result.providerMetadata).toEqual({ inferkit: { requestId: runner.calls[0]!.requestId, costUsd: 0.001 } });
    expect(runner.calls[0]!.stream).toBe(true);
  });

  test('generateText: settings reach the batch; undeclared features come back as v2 warnings', async () => {
    const runner = scripted({ script: [{ text: 'ok' }, { finish: 'length', usage: { inputTokens: 3, outputTokens: 1 } }] });
    const result = await generateText({
      model: createInferkit({ models: { m: { runner, model: 'tiny' } } })('m'),
      prompt: 'x',
      maxOutputTokens: 1,
      temperature: 0,
      presencePenalty: 1,
      tools: { pick: tool({ inputSchema: z.object({}) }) },
    });
    expect(result.text).toBe('ok');
    expect(result.finishReason).toBe('length');
    expect(result.usage).toEqual({ inputTokens: 3, outputTokens: 1, totalTokens: 4, reasoningTokens: undefined, cachedInputTokens: undefined });
    expect(runner.calls[0]).toMatchObject({ model: 'tiny', stream: false, sampling: { maxTokens: 1, temperature: 0 } });
    expect(runner.calls[0]!.tools).toBeUndefined();
    expect(result.warnings).toEqual([
      { type: 'unsupported-setting', setting: 'presencePenalty', details: expect.stringContaining('capabilities().penalties') },
      { type: 'unsupported-setting', setting: 'tools', details: expect.stringContaining('capabilities().tools') },
    ]);
  });

  test('a multi-step tool loop with generateText', async () => {
    const runner = scripted(
      {
        script: (batch: ExecuteBatch, call: number) =>
          call === 1
            ? [toolDelta({ index: 0, id: 'c1', name: 'add', argumentsDelta: '{"a":2,' }), toolDelta({ index: 0, argumentsDelta: '"b":3}' }), { finish: 'tool_calls' }]
            : [{ text: `The sum is ${String(batch.messages.at(-1)!.content)}.` }, { finish: 'stop' }],
      },
      ALL,
    );
    const result = await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      prompt: 'What is 2 + 3?',
      tools: { add: tool({ inputSchema: z.object({ a: z.number(), b: z.number() }), execute: async ({ a, b }) => a + b }) },
      stopWhen: stepCountIs(3),
    });
    expect(result.steps).toHaveLength(2);
    expect(result.text).toBe('The sum is 5.');
    expect(runner.calls[1]!.messages.slice(1)).toEqual([
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'add', arguments: '{"a":2,"b":3}' }] },
      { role: 'tool', toolCallId: 'c1', content: '5' },
    ]);
  });

  test('tool results with media content reach the runner as image parts', async () => {
    const runner = scripted({ script: [{ text: 'a red dot' }, { finish: 'stop' }] }, ALL);
    await generateText({
      model: createInferkit({ models: { m: runner } })('m'),
      messages: [
        { role: 'user', content: 'Draw and describe.' },
        { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'c', toolName: 'draw', input: {} }] },
        {
          role: 'tool',
          content: [
            {
              type: 'tool-result',
              toolCallId: 'c',
              toolName: 'draw',
              output: { type: 'content', value: [{ type: 'text', text: 'drawn' }, { type: 'media', data: 'aGk=', mediaType: 'image/png' }] },
            },
          ],
        },
      ],
    });
    expect(runner.calls[0]!.messages.at(-1)).toEqual({
      role: 'tool',
      toolCallId: 'c',
      content: [
        { type: 'text', text: 'drawn' },
        { type: 'image_base64', mime: 'image/png', data: 'aGk=' },
      ],
    });
  });

  test('generateObject with and without a declared responseFormat', async () => {
    const schema = z.object({ city: z.string() });
    const constrained = scripted({ script: [{ text: '{"city":"Oslo"}' }, { finish: 'stop' }] }, ALL);
    const a = await generateObject({ model: createInferkit({ models: { m: constrained } })('m'), schema, prompt: 'x' });
    expect(a.object).toEqual({ city: 'Oslo' });
    expect(constrained.calls[0]!.responseFormat).toMatchObject({ type: 'json_schema', schema: { type: 'object' } });
    const prompted = scripted({ script: [{ text: '{"city":"Lima"}' }, { finish: 'stop' }] });
    const b = await generateObject({ model: createInferkit({ models: { m: prompted } })('m'), schema, prompt: 'x' });
    expect(b.object).toEqual({ city: 'Lima' });
    expect(prompted.calls[0]!.responseFormat).toBeUndefined();
    expect(prompted.calls[0]!.messages[0]!.content).toContain('JSON schema:');
    expect(b.warnings).toEqual([{ type: 'unsupported-setting', setting: 'responseFormat', details: expect.stringContaining('not enforced') }]);
  });

  test('aborting mid-stream cancels the runner and ends with abort', async () => {
    const runner = scripted({ script: [{ text: 'a' }, { delayMs: 120_000 }, { finish: 'stop' }] });
    const controller = new AbortController();
    const result = streamText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', abortSignal: controller.signal });
    const seen: string[] = [];
    for await (const part of result.fullStream) {
      seen.push(part.type);
      if (part.type === 'text-delta') controller.abort();
    }
    expect(seen).toContain('abort');
    expect(runner.cancellations).toBe(1);
  });

  test('errors: retryable ones are retried by ai 5 and surface as RetryError of APICallErrors', async () => {
    const runner = scripted({ script: { executeError: new InferenceError('backpressure', 'queue full', { details: { reason: 'queue_full' }, retryAfterMs: 1 }), steps: [] } });
    const err = await generateText({ model: createInferkit({ models: { m: runner } })('m'), prompt: 'x', maxRetries: 1 }).catch((e: unknown) => e);
    expect(RetryError.isInstance(err)).toBe(true);
    const last = (err as RetryError).lastError;
    expect(APICallError.isInstance(last)).toBe(true);
    expect(last).toMatchObject({ isRetryable: true, data: { kind: 'backpressure' } });
    expect(runner.calls).toHaveLength(2);
  });

  test('unknown model ids and other model types throw NoSuchModelError', () => {
    const inferkit = createInferkit({ models: { m: scripted({}) } });
    expect(() => inferkit('x')).toThrow(/no model "x"/);
    expect(() => inferkit.textEmbeddingModel('m')).toThrow();
    expect(() => inferkit.imageModel('m')).toThrow();
  });
});
