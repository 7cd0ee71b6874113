import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import type { SuperviseEvent } from '@inferkit/inference-core';
import { SupervisedRunner } from '@inferkit/inference-core';
import {
  DEFAULT_REBUILD_POLICY,
  GatewayConfigError,
  loadGatewayModels,
  parseGatewayConfig,
  RUNNER_ALIASES,
  type LoadedModels,
} from '../src/index.js';
import { startGateway, type Harness } from './helpers.js';

const FILE = '/srv/app/gateway.json';
const here = dirname(fileURLToPath(import.meta.url));
// Configs in the fixtures folder resolve their runner modules from there.
const FIXTURE_CONFIG = join(here, 'fixtures', 'gateway.json');
const CRASHING = './runners/crashing-runner.mjs';

interface FixtureRunner {
  rebuilds: string[];
  closed: boolean;
  rateLimitListeners: Set<unknown>;
}
const fixtureRunners = (): FixtureRunner[] => ((globalThis as { __gatewayFixtureRunners?: FixtureRunner[] }).__gatewayFixtureRunners ??= []);

function configError(fn: () => unknown): GatewayConfigError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(GatewayConfigError);
  return err as GatewayConfigError;
}

async function loadError(doc: unknown): Promise<GatewayConfigError> {
  const err = await loadGatewayModels(parseGatewayConfig(doc, FIXTURE_CONFIG)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayConfigError);
  return err as GatewayConfigError;
}

let loaded: LoadedModels | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  await loaded?.close();
  loaded = undefined;
  fixtureRunners().length = 0;
});

describe('parseGatewayConfig', () => {
  test('fills defaults, resolves aliases and relative weight paths, keeps options as written', () => {
    const c = parseGatewayConfig(
      {
        allowedHosts: ['gw.internal'],
        models: {
          tiny: { runner: 'cuda', weights: { kind: 'local_path', path: '../models/tiny', file: 'tiny.gguf' }, supervise: { serving: { maxConcurrent: 2 } }, contextTokens: 2048 },
          gpt: { runner: 'remote', options: { provider: 'openai', apiKey: { env: 'OPENAI_API_KEY' } }, runnerModel: 'gpt-4o-mini' },
          echo: { runner: '@inferkit/example-custom-runner', options: { prefix: '>' }, maxPromptChars: 10_000 },
          local: { runner: { module: './my-runner.mjs', export: 'myFactory' }, supervise: false },
          plain: { runner: './my-runner.mjs' },
        },
      },
      FILE,
    );
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8080, baseDir: '/srv/app', allowedHosts: ['gw.internal'] });
    expect(c.models.tiny).toMatchObject({
      runner: { module: RUNNER_ALIASES.cuda, export: 'runnerFactory' },
      weights: { kind: 'local_path', path: resolve('/srv/models/tiny'), file: 'tiny.gguf' },
      supervise: { serving: { maxConcurrent: 2 } },
      contextTokens: 2048,
      options: undefined,
    });
    expect(c.models.gpt).toMatchObject({ runner: { module: '@inferkit/runner-remote', export: 'runnerFactory' }, options: { provider: 'openai', apiKey: { env: 'OPENAI_API_KEY' } }, runnerModel: 'gpt-4o-mini' });
    expect(c.models.echo).toMatchObject({ runner: { module: '@inferkit/example-custom-runner', export: 'runnerFactory' }, maxPromptChars: 10_000 });
    expect(c.models.local).toMatchObject({ runner: { module: './my-runner.mjs', export: 'myFactory' }, supervise: false });
    expect(c.models.plain!.runner).toEqual({ module: './my-runner.mjs', export: 'runnerFactory' });
    expect(RUNNER_ALIASES).toEqual({ cuda: '@inferkit/runner-cuda', python: '@inferkit/runner-python', remote: '@inferkit/runner-remote' });
  });

  const bad: Array<[string, unknown, string, RegExp?]> = [
    ['not an object', [], 'config'],
    ['no models', { models: {} }, 'config.models'],
    ['typo at top level', { prot: 1, models: { a: { runner: 'cuda' } } }, 'config.prot'],
    ['port out of range', { port: 70000, models: { a: { runner: 'cuda' } } }, 'config.port'],
    ['allowedHosts not strings', { allowedHosts: [1], models: { a: { runner: 'cuda' } } }, 'config.allowedHosts'],
    ['runner missing', { models: { a: {} } }, 'config.models.a.runner'],
    ['runner empty', { models: { a: { runner: '' } } }, 'config.models.a.runner'],
    ['a reference without module', { models: { a: { runner: { export: 'x' } } } }, 'config.models.a.runner.module'],
    ['a reference with a typo', { models: { a: { runner: { module: 'x', exprot: 'y' } } } }, 'config.models.a.runner.exprot'],
    ['the old openai kind', { models: { a: { runner: 'openai' } } }, 'config.models.a.runner', /"runner": "remote", "options": \{ "provider": "openai"/],
    ['the old anthropic kind', { models: { a: { runner: 'anthropic' } } }, 'config.models.a.runner', /"provider": "anthropic"/],
    ['the test double', { models: { a: { runner: 'scripted' } } }, 'config.models.a.runner', /not a config kind/],
    ['bad weights kind', { models: { a: { runner: 'cuda', weights: { kind: 'ftp' } } } }, 'config.models.a.weights.kind'],
    ['weights path missing', { models: { a: { runner: 'cuda', weights: { kind: 'local_path' } } } }, 'config.models.a.weights.path'],
    ['unknown model key', { models: { a: { runner: 'cuda', wieghts: {} } } }, 'config.models.a.wieghts'],
    ['supervise not an object', { models: { a: { runner: 'cuda', supervise: 3 } } }, 'config.models.a.supervise'],
    ['supervise typo', { models: { a: { runner: 'cuda', supervise: { retires: {} } } } }, 'config.models.a.supervise.retires'],
    ['supervise rebuild not an object', { models: { a: { runner: 'cuda', supervise: { rebuild: true } } } }, 'config.models.a.supervise.rebuild'],
    ['contextTokens zero', { models: { a: { runner: 'cuda', contextTokens: 0 } } }, 'config.models.a.contextTokens'],
  ];
  for (const [name, doc, path, message] of bad) {
    test(`rejects ${name} at ${path}`, () => {
      const err = configError(() => parseGatewayConfig(doc, FILE));
      expect(err.path).toBe(path);
      if (message !== undefined) expect(err.message).toMatch(message);
    });
  }
});

describe('loadGatewayModels: runners come from their package’s runnerFactory', () => {
  test('the example custom runner package, options handed to create as written', async () => {
    loaded = await loadGatewayModels(parseGatewayConfig({ models: { echo: { runner: '@inferkit/example-custom-runner', options: { prefix: 'Echo:' } } } }, FIXTURE_CONFIG));
    h = await startGateway({ models: loaded.models });
    const res = await h.client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hello there' }] });
    expect(res.choices[0]!.message.content).toBe('Echo: hello there');
  });

  test("an option the factory refuses is a config error naming config.models.<name>.options.<param>", async () => {
    const unknown = await loadError({ models: { echo: { runner: '@inferkit/example-custom-runner', options: { prefx: 'x' } } } });
    expect(unknown.path).toBe('config.models.echo.options.prefx');
    expect(unknown.message).toMatch(/unknown option 'prefx'/);
    const wrongType = await loadError({ models: { echo: { runner: '@inferkit/example-custom-runner', options: { wordDelayMs: 'slow' } } } });
    expect(wrongType.path).toBe('config.models.echo.options.wordDelayMs');
    const notObject = await loadError({ models: { echo: { runner: '@inferkit/example-custom-runner', options: 'x' } } });
    expect(notObject.path).toBe('config.models.echo.options');
  });

  test('a file path and a named export ({ module, export })', async () => {
    loaded = await loadGatewayModels(
      parseGatewayConfig({ models: { a: { runner: CRASHING, supervise: false }, b: { runner: { module: CRASHING, export: 'labelledFactory' }, supervise: false } } }, FIXTURE_CONFIG),
    );
    h = await startGateway({ models: loaded.models });
    expect((await h.client.chat.completions.create({ model: 'a', messages: [{ role: 'user', content: 'x' }] })).choices[0]!.message.content).toBe('ok');
    expect((await h.client.chat.completions.create({ model: 'b', messages: [{ role: 'user', content: 'x' }] })).choices[0]!.message.content).toBe('labelled');
  });

  test('a module without a RunnerFactory, a missing module, a failing create (redacted) are config errors', async () => {
    const notFactory = await loadError({ models: { a: { runner: { module: CRASHING, export: 'notAFactory' } } } });
    expect(notFactory.path).toBe('config.models.a.runner');
    expect(notFactory.message).toMatch(/does not export a RunnerFactory \(\{ kind, create \}\) named 'notAFactory'/);
    const missing = await loadError({ models: { a: { runner: '@inferkit/not-installed' } } });
    expect(missing.message).toMatch(/cannot find module '@inferkit\/not-installed'/);
    process.env.GATEWAY_FIXTURE_TOKEN = 'fixture-secret-1234';
    try {
      const failing = await loadError({ models: { a: { runner: './runners/throwing-factory.mjs' } } });
      expect(failing.path).toBe('config.models.a.runner');
      expect(failing.message).toMatch(/custom:throwing: cannot create the runner: cannot reach the engine/);
      expect(failing.message).not.toContain('fixture-secret-1234');
    } finally {
      delete process.env.GATEWAY_FIXTURE_TOKEN;
    }
  });

  test('runners created before a failing one are closed', async () => {
    await loadError({ models: { a: { runner: CRASHING }, b: { runner: CRASHING, options: { nope: 1 } } } });
    expect(fixtureRunners()).toHaveLength(1);
    expect(fixtureRunners()[0]!.closed).toBe(true);
  });

  test('an unusable supervise policy is reported against its config path', async () => {
    const err = await loadError({ models: { a: { runner: CRASHING, supervise: { rebuild: { maxRebuilds: 0, windowMs: 1000 } } } } });
    expect(err.path).toBe('config.models.a.supervise');
    expect(err.message).toMatch(/rebuild\.maxRebuilds must be an integer >= 1/);
    expect(fixtureRunners()[0]!.closed).toBe(true);
  });

  test("supervise subscribes to the runner's own rate-limit feedback (observeRateLimits) through the config", async () => {
    loaded = await loadGatewayModels(parseGatewayConfig({ models: { a: { runner: CRASHING, supervise: { rateLimits: { maxConcurrent: 4 } } } } }, FIXTURE_CONFIG));
    expect(loaded.models.a!.runner).toBeInstanceOf(SupervisedRunner);
    expect(fixtureRunners()[0]!.rateLimitListeners.size).toBe(1);
  });
});

describe('self-healing: local runners are supervised with automatic rebuilds by default (#11.8)', () => {
  test('default: a local runner gets DEFAULT_REBUILD_POLICY, a remote one is served as created', async () => {
    loaded = await loadGatewayModels(parseGatewayConfig({ models: { local: { runner: CRASHING }, far: { runner: CRASHING, options: { transport: 'remote' } } } }, FIXTURE_CONFIG));
    expect(loaded.models.local!.runner).toBeInstanceOf(SupervisedRunner);
    expect(loaded.models.far!.runner).not.toBeInstanceOf(SupervisedRunner);
    expect(DEFAULT_REBUILD_POLICY).toEqual({ maxRebuilds: 3, windowMs: 600_000 });
  });

  test('security-11.8: a crashed local model is rebuilt, /healthz follows (rebuilding, then ready), the client never sees internals', async () => {
    const events: SuperviseEvent[] = [];
    loaded = await loadGatewayModels(parseGatewayConfig({ models: { py: { runner: CRASHING, options: { crashes: 1 } } } }, FIXTURE_CONFIG), {
      onEvent: (_, e) => events.push(e),
    });
    h = await startGateway({ models: loaded.models });
    const first = await fetch(`${h.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'py', messages: [{ role: 'user', content: 'x' }] }),
    });
    // The crash is healed behind the request: either it was retried after the rebuild, or it
    // failed with the crash and the next one finds the worker back.
    expect([200, 503]).toContain(first.status);
    await first.arrayBuffer();
    const runner = fixtureRunners()[0]!;
    expect(runner.rebuilds).toEqual(['manual']);
    expect(events.filter((e) => e.type.startsWith('rebuild_')).map((e) => e.type)).toEqual(['rebuild_started', 'rebuild_finished']);
    const res = await h.client.chat.completions.create({ model: 'py', messages: [{ role: 'user', content: 'x' }] });
    expect(res.choices[0]!.message.content).toBe('ok');
    const health = await fetch(`${h.origin}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', models: { py: { state: 'ready' } } });
    // Transitions were logged: down while rebuilding, up after.
    expect(h.logs.filter((r) => r.event === 'model_down' || r.event === 'model_up').map((r) => r.event)).toEqual(['model_down', 'model_up']);
  });

  test('security-11.8: with "rebuild": false nothing rebuilds the crashed model and /healthz reports it down', async () => {
    loaded = await loadGatewayModels(parseGatewayConfig({ models: { py: { runner: CRASHING, options: { crashes: 1 }, supervise: { rebuild: false } } } }, FIXTURE_CONFIG));
    h = await startGateway({ models: loaded.models });
    for (let i = 0; i < 2; i++) {
      const e = await h.client.chat.completions.create({ model: 'py', messages: [{ role: 'user', content: 'x' }] }).then(
        () => null,
        (err: unknown) => err as { status: number; code: string },
      );
      expect(e).toMatchObject({ status: 503, code: 'runtime_crashed' });
    }
    expect(fixtureRunners()[0]!.rebuilds).toEqual([]);
    const health = await fetch(`${h.origin}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'degraded', models: { py: { state: 'down', reason: 'runtime_crashed' } } });
  });

  test('security-11.8: past maxRebuilds the model stays down (rebuilds_gave_up) in /healthz', async () => {
    loaded = await loadGatewayModels(
      parseGatewayConfig({ models: { py: { runner: CRASHING, options: { crashes: 100 }, supervise: { rebuild: { maxRebuilds: 1, windowMs: 60_000 } } } } }, FIXTURE_CONFIG),
    );
    h = await startGateway({ models: loaded.models });
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${h.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'py', messages: [{ role: 'user', content: 'x' }] }),
      });
      expect(res.status).toBe(503);
      await res.arrayBuffer();
    }
    expect(fixtureRunners()[0]!.rebuilds).toEqual(['manual']);
    const health = await fetch(`${h.origin}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'degraded', models: { py: { state: 'down', reason: 'rebuilds_gave_up' } } });
  });
});
