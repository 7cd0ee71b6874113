// Regression tests for issue #11 (security), the gateway's items. Each test reproduces the attack
// over real HTTP against a gateway on loopback, with a hostile or broken runner.
import { request } from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import {
  InferenceError,
  RunHandle,
  type ExecuteBatch,
  type ExecuteOptions,
  type ModelRunner,
  type RunnerCapabilities,
  type RuntimeKind,
  type TransportKind,
} from '@inferkit/inference-core';
import type { GatewayLogRecord } from '../src/index.js';
import { StepRunner, startGateway, text, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const USER = [{ role: 'user' as const, content: 'x' }];
const SECRET = 'sk-live-7f3a9c2b1e8d4f6a0b5c';
const PATH = '/home/deploy/models/llama/weights.safetensors';

async function post(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const res = await fetch(`${h!.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** A raw request with full control of the headers (fetch will not send a foreign Host). */
function rawRequest(path: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const url = new URL(h!.origin);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: Number(url.port), path, method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function logSink(): { records: GatewayLogRecord[]; logger: (r: GatewayLogRecord) => void; text: () => string } {
  const records: GatewayLogRecord[] = [];
  return { records, logger: (r) => records.push(r), text: () => JSON.stringify(records) };
}

describe('#11.2/#11.6 error bodies: kind, safe message and request id; details only in the (redacted) log', () => {
  test('security-11.2: a 5xx answers a generic message with the request id, never the upstream text', async () => {
    const upstream = `OpenAI 500: upstream exploded at ${PATH} (key ${SECRET})`;
    const runner = new StepRunner({ kind: 'reject', error: new InferenceError('server_error', upstream, { status: 500, provider: 'openai' }) });
    const log = logSink();
    h = await startGateway({ models: { m: { runner } }, logger: log.logger });
    const r = await post({ model: 'm', messages: USER });
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe('server_error');
    expect(r.text).not.toContain('exploded');
    expect(r.text).not.toContain(SECRET);
    expect(r.text).not.toContain(PATH);
    const requestId = r.headers.get('x-request-id');
    expect(requestId).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    expect(r.json.error.message).toContain(requestId);
    // The operator gets the full text, with the secret redacted.
    const rec = log.records.find((x) => x.requestId === requestId);
    expect(rec?.message).toContain('upstream exploded');
    expect(log.text()).not.toContain(SECRET);
  });

  test('security-11.6: a model that failed to load answers 503 without the server file path', async () => {
    const failed = Promise.reject(new Error(`ENOENT: no such file or directory, open '${PATH}'`));
    const log = logSink();
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [] }), ready: failed } }, logger: log.logger });
    const r = await post({ model: 'm', messages: USER });
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('model_unavailable');
    expect(r.text).not.toContain(PATH);
    expect(r.text).not.toContain('ENOENT');
    expect(r.json.error.message).toContain(r.headers.get('x-request-id'));
    expect(log.text()).toContain('ENOENT');
  });

  test("security-11.6: runtime_crashed never carries the worker's stderr tail to the client (unary and mid-stream)", async () => {
    const stderrTail = `Traceback (most recent call last):\n  File "${PATH}.py", line 3\nKeyError: 'HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz123456'`;
    const crash = (): InferenceError =>
      new InferenceError('runtime_crashed', `python worker exited with code 1: ${stderrTail}`, { details: { exitCode: 1, stderrTail } } as never);
    let n = 0;
    const runner = new StepRunner(() => (n++ === 0 ? { kind: 'reject', error: crash() } : { kind: 'fail_after', chunks: [text('partial')], error: crash() }));
    const log = logSink();
    h = await startGateway({ models: { m: { runner } }, logger: log.logger });
    const unary = await post({ model: 'm', messages: USER });
    expect(unary.status).toBe(503);
    expect(unary.json.error.code).toBe('runtime_crashed');
    for (const leak of ['Traceback', PATH, 'hf_abcdefghij', 'KeyError']) expect(unary.text).not.toContain(leak);
    const streamed = await post({ model: 'm', messages: USER, stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.text).toContain('partial');
    expect(streamed.text).toContain('runtime_crashed');
    for (const leak of ['Traceback', PATH, 'hf_abcdefghij', 'KeyError']) expect(streamed.text).not.toContain(leak);
    expect(log.text()).toContain('Traceback');
    expect(log.text()).not.toContain('hf_abcdefghijklmnopqrstuvwxyz123456');
  });

  test("security-11.6: an engine exception's text (environment values) stays out of the 500 and is redacted in the log", async () => {
    process.env.GATEWAY_TEST_SECRET_TOKEN = 'tok-0123456789abcdef';
    try {
      const runner = new StepRunner({ kind: 'chunks', chunks: [] });
      runner.execute = async () => {
        throw new Error(`engine failed; env GATEWAY_TEST_SECRET_TOKEN=${process.env.GATEWAY_TEST_SECRET_TOKEN} cwd ${PATH}`);
      };
      const log = logSink();
      h = await startGateway({ models: { m: { runner } }, logger: log.logger });
      const r = await post({ model: 'm', messages: USER });
      expect(r.status).toBe(500);
      expect(r.json.error.code).toBe('internal');
      expect(r.text).not.toContain('tok-0123456789abcdef');
      expect(r.text).not.toContain(PATH);
      expect(r.json.error.message).toContain(r.headers.get('x-request-id'));
      expect(log.text()).toContain('engine failed');
      expect(log.text()).not.toContain('tok-0123456789abcdef');
    } finally {
      delete process.env.GATEWAY_TEST_SECRET_TOKEN;
    }
  });

  test('security-11.6: bad_request / context_length_exceeded keep their (useful) message, minus paths and secrets', async () => {
    let n = 0;
    const runner = new StepRunner(() =>
      n++ === 0
        ? { kind: 'reject', error: new InferenceError('bad_request', "'max_tokens' is too large for this model", { details: { param: 'max_tokens' } }) }
        : { kind: 'reject', error: new InferenceError('context_length_exceeded', `prompt of 5000 tokens exceeds 4096 (model at ${PATH}, key ${SECRET})`) },
    );
    h = await startGateway({ models: { m: { runner } } });
    const a = await post({ model: 'm', messages: USER });
    expect(a.status).toBe(400);
    expect(a.json.error.message).toContain("'max_tokens' is too large for this model");
    expect(a.json.error.param).toBe('max_tokens');
    const b = await post({ model: 'm', messages: USER });
    expect(b.status).toBe(413);
    expect(b.json.error.message).toContain('prompt of 5000 tokens exceeds 4096');
    expect(b.text).not.toContain(PATH);
    expect(b.text).not.toContain(SECRET);
  });
});

/** Simulates a runner that tokenizes on the event loop: synchronous work in proportion to the prompt's characters. */
class EventLoopTokenizer implements ModelRunner {
  calls = 0;
  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    this.calls++;
    // The reported cost: a 1 MiB prompt blocked the loop for about 2.5 s. Busy-waiting on the
    // clock keeps that cost the same on a fast or a loaded machine.
    let chars = 0;
    for (const m of batch.messages) chars += typeof m.content === 'string' ? m.content.length : 0;
    const end = performance.now() + chars * 0.0025;
    let h = 0;
    while (performance.now() < end) h++;
    const id = batch.requestId;
    return RunHandle.streaming(
      async function* () {
        yield { requestId: id, textDelta: String(h & 1), finishReason: 'stop' as const };
      },
      undefined,
      { requestId: id, ...(options?.signal !== undefined ? { signal: options.signal } : {}) },
    );
  }
  async rebuildSession(): Promise<void> {}
  runtimeKind(): RuntimeKind {
    return 'custom:slow-tokenizer';
  }
  transportKind(): TransportKind {
    return { kind: 'local', device: 'cpu' };
  }
  capabilities(): RunnerCapabilities {
    return {};
  }
}

describe('#11.7 cheap bounds before the runner', () => {
  test('security-11.7: /healthz stays responsive while four 1 MiB prompts are in flight', { timeout: 120_000 }, async () => {
    const runner = new EventLoopTokenizer();
    h = await startGateway({ models: { m: { runner, contextTokens: 4096 } }, maxBodyBytes: 8 * 1024 * 1024 });
    const prompt = 'lorem ipsum '.repeat((1024 * 1024) / 12);
    const posts = Array.from({ length: 4 }, () => post({ model: 'm', messages: [{ role: 'user', content: prompt }] }));
    let done = false;
    const all = Promise.all(posts).finally(() => (done = true));
    // Liveness, not speed: every probe must come back within a generous deadline.
    const DEADLINE_MS = 2000;
    let worst = 0;
    do {
      const t0 = Date.now();
      const res = await fetch(`${h.origin}/healthz`);
      await res.arrayBuffer();
      worst = Math.max(worst, Date.now() - t0);
    } while (!done);
    const results = await all;
    expect(worst).toBeLessThan(DEADLINE_MS);
    for (const r of results) {
      expect(r.status).toBe(413);
      expect(r.json.error.code).toBe('context_length_exceeded');
    }
    expect(runner.calls).toBe(0);
  });
});

describe('#11.8 a crashed model is reported by /healthz', () => {
  test('security-11.8: runtime_crashed marks the model down in /healthz (503) until a request succeeds again', async () => {
    let crashed = true;
    const runner = new StepRunner(() =>
      crashed
        ? { kind: 'reject', error: new InferenceError('runtime_crashed', 'python worker exited with code 1') }
        : { kind: 'chunks', chunks: [{ textDelta: 'back', finishReason: 'stop' }] },
    );
    h = await startGateway({ models: { m: { runner }, other: { runner: new StepRunner({ kind: 'chunks', chunks: [text('ok')] }) } } });
    expect((await fetch(`${h.origin}/healthz`)).status).toBe(200);
    expect((await post({ model: 'm', messages: USER })).status).toBe(503);
    const down = await fetch(`${h.origin}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'degraded', models: { m: { state: 'down', reason: 'runtime_crashed' }, other: { state: 'ready' } } });
    crashed = false;
    expect((await post({ model: 'm', messages: USER })).status).toBe(200);
    const up = await fetch(`${h.origin}/healthz`);
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({ status: 'ok', models: { m: { state: 'ready' } } });
  });
});

describe('#11.11 deeply nested request JSON', () => {
  const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
  test('security-11.11: deeply nested tools[].function.parameters → 400, not a stack overflow', async () => {
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [text('ok')] }) } } });
    const body = `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":${deep(200_000)}}}}}]}`;
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.json.error.type).toBe('invalid_request_error');
  });

  test('security-11.11: deeply nested response_format.json_schema.schema → 400', async () => {
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [text('ok')] }) } } });
    const body = `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","items":${deep(200_000)}}}}}`;
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.json.error.type).toBe('invalid_request_error');
  });

  test('security-11.11: a schema nested past the core bound but not overflowing is refused naming the parameter', async () => {
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [text('ok')] }) } } });
    const body = `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","x":${deep(70)}}}}]}`;
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe('tools[0].function.parameters');
  });
});

describe('#11.12 cross-site requests and DNS rebinding against a keyless loopback gateway', () => {
  test('security-11.12: a text/plain body (a CORS "simple" request) is refused with 415', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] });
    h = await startGateway({ models: { m: { runner } } });
    const r = await post(JSON.stringify({ model: 'm', messages: USER }), { 'content-type': 'text/plain;charset=UTF-8' });
    expect(r.status).toBe(415);
    expect(r.json.error.code).toBe('unsupported_media_type');
    const none = await rawRequest('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'm', messages: USER }) });
    expect(none.status).toBe(415);
    expect(runner.batches).toHaveLength(0);
    expect((await post({ model: 'm', messages: USER }, { 'content-type': 'Application/JSON; charset=utf-8' })).status).toBe(200);
  });

  test('security-11.12: a foreign Host (DNS rebinding) is refused with 403 on every route', async () => {
    const runner = new StepRunner({ kind: 'chunks', chunks: [text('ok')] });
    h = await startGateway({ models: { m: { runner } } });
    const body = JSON.stringify({ model: 'm', messages: USER });
    for (const host of ['attacker.example', 'attacker.example:8080', '127.0.0.1.nip.io']) {
      const r = await rawRequest('/v1/chat/completions', { method: 'POST', headers: { host, 'content-type': 'application/json' }, body });
      expect(r.status, host).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe('host_not_allowed');
      expect((await rawRequest('/v1/models', { headers: { host } })).status).toBe(403);
      expect((await rawRequest('/healthz', { headers: { host } })).status).toBe(403);
    }
    expect(runner.batches).toHaveLength(0);
    for (const host of ['localhost', 'localhost:1234', '127.0.0.1', '[::1]:80', 'LOCALHOST']) {
      expect((await rawRequest('/v1/models', { headers: { host } })).status, host).toBe(200);
    }
  });

  test('security-11.12: allowedHosts adds names; with API keys the Host is not restricted', async () => {
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [text('ok')] }) } }, allowedHosts: ['gw.internal'] });
    expect((await rawRequest('/healthz', { headers: { host: 'gw.internal:8080' } })).status).toBe(200);
    expect((await rawRequest('/healthz', { headers: { host: 'other.internal' } })).status).toBe(403);
    await h.close();
    h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [text('ok')] }) } }, apiKeys: ['k'] });
    expect((await rawRequest('/healthz', { headers: { host: 'gw.example.com' } })).status).toBe(200);
  });
});

describe('#11.15 upstream credential failures do not blame the client', () => {
  for (const [kind, status] of [
    ['unauthorized', 401],
    ['forbidden', 403],
  ] as const) {
    test(`security-11.15: an upstream ${status} (${kind}) reaches the client as a 502`, async () => {
      const runner = new StepRunner({ kind: 'reject', error: new InferenceError(kind, `OpenAI ${status}: Incorrect API key provided: ${SECRET}`, { status, provider: 'openai' }) });
      h = await startGateway({ models: { m: { runner } }, logger: () => undefined });
      const r = await post({ model: 'm', messages: USER });
      expect(r.status).toBe(502);
      expect(r.json.error.type).toBe('api_error');
      expect(r.json.error.code).toBe(`upstream_${kind}`);
      expect(r.text).not.toContain(SECRET);
      expect(r.text).not.toContain('Incorrect API key');
    });
  }
});
