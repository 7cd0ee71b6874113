/**
 * Issue #12 (one runner shape) and #13 (continuation), for PythonRunner: the factory, final
 * close, rebuild causes, capabilities per engine, the health view.
 */
import type { ExecuteBatch } from '@inferkit/inference-core';
import { runnerFactoryConformanceCases } from '@inferkit/inference-core/testing';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { PythonRunner } from './python-runner.js';
import type { PythonRunnerOptions } from './python-runner-options.js';
import { runnerFactory } from './runner-factory.js';
import { chatBatch, failure, runnersClosedAfterEach } from './__testing__/runner-fixtures.js';
import { FIXTURES_DIR, scriptedOptions } from './__testing__/scripted-engine.js';

const FAKES = path.resolve(FIXTURES_DIR, '..', 'python', 'fakes');
const newRunner = runnersClosedAfterEach();

const runner = (overrides: Partial<PythonRunnerOptions> = {}): PythonRunner => newRunner(scriptedOptions(overrides));

const batch = (requestId: string, messages: ExecuteBatch['messages'], sampling: ExecuteBatch['sampling'] = {}): ExecuteBatch =>
  chatBatch('m', requestId, messages, sampling);

describe('runnerFactory', () => {
  const cases = runnerFactoryConformanceCases({
    factory: runnerFactory,
    options: scriptedOptions(),
    invalid: [
      { options: { engine: 'not an engine' }, param: 'engine' },
      { options: { engine: 'vllm', startupTimeoutMs: 0 }, param: 'startupTimeoutMs' },
      { options: { engine: 'vllm', maxInFlight: 4 }, param: 'maxInFlight' },
      { options: { engine: 'vllm', livenessIntervalMs: -1 }, param: 'livenessIntervalMs' },
      { options: { engine: 'vllm', onLog: 'console' }, param: 'onLog' },
    ],
  });
  for (const c of cases) test(c.name, c.run);

  test("kind 'python'; the class and the factory build the same runner", () => {
    expect(runnerFactory.kind).toBe('python');
    const made = runnerFactory.create({ engine: 'vllm' }) as PythonRunner;
    expect(made).toBeInstanceOf(PythonRunner);
    expect([made.runtimeKind(), made.transportKind()]).toEqual([new PythonRunner({ engine: 'vllm' }).runtimeKind(), { kind: 'local', device: 'cuda' }]);
  });
});

describe('close() is final', () => {
  test('execute, loadWeights, rebuildSession and ping reject with cancelled; a second close resolves', async () => {
    const r = runner();
    await r.loadWeights({ kind: 'runtime_managed' });
    await r.close();
    for (const call of [
      () => r.execute(batch('x', [{ role: 'user', content: 'hi' }])),
      () => r.loadWeights({ kind: 'runtime_managed' }),
      () => r.rebuildSession('manual'),
      () => r.ping(),
    ]) {
      expect((await failure(call())).kind).toBe('cancelled');
    }
    await r.close();
    expect(r.health()).toMatchObject({ state: 'closed', inFlight: 0 });
  });

  test('close() while the worker is still starting fails the waiting request with cancelled', async () => {
    const r = runner({ engineArgs: { startup_delay: 30 }, shutdownGraceMs: 200 });
    const pending = r.execute(batch('x', [{ role: 'user', content: 'hi' }]));
    const closing = r.close();
    expect((await failure(pending)).kind).toBe('cancelled');
    await closing;
  });
});

describe('rebuildSession', () => {
  test('before any worker exists it is a no-op: nothing is started', async () => {
    const r = runner();
    await r.rebuildSession('manual');
    expect([r.health().state, r.workerPid()]).toEqual(['idle', undefined]);
  });

  test('a cause meant for remote runtimes does nothing, even to a crashed worker', async () => {
    const r = runner();
    await failure((await r.execute(batch('x', [{ role: 'user', content: '!exit 7' }]))).collect());
    expect(r.health().state).toBe('crashed');
    await r.rebuildSession('remote_auth_failure');
    await r.rebuildSession('remote_config_change');
    expect(r.health().state).toBe('crashed');
    await r.rebuildSession('cuda_context_poisoned');
    expect(r.health().state).toBe('ready');
  });

  test('concurrent rebuilds share one replacement worker', async () => {
    const r = runner();
    await r.loadWeights({ kind: 'runtime_managed' });
    const before = r.workerPid();
    await Promise.all([r.rebuildSession('manual'), r.rebuildSession('manual'), r.rebuildSession('cuda_context_poisoned')]);
    const after = r.workerPid();
    expect(after).not.toBe(before);
    expect(r.health()).toMatchObject({ state: 'ready', crashes: 0 });
  });
});

describe('health()', () => {
  test('idle → starting → ready → crashed (with kind and error) → restarting → ready', async () => {
    const r = runner();
    expect(r.health()).toEqual({ state: 'idle', restarting: false, crashes: 0, inFlight: 0 });
    const loading = r.loadWeights({ kind: 'runtime_managed' });
    expect(r.health()).toMatchObject({ state: 'starting', restarting: false });
    await loading;
    const ready = r.health();
    expect(ready).toMatchObject({ state: 'ready', workerPid: r.workerPid() });
    expect(typeof ready.enginePid).toBe('number');
    const err = await failure((await r.execute(batch('x', [{ role: 'user', content: '!exit 7' }]))).collect());
    const crashed = r.health();
    expect(crashed).toMatchObject({ state: 'crashed', crashes: 1, crash: { kind: 'exit' } });
    expect(crashed.crash!.error.kind).toBe('runtime_crashed');
    expect(crashed.crash!.error.details).toEqual(err.details);
    expect(crashed.workerPid).toBeUndefined();
    const rebuilding = r.rebuildSession('manual');
    expect(r.health()).toMatchObject({ state: 'starting', restarting: true, crash: { kind: 'exit' } });
    await rebuilding;
    expect(r.health()).toMatchObject({ state: 'ready', restarting: false, crashes: 1 });
    expect(r.health().crash).toBeUndefined();
  });

  test('an engine that reports itself dead is crash kind engine_dead; a start-up failure is startup and fails fast', async () => {
    const r = runner();
    await failure((await r.execute(batch('x', [{ role: 'user', content: '!fatal' }]))).collect());
    const deadline = Date.now() + 10_000;
    while (r.health().state !== 'crashed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(r.health().crash?.kind).toBe('engine_dead');
    const broken = runner({ engine: 'inferkit_no_such_module:create' });
    const first = await failure(broken.execute(batch('a', [{ role: 'user', content: 'x' }])));
    expect(broken.health()).toMatchObject({ state: 'crashed', crash: { kind: 'startup' } });
    const second = await failure(broken.execute(batch('b', [{ role: 'user', content: 'x' }])));
    expect([second.kind, second.message, second.requestId]).toEqual([first.kind, first.message, 'b']); // no second spawn
  });
});

describe('capabilities', () => {
  const prefix: ExecuteBatch['messages'] = [
    { role: 'user', content: 'one two three four' },
    { role: 'assistant', content: 'echo: one', prefix: true },
  ];

  test('built-in engines before start: what their adapter supports', () => {
    expect(new PythonRunner({ engine: 'vllm' }).capabilities()).toEqual({ responseFormat: true, continuation: true, penalties: true });
    expect(new PythonRunner({ engine: 'transformers' }).capabilities()).toEqual({ continuation: true });
    expect(new PythonRunner({ engine: 'vllm', promptTemplate: () => 'x' }).capabilities()).toEqual({ responseFormat: true, penalties: true });
  });

  test('a custom engine declares nothing until its worker runs; then what its info() says', async () => {
    const r = runner();
    expect(r.capabilities()).toEqual({});
    const refused = await failure(r.execute(batch('c', prefix)));
    expect([refused.kind, refused.details]).toEqual(['bad_request', { param: 'messages[1].prefix' }]);
    expect(r.workerPid()).toBeUndefined(); // refused before anything started
    await r.loadWeights({ kind: 'runtime_managed' });
    expect(r.capabilities()).toEqual({ continuation: true });
    expect((await (await r.execute(batch('c', prefix))).collect()).text).toBe(' two three four ');
    const tools = await failure(r.execute({ ...batch('t', [{ role: 'user', content: 'x' }]), tools: [{ name: 'f', parameters: { type: 'object' } }] }));
    expect([tools.kind, tools.details]).toEqual(['bad_request', { param: 'tools' }]);
  });

  test('content parts reach a text-only engine as strings (core messageText)', async () => {
    const r = runner();
    const tokens = await (await r.execute(batch('p', [{ role: 'user', content: [{ type: 'text', text: 'split ' }, { type: 'text', text: 'parts' }] }]))).collect();
    expect(tokens.text).toBe('echo: split parts ');
  });
});

describe('continuation through the bridge (issue #13): vLLM and transformers adapters with the fake libraries', () => {
  test('vllm: a prefix message is continued; the prompt ends inside the assistant message', async () => {
    const r = newRunner({
      engine: 'vllm', model: '/models/tiny', engineArgs: { max_model_len: 128 }, startupTimeoutMs: 20_000,
      pythonPath: [path.join(FAKES, 'vllm_v1'), FAKES],
    });
    const messages: ExecuteBatch['messages'] = [{ role: 'user', content: 'salut' }, { role: 'assistant', content: 'Bonjour, ça', prefix: true }];
    const tokens = await (await r.execute(batch('v', messages, { temperature: 0 }))).collect();
    expect(tokens.text).toBe(' va? Très bien.');
    // BOS + "<|user|>salut\n<|assistant|>Bonjour, ça": no end of turn, no new generation prompt.
    expect(tokens.usage!.inputTokens).toBe(1 + Buffer.byteLength('<|user|>salut\n<|assistant|>Bonjour, ça'));
    const fresh = await (await r.execute(batch('w', [{ role: 'user', content: 'salut' }]))).collect();
    expect(fresh.text).toBe('Bonjour, ça va? Très bien.');
  });

  test('transformers: a prefix message is continued', async () => {
    const r = newRunner({
      engine: 'transformers', model: '/models/tiny-llama', startupTimeoutMs: 20_000,
      pythonPath: [path.join(FAKES, 'hf'), FAKES],
    });
    const messages: ExecuteBatch['messages'] = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'Héllo wörld,', prefix: true }];
    const tokens = await (await r.execute(batch('t', messages))).collect();
    expect(tokens.text).toBe(' this is a fake model.');
    expect(tokens.usage!.inputTokens).toBe(1 + Buffer.byteLength('<|user|>hi\n<|assistant|>Héllo wörld,'));
  });
});
