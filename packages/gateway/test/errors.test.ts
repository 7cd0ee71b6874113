import { afterEach, describe, expect, test } from 'vitest';
import OpenAI from 'openai';
import { FakeClock, InferenceError, type InferenceErrorKind } from '@inferkit/inference-core';
import { StepRunner, startGateway, text, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const ok = new StepRunner({ kind: 'chunks', chunks: [{ textDelta: 'ok', finishReason: 'stop' }] });
const USER = [{ role: 'user' as const, content: 'x' }];

async function caught(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OpenAI.APIError);
  return e as InstanceType<typeof OpenAI.APIError>;
}

async function post(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${h!.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

describe('runner errors map to HTTP statuses and OpenAI error bodies', () => {
  // [kind, status, type, details, retry-after, code answered, whether the runner's message passes]
  const cases: Array<[InferenceErrorKind, number, string, unknown, string | null, string, boolean]> = [
    ['rate_limited', 429, 'rate_limit_error', { scope: 'requests' }, '1', 'rate_limited', false],
    ['backpressure', 429, 'rate_limit_error', { reason: 'queue_full' }, '1', 'backpressure', false],
    ['bad_request', 400, 'invalid_request_error', { param: 'sampling.topP' }, null, 'bad_request', true],
    ['content_filtered', 400, 'invalid_request_error', {}, null, 'content_filtered', false],
    ['unauthorized', 502, 'api_error', {}, null, 'upstream_unauthorized', false],
    ['forbidden', 502, 'api_error', {}, null, 'upstream_forbidden', false],
    ['not_found', 502, 'api_error', {}, null, 'upstream_not_found', false],
    ['context_length_exceeded', 413, 'invalid_request_error', { maxContextTokens: 1024, requestedTokens: 5000 }, null, 'context_length_exceeded', true],
    ['budget_exceeded', 429, 'insufficient_quota', { window: 'day', spentUsd: 5, limitUsd: 5 }, null, 'budget_exceeded', false],
    ['internal', 500, 'api_error', {}, null, 'internal', false],
    ['server_error', 502, 'api_error', {}, null, 'server_error', false],
    ['network_error', 502, 'api_error', { code: 'ECONNRESET' }, null, 'network_error', false],
    ['runtime_crashed', 503, 'api_error', {}, null, 'runtime_crashed', false],
    ['cuda_context_poisoned', 503, 'api_error', {}, null, 'cuda_context_poisoned', false],
    ['timeout', 504, 'api_error', { phase: 'first_byte' }, null, 'timeout', false],
  ];
  for (const [kind, status, type, details, retryAfter, code, passes] of cases) {
    test(`${kind} → ${status} ${code}`, async () => {
      const runner = new StepRunner({ kind: 'reject', error: new InferenceError(kind, `boom: ${kind}`, { details } as never) });
      h = await startGateway({ models: { m: { runner } } });
      const e = await caught(h.client.chat.completions.create({ model: 'm', messages: USER }));
      expect(e.status).toBe(status);
      expect(e.error).toMatchObject({ type, code });
      if (passes) expect((e.error as { message: string }).message).toBe(`boom: ${kind}`);
      else expect((e.error as { message: string }).message).not.toContain('boom');
      // 5xx messages name the request for the operator's log; the header carries it always.
      expect(e.requestID).toMatch(/^chatcmpl-/);
      if (status >= 500) expect((e.error as { message: string }).message).toContain(e.requestID!);
      expect(e.headers?.get('retry-after') ?? null).toBe(retryAfter);
      // The core's parameter name comes back as the request's.
      if (kind === 'bad_request') expect(e.param).toBe('top_p');
      // Only server-side failures are logged, with the full text.
      const failures = h.logs.filter((r) => r.event === 'request_failed');
      if (status >= 500) expect(failures).toMatchObject([{ level: 'error', code, message: `${kind}: boom: ${kind}` }]);
      else expect(failures).toEqual([]);
    });
  }

  test('circuit_open → 429 with retry-after until the breaker lets a probe through', async () => {
    const clock = new FakeClock(1_000_000);
    const err = new InferenceError('circuit_open', 'breaker open', { details: { openedAtMs: 990_000, retryAtMs: 1_007_200 } });
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'reject', error: err }) } }, clock });
    const e = await caught(h.client.chat.completions.create({ model: 'm', messages: USER }));
    expect(e.status).toBe(429);
    expect(e.headers?.get('retry-after')).toBe('8');
    expect(e.code).toBe('circuit_open');
  });

  test('rate_limited carries the runner retry hint, rounded up to whole seconds', async () => {
    const err = new InferenceError('rate_limited', 'slow', { retryAfterMs: 12_001 });
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'reject', error: err }) } } });
    const e = await caught(h.client.chat.completions.create({ model: 'm', messages: USER }));
    expect(e.headers?.get('retry-after')).toBe('13');
  });

  test('a stream that ends with finishReason error is a 502 server_error', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [{ textDelta: '', finishReason: 'error' }] });
    h = await startGateway({ models: { m: { runner } } });
    const e = await caught(h.client.chat.completions.create({ model: 'm', messages: USER }));
    expect(e.status).toBe(502);
  });

  test('a runner throwing a non-InferenceError is a 500 internal without leaking its message', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [] });
    runner.execute = async () => {
      throw new Error('secret path /home/x');
    };
    h = await startGateway({ models: { m: { runner } } });
    const e = await caught(h.client.chat.completions.create({ model: 'm', messages: USER }));
    expect(e.status).toBe(500);
    expect(e.message).not.toContain('secret');
    expect(h.logs).toHaveLength(1);
    expect(h.logs[0]).toMatchObject({ level: 'error', event: 'request_failed', status: 500, code: 'internal', requestId: e.requestID });
  });
});

describe('gateway-level errors', () => {
  test('401 without a valid bearer key when apiKeys are set', async () => {
    h = await startGateway({ models: { m: { runner: ok } }, apiKeys: ['k-123'] }, 'wrong');
    const e = await caught(h.client.chat.completions.create({ model: 'm', messages: USER }));
    expect(e.status).toBe(401);
    expect(e.code).toBe('invalid_api_key');
    const models = await fetch(`${h.baseURL}/models`);
    expect(models.status).toBe(401);
    const good = new OpenAI({ baseURL: h.baseURL, apiKey: 'k-123', maxRetries: 0 });
    const res = await good.chat.completions.create({ model: 'm', messages: USER });
    expect(res.choices[0]!.message.content).toBe('ok');
    // Probes stay open.
    expect((await fetch(`${h.origin}/healthz`)).status).toBe(200);
  });

  test('404 for an unknown model, with param model', async () => {
    h = await startGateway({ models: { m: { runner: ok } } });
    const e = await caught(h.client.chat.completions.create({ model: 'nope', messages: USER }));
    expect(e.status).toBe(404);
    expect(e.code).toBe('model_not_found');
    expect(e.param).toBe('model');
    expect((await fetch(`${h.baseURL}/models/nope`)).status).toBe(404);
  });

  test('413 for a body over the limit, declared or streamed', async () => {
    h = await startGateway({ models: { m: { runner: ok } }, maxBodyBytes: 1000 });
    const big = { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2000) }] };
    const e = await caught(h.client.chat.completions.create(big as never));
    expect(e.status).toBe(413);
    expect(e.code).toBe('request_too_large');
    // Chunked upload with no content-length: the limit applies while reading.
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode('x'.repeat(400)));
        c.close();
      },
    });
    const res = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
  });

  test('503 while a model loads, then serves; 503 model_unavailable when loading failed', async () => {
    let finish!: () => void;
    const ready = new Promise<void>((r) => (finish = r));
    const failed = Promise.reject(new Error('weights missing'));
    h = await startGateway({ models: { m: { runner: ok, ready }, broken: { runner: ok, ready: failed } } });
    const e = await caught(h.client.chat.completions.create({ model: 'm', messages: USER }));
    expect(e.status).toBe(503);
    expect(e.code).toBe('model_loading');
    expect(e.headers?.get('retry-after')).toBe('5');
    const health = await fetch(`${h.origin}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'degraded', models: { m: { state: 'loading' }, broken: { state: 'failed', reason: 'load_failed' } } });
    finish();
    await ready;
    const res = await h.client.chat.completions.create({ model: 'm', messages: USER });
    expect(res.choices[0]!.message.content).toBe('ok');
    const e2 = await caught(h.client.chat.completions.create({ model: 'broken', messages: USER }));
    expect(e2.status).toBe(503);
    expect(e2.code).toBe('model_unavailable');
    expect(e2.message).not.toContain('weights missing');
    expect(h.logs).toMatchObject([{ level: 'error', event: 'model_load_failed', model: 'broken', message: 'Error: weights missing' }]);
  });

  test('503 shutting_down for requests that arrive while draining', async () => {
    const runner = new StepRunner({ kind: 'hang_after', chunks: [text('a')] });
    h = await startGateway({ models: { m: { runner } } });
    const gw = h.gateway;
    const stream = await h.client.chat.completions.create({ model: 'm', messages: USER, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const closing = gw.close();
    // The hanging stream is cancelled after the (zero) grace period.
    await runner.nextCancel();
    expect(runner.cancels).toEqual(['gateway shutting down']);
    await closing;
    h = undefined;
  });
});

describe('request validation → 400 with the offending param', () => {
  const cases: Array<[string, unknown, string | null, string?]> = [
    ['not JSON', '{"model": ', null, 'invalid_json'],
    ['empty body', '', null],
    ['body is an array', [], null],
    ['missing model', { messages: USER }, 'model'],
    ['empty messages', { model: 'm', messages: [] }, 'messages'],
    ['bad role', { model: 'm', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['missing content', { model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content'],
    ['bad part type', { model: 'm', messages: [{ role: 'user', content: [{ type: 'input_audio' }] }] }, 'messages[0].content[0].type'],
    ['image in a system message', { model: 'm', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] }, 'messages[0].content'],
    ['tool message without id', { model: 'm', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
    ['temperature too high', { model: 'm', messages: USER, temperature: 3 }, 'temperature'],
    ['temperature not a number', { model: 'm', messages: USER, temperature: 'hot' }, 'temperature'],
    ['top_p out of range', { model: 'm', messages: USER, top_p: 1.5 }, 'top_p'],
    ['max_tokens zero', { model: 'm', messages: USER, max_tokens: 0 }, 'max_tokens'],
    ['max_tokens fractional', { model: 'm', messages: USER, max_tokens: 1.5 }, 'max_tokens'],
    ['too many stops', { model: 'm', messages: USER, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    ['n > 1', { model: 'm', messages: USER, n: 2 }, 'n', 'unsupported_parameter'],
    ['logprobs', { model: 'm', messages: USER, logprobs: true }, 'logprobs', 'unsupported_parameter'],
    ['stream not boolean', { model: 'm', messages: USER, stream: 'yes' }, 'stream'],
    ['stream_options without stream', { model: 'm', messages: USER, stream_options: { include_usage: true } }, 'stream_options'],
    ['bad tool', { model: 'm', messages: USER, tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name'],
    ['tool_choice names an unknown tool', { model: 'm', messages: USER, tools: [{ type: 'function', function: { name: 'a' } }], tool_choice: { type: 'function', function: { name: 'b' } } }, 'tool_choice'],
    ['required tool_choice without tools', { model: 'm', messages: USER, tool_choice: 'required' }, 'tool_choice'],
    ['bad response_format', { model: 'm', messages: USER, response_format: { type: 'yaml' } }, 'response_format.type'],
  ];
  for (const [name, body, param, code] of cases) {
    test(name, async () => {
      h = await startGateway({ models: { m: { runner: ok } } });
      const r = await post(body);
      expect(r.status).toBe(400);
      expect(r.json.error.type).toBe('invalid_request_error');
      expect(r.json.error.param).toBe(param);
      expect(typeof r.json.error.message).toBe('string');
      if (code !== undefined) expect(r.json.error.code).toBe(code);
    });
  }
});
