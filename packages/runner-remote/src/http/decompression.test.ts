import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { InferenceError } from '@inferkit/inference-core';
import { afterEach, describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch, drain } from '../__testing__/batches.js';
import { dataEvents, MockServer, sendSse, type MockHandler } from '../__testing__/mock-server.js';
import { serverAndRunnerPerTest } from '../__testing__/server-and-runner.js';
import { createOpenAIRunner } from '../openai/openai-runner.js';
import { HttpTransport, type ResponseSink } from './http-transport.js';
import { DEFAULT_TIMEOUTS } from './timeouts.js';

// Issue #11.10: a compressed body is inflated only as far as it is used, and never past a ratio.

const MiB = 1024 * 1024;

/**
 * A gzip bomb of `mib` MiB of `byte`: one gzip member of 1 MiB (about 1 KiB compressed), repeated
 * (gunzip reads concatenated members as one body), so it costs nothing to build.
 */
function gzipBomb(mib: number, byte = 0): Buffer {
  const member = gzipSync(Buffer.alloc(MiB, byte), { level: 9 });
  return Buffer.concat(Array.from({ length: mib }, () => member));
}

const current = serverAndRunnerPerTest();
const openai = (handler: MockHandler) => current.start(handler, (origin) => createOpenAIRunner({ baseUrl: `${origin}/v1`, apiKey: 'sk-test' }));
let transport: HttpTransport | undefined;

afterEach(async () => {
  await transport?.close();
  transport = undefined;
});

describe('#11.10 decompression is bounded', () => {
  test('#11.10 the transport stops inflating a 256 MiB gzip bomb once the sink has what it keeps', async () => {
    const bomb = gzipBomb(256);
    const server = await MockServer.start((_req, res) => {
      res.writeHead(401, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      res.end(bomb);
    });
    current.server = server;
    transport = new HttpTransport(new URL(server.url).origin, { timeouts: { ...DEFAULT_TIMEOUTS }, provider: 'test' });
    let delivered = 0;
    const done = new Promise<string>((resolve) => {
      const sink: ResponseSink = {
        onStart: () => undefined,
        // Keeps 64 KiB, like an error body, then says it has enough.
        onData: (chunk) => {
          delivered += chunk.length;
          return delivered < 64 * 1024;
        },
        onEnd: () => resolve('end'),
        onError: (e) => resolve(`error ${e.kind}`),
      };
      transport!.request({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: '{}' }, sink);
    });
    expect(await done).toBe('end');
    // One decompressor chunk (16 KiB) past the bound at most: the other 255.9 MiB are never inflated.
    expect(delivered).toBeLessThan(64 * 1024 + 32 * 1024);
    expect(transport.inflatedBytes).toBeLessThan(256 * 1024);
  });

  test('#11.10 a 401 whose body is a 256 MiB gzip bomb: the error comes from the first 64 KiB, the rest is not inflated', async () => {
    const bomb = gzipBomb(256, 0x61);
    const { runner } = await openai((_req, res) => {
      res.writeHead(401, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      res.end(bomb);
    });
    const err = await rejectionOf(runner.execute(batch()));
    expect(err.kind).toBe('unauthorized');
    // A 401 is retried once after re-reading the key: two bodies, each cut at its bound.
    expect(runner.connectionStats().inflatedBytes).toBeLessThan(2 * 128 * 1024);
  });

  test('#11.10 an SSE body of gzipped blank lines (no events, no output) fails as a decompression bomb after ~1 MiB', async () => {
    const bomb = gzipBomb(256, 0x0a);
    const { runner } = await openai((_req, res) => sendSse(res, bomb, { 'content-encoding': 'gzip' }));
    const err = await rejectionOf(runner.execute(batch()));
    expect(err.kind).toBe('server_error');
    expect(err.retryable).toBe(false);
    expect(err.details).toEqual({ code: 'decompression_bomb' });
    expect(runner.connectionStats().inflatedBytes).toBeLessThan(2 * MiB);
  });

  test('#11.10 a brotli bomb mid-stream ends the stream after the delivered chunks', async () => {
    const events = dataEvents([{ choices: [{ index: 0, delta: { content: 'a' }, finish_reason: null }] }], false);
    const body = brotliCompressSync(Buffer.concat([Buffer.from(events), Buffer.alloc(32 * MiB, 0x0a)]), {
      params: { [constants.BROTLI_PARAM_QUALITY]: 1 }, // quick to build; still over 1000:1
    });
    const { runner } = await openai((_req, res) => sendSse(res, body, { 'content-encoding': 'br' }));
    const { chunks, error } = await drain(await runner.execute(batch()));
    expect(chunks.map((c) => c.textDelta)).toEqual(['a']);
    expect(InferenceError.isInstance(error) && error.details).toEqual({ code: 'decompression_bomb' });
    expect(runner.connectionStats().inflatedBytes).toBeLessThan(2 * MiB);
  });

  test('ordinary compressed streams far below the ratio still decode', async () => {
    const words = Array.from({ length: 5000 }, (_, i) => ({ choices: [{ index: 0, delta: { content: ` w${(i * 7919) % 10007}` }, finish_reason: null }] }));
    const body = gzipSync(Buffer.from(dataEvents([...words, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }])));
    const { runner } = await openai((_req, res) => sendSse(res, body, { 'content-encoding': 'gzip' }));
    const t = await (await runner.execute(batch())).collect();
    expect(t.finishReason).toBe('stop');
    expect(t.text.split(' ').length).toBe(5001);
  });
});
