import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import type { ExecuteBatch, RouteEvent } from '@inferkit/inference-core';
import { GatewayConfigError, loadGatewayModels, parseGatewayConfig, TARGET_HEADER, type LoadedModels } from '../src/index.js';
import { startGateway, type Harness } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const FIXTURE_CONFIG = join(here, 'fixtures', 'gateway.json');
const SCRIPTED = './runners/scripted-runner.mjs';

interface FixtureRunner {
  label: string;
  calls: ExecuteBatch[];
}
const runners = (): FixtureRunner[] => ((globalThis as { __gatewayScriptedRunners?: FixtureRunner[] }).__gatewayScriptedRunners ??= []);
const runner = (label: string): FixtureRunner => {
  const r = runners().filter((x) => x.label === label);
  if (r.length !== 1) throw new Error(`${r.length} runners labelled ${label}`);
  return r[0]!;
};

const scripted = (label: string, options: Record<string, unknown> = {}, entry: Record<string, unknown> = {}) => ({
  runner: SCRIPTED,
  options: { label, ...options },
  ...entry,
});

let loaded: LoadedModels | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  await loaded?.close();
  loaded = undefined;
  runners().length = 0;
  (globalThis as { __gatewayScriptedFailures?: Map<string, number> }).__gatewayScriptedFailures?.clear();
});

async function serve(models: Record<string, unknown>, events?: Array<[string, RouteEvent]>): Promise<Harness> {
  loaded = await loadGatewayModels(parseGatewayConfig({ models }, FIXTURE_CONFIG), events === undefined ? {} : { onRouteEvent: (m, e) => events.push([m, e]) });
  h = await startGateway({ models: loaded.models });
  return h;
}

function chat(harness: Harness, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${harness.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
}

async function metricsOf(harness: Harness): Promise<(prefix: string) => string | undefined> {
  const text = await (await fetch(`${harness.origin}/metrics`)).text();
  return (series) => text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1);
}

/** The `data:` payloads of an SSE body, in order. */
function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

describe('config: routes and replicas', () => {
  test('a route entry, string and object targets, replicas and hidden are parsed', () => {
    const c = parseGatewayConfig(
      {
        models: {
          'local-qwen': { runner: 'cuda', replicas: 2, hidden: true },
          hosted: { runner: 'remote', options: { provider: 'openai' } },
          chat: {
            route: {
              strategy: 'fallback',
              targets: ['local-qwen', { model: 'hosted', as: 'gpt-4.1-mini', weight: 2, maxConcurrent: 4 }],
              resume: { maxResumes: 1 },
              fallbackOn: ['server_error', 'runtime_crashed'],
              maxCostUsd: 0.01,
              circuitBreaker: { failureThreshold: 3, windowMs: 1000, openDurationMs: 500 },
            },
            contextTokens: 1024,
          },
        },
      },
      FIXTURE_CONFIG,
    );
    expect(c.models['local-qwen']).toMatchObject({ replicas: 2, hidden: true });
    expect(c.models.hosted).toMatchObject({ replicas: 1, hidden: false });
    expect(c.models.chat).toBeUndefined();
    expect(c.routes.chat).toEqual({
      strategy: 'fallback',
      targets: [
        { model: 'local-qwen', as: undefined, weight: undefined, maxConcurrent: undefined },
        { model: 'hosted', as: 'gpt-4.1-mini', weight: 2, maxConcurrent: 4 },
      ],
      resume: { maxResumes: 1 },
      fallbackOn: ['server_error', 'runtime_crashed'],
      maxCostUsd: 0.01,
      circuitBreaker: { failureThreshold: 3, windowMs: 1000, openDurationMs: 500 },
      hidden: false,
      contextTokens: 1024,
      maxPromptChars: undefined,
    });
  });

  const a = { runner: 'cuda' };
  const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['an unknown target', { a, r: { route: { strategy: 'fallback', targets: ['a', 'nope'] } } }, 'config.models.r.route.targets[1]', /names no entry of config.models: 'nope'/],
    ['an unknown target (object form)', { a, r: { route: { strategy: 'fallback', targets: [{ model: 'nope', as: 'x' }] } } }, 'config.models.r.route.targets[0]', /'nope'/],
    ['a route targeting itself', { a, r: { route: { strategy: 'fallback', targets: ['a', 'r'] } } }, 'config.models.r.route.targets[1]', /cycle: r → r/],
    [
      'a route targeting a route targeting it',
      { a, r: { route: { strategy: 'fallback', targets: ['s'] } }, s: { route: { strategy: 'least_loaded', targets: ['a', 'r'] } } },
      'config.models.s.route.targets[1]',
      /cycle: r → s → r/,
    ],
    ['a route with no targets', { a, r: { route: { strategy: 'fallback', targets: [] } } }, 'config.models.r.route.targets', /at least one/],
    ['a route without targets', { a, r: { route: { strategy: 'fallback' } } }, 'config.models.r.route.targets', /at least one/],
    ['a bad strategy', { a, r: { route: { strategy: 'random', targets: ['a'] } } }, 'config.models.r.route.strategy', /'fallback', 'least_loaded', 'cheapest'/],
    ['a negative maxResumes', { a, r: { route: { strategy: 'fallback', targets: ['a'], resume: { maxResumes: -1 } } } }, 'config.models.r.route.resume.maxResumes', /integer from 0/],
    ['resume without maxResumes', { a, r: { route: { strategy: 'fallback', targets: ['a'], resume: {} } } }, 'config.models.r.route.resume.maxResumes', /required/],
    ['a typo in a route', { a, r: { route: { strategy: 'fallback', targets: ['a'], resmue: {} } } }, 'config.models.r.route.resmue', /unknown key/],
    ['a fallbackOn that is not a kind', { a, r: { route: { strategy: 'fallback', targets: ['a'], fallbackOn: ['oops'] } } }, 'config.models.r.route.fallbackOn[0]', /not an error kind/],
    ['a negative maxCostUsd', { a, r: { route: { strategy: 'cheapest', targets: ['a'], maxCostUsd: -1 } } }, 'config.models.r.route.maxCostUsd', />= 0/],
    ['a target listed twice', { a, r: { route: { strategy: 'fallback', targets: ['a', { model: 'a', as: 'b' }] } } }, 'config.models.r.route.targets[1]', /already a target/],
    ['a target weight of 0', { a, r: { route: { strategy: 'fallback', targets: [{ model: 'a', weight: 0 }] } } }, 'config.models.r.route.targets[0].weight', /> 0/],
    ['`as` on a route target', { a, s: { route: { strategy: 'fallback', targets: ['a'] } }, r: { route: { strategy: 'fallback', targets: [{ model: 's', as: 'x' }] } } }, 'config.models.r.route.targets[0].as', /is a route/],
    ['runner and route at once', { a, r: { runner: 'cuda', route: { strategy: 'fallback', targets: ['a'] } } }, 'config.models.r', /both "runner" and "route"/],
    ['runner keys on a route', { a, r: { route: { strategy: 'fallback', targets: ['a'] }, supervise: {} } }, 'config.models.r.supervise', /unknown key/],
    ['replicas 0', { a: { runner: 'cuda', replicas: 0 } }, 'config.models.a.replicas', /integer from 1 to 64/],
    ['replicas 65', { a: { runner: 'cuda', replicas: 65 } }, 'config.models.a.replicas', /integer from 1 to 64/],
    ['an entry named like a replica', { a: { runner: 'cuda', replicas: 2 }, 'a#1': { runner: 'cuda' } }, 'config.models.a#1', /replica of 'a'/],
    ['a hidden entry no route targets', { a: { runner: 'cuda', hidden: true } }, 'config.models.a.hidden', /no route targets this entry/],
    ['a hidden route no route targets', { a, r: { route: { strategy: 'fallback', targets: ['a'] }, hidden: true } }, 'config.models.r.hidden', /nothing could reach it/],
    ['hidden not a boolean', { a: { runner: 'cuda', hidden: 'yes' } }, 'config.models.a.hidden', /true or false/],
  ];
  for (const [name, models, path, message] of bad) {
    test(`refuses ${name} at ${path}`, () => {
      let err: unknown;
      try {
        parseGatewayConfig({ models }, FIXTURE_CONFIG);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayConfigError);
      expect((err as GatewayConfigError).path).toBe(path);
      expect((err as GatewayConfigError).message).toMatch(message);
    });
  }

  test("what route() itself refuses (a circuit breaker it cannot use) is a config error at the route, and closes the runners", async () => {
    const err = await loadGatewayModels(
      parseGatewayConfig({ models: { a: scripted('a'), r: { route: { strategy: 'fallback', targets: ['a'], circuitBreaker: { failureThreshold: 0, windowMs: 1, openDurationMs: 1 } } } } }, FIXTURE_CONFIG),
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayConfigError);
    expect((err as GatewayConfigError).path).toBe('config.models.r.route');
  });
});

describe('gateway: a routed model over two entries', () => {
  test('one target fails before its first chunk: fallback, x-inferkit-target names the other, per-target counters', async () => {
    const events: Array<[string, RouteEvent]> = [];
    const harness = await serve(
      {
        a: scripted('a', { failWith: 'server_error' }),
        b: scripted('b', { reply: ['from ', 'b'] }, { runnerModel: 'b-model' }),
        chat: { route: { strategy: 'fallback', targets: ['a', 'b'] } },
      },
      events,
    );
    const res = await chat(harness, { model: 'chat' });
    expect(res.status).toBe(200);
    expect(res.headers.get(TARGET_HEADER)).toBe('b');
    expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('from b');
    // Each target receives its own model id: runnerModel, else its name.
    expect(runner('a').calls[0]!.model).toBe('a');
    expect(runner('b').calls[0]!.model).toBe('b-model');
    expect(events.map(([m, e]) => [m, e.type])).toEqual([
      ['chat', 'routed'],
      ['chat', 'failover'],
      ['chat', 'routed'],
    ]);
    // Direct requests to an entry name its own runner.
    const direct = await chat(harness, { model: 'b' });
    expect(direct.headers.get(TARGET_HEADER)).toBe('b');
    await direct.arrayBuffer();

    const m = await metricsOf(harness);
    expect(m('inferkit_route_target_failover_total{route="chat",target="a"}')).toBe('1');
    expect(m('inferkit_route_target_failover_total{route="chat",target="b"}')).toBe('0');
    expect(m('inferkit_route_target_failed_total{route="chat",target="a"}')).toBe('1');
    expect(m('inferkit_route_target_served_total{route="chat",target="b"}')).toBe('1');
    expect(m('inferkit_route_target_served_total{route="chat",target="a"}')).toBe('0');
    expect(m('inferkit_route_target_resume_total{route="chat",target="a"}')).toBe('0');
    expect(m('inferkit_route_target_in_flight{route="chat",target="b"}')).toBe('0');
    expect(m('inferkit_route_target_open{route="chat",target="a"}')).toBe('0');
    expect(m('inferkit_route_waiting{route="chat"}')).toBe('0');
    expect(m('inferkit_gateway_requests_total{model="chat",stream="false",status="200"}')).toBe('1');
  });

  test('/v1/models lists routes and entries; a hidden entry is neither listed nor served by name, but serves as a target', async () => {
    const harness = await serve({
      a: scripted('a', { reply: ['A'] }, { hidden: true }),
      b: scripted('b'),
      chat: { route: { strategy: 'fallback', targets: ['a', 'b'] } },
      internal: { route: { strategy: 'fallback', targets: ['b'] }, hidden: true },
      outer: { route: { strategy: 'fallback', targets: ['internal'] } },
    });
    const list = (await (await fetch(`${harness.baseURL}/models`)).json()) as { data: Array<{ id: string }> };
    expect(list.data.map((d) => d.id).sort()).toEqual(['b', 'chat', 'outer']);
    for (const name of ['a', 'internal']) {
      const res = await chat(harness, { model: name });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
      expect((await fetch(`${harness.baseURL}/models/${name}`)).status).toBe(404);
    }
    const res = await chat(harness, { model: 'chat' });
    expect(res.headers.get(TARGET_HEADER)).toBe('a');
    expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('A');
    // /healthz still reports every entry, hidden ones included.
    const health = (await (await fetch(`${harness.origin}/healthz`)).json()) as { models: Record<string, unknown> };
    expect(Object.keys(health.models).sort()).toEqual(['a', 'b', 'chat', 'internal', 'outer']);
  });

  test('a stream that dies mid-answer is resumed through the SSE stream: continuous text, one [DONE], one resume counted', async () => {
    const events: Array<[string, RouteEvent]> = [];
    const harness = await serve(
      {
        a: scripted('a', { reply: ['Hello', ' wor', 'ld!'], failWith: 'runtime_crashed', failAfter: 2 }),
        b: scripted('b', { reply: ['ld', '!'], continuation: true }),
        hosted: scripted('hosted', { reply: ['never'] }),
        chat: { route: { strategy: 'fallback', targets: ['a', 'b', { model: 'hosted', as: 'gpt-4.1-mini' }], resume: { maxResumes: 1 } } },
      },
      events,
    );
    const res = await chat(harness, { model: 'chat', stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    // Headers leave with the first chunk: the target the answer began on.
    expect(res.headers.get(TARGET_HEADER)).toBe('a');
    const data = sseData(await res.text());
    expect(data.filter((d) => d === '[DONE]')).toHaveLength(1);
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage?: { completion_tokens: number } });
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello world!');
    expect(chunks.filter((c) => c.choices[0]?.finish_reason != null).map((c) => c.choices[0]!.finish_reason)).toEqual(['stop']);
    // Usage summed over both attempts: the 2 chunks a delivered and b's 2.
    expect(chunks.at(-1)!.usage!.completion_tokens).toBe(4);
    expect(runner('b').calls[0]!.messages.at(-1)).toEqual({ role: 'assistant', content: 'Hello wor', prefix: true });
    expect(runner('hosted').calls).toHaveLength(0);
    const resumed = events.filter(([, e]) => e.type === 'resumed');
    expect(resumed).toHaveLength(1);
    expect(resumed[0]![1]).toMatchObject({ from: 'a', to: 'b', resume: 1, deliveredChars: 9 });
    const m = await metricsOf(harness);
    expect(m('inferkit_route_target_resume_total{route="chat",target="a"}')).toBe('1');
    expect(m('inferkit_route_target_served_total{route="chat",target="b"}')).toBe('1');
    expect(m('inferkit_route_target_failed_total{route="chat",target="a"}')).toBe('1');
    expect(m('inferkit_route_target_in_flight{route="chat",target="a"}')).toBe('0');
    expect(m('inferkit_gateway_requests_total{model="chat",stream="true",status="200"}')).toBe('1');
  });

  test('`as` sends another model id to the target; a route over a route names the leaf target', async () => {
    const harness = await serve({
      a: scripted('a', { failWith: 'rate_limited' }),
      hosted: scripted('hosted', { reply: ['H'] }),
      inner: { route: { strategy: 'fallback', targets: ['a', { model: 'hosted', as: 'gpt-4.1-mini' }] } },
      outer: { route: { strategy: 'fallback', targets: ['inner'] } },
    });
    const res = await chat(harness, { model: 'outer' });
    expect(res.headers.get(TARGET_HEADER)).toBe('hosted');
    await res.arrayBuffer();
    expect(runner('hosted').calls[0]!.model).toBe('gpt-4.1-mini');
    const m = await metricsOf(harness);
    expect(m('inferkit_route_target_served_total{route="outer",target="inner"}')).toBe('1');
    expect(m('inferkit_route_target_served_total{route="inner",target="hosted"}')).toBe('1');
    expect(m('inferkit_route_target_failover_total{route="inner",target="a"}')).toBe('1');
  });

  test('when every target fails the client gets the last error; the route is down in /healthz only when no target is ready', async () => {
    const harness = await serve({
      a: scripted('a', { failWith: 'server_error' }),
      b: scripted('b', { failWith: 'rate_limited' }),
      chat: { route: { strategy: 'fallback', targets: ['a', 'b'] } },
    });
    const res = await chat(harness, { model: 'chat' });
    expect(res.status).toBe(429);
    expect(res.headers.get(TARGET_HEADER)).toBeNull();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    const health = await (await fetch(`${harness.origin}/healthz`)).json();
    expect(health).toEqual({ status: 'ok', models: { a: { state: 'ready' }, b: { state: 'ready' }, chat: { state: 'ready' } } });
  });
});

describe('gateway: replicas', () => {
  test('"replicas": 2 creates two runners served least-loaded as one model; each replica shows in /healthz, hidden from /v1/models', async () => {
    const harness = await serve({ local: scripted('local', { reply: ['x'] }, { replicas: 2 }) });
    expect(runners()).toHaveLength(2);
    // The runners as created, by replica name.
    expect(Object.keys(loaded!.runners)).toEqual(['local#0', 'local#1']);
    expect(Object.values(loaded!.runners)).toEqual(runners());
    const targets: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await chat(harness, { model: 'local' });
      expect(res.status).toBe(200);
      targets.push(res.headers.get(TARGET_HEADER)!);
      await res.arrayBuffer();
    }
    // Idle replicas are equally loaded: round robin between them.
    expect(targets.sort()).toEqual(['local#0', 'local#0', 'local#1', 'local#1']);
    expect(runners().map((r) => r.calls.length)).toEqual([2, 2]);
    // Each copy receives the entry's model id.
    expect(runners().map((r) => r.calls[0]!.model)).toEqual(['local', 'local']);
    const list = (await (await fetch(`${harness.baseURL}/models`)).json()) as { data: Array<{ id: string }> };
    expect(list.data.map((d) => d.id)).toEqual(['local']);
    expect((await chat(harness, { model: 'local#0' })).status).toBe(404);
    const health = (await (await fetch(`${harness.origin}/healthz`)).json()) as { models: Record<string, unknown> };
    expect(health.models).toEqual({ 'local#0': { state: 'ready' }, 'local#1': { state: 'ready' }, local: { state: 'ready' } });
    const m = await metricsOf(harness);
    expect(m('inferkit_route_target_served_total{route="local",target="local#0"}')).toBe('2');
  });

  test('a replica that dies mid-answer is resumed on the other copy', async () => {
    const events: Array<[string, RouteEvent]> = [];
    const harness = await serve({ local: scripted('local', { reply: ['one ', 'two ', 'three'], failWith: 'runtime_crashed', failAfter: 1, failures: 1, continuation: true }, { replicas: 2 }) }, events);
    const res = await chat(harness, { model: 'local' });
    expect(res.status).toBe(200);
    const first = res.headers.get(TARGET_HEADER);
    expect(['local#0', 'local#1']).toContain(first);
    // The continuation replays the script's chunks: the point is one answer, resumed once.
    expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('one one two three');
    expect(events.filter(([, e]) => e.type === 'resumed').map(([m, e]) => [m, (e as { from: string }).from])).toEqual([['local', first]]);
  });
});
