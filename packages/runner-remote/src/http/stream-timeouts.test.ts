import type { ServerResponse } from 'node:http';
import { describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch, drain } from '../__testing__/batches.js';
import { dataEvents } from '../__testing__/mock-server.js';
import { serverAndRunnerPerTest } from '../__testing__/server-and-runner.js';
import { createAnthropicRunner } from '../anthropic/anthropic-runner.js';
import { createOpenAIRunner } from '../openai/openai-runner.js';
import type { RemoteRunner } from '../remote-runner.js';
import type { HttpTimeouts } from './timeouts.js';

// Issue #11.14: a stream kept alive by keep-alives alone must end. Each server here writes a
// keep-alive every 20 ms for as long as the socket is open; the runners' deadlines are far
// shorter than the test's own, so a stream that never ends fails the test by its deadline.

const delta = (content: string) => ({ choices: [{ index: 0, delta: { content }, finish_reason: null }] });

/** Writes `first` (if any), then `keepAlive` every 20 ms until the client goes away. */
function keepAliveForever(res: ServerResponse, keepAlive: string, first = ''): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (first !== '') res.write(first);
  const t = setInterval(() => res.write(keepAlive), 20);
  res.on('close', () => clearInterval(t));
}

const current = serverAndRunnerPerTest();

async function setup(handler: (res: ServerResponse, url: string) => void, timeouts: Partial<HttpTimeouts>, kind: 'openai' | 'anthropic' = 'openai'): Promise<RemoteRunner> {
  const make = (origin: string) =>
    kind === 'openai'
      ? createOpenAIRunner({ baseUrl: `${origin}/v1`, apiKey: 'sk-test', timeouts })
      : createAnthropicRunner({ baseUrl: `${origin}/v1`, apiKey: 'sk-test', timeouts });
  return (await current.start((req, res) => handler(res, req.url), make)).runner;
}

describe('#11.14 keep-alives do not hold a stream open', () => {
  test('#11.14 a stream of keep-alive comments and no output fails with a first_byte timeout', async () => {
    const r = await setup((res) => keepAliveForever(res, ': OPENROUTER PROCESSING\n\n'), { firstByteMs: 300, idleMs: 300 });
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('timeout');
    expect(err.details).toEqual({ phase: 'first_byte', timeoutMs: 300 });
  });

  test('#11.14 keep-alive comments after the first output do not reset the idle deadline', async () => {
    const r = await setup((res) => keepAliveForever(res, ':\n\n', dataEvents([delta('a')], false)), { firstByteMs: 5000, idleMs: 300 });
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks.map((c) => c.textDelta)).toEqual(['a']);
    expect(error?.kind).toBe('timeout');
    expect(error?.details).toEqual({ phase: 'idle', timeoutMs: 300 });
  });

  test('#11.14 Anthropic ping events are keep-alives too', async () => {
    const ev = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
    const start = ev('message_start', { message: { usage: { input_tokens: 3, output_tokens: 1 } } }) + ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    const r = await setup(
      (res) => keepAliveForever(res, ev('ping', {}), start + ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'hi' } })),
      { firstByteMs: 5000, idleMs: 300 },
      'anthropic',
    );
    const { chunks, error } = await drain(await r.execute(batch({ model: 'claude-haiku-4-5' })));
    expect(chunks.map((c) => c.textDelta)).toEqual(['hi']);
    expect(error?.details).toEqual({ phase: 'idle', timeoutMs: 300 });
  });

  test('#11.14 output that keeps coming is bounded by totalMs, which has a default', async () => {
    const r = await setup((res) => keepAliveForever(res, dataEvents([delta('x')], false)), { totalMs: 400 });
    const { chunks, error } = await drain(await r.execute(batch()));
    expect(chunks.length).toBeGreaterThan(0);
    expect(error?.details).toEqual({ phase: 'total', timeoutMs: 400 });
  });

  test('a model that thinks longer than idleMs before its first output (silent or behind keep-alives) is not cut', async () => {
    const r = await setup(
      (res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const t = setInterval(() => res.write(':\n\n'), 20);
        setTimeout(() => {
          clearInterval(t);
          res.end(dataEvents([delta('thought'), { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }]));
        }, 600);
      },
      { firstByteMs: 10_000, idleMs: 200 },
    );
    const t = await (await r.execute(batch())).collect();
    expect(t.text).toBe('thought');
  });
});
