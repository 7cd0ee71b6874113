import { afterEach, describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { StepRunner, startGateway, until, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const ok = (): StepRunner =>
  new StepRunner({ kind: 'chunks', chunks: [{ textDelta: 'a' }, { textDelta: 'b', usage: { inputTokens: 5, outputTokens: 2 }, finishReason: 'stop' }] });

describe('GET /v1/models', () => {
  test('lists the configured models; one model by id', async () => {
    h = await startGateway({ models: { tiny: { runner: ok() }, big: { runner: ok(), ownedBy: 'acme' } } });
    const list = await h.client.models.list();
    expect(list.data.map((m) => [m.id, m.object, m.owned_by])).toEqual([
      ['tiny', 'model', 'inferkit'],
      ['big', 'model', 'acme'],
    ]);
    const one = await h.client.models.retrieve('big');
    expect(one.id).toBe('big');
  });

  test('Hugging Face style ids with a slash resolve encoded or not', async () => {
    h = await startGateway({ models: { 'Qwen/Qwen3-0.6B': { runner: ok() } } });
    expect((await fetch(`${h.baseURL}/models/Qwen/Qwen3-0.6B`)).status).toBe(200);
    expect((await fetch(`${h.baseURL}/models/Qwen%2FQwen3-0.6B`)).status).toBe(200);
    const res = await h.client.chat.completions.create({ model: 'Qwen/Qwen3-0.6B', messages: [{ role: 'user', content: 'x' }] });
    expect(res.model).toBe('Qwen/Qwen3-0.6B');
  });
});

describe('GET /healthz', () => {
  test('200 ok when every model is ready', async () => {
    h = await startGateway({ models: { tiny: { runner: ok(), ready: Promise.resolve() } } });
    await Promise.resolve();
    const res = await fetch(`${h.origin}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', models: { tiny: { state: 'ready' } } });
  });
});

describe('routing', () => {
  test('unknown paths are 404, wrong methods 405 with allow', async () => {
    h = await startGateway({ models: { tiny: { runner: ok() } } });
    const missing = await fetch(`${h.origin}/v1/completions`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('unknown_url');
    const wrong = await fetch(`${h.baseURL}/chat/completions`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    const q = await fetch(`${h.baseURL}/models?x=1`);
    expect(q.status).toBe(200);
    const bad = await fetch(`${h.baseURL}/models/%E0%A4%A`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_url');

  });
});

describe('GET /metrics', () => {
  test('counts requests, errors by kind, tokens, and records TTFT / ITL histograms', async () => {
    let n = 0;
    const runner = new StepRunner(() =>
      n++ === 1
        ? { kind: 'reject', error: new InferenceError('backpressure', 'queue full', { details: { reason: 'queue_full' } }) }
        : { kind: 'chunks', chunks: [{ textDelta: 'a' }, { textDelta: 'b', usage: { inputTokens: 5, outputTokens: 2 }, finishReason: 'stop' }] },
    );
    h = await startGateway({ models: { tiny: { runner } } });
    const messages = [{ role: 'user' as const, content: 'x' }];
    await h.client.chat.completions.create({ model: 'tiny', messages });
    await h.client.chat.completions.create({ model: 'tiny', messages }).catch(() => undefined);
    const s = await h.client.chat.completions.create({ model: 'tiny', messages, stream: true });
    for await (const _ of s) void _;
    await h.client.chat.completions.create({ model: 'unknown', messages }).catch(() => undefined);

    const res = await fetch(`${h.origin}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const line = (prefix: string): string | undefined => text.split('\n').find((l) => l.startsWith(prefix));
    expect(line('inferkit_gateway_requests_total{model="tiny",stream="false",status="200"}')).toMatch(/ 1$/);
    expect(line('inferkit_gateway_requests_total{model="tiny",stream="false",status="429"}')).toMatch(/ 1$/);
    expect(line('inferkit_gateway_requests_total{model="tiny",stream="true",status="200"}')).toMatch(/ 1$/);
    // Unknown model names share one empty label instead of minting a series each.
    expect(line('inferkit_gateway_requests_total{model="",stream="false",status="404"}')).toMatch(/ 1$/);
    expect(line('inferkit_gateway_errors_total{model="tiny",kind="backpressure"}')).toMatch(/ 1$/);
    expect(line('inferkit_gateway_errors_total{model="",kind="model_not_found"}')).toMatch(/ 1$/);
    expect(line('inferkit_gateway_tokens_total{model="tiny",type="prompt"}')).toMatch(/ 10$/);
    expect(line('inferkit_gateway_tokens_total{model="tiny",type="completion"}')).toMatch(/ 4$/);
    // Two successful requests, each with a first token and one more.
    expect(line('inferkit_gateway_time_to_first_token_seconds_count{model="tiny"}')).toMatch(/ 2$/);
    expect(line('inferkit_gateway_inter_token_latency_seconds_count{model="tiny"}')).toMatch(/ 2$/);
    expect(line('inferkit_gateway_time_to_first_token_seconds_bucket{le="+Inf",model="tiny"}')).toMatch(/ 2$/);
    expect(line('inferkit_gateway_queue_depth{model="tiny"}')).toMatch(/ 0$/);
    expect(line('inferkit_gateway_requests_in_flight{model="tiny"}')).toMatch(/ 0$/);
    expect(text).toContain('# TYPE inferkit_gateway_time_to_first_token_seconds histogram');
    // prom-client's default process metrics come with them, once per process.
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `))).toHaveLength(1);
    }
  });

  test('queue depth counts requests whose execute() has not resolved', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const runner = ok();
    const inner = runner.execute.bind(runner);
    runner.execute = async (b, o) => {
      await gate;
      return inner(b, o);
    };
    const gateway = await startGateway({ models: { tiny: { runner } } });
    h = gateway;
    const p = gateway.client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }] });
    let text = '';
    // Poll the scrape endpoint: the request is queued once its body was read.
    await until(async () => {
      text = await (await fetch(`${gateway.origin}/metrics`)).text();
      return /inferkit_gateway_queue_depth\{model="tiny"\} 1/.test(text);
    });
    expect(text).toMatch(/inferkit_gateway_queue_depth\{model="tiny"\} 1/);
    release();
    await p;
  });
});
