// `pnpm serve`, exactly as the README runs it from the repository root (the `inferkit-gateway`
// bin linked at install time, examples/quickstart/gateway.json), serves the embedded model over
// the OpenAI API on loopback, and the official client streams from it. CI runs this on a fresh
// clone, which is where a bin linked to a not-yet-built file once went missing.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, describe, expect, test } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(root, '..', '..');

let proc;
// `pnpm serve` runs the gateway as a grandchild: signal the whole process group.
const killGroup = (signal) => {
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // already gone
  }
};
afterAll(() => {
  if (proc !== undefined && proc.exitCode === null) killGroup('SIGKILL');
});

function waitFor(get, re, exited) {
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      const m = re.exec(get());
      if (m !== null) {
        clearInterval(t);
        resolve(m);
      }
    }, 20);
    exited.then(() => {
      clearInterval(t);
      reject(new Error(`gateway exited: ${get()}`));
    });
  });
}

describe('pnpm serve (gateway + embedded model)', () => {
  test('streams a chat completion from inferkit-tiny through the OpenAI client', async () => {
    proc = spawn('pnpm', ['serve', '--port', '0'], {
      cwd: repo,
      env: { ...process.env, INFERKIT_DEVICE: 'cpu' },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let err = '';
    proc.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const exited = new Promise((r) => proc.once('exit', r));
    const [, baseURL] = await waitFor(() => err, /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/, exited);
    await waitFor(() => err, /inferkit-tiny: ready/, exited);

    const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['inferkit-tiny']);
    const stream = await client.chat.completions.create({
      model: 'inferkit-tiny',
      messages: [{ role: 'user', content: 'Tell me a story about a cat.' }],
      max_tokens: 24,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(text).toMatch(/^(Once upon a time|One day|There was once)/);
    expect(usage.completion_tokens).toBe(24);
    expect(usage.prompt_tokens).toBeGreaterThan(5);

    // The model is healthy, and a prompt far past its 1,024-token context is refused by the
    // gateway (gateway.json's contextTokens) before the runner tokenizes it.
    const health = await fetch(baseURL.replace(/\/v1$/, '/healthz'));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', models: { 'inferkit-tiny': { state: 'ready' } } });
    const huge = await client.chat.completions
      .create({ model: 'inferkit-tiny', messages: [{ role: 'user', content: 'word '.repeat(5000) }] })
      .then(() => null, (e) => e);
    expect(huge?.status).toBe(413);
    expect(huge?.code).toBe('context_length_exceeded');

    killGroup('SIGTERM');
    await exited;
    expect(err).toMatch(/SIGTERM: draining/);
  }, 90_000);
});
