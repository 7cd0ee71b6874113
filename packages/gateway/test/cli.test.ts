import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterEach, describe, expect, test } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
// The built CLI, as `inferkit-gateway` runs it (CI builds before testing).
const CLI = join(here, '..', 'dist', 'cli.js');
const fixture = (name: string): string => join(here, 'fixtures', name);

let child: ChildProcess | undefined;
afterEach(() => {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
});

function start(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; stderr: () => string; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.stdout!.resume();
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, stderr: () => err, exit };
}

function waitFor(get: () => string, re: RegExp, exit: Promise<unknown>): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = re.exec(get());
      if (m !== null) {
        clearInterval(timer);
        resolve(m);
      }
    }, 10);
    void exit.then(() => {
      clearInterval(timer);
      const m = re.exec(get());
      if (m !== null) resolve(m);
      else reject(new Error(`CLI exited before printing ${re}: ${get()}`));
    });
  });
}

describe('inferkit-gateway CLI', () => {
  test('serves a config file (a runner package, supervise policy) and drains on SIGTERM', async () => {
    const { proc, stderr, exit } = start(['--config', fixture('echo.gateway.json')]);
    const m = await waitFor(stderr, /listening on (http:\/\/127\.0\.0\.1:\d+\/v1) \(models: echo\)/, exit);
    const client = new OpenAI({ baseURL: m[1]!, apiKey: 'unused', maxRetries: 0 });
    const res = await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.choices[0]!.message.content).toBe('Hello from the CLI: hi');
    expect(res.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 5 });
    proc.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stderr()).toContain('SIGTERM: draining');
  });

  test('serves a routed config: lists what clients may call, logs a resumed stream', async () => {
    const { proc, stderr, exit } = start(['--config', fixture('routed.gateway.json')]);
    const m = await waitFor(stderr, /listening on (http:\/\/127\.0\.0\.1:\d+\/v1) \(models: a, chat; route targets only: b\)/, exit);
    const client = new OpenAI({ baseURL: m[1]!, apiKey: 'unused', maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe('Hello world!');
    expect(response.headers.get('x-inferkit-target')).toBe('a');
    await waitFor(stderr, /chat: a stream failed on a \(runtime_crashed\) after 9 characters; resumed on b/, exit);
    proc.kill('SIGTERM');
    expect(await exit).toBe(0);
  });

  test('apiKeysEnv: keys come from the environment; refuses to start when it is empty', async () => {
    const { stderr, exit } = start(['--config', fixture('keys.gateway.json')], { GW_TEST_KEYS: ' k-one , k-two ' });
    const m = await waitFor(stderr, /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/, exit);
    const wrong = new OpenAI({ baseURL: m[1]!, apiKey: 'k-three', maxRetries: 0 });
    const e = await wrong.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] }).then(
      () => null,
      (err: unknown) => err as { status: number },
    );
    expect(e?.status).toBe(401);
    const right = new OpenAI({ baseURL: m[1]!, apiKey: 'k-two', maxRetries: 0 });
    const res = await right.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] });
    expect(res.choices[0]!.message.content).toBe('ok x');
    child!.kill('SIGTERM');
    expect(await exit).toBe(0);

    const empty = start(['--config', fixture('keys.gateway.json')], { GW_TEST_KEYS: '' });
    expect(await empty.exit).toBe(2);
    expect(empty.stderr()).toContain('GW_TEST_KEYS, which is unset or empty');
  });

  test('--port overrides the file; a bad value exits 2', async () => {
    const { stderr, exit } = start(['--config', fixture('echo.gateway.json'), '--port', 'eighty']);
    expect(await exit).toBe(2);
    expect(stderr()).toContain("--port must be an integer from 0 to 65535, got 'eighty'");
  });

  test('a missing runner module is reported with where it was looked up', async () => {
    const { stderr, exit } = start(['--config', fixture('missing-module.gateway.json')]);
    expect(await exit).toBe(1);
    expect(stderr()).toContain("config.models.x.runner: cannot find module '@inferkit/not-installed'");
  });

  test("an option the runner's factory refuses is reported against config.models.<name>.options.<param>", async () => {
    const { stderr, exit } = start(['--config', fixture('bad-option.gateway.json')]);
    expect(await exit).toBe(1);
    expect(stderr()).toContain("config.models.echo.options.prefx: EchoRunner: unknown option 'prefx'");
  });

  test('--allowed-hosts: the named Host is served, others get 403', async () => {
    const { stderr, exit } = start(['--config', fixture('echo.gateway.json'), '--allowed-hosts', 'gw.internal, other.internal']);
    const m = await waitFor(stderr, /listening on http:\/\/127\.0\.0\.1:(\d+)\/v1/, exit);
    const get = (host: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: Number(m[1]), path: '/healthz', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('gw.internal:8080')).toBe(200);
    expect(await get('other.internal')).toBe(200);
    expect(await get('localhost')).toBe(200);
    expect(await get('attacker.example')).toBe(403);
    child!.kill('SIGTERM');
    expect(await exit).toBe(0);
  });

  test('an unusable supervise policy is reported against its config path', async () => {
    const { stderr, exit } = start(['--config', fixture('bad-policy.gateway.json')]);
    expect(await exit).toBe(1);
    expect(stderr()).toContain("config.models.x.supervise: supervise: budget.onExceeded 'throttle' needs serving.maxConcurrent");
  });

  test('no --config, or an unreadable one, exits 2 with usage', async () => {
    const a = start([]);
    expect(await a.exit).toBe(2);
    expect(a.stderr()).toContain('usage: inferkit-gateway --config');
    const b = start(['--config', fixture('nope.json')]);
    expect(await b.exit).toBe(2);
    expect(b.stderr()).toContain('cannot use config');
  });
});
