/**
 * The built-in adapters end to end — Node → worker → adapter — with the FAKE vllm and
 * transformers packages of test/python/fakes on the worker's PYTHONPATH (the real libraries
 * cannot be installed here; the GPU check runs the real transformers).
 */
import type { ExecuteBatch } from '@inferkit/inference-core';
import path from 'node:path';
import { expect, test } from 'vitest';
import type { PythonRunner } from './python-runner.js';
import type { PythonRunnerOptions } from './python-runner-options.js';
import { chatBatch, failure, runnersClosedAfterEach } from './__testing__/runner-fixtures.js';
import { FIXTURES_DIR } from './__testing__/scripted-engine.js';

const FAKES = path.resolve(FIXTURES_DIR, '..', 'python', 'fakes');
const newRunner = runnersClosedAfterEach();

const runner = (options: PythonRunnerOptions): PythonRunner => newRunner({ startupTimeoutMs: 20_000, ...options });

const batch = (requestId: string, content: string, sampling: ExecuteBatch['sampling'] = {}): ExecuteBatch => chatBatch('tiny', requestId, content, sampling);

test('vllm: chat streaming, usage, and vLLM errors as InferenceError kinds', async () => {
  const r = runner({
    engine: 'vllm',
    engineArgs: { max_model_len: 64, tensor_parallel_size: 1 },
    pythonPath: [path.join(FAKES, 'vllm_v1'), FAKES],
  });
  expect(r.runtimeKind()).toBe('vllm');
  await r.loadWeights({ kind: 'local_path', path: '/models/tiny' });
  expect(r.engineInfo()).toEqual({
    name: 'vllm', model: '/models/tiny', maxContext: 64, chatTemplate: true, device: null,
    capabilities: { responseFormat: true, continuation: true, penalties: true },
  });
  expect(r.capabilities()).toEqual({ responseFormat: true, continuation: true, penalties: true });
  const tokens = await (await r.execute(batch('a', 'salut', { temperature: 0 }))).collect();
  expect(tokens.text).toBe('Bonjour, ça va? Très bien.');
  expect(tokens.finishReason).toBe('stop');
  expect(tokens.usage!.outputTokens).toBe(Buffer.byteLength('Bonjour, ça va? Très bien.') + 1);
  const long = await failure((await r.execute(batch('b', 'x'.repeat(100)))).collect());
  expect(long.kind).toBe('context_length_exceeded');
  expect(long.details).toMatchObject({ maxContextTokens: 64 });
  const bad = await failure((await r.execute(batch('c', 'x', { temperature: 5 }))).collect());
  expect([bad.kind, bad.details]).toEqual(['bad_request', { param: 'temperature' }]);
});

test('vllm: parallelism beyond the node without Ray is refused at start-up', async () => {
  const r = runner({
    engine: 'vllm',
    model: '/models/tiny',
    engineArgs: { tensor_parallel_size: 2 },
    pythonPath: [path.join(FAKES, 'vllm_v1'), FAKES],
  });
  const err = await failure(r.loadWeights({ kind: 'runtime_managed' }));
  expect(err.kind).toBe('bad_request');
  expect(err.message).toContain('World size (2) is larger than the number of available GPUs (1)');
});

test('transformers: chat streaming keeps multi-byte characters whole', async () => {
  const r = runner({
    engine: 'transformers',
    model: '/models/tiny-llama',
    pythonPath: [path.join(FAKES, 'hf'), FAKES],
    env: { FAKE_HF_STEP_DELAY: '0.001' }, // one token per millisecond, like a (fast) real model
  });
  expect(r.runtimeKind()).toBe('python:transformers');
  const chunks = [];
  for await (const chunk of await r.execute(batch('t', 'hi'))) chunks.push(chunk);
  expect(chunks.map((c) => c.textDelta).join('')).toBe('Héllo wörld, this is a fake model.');
  expect(chunks.some((c) => c.textDelta.includes('\ufffd'))).toBe(false);
  expect(r.transportKind()).toEqual({ kind: 'local', device: 'cpu' });
});
