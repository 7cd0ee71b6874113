import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import type { InferenceError } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch, drain } from '../__testing__/batches.js';
import { MockServer, type RecordedRequest } from '../__testing__/mock-server.js';
import { serverAndRunnerPerTest } from '../__testing__/server-and-runner.js';
import { createAnthropicRunner } from '../anthropic/anthropic-runner.js';
import { createOpenAIRunner } from '../openai/openai-runner.js';
import type { RemoteRunner } from '../remote-runner.js';
import { Secret } from './credentials.js';

// Issue #11.2: the upstream key must never reach an error (and so a gateway client or a log),
// whatever part of a response echoes it. Each case is a loopback server echoing the key it got.

const KEY = `sk-${randomBytes(24).toString('hex')}`;
/** Shortest piece of the key a test looks for: anything this long identifies it (the prefix 'sk-' alone is 3). */
const PIECE = 6;

/** Every printed form of an error: message, stack, JSON, inspect (with the cause chain). */
function printed(err: InferenceError): string {
  return [err.message, String(err.stack), JSON.stringify(err.toJSON()), JSON.stringify(err.details), inspect(err, { depth: 10 })].join('\n');
}

function expectNoKeyPiece(err: InferenceError): void {
  const text = printed(err);
  for (let i = 0; i + PIECE <= KEY.length; i++) {
    const piece = KEY.slice(i, i + PIECE);
    if (text.includes(piece)) throw new Error(`the error shows ${JSON.stringify(piece)} of the key (offset ${i}):\n${text}`);
  }
}

const keyOf = (req: RecordedRequest): string => String(req.headers.authorization ?? req.headers['x-api-key'] ?? '').replace(/^Bearer /, '');

const current = serverAndRunnerPerTest();
const openai = async (handler: (req: RecordedRequest, res: ServerResponse) => void): Promise<RemoteRunner> =>
  (await current.start(handler, (origin) => createOpenAIRunner({ baseUrl: `${origin}/v1`, apiKey: KEY }))).runner;

describe('#11.2 an echoed upstream key never reaches an error', () => {
  test('#11.2 key echoed in a JSON error message', async () => {
    const r = await openai((req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${keyOf(req)}`, type: 'invalid_request_error' } }));
    });
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('unauthorized');
    expect(err.message).toContain('[redacted]');
    expectNoKeyPiece(err);
  });

  test('#11.2 key echoed in details.code (the error code field)', async () => {
    const r = await openai((req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'bad key', code: `key_${keyOf(req)}`, param: keyOf(req) } }));
    });
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('bad_request');
    expectNoKeyPiece(err);
  });

  test('#11.2 key echoed in the x-request-id header', async () => {
    const r = await openai((req, res) => {
      res.writeHead(500, { 'content-type': 'application/json', 'x-request-id': `req_${keyOf(req)}` });
      res.end(JSON.stringify({ error: { message: 'boom' } }));
    });
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('server_error');
    expectNoKeyPiece(err);
  });

  test('#11.2 key cut at the snippet boundary of a plain-text 401 body leaves no piece', async () => {
    // The error message keeps the first 300 characters of a non-JSON body: put the key across
    // that cut, at every offset from 1 to the key's length, one request each.
    const offsets = [1, 4, 7, 10, 20, KEY.length - 1];
    let n = 0;
    const r = await openai((req, res) => {
      const before = 300 - offsets[n++ % offsets.length]!;
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end(`${'x'.repeat(before - 1)} ${keyOf(req)} and more text after it`);
    });
    for (const _ of offsets) {
      const err = await rejectionOf(r.execute(batch()));
      expect(err.kind).toBe('unauthorized');
      expectNoKeyPiece(err);
    }
  });

  test('#11.2 key echoed in the body and content type of a 200 that is not text/event-stream', async () => {
    const r = await openai((req, res) => {
      res.writeHead(200, { 'content-type': `text/html; key=${keyOf(req)}` });
      res.end(`<html><body>Welcome! Your key ${keyOf(req)} was accepted.</body></html>`);
    });
    const err = await rejectionOf(r.execute(batch()));
    expect(err.kind).toBe('server_error');
    expect(err.message).toContain('expected text/event-stream');
    expectNoKeyPiece(err);
  });

  test('#11.2 key echoed in a unary 200 body that is not JSON', async () => {
    const r = await openai((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`oops ${keyOf(req)} not json`);
    });
    const err = await rejectionOf(r.execute(batch({ stream: false })));
    expect(err.message).toContain('response is not JSON');
    expectNoKeyPiece(err);
  });

  test('#11.2 key echoed in SSE error events (OpenAI data error, Anthropic event: error) and malformed events', async () => {
    const server = await MockServer.start((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const key = keyOf(req);
      if (req.url.endsWith('/messages')) {
        res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: `overloaded_${key}`, message: `Overloaded for ${key}` } })}\n\n`);
      } else if (req.body.includes('malformed')) {
        res.end(`data: {"choices": [${key}\n\n`);
      } else {
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })}\n\n`);
        res.end(`data: ${JSON.stringify({ error: { message: `quota for ${key}`, type: `t_${key}`, code: key } })}\n\n`);
      }
    });
    const oa = createOpenAIRunner({ baseUrl: `${server.url}/v1`, apiKey: KEY });
    const an = createAnthropicRunner({ baseUrl: `${server.url}/v1`, apiKey: KEY });
    try {
      const mid = await drain(await oa.execute(batch()));
      expect(mid.chunks.map((c) => c.textDelta)).toEqual(['hi']);
      expectNoKeyPiece(mid.error!);
      expectNoKeyPiece(await rejectionOf(oa.execute(batch({ messages: [{ role: 'user', content: 'malformed' }] }))));
      const first = await rejectionOf(an.execute(batch({ model: 'claude-haiku-4-5' })));
      expect(first.kind).toBe('server_error');
      expectNoKeyPiece(first);
    } finally {
      await oa.close();
      await an.close();
      await server.close();
    }
  });

  test('#11.2 key cut by the 64 KiB bound of an error body', async () => {
    // Not JSON once cut, so the message quotes the start; the cut end must not survive either.
    const r = await openai((req, res) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`${keyOf(req)} ${'y'.repeat(64 * 1024 - KEY.length - 11)} ${keyOf(req)}`);
    });
    const err = await rejectionOf(r.execute(batch()));
    expectNoKeyPiece(err);
  });
});

describe('Secret.redactFrom', () => {
  test('removes the whole key, runs of 8+ of its characters anywhere, and nothing else', () => {
    const s = new Secret('sk-abcdefghijklmnopqrstuvwxyz0123456789');
    expect(s.redactFrom('key sk-abcdefghijklmnopqrstuvwxyz0123456789 end')).toBe('key [redacted] end');
    // Wrapped over two lines, echoed in part, or cut at a bound: each piece of 8+ goes.
    expect(s.redactFrom('sk-abcdefghijklmnopq\nrstuvwxyz0123456789')).toBe('[redacted]\n[redacted]');
    expect(s.redactFrom('Incorrect API key provided: sk-abcd****6789')).toBe('Incorrect API key provided: sk-abcd****6789');
    expect(s.redactFrom('masked sk-abcde****6789')).toBe('masked [redacted]****6789'); // 8 characters of it: removed
    expect(s.redactFrom('tail ...opqrstuvwxyz01')).toBe('tail ...[redacted]');
    expect(s.redactFrom('nothing to see')).toBe('nothing to see');
    expect(new Secret('abc').redactFrom('abc')).toBe('abc'); // too short to search for
  });
});
