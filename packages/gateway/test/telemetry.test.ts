import * as api from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceError, supervise } from '@inferkit/inference-core';
import { ScriptedRunner } from '@inferkit/inference-core/testing';
import { fromOpenTelemetryApi, openTelemetryTracing } from '../src/index.js';
import { startGateway } from './helpers.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  api.trace.setGlobalTracerProvider(provider);
  api.context.setGlobalContextManager(contextManager.enable());
});
afterAll(async () => {
  contextManager.disable();
  api.trace.disable();
  api.context.disable();
  await provider.shutdown();
});

describe('OpenTelemetry spans (SDK in-memory exporter)', () => {
  it('a SERVER span per chat request with the supervise span under it: GenAI attributes, a retry event', async () => {
    exporter.reset();
    const tracing = fromOpenTelemetryApi(api);
    const runner = new ScriptedRunner({
      runtimeKind: 'openai',
      transportKind: { kind: 'remote', provider: 'openai' },
      script: (_batch, call) =>
        call === 1
          ? [{ error: new InferenceError('server_error', 'upstream 500') }]
          : [{ text: 'hello' }, { finish: 'stop', usage: { inputTokens: 12, outputTokens: 3 } }],
    });
    const model = supervise(runner, { name: 'm', retry: { maxRetries: 2, initialDelayMs: 1 }, tracer: tracing.tracer });
    const h = await startGateway({ models: { m: { runner: model } }, tracing });
    try {
      const r = await h.client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16, temperature: 0.5 });
      expect(r.choices[0]!.message.content).toBe('hello');
    } finally {
      await h.close();
    }
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === 'POST /v1/chat/completions')!;
    const chat = spans.find((s) => s.name === 'chat m')!;
    expect(server.kind).toBe(api.SpanKind.SERVER);
    expect(server.attributes['http.response.status_code']).toBe(200);
    expect(chat.kind).toBe(api.SpanKind.CLIENT);
    expect(chat.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(chat.spanContext().traceId).toBe(server.spanContext().traceId);
    expect(chat.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'm',
      'gen_ai.request.max_tokens': 16,
      'gen_ai.request.temperature': 0.5,
      'gen_ai.usage.input_tokens': 12,
      'gen_ai.usage.output_tokens': 3,
      'gen_ai.response.finish_reasons': ['stop'],
    });
    const retry = chat.events.find((e) => e.name === 'gen_ai.inferkit.retry');
    expect(retry?.attributes).toMatchObject({ 'gen_ai.inferkit.retry.number': 1, 'error.type': 'server_error' });
    expect(chat.status.code).toBe(api.SpanStatusCode.UNSET);
  });

  it('a failed request: error.type and an ERROR status on the model span; rebuild events', async () => {
    exporter.reset();
    const tracing = fromOpenTelemetryApi(api);
    const runner = new ScriptedRunner({
      script: (_batch, call) => (call === 1 ? [{ error: new InferenceError('runtime_crashed', 'worker died') }] : [{ error: new InferenceError('bad_request', 'nope') }]),
    });
    const model = supervise(runner, { name: 'local', retry: { maxRetries: 1, initialDelayMs: 1 }, rebuild: { maxRebuilds: 2, windowMs: 60_000 }, tracer: tracing.tracer });
    const h = await startGateway({ models: { local: { runner: model } }, tracing });
    try {
      await expect(h.client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 400 });
    } finally {
      await h.close();
    }
    const chat = exporter.getFinishedSpans().find((s) => s.name === 'chat local')!;
    expect(chat.attributes['error.type']).toBe('bad_request');
    expect(chat.status.code).toBe(api.SpanStatusCode.ERROR);
    // The session is rebuilt, the retry waits for the rebuild, then fails with bad_request.
    expect(chat.events.map((e) => e.name)).toEqual(['gen_ai.inferkit.rebuild', 'gen_ai.inferkit.retry', 'gen_ai.inferkit.rebuild_wait']);
    expect(chat.events[0]!.attributes).toMatchObject({ 'error.type': 'runtime_crashed', 'gen_ai.inferkit.rebuild.cause': 'manual' });
    const server = exporter.getFinishedSpans().find((s) => s.name === 'POST /v1/chat/completions')!;
    expect(server.attributes['http.response.status_code']).toBe(400);
  });

  it('openTelemetryTracing() finds @opentelemetry/api when it is installed', async () => {
    const tracing = await openTelemetryTracing();
    expect(tracing).toBeDefined();
    exporter.reset();
    tracing!.tracer.startSpan('probe').end();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['probe']);
  });
});
