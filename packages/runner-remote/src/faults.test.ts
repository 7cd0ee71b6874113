import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch, drain, expectIdle } from './__testing__/batches.js';
import { dataEvents, MockServer, sendJson, sendSse, waitFor, type MockHandler } from './__testing__/mock-server.js';
import { serverAndRunnerPerTest } from './__testing__/server-and-runner.js';
import { createAnthropicRunner } from './anthropic/anthropic-runner.js';
import { createOpenAIRunner } from './openai/openai-runner.js';
import type { RemoteRunner } from './remote-runner.js';

const delta = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });
const finish = (reason: string) => ({ choices: [{ index: 0, delta: {}, finish_reason: reason }] });

// Any promise rejection nobody handled fails the suite: checked after each test.
const current = serverAndRunnerPerTest({ failOnUnhandledRejection: true });

async function setup(handler: MockHandler, timeouts = {}): Promise<RemoteRunner> {
  const make = (origin: string) => createOpenAIRunner({ baseUrl: `${origin}/v1`, apiKey: 'sk-test', timeouts: { firstByteMs: 2000, idleMs: 2000, ...timeouts } });
  return (await current.start(handler, make)).runner;
}

describe('faults (OpenAI wire, no retry policy)', () => {
  test('mid-stream socket destroy → network_error after the delivered chunks', async () => {
    const r = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(dataEvents([delta('one'), delta(' two')], false));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks.map((c) => c.textDelta).join('')).toBe('one two');
    expect(error?.kind).toBe('network_error');
    expect(error?.retryable).toBe(true);
    expect(error?.requestId).toMatch(/^req-/);
  });

  test('a clean end of body without [DONE] or finish_reason is a truncated stream', async () => {
    const r = await setup((_req, res) => sendSse(res, dataEvents([delta('partial')], false)));
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks).toHaveLength(1);
    expect(error?.kind).toBe('network_error');
    expect((error?.details as { code?: string }).code).toBe('truncated_stream');
  });

  test('stall before headers → first_byte timeout', async () => {
    const r = await setup(() => undefined, { firstByteMs: 100 });
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('timeout');
    expect(err.details).toEqual({ phase: 'first_byte', timeoutMs: 100 });
    expect(err.countsAsCircuitFailure).toBe(true);
  });

  test('stall mid-stream → idle timeout after the delivered chunks', async () => {
    const r = await setup(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(dataEvents([delta('a')], false));
      },
      { idleMs: 100 },
    );
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks.map((c) => c.textDelta)).toEqual(['a']);
    expect(error?.kind).toBe('timeout');
    expect(error?.details).toEqual({ phase: 'idle', timeoutMs: 100 });
  });

  test('total deadline → timeout with phase total, even while data keeps flowing', async () => {
    const r = await setup(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const t = setInterval(() => res.write(dataEvents([delta('x')], false)), 10);
        res.on('close', () => clearInterval(t));
      },
      { totalMs: 150 },
    );
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks.length).toBeGreaterThan(0);
    expect(error?.kind).toBe('timeout');
    expect((error?.details as { phase: string }).phase).toBe('total');
  });

  test('connection refused → network_error', async () => {
    const probe = await MockServer.start(() => undefined);
    const url = probe.url;
    await probe.close();
    current.runner = createOpenAIRunner({ baseUrl: `${url}/v1`, apiKey: 'sk-test' });
    const err = await rejectionOf(current.runner.execute(batch()));
    expect(err.kind).toBe('network_error');
    expect((err.details as { code?: string }).code).toBe('ECONNREFUSED');
  });

  test('malformed JSON data line → server_error, not retryable', async () => {
    const r = await setup((_req, res) => sendSse(res, `${dataEvents([delta('ok')], false)}data: {"choices": [\n\n`));
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks.map((c) => c.textDelta)).toEqual(['ok']);
    expect(error?.kind).toBe('server_error');
    expect(error?.retryable).toBe(false);
    expect((error?.details as { code?: string }).code).toBe('malformed_event');
  });

  test('malformed JSON as the first frame rejects execute()', async () => {
    const r = await setup((_req, res) => sendSse(res, 'data: not json\n\n'));
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('server_error');
    expect((err.details as { code?: string }).code).toBe('malformed_event');
  });

  test('wrong content type on a 200 → server_error naming the type', async () => {
    const r = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>captive portal</html>');
    });
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('server_error');
    expect(err.message).toContain('text/html');
    expect(err.retryable).toBe(false);
  });

  test('a 10 MB line → clear error with bounded memory, socket torn down', async () => {
    const line = Buffer.alloc(10 * 1024 * 1024, 0x61);
    const r = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: ');
      res.end(line);
    });
    const before = process.memoryUsage().arrayBuffers;
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('server_error');
    expect((err.details as { code?: string }).code).toBe('sse_event_too_large');
    // The parser stops at its 4 MiB limit instead of holding the whole line.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(9 * 1024 * 1024);
  });

  test('abort before headers → cancelled promptly, socket released', async () => {
    const r = await setup(() => undefined);
    const controller = new AbortController();
    const p = r.execute(batch(), { signal: controller.signal });
    await waitFor(() => current.server!.requests.length === 1);
    controller.abort();
    const err = await rejectionOf(p);
    expect(err.kind).toBe('cancelled');
    await waitFor(() => current.server!.closedSockets === 1, 2000, 'the request socket to close');
  });

  test('abort mid-stream → iterator throws cancelled after the delivered chunks', async () => {
    const r = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(dataEvents([delta('a'), delta('b')], false));
    });
    const controller = new AbortController();
    const handle = await r.execute(batch(), { signal: controller.signal });
    const seen: string[] = [];
    let error: unknown;
    try {
      for await (const c of handle) {
        seen.push(c.textDelta);
        if (seen.length === 2) controller.abort();
      }
    } catch (e) {
      error = e;
    }
    expect(seen).toEqual(['a', 'b']);
    expect((error as { kind?: string }).kind).toBe('cancelled');
    await waitFor(() => current.server!.closedSockets === 1, 2000, 'the request socket to close');
  });

  test('an already-aborted signal never sends the request', async () => {
    const r = await setup(() => undefined);
    const err = await rejectionOf(r.execute(batch(), { signal: AbortSignal.abort() }));
    expect(err.kind).toBe('cancelled');
    expect(current.server!.requests).toHaveLength(0);
  });

  test('break out of for-await tears the stream down', async () => {
    const r = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(dataEvents([delta('a'), delta('b'), delta('c')], false));
    });
    const handle = await r.execute(batch());
    for await (const c of handle) {
      expect(c.textDelta).toBe('a');
      break;
    }
    expect(handle.cancelled).toBe(true);
    await waitFor(() => current.server!.closedSockets === 1, 2000, 'the request socket to close');
  });

  test('handle.cancel() mid-stream rejects the pending read', async () => {
    const r = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(dataEvents([delta('a')], false));
    });
    const handle = await r.execute(batch());
    const it = handle[Symbol.asyncIterator]();
    expect((await it.next()).value?.textDelta).toBe('a');
    const pending = it.next();
    handle.cancel('user pressed stop');
    const err = await rejectionOf(pending);
    expect(err.kind).toBe('cancelled');
  });

  test('gzip, deflate (zlib and raw) and brotli bodies are decoded', async () => {
    const body = dataEvents([delta('zip'), delta('ped'), finish('stop')]);
    for (const [encoding, encode] of [
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['deflate', deflateRawSync],
      ['br', brotliCompressSync],
    ] as const) {
      const r = await setup((_req, res) => sendSse(res, encode(Buffer.from(body)), { 'content-encoding': encoding }));
      const tokens = await (await r.execute(batch())).collect();
      expect(tokens.text).toBe('zipped');
      expect(tokens.finishReason).toBe('stop');
      await expectIdle(r);
      await r.close();
      await current.server!.close();
    }
    current.runner = undefined;
    current.server = undefined;
  });

  test('an unknown content-encoding → server_error naming it', async () => {
    const r = await setup((_req, res) => sendSse(res, Buffer.from('data: x\n\n'), { 'content-encoding': 'zstd-custom' }));
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('server_error');
    expect(err.message).toContain('zstd-custom');
  });

  test('close() while streaming cancels the stream and releases every socket', async () => {
    const r = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(dataEvents([delta('a')], false));
    });
    const handle = await r.execute(batch());
    const it = handle[Symbol.asyncIterator]();
    expect((await it.next()).value?.textDelta).toBe('a');
    const pending = rejectionOf(it.next());
    await r.close();
    expect((await pending).kind).toBe('cancelled');
    expect((await rejectionOf(r.execute(batch()))).kind).toBe('cancelled');
    await waitFor(() => current.server!.openSockets === 0, 2000, 'all sockets to close');
  });

  test('a corrupt gzip body → network_error', async () => {
    const r = await setup((_req, res) => sendSse(res, Buffer.from('definitely not gzip'), { 'content-encoding': 'gzip' }));
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('network_error');
  });

  test('an error event as the first frame rejects execute() with a retryable error', async () => {
    current.server = await MockServer.start((_req, res) =>
      sendSse(res, 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'),
    );
    current.runner = createAnthropicRunner({ baseUrl: `${current.server.url}/v1`, apiKey: 'sk-ant-test' });
    const err = await rejectionOf(current.runner.execute(batch({ model: 'claude-sonnet-4-5' })));
    expect(err.kind).toBe('server_error');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('Overloaded');
  });

  test('an error event mid-stream ends the stream with the mapped kind', async () => {
    current.server = await MockServer.start((_req, res) =>
      sendSse(
        res,
        [
          'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}\n\n',
          'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
          'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n',
          'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}\n\n',
        ].join(''),
      ),
    );
    current.runner = createAnthropicRunner({ baseUrl: `${current.server.url}/v1`, apiKey: 'sk-ant-test' });
    const { chunks, error } = await drain(await current.runner.execute(batch({ model: 'claude-sonnet-4-5' })));
    expect(chunks.map((c) => c.textDelta).join('')).toBe('Hi');
    expect(error?.kind).toBe('rate_limited');
  });

  test('OpenAI data: {"error"} mid-stream → server_error after the chunks', async () => {
    const r = await setup((_req, res) =>
      sendSse(res, dataEvents([delta('x'), { error: { message: 'The server had an error', type: 'server_error' } }], false)),
    );
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks).toHaveLength(1);
    expect(error?.kind).toBe('server_error');
    expect(error?.message).toContain('The server had an error');
  });

  test('401 → rebuildSession re-reads the credential and retries once', async () => {
    let reads = 0;
    current.server = await MockServer.start((req, res) => {
      if (req.headers.authorization !== 'Bearer sk-new') {
        sendJson(res, 401, { error: { message: 'Incorrect API key provided: sk-old', type: 'invalid_request_error', code: 'invalid_api_key' } });
        return;
      }
      sendSse(res, dataEvents([delta('ok'), finish('stop')]));
    });
    current.runner = createOpenAIRunner({
      baseUrl: `${current.server.url}/v1`,
      apiKey: () => {
        reads++;
        return reads === 1 ? 'sk-old' : 'sk-new';
      },
    });
    const tokens = await (await current.runner.execute(batch())).collect();
    expect(tokens.text).toBe('ok');
    expect(reads).toBe(2);
    expect(current.server.requests).toHaveLength(2);
  });

  test('401 twice → unauthorized after exactly one retry', async () => {
    current.server = await MockServer.start((_req, res) => sendJson(res, 401, { error: { message: 'bad key', code: 'invalid_api_key' } }));
    current.runner = createOpenAIRunner({ baseUrl: `${current.server.url}/v1`, apiKey: 'sk-wrong' });
    const err = await rejectionOf(current.runner.execute(batch()));
    expect(err.kind).toBe('unauthorized');
    expect(err.status).toBe(401);
    expect(current.server.requests).toHaveLength(2);
  });

  test('a slow consumer pauses the socket instead of buffering without bound', async () => {
    const n = 5000;
    const r = await setup((_req, res) => {
      const events = [];
      for (let i = 0; i < n; i++) events.push(delta(`${i},`));
      events.push(finish('stop'));
      sendSse(res, dataEvents(events));
    });
    const handle = await r.execute(batch());
    let count = 0;
    for await (const c of handle) {
      if (c.textDelta !== '') count++;
      if (count % 1000 === 0) await new Promise((res) => setTimeout(res, 5));
    }
    expect(count).toBe(n);
  });
});
