import { FakeClock, type SuperviseEvent } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch, drain, expectIdle } from './__testing__/batches.js';
import { dataEvents, MockServer, sendJson, sendSse, type MockHandler } from './__testing__/mock-server.js';
import { serverAndRunnerPerTest } from './__testing__/server-and-runner.js';
import { createRemoteRunner, runnerFactory, SupervisedRemoteRunner, type RemoteRunnerConfig } from './create-remote-runner.js';
import { createOpenAIRunner } from './openai/openai-runner.js';
import { RemoteRunner } from './remote-runner.js';
import { toObservation } from './http/response-headers.js';

const delta = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });
const finish = { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] };
const okStream = dataEvents([delta('Hello'), delta(' world'), finish, { choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } }]);

// Any promise rejection nobody handled fails the test it happened in.
const current = serverAndRunnerPerTest<SupervisedRemoteRunner>({ pool: (r) => r.remote, failOnUnhandledRejection: true });

async function start(handler: MockHandler, config: Partial<RemoteRunnerConfig> = {}): Promise<SupervisedRemoteRunner> {
  const make = (origin: string) => createRemoteRunner({ provider: 'openai', baseUrl: `${origin}/v1`, apiKey: 'sk-test', ...config } as RemoteRunnerConfig);
  return (await current.start(handler, make)).runner;
}

describe('createRemoteRunner: supervised by default', () => {
  test('429 with retry-after-ms, then success: exactly one copy of the stream', async () => {
    const events: SuperviseEvent[] = [];
    const r = await start(
      (_req, res, n) =>
        n === 0
          ? sendJson(res, 429, { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }, { 'retry-after-ms': '30' })
          : sendSse(res, okStream),
      { policy: { onEvent: (e) => events.push(e) } },
    );
    const t = await (await r.execute(batch())).collect();
    expect(t.text).toBe('Hello world');
    expect(t.finishReason).toBe('stop');
    expect(current.server!.requests).toHaveLength(2);
    const retry = events.find((e) => e.type === 'retry');
    expect(retry).toMatchObject({ type: 'retry', retry: 1, delayMs: 30 });
  });

  test('429 insufficient_quota is not retried', async () => {
    const r = await start((_req, res) =>
      sendJson(res, 429, { error: { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' } }),
    );
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('rate_limited');
    expect(err.retryable).toBe(false);
    expect(current.server!.requests).toHaveLength(1);
  });

  test('a first-frame overloaded_error is retried; the caller sees one clean stream', async () => {
    const ev = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
    const good =
      ev('message_start', { message: { usage: { input_tokens: 3, output_tokens: 1 } } }) +
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Recovered' } }) +
      ev('content_block_stop', { index: 0 }) +
      ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }) +
      ev('message_stop', {});
    current.server = await MockServer.start((_req, res, n) =>
      sendSse(res, n === 0 ? ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }) : good),
    );
    current.runner = createRemoteRunner({
      provider: 'anthropic',
      baseUrl: `${current.server.url}/v1`,
      apiKey: 'sk-ant',
      policy: { retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 1 } },
    });
    const t = await (await current.runner.execute(batch({ model: 'claude-sonnet-4-5' }))).collect();
    expect(t.text).toBe('Recovered');
    expect(t.chunkCount).toBe(2);
    expect(current.server.requests).toHaveLength(2);
  });

  test('an error after the first chunk is delivered as is, never retried', async () => {
    const r = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(dataEvents([delta('partial')], false));
      setTimeout(() => res.socket?.destroy(), 10);
    });
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks.map((c) => c.textDelta)).toEqual(['partial']);
    expect(error?.kind).toBe('network_error');
    expect(current.server!.requests).toHaveLength(1);
  });

  test('503 bursts open the breaker; it rejects without traffic, then a half-open probe recovers', async () => {
    const clock = new FakeClock(1_000_000);
    let healthy = false;
    const transitions: string[] = [];
    const r = await start(
      (_req, res) => (healthy ? sendSse(res, okStream) : sendJson(res, 503, { error: { message: 'The engine is currently overloaded', type: 'server_error' } })),
      {
        policy: {
          clock,
          retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 },
          circuitBreaker: { failureThreshold: 3, windowMs: 60_000, openDurationMs: 5_000 },
          onEvent: (e) => {
            if (e.type === 'breaker') transitions.push(`${e.transition.from}->${e.transition.to}`);
          },
        },
      },
    );
    for (let i = 0; i < 3; i++) expect((await rejectionOf(r.execute(batch()))).kind).toBe('server_error');
    expect(current.server!.requests).toHaveLength(3);
    const open = await rejectionOf(r.execute(batch()));
    expect(open.kind).toBe('circuit_open');
    expect(current.server!.requests).toHaveLength(3);
    healthy = true;
    clock.advance(5_000);
    const t = await (await r.execute(batch())).collect();
    expect(t.text).toBe('Hello world');
    expect(r.breaker?.state).toBe('closed');
    expect(transitions).toEqual(['closed->open', 'open->half_open', 'half_open->closed']);
  });

  test('4xx errors never open the breaker', async () => {
    const r = await start((_req, res) => sendJson(res, 400, { error: { message: 'bad', type: 'invalid_request_error' } }), {
      policy: { retry: { maxRetries: 0, initialDelayMs: 1, maxDelayMs: 1 }, circuitBreaker: { failureThreshold: 2, windowMs: 60_000, openDurationMs: 60_000 } },
    });
    for (let i = 0; i < 4; i++) expect((await rejectionOf(r.execute(batch()))).kind).toBe('bad_request');
    expect(r.breaker?.state).toBe('closed');
  });

  test('rate-limit headers reach the limiter: an exhausted window pauses admission', async () => {
    const clock = new FakeClock(0);
    const r = await start(
      (_req, res) =>
        sendSse(res, okStream, {
          'x-ratelimit-limit-requests': '100',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '2s',
        }),
      { policy: { clock } },
    );
    await (await r.execute(batch())).collect();
    // The provider said 0 requests left for 2 s: the next call waits for the reset.
    let started = false;
    const next = r.execute(batch()).then((h) => {
      started = true;
      return h.collect();
    });
    await clock.advanceAsync(1_000);
    expect(started).toBe(false);
    expect(current.server!.requests).toHaveLength(1);
    await clock.advanceAsync(1_500);
    expect((await next).text).toBe('Hello world');
    expect(current.server!.requests).toHaveLength(2);
  });

  test('runnerFactory.create supervises like createRemoteRunner (the headers reach its limiter); policy false gives the bare runner', async () => {
    current.server = await MockServer.start((_req, res) =>
      sendSse(res, okStream, { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s' }),
    );
    const clock = new FakeClock(0);
    const sup = (await runnerFactory.create({ provider: 'openai', baseUrl: `${current.server.url}/v1`, apiKey: 'sk-test', policy: { clock } })) as SupervisedRemoteRunner;
    current.runner = sup;
    expect(sup).toBeInstanceOf(SupervisedRemoteRunner);
    expect(sup.limiter).toBeDefined();
    await (await sup.execute(batch())).collect();
    let started = false;
    const next = sup.execute(batch()).then((h) => {
      started = true;
      return h.collect();
    });
    await clock.advanceAsync(1_000);
    expect(started).toBe(false); // the limiter heard "0 left for 2 s"
    await clock.advanceAsync(1_500);
    await next;
    const bare = await runnerFactory.create({ provider: 'openai', baseUrl: `${current.server.url}/v1`, apiKey: 'sk-test', policy: false });
    expect(bare).toBeInstanceOf(RemoteRunner);
    await bare.close?.();
    expect(() => createRemoteRunner({ provider: 'openai', apiKey: 'k', policy: false })).toThrow(expect.objectContaining({ details: { param: 'policy' } }));
  });

  test('observeRateLimits reports every response that carries rate-limit headers; unsubscribing stops it', async () => {
    current.server = await MockServer.start((_req, res) => sendSse(res, okStream, { 'x-ratelimit-remaining-tokens': '900', 'x-ratelimit-remaining-requests': '7' }));
    const bare = createOpenAIRunner({ baseUrl: `${current.server.url}/v1`, apiKey: 'sk-test' });
    const seen: unknown[] = [];
    const stop = bare.observeRateLimits((o) => seen.push(o));
    await (await bare.execute(batch())).collect();
    stop();
    await (await bare.execute(batch())).collect();
    expect(seen).toEqual([{ remainingRequests: 7, remainingTokens: 900 }]);
    await expectIdle(bare);
    await bare.close();
  });

  test('a rebuild cause meant for a local runtime re-reads nothing; close() is final', async () => {
    current.server = await MockServer.start((_req, res) => sendSse(res, okStream));
    let reads = 0;
    const bare = createOpenAIRunner({ baseUrl: `${current.server.url}/v1`, apiKey: () => `sk-${++reads}` });
    await (await bare.execute(batch())).collect();
    await bare.rebuildSession('cuda_context_poisoned');
    expect(reads).toBe(1);
    await bare.rebuildSession('remote_config_change');
    expect(reads).toBe(2);
    await bare.close();
    await expect(bare.execute(batch())).rejects.toMatchObject({ kind: 'cancelled' });
    await expect(bare.rebuildSession('manual')).rejects.toMatchObject({ kind: 'cancelled' });
    await bare.close();
  });

  test('toObservation picks the reset of the exhausted bucket', () => {
    expect(toObservation({ requests: { remaining: 0, resetMs: 500 }, tokens: { remaining: 10, resetMs: 9000 } })).toEqual({
      remainingRequests: 0,
      remainingTokens: 10,
      resetMs: 500,
    });
    expect(toObservation({ tokens: { remaining: 5, resetMs: 100 } })).toEqual({ remainingTokens: 5 });
  });

  test('describes itself like the runner it wraps; cost and kinds pass through', async () => {
    const r = await start((_req, res) => sendSse(res, okStream));
    expect(r.runtimeKind()).toBe('openai');
    expect(r.transportKind()).toEqual({ kind: 'remote', provider: 'openai' });
    expect(r.gilPinned()).toBe(false);
    expect(r.estimateCostUsd(batch({ model: 'gpt-4o' }))).toBeGreaterThan(0);
    expect(r.estimateCostUsd(batch({ model: 'unknown-model' }))).toBeUndefined();
    const t = await (await r.execute(batch({ model: 'gpt-4o' }))).collect();
    expect(t.costUsd).toBeCloseTo((5 * 2.5 + 2 * 10) / 1e6, 12);
  });

  test('an unknown provider is a bad_request naming it', () => {
    expect(() => createRemoteRunner({ provider: 'mystery' } as unknown as RemoteRunnerConfig)).toThrow(
      expect.objectContaining({ kind: 'bad_request', details: { param: 'provider' } }),
    );
  });
});
