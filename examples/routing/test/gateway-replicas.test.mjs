// The same deployment from a gateway config: "replicas": 2 of the embedded model on runner-cuda
// (engine processes) and a hosted fallback, routed as one model. Through the OpenAI-compatible
// SSE stream, a replica killed mid-answer leaves the client with one continuous answer.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGateway, loadGatewayModels, parseGatewayConfig } from '@inferkit/gateway';
import { startMockProvider } from '../../shared/mock-provider.mjs';
import { EMBEDDED_MODEL, EngineHold, enginePid } from '../replicas.mjs';

// Runner packages resolve from the config's directory: this example's dependencies.
const CONFIG_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'gateway.json');
const REQUEST = { model: 'chat', messages: [{ role: 'user', content: 'Tell me a story about a dog.' }], max_tokens: 200, temperature: 0 };

let mock;
let loaded;
let gateway;
let base;
let reference;

beforeAll(async () => {
  mock = await startMockProvider({ reply: ['This answer ', 'comes from ', 'the hosted fallback.'] });
  const config = parseGatewayConfig(
    {
      models: {
        local: {
          runner: 'cuda',
          options: { device: 'cpu', engineProcess: 'child', threads: 1 },
          weights: { kind: 'local_path', path: EMBEDDED_MODEL },
          replicas: 2,
        },
        hosted: { runner: 'remote', options: { provider: 'openai-compatible', preset: 'custom', baseUrl: mock.baseUrl }, hidden: true },
        chat: { route: { strategy: 'fallback', targets: ['local', { model: 'hosted', as: 'gpt-4.1-mini' }], resume: { maxResumes: 1 } } },
      },
    },
    CONFIG_FILE,
  );
  loaded = await loadGatewayModels(config);
  await Promise.all(Object.values(loaded.models).map((m) => m.ready));
  gateway = createGateway({ models: loaded.models, logger: () => undefined });
  const addr = await gateway.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${addr.port}`;
  const res = await post(REQUEST);
  expect(res.status).toBe(200);
  const body = await res.json();
  reference = { text: body.choices[0].message.content, completionTokens: body.usage.completion_tokens };
}, 120_000);

afterAll(async () => {
  await gateway?.close();
  await loaded?.close();
  await mock?.close();
});

function post(body) {
  return fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** Reads SSE `data:` payloads from a fetch body; `read` wraps each socket read. */
async function* sse(res, read = (f) => f()) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { done, value } = await read(() => reader.read());
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) !== -1) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (event.startsWith('data: ')) yield event.slice(6);
    }
  }
}

describe('gateway config: replicas of a runner-cuda model behind a route', () => {
  test('lists the routed model and the replicated entry; the replicas show in /healthz', async () => {
    const models = await (await fetch(`${base}/v1/models`)).json();
    expect(models.data.map((m) => m.id)).toEqual(['local', 'chat']);
    const health = await (await fetch(`${base}/healthz`)).json();
    expect(health).toEqual({
      status: 'ok',
      models: { 'local#0': { state: 'ready' }, 'local#1': { state: 'ready' }, hosted: { state: 'ready' }, local: { state: 'ready' }, chat: { state: 'ready' } },
    });
  });

  test('a replica killed mid-stream: one continuous SSE answer, identical to the uninterrupted one, one [DONE]', async () => {
    const pids = Object.fromEntries(['local#0', 'local#1'].map((n) => [n, enginePid(loaded.runners[n])]));
    const hold = new EngineHold(Object.values(pids));
    let target;
    let text = '';
    let usage;
    let done = 0;
    try {
      const res = await hold.while(() => post({ ...REQUEST, stream: true, stream_options: { include_usage: true } }));
      expect(res.status).toBe(200);
      target = res.headers.get('x-inferkit-target');
      expect(['local#0', 'local#1']).toContain(target);
      let deltas = 0;
      let killed = false;
      const read = (f) => (killed ? f() : hold.while(f));
      for await (const data of sse(res, read)) {
        if (data === '[DONE]') {
          done++;
          continue;
        }
        const chunk = JSON.parse(data);
        expect(chunk.error).toBeUndefined();
        const content = chunk.choices[0]?.delta?.content;
        if (content) {
          text += content;
          deltas++;
        }
        if (chunk.usage) usage = chunk.usage;
        if (!killed && deltas >= 20) {
          killed = true;
          hold.kill(pids[target]);
          hold.release();
        }
      }
      expect(killed).toBe(true);
    } finally {
      hold.release();
    }
    expect(text).toBe(reference.text);
    expect(usage.completion_tokens).toBe(reference.completionTokens);
    expect(done).toBe(1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`inferkit_route_target_resume_total{route="local",target="${target}"} 1`);
    expect(metrics).toContain('inferkit_route_target_served_total{route="chat",target="local"} 2');
  }, 120_000);

  test('with both replicas down, the route falls back to the hosted entry under its `as` model id', async () => {
    // A killed replica is rebuilt by its supervisor; wait until both serve again, then kill both.
    await expect
      .poll(async () => (await (await fetch(`${base}/healthz`)).json()).status, { timeout: 60_000, interval: 100 })
      .toBe('ok');
    for (const n of ['local#0', 'local#1']) process.kill(enginePid(loaded.runners[n]), 'SIGKILL');
    const res = await post(REQUEST);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-inferkit-target')).toBe('hosted');
    expect((await res.json()).choices[0].message.content).toBe(mock.reply);
    expect(mock.requests.at(-1).body.model).toBe('gpt-4.1-mini');
  }, 120_000);
});
