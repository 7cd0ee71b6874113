import { APICallError, type LanguageModelV3CallOptions, type LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { ScriptedRunner } from '@inferkit/inference-core/testing';
import { describe, expect, test } from 'vitest';
import { InferkitLanguageModel } from './inferkit-language-model.js';

const CALL: LanguageModelV3CallOptions = { prompt: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] };

function modelOf(runner: ScriptedRunner): InferkitLanguageModel {
  return new InferkitLanguageModel('m', { provider: 'inferkit', runner, runnerModel: 'm' });
}

async function readAll(stream: ReadableStream<LanguageModelV3StreamPart>): Promise<LanguageModelV3StreamPart[]> {
  const parts: LanguageModelV3StreamPart[] = [];
  const reader = stream.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) return parts;
    parts.push(r.value);
  }
}

describe('InferkitLanguageModel.doStream', () => {
  test('opens with stream-start and response-metadata; chunks that carry nothing do not stall the stream', async () => {
    const runner = new ScriptedRunner({ script: [{ chunk: {} }, { chunk: { usage: { inputTokens: 3 } } }, { chunk: {} }, { text: 'x' }, { chunk: {} }, { finish: 'stop' }] });
    const { stream } = await modelOf(runner).doStream(CALL);
    const parts = await readAll(stream);
    expect(parts.map((p) => p.type)).toEqual(['stream-start', 'response-metadata', 'text-start', 'text-delta', 'text-end', 'finish']);
    expect(parts[1]).toEqual({ type: 'response-metadata', id: runner.calls[0]!.requestId, modelId: 'm' });
  });

  test('includeRawChunks adds each TokenChunk as a raw part', async () => {
    const runner = new ScriptedRunner({ script: [{ text: 'x' }, { finish: 'stop' }] });
    const { stream } = await modelOf(runner).doStream({ ...CALL, includeRawChunks: true });
    const raw = (await readAll(stream)).filter((p) => p.type === 'raw');
    expect(raw.map((p) => (p as { rawValue: unknown }).rawValue)).toMatchObject([{ textDelta: 'x' }, { finishReason: 'stop' }]);
  });

  test('an abort mid-stream errors the stream with the abort reason, as a fetch body does, and cancels the runner', async () => {
    const runner = new ScriptedRunner({ script: [{ text: 'a' }, { delayMs: 120_000 }, { finish: 'stop' }] });
    const controller = new AbortController();
    const { stream } = await modelOf(runner).doStream({ ...CALL, abortSignal: controller.signal });
    const reader = stream.getReader();
    const seen: string[] = [];
    for (;;) {
      const r = await reader.read();
      seen.push(r.value!.type);
      if (r.value!.type === 'text-delta') break;
    }
    const pending = reader.read();
    controller.abort();
    await expect(pending).rejects.toBe(controller.signal.reason);
    expect(runner.cancellations).toBe(1);
    expect(runner.active).toBe(0);
  });

  test('cancelling the stream cancels the runner', async () => {
    const runner = new ScriptedRunner({ script: [{ text: 'a' }, { delayMs: 120_000 }, { finish: 'stop' }] });
    const { stream } = await modelOf(runner).doStream(CALL);
    const reader = stream.getReader();
    while ((await reader.read()).value?.type !== 'text-delta');
    await reader.cancel();
    expect(runner.cancellations).toBe(1);
  });

  test('a chunk that breaks the contract cancels the runner and ends the stream with an error part', async () => {
    const runner = new ScriptedRunner({ script: [{ text: 'a' }, { chunk: { textDelta: 7 as never } }, { delayMs: 120_000 }, { finish: 'stop' }] });
    const { stream } = await modelOf(runner).doStream(CALL);
    const parts = await readAll(stream);
    expect(parts.map((p) => p.type)).toEqual(['stream-start', 'response-metadata', 'text-start', 'text-delta', 'error', 'text-end', 'finish']);
    expect(runner.cancellations).toBe(1);
  });
});

describe('InferkitLanguageModel.doGenerate', () => {
  test('content in output order: reasoning, text, tool calls; response and request metadata', async () => {
    const runner = new ScriptedRunner({
      script: [
        { chunk: { reasoningDelta: 'plan' } },
        { text: 'Calling.' },
        { chunk: { toolCallDelta: { index: 0, id: 'c', name: 'f', argumentsDelta: '{"x":1}' } } },
        { finish: 'tool_calls', usage: { inputTokens: 4, outputTokens: 6 } },
      ],
    });
    const result = await modelOf(runner).doGenerate(CALL);
    expect(result.content).toEqual([
      { type: 'reasoning', text: 'plan' },
      { type: 'text', text: 'Calling.' },
      { type: 'tool-call', toolCallId: 'c', toolName: 'f', input: '{"x":1}' },
    ]);
    expect(result.finishReason).toEqual({ unified: 'tool-calls', raw: 'tool_calls' });
    expect(result.usage.inputTokens.total).toBe(4);
    expect(result.response).toEqual({ id: runner.calls[0]!.requestId, modelId: 'm' });
    expect(result.request?.body).toBe(runner.calls[0]);
    expect(runner.calls[0]!.stream).toBe(false);
  });

  test('a runner whose capabilities() throws fails the call with an APICallError, before execute', async () => {
    const runner = new ScriptedRunner({ script: [{ finish: 'stop' }] });
    runner.capabilities = () => {
      throw new Error('capabilities are not known yet');
    };
    const err = await modelOf(runner).doGenerate(CALL).catch((e: unknown) => e);
    expect(APICallError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({ message: 'capabilities are not known yet', data: { kind: 'internal' } });
    expect(runner.calls).toHaveLength(0);
  });

  test('an empty response is empty content with finish reason other', async () => {
    const runner = new ScriptedRunner({ script: [] });
    const result = await modelOf(runner).doGenerate(CALL);
    expect(result.content).toEqual([]);
    expect(result.finishReason).toEqual({ unified: 'other', raw: undefined });
  });
});
