import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { InferenceError } from '@inferkit/inference-core';
import { afterEach, describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { expectIdle, batch } from '../__testing__/batches.js';
import { MockServer, sendJson } from '../__testing__/mock-server.js';
import { createAnthropicRunner } from '../anthropic/anthropic-runner.js';
import { createGeminiRunner } from '../gemini/gemini-runner.js';
import { createOpenAIRunner } from '../openai/openai-runner.js';
import type { RemoteRunner } from '../remote-runner.js';
import { CredentialSource, Secret } from './credentials.js';

const SECRET = 'sk-live-THIS-MUST-NEVER-LEAK-1234567890';

describe('credential sources', () => {
  test('string, inline, env, file and function', async () => {
    expect((await new CredentialSource('a-key', 'x').get())?.reveal()).toBe('a-key');
    expect((await new CredentialSource({ from: 'inline', value: 'b-key' }, 'x').get())?.reveal()).toBe('b-key');
    process.env.INFERKIT_TEST_KEY = 'c-key';
    expect((await new CredentialSource({ from: 'env', name: 'INFERKIT_TEST_KEY' }, 'x').get())?.reveal()).toBe('c-key');
    delete process.env.INFERKIT_TEST_KEY;
    const dir = mkdtempSync(join(tmpdir(), 'inferkit-cred-'));
    writeFileSync(join(dir, 'key'), '  d-key\n');
    expect((await new CredentialSource({ from: 'file', path: join(dir, 'key') }, 'x').get())?.reveal()).toBe('d-key');
    expect((await new CredentialSource(async () => 'e-key', 'x').get())?.reveal()).toBe('e-key');
    expect(await new CredentialSource(undefined, 'x').get()).toBeUndefined();
  });

  test('refresh() re-reads; get() caches', async () => {
    let n = 0;
    const src = new CredentialSource(() => `key-${++n}`, 'x');
    expect((await src.get())?.reveal()).toBe('key-1');
    expect((await src.get())?.reveal()).toBe('key-1');
    expect((await src.refresh())?.reveal()).toBe('key-2');
  });

  test('missing env var, missing file, empty and throwing providers → unauthorized without the cause text', async () => {
    const missing = await rejectionOf(new CredentialSource({ from: 'env', name: 'INFERKIT_NOPE_NOT_SET' }, 'openai apiKey').get());
    expect(missing.kind).toBe('unauthorized');
    expect(missing.message).toContain('INFERKIT_NOPE_NOT_SET');
    expect((await rejectionOf(new CredentialSource({ from: 'file', path: '/nonexistent/key' }, 'x').get())).message).toContain('ENOENT');
    expect((await rejectionOf(new CredentialSource(() => '', 'x').get())).kind).toBe('unauthorized');
    const thrown = await rejectionOf(
      new CredentialSource(() => {
        throw new Error(`vault said ${SECRET}`);
      }, 'x').get(),
    );
    expect(thrown.message).not.toContain(SECRET);
    expect(() => new CredentialSource({ from: 'vault' } as never, 'x')).toThrow(InferenceError);
  });

  test('Secret and CredentialSource never print the value', async () => {
    const s = new Secret(SECRET);
    for (const text of [String(s), `${s}`, JSON.stringify({ s }), inspect(s), inspect({ nested: { s } }, { depth: 5 })]) {
      expect(text).not.toContain(SECRET);
    }
    expect(s.redactFrom(`echo: ${SECRET}!`)).toBe('echo: [redacted]!');
    const src = new CredentialSource(SECRET, 'x');
    await src.get();
    for (const text of [JSON.stringify(src), inspect(src, { depth: 10, showHidden: true })]) expect(text).not.toContain(SECRET);
    expect(JSON.stringify(new CredentialSource({ from: 'env', name: 'OPENAI_API_KEY' }, 'x'))).toBe('"env:OPENAI_API_KEY"');
  });
});

describe('secrets never leak from runners', () => {
  let server: MockServer | undefined;
  let runners: RemoteRunner[] = [];
  afterEach(async () => {
    for (const r of runners) {
      await expectIdle(r);
      await r.close();
    }
    runners = [];
    await server?.close();
    server = undefined;
  });

  test('errors echoing the key, util.inspect and JSON of runners', async () => {
    // A server that echoes whatever credential it got, the way some error pages do.
    server = await MockServer.start((req, res) =>
      sendJson(res, 401, {
        error: { message: `Incorrect API key provided: ${String(req.headers.authorization ?? req.headers['x-api-key'] ?? req.headers['x-goog-api-key'])}` },
      }),
    );
    runners = [
      createOpenAIRunner({ baseUrl: `${server.url}/v1`, apiKey: SECRET }),
      createAnthropicRunner({ baseUrl: `${server.url}/v1`, apiKey: { from: 'inline', value: SECRET } }),
      createGeminiRunner({ baseUrl: `${server.url}/v1beta`, apiKey: async () => SECRET }),
    ];
    for (const r of runners) {
      const err = await rejectionOf(r.execute(batch()));
      expect(err.kind).toBe('unauthorized');
      const printed = [err.message, String(err.stack), JSON.stringify(err), JSON.stringify(err.toJSON()), inspect(err, { depth: 10 })];
      for (const text of printed) expect(text).not.toContain(SECRET);
      for (const text of [inspect(r, { depth: 10, showHidden: true }), JSON.stringify(r), String(r)]) expect(text).not.toContain(SECRET);
    }
  });
});
