import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MissingConfigError, runnerFromEnv } from '../runner-from-env.mjs';
import { startMockProvider } from '../../shared/mock-provider.mjs';
import { runProgram } from '../../shared/run-program.mjs';

const CHAT = join(dirname(fileURLToPath(import.meta.url)), '..', 'chat.mjs');

// Only what the example needs: no real keys from the developer's shell leak into a test.
const run = (env, args = []) => runProgram(CHAT, args, { env: { PATH: process.env.PATH, ...env }, timeoutMs: 30_000 });

let mock;
beforeAll(async () => {
  mock = await startMockProvider();
});
afterAll(async () => {
  await mock.close();
});

describe('examples/remote chat.mjs against a local mock provider', () => {
  test('OpenAI-compatible endpoint (OPENAI_BASE_URL + key)', async () => {
    const r = await run({ OPENAI_BASE_URL: `${mock.origin}/v1`, OPENAI_API_KEY: 'sk-test', INFERKIT_MODEL: 'local-model' }, ['--prompt', 'hi', '--max-tokens', '20']);
    expect(r.stderr).toContain('provider: openai, model: local-model');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Streams flow home.\n');
    expect(r.stderr).toContain('tokens: 9 prompt, 3 completion');
    const req = mock.requests.at(-1);
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.headers.authorization).toBe('Bearer sk-test');
    expect(req.body.model).toBe('local-model');
    expect(req.body.messages).toEqual([{ role: 'user', content: 'hi' }]);
    // The key never reaches the terminal.
    expect(r.stdout + r.stderr).not.toContain('sk-test');
  });

  test('Anthropic', async () => {
    const r = await run({ ANTHROPIC_BASE_URL: `${mock.origin}/v1`, ANTHROPIC_API_KEY: 'ak-test' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Streams flow home.\n');
    expect(r.stderr).toContain('provider: anthropic, model: claude-3-5-haiku-latest');
    expect(r.stderr).toContain('finish: stop');
    const req = mock.requests.at(-1);
    expect(req.path).toBe('/v1/messages');
    expect(req.headers['x-api-key']).toBe('ak-test');
  });

  test('Gemini', async () => {
    const r = await run({ GEMINI_BASE_URL: `${mock.origin}/v1beta`, GEMINI_API_KEY: 'gk-test', INFERKIT_MODEL: 'gemini-test' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Streams flow home.\n');
    expect(r.stderr).toContain('tokens: 9 prompt, 3 completion');
    const req = mock.requests.at(-1);
    expect(req.path).toMatch(/^\/v1beta\/models\/gemini-test:streamGenerateContent/);
  });

  test('no key: a clear message and exit code 2, no request sent', async () => {
    const before = mock.requests.length;
    const r = await run({});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('No API key found');
    expect(r.stderr).toContain('OPENAI_API_KEY');
    expect(r.stderr).toContain('ANTHROPIC_API_KEY');
    expect(r.stderr).toContain('GEMINI_API_KEY');
    expect(mock.requests.length).toBe(before);
  });

  test('a provider error is reported by kind, exit code 1', async () => {
    const r = await run({ OPENAI_BASE_URL: `${mock.origin}/nowhere`, OPENAI_API_KEY: 'sk-test' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/openai error \(not_found\)/);
  });
});

describe('runnerFromEnv', () => {
  test('INFERKIT_PROVIDER picks among several keys', () => {
    const s = runnerFromEnv({ OPENAI_API_KEY: 'a', GEMINI_API_KEY: 'b', INFERKIT_PROVIDER: 'gemini' });
    expect(s.provider).toBe('gemini');
    expect(s.model).toBe('gemini-2.0-flash');
  });
  test('the first provider with a key wins otherwise', () => {
    expect(runnerFromEnv({ ANTHROPIC_API_KEY: 'a', GEMINI_API_KEY: 'b' }).provider).toBe('anthropic');
  });
  test('a chosen provider without its key is refused by name', () => {
    expect(() => runnerFromEnv({ OPENAI_API_KEY: 'a', INFERKIT_PROVIDER: 'anthropic' })).toThrow(/ANTHROPIC_API_KEY is not set/);
  });
  test('an unknown provider is refused', () => {
    expect(() => runnerFromEnv({ INFERKIT_PROVIDER: 'cohere' })).toThrow(MissingConfigError);
  });
  test('the runner comes from runnerFactory: supervised (a limiter for the rate-limit headers), with its provider capabilities', async () => {
    const { runner } = runnerFromEnv({ ANTHROPIC_API_KEY: 'a' });
    expect(runner.limiter).toBeDefined();
    expect(runner.capabilities()).toMatchObject({ tools: true, images: true, continuation: true });
    await runner.close();
    const compat = runnerFromEnv({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }).runner;
    expect(compat.capabilities().continuation).not.toBe(true);
    await compat.close();
  });
});
