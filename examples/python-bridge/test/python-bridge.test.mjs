import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { runnerConformanceCases, runnerFactoryConformanceCases } from '@inferkit/inference-core/testing';
import { wordEngineRunner } from '../custom-engine.mjs';
import { vllmRunnerOptions } from '../vllm.mjs';
import { PythonRunner, runnerFactory } from '@inferkit/runner-python';
import { runProgram } from '../../shared/run-program.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const run = (script, args = [], env = {}) => runProgram(join(here, '..', script), args, { env: { ...process.env, ...env } });

describe('custom Python engine (engines/word_engine.py) through PythonRunner', () => {
  test('custom-engine.mjs streams the engine reply', async () => {
    const r = await run('custom-engine.mjs', ['How are you?']);
    expect(r.stderr).toContain('runtime: python:word_engine, tokens: 3 in / 8 out');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello from Python! You said: How are you?\n');
  }, 60_000);

  test('the engine declares continuation once it runs, and continues an assistant message', async () => {
    const runner = wordEngineRunner();
    try {
      expect(runner.capabilities()).toEqual({}); // a custom engine says what it can do when it starts
      await runner.loadWeights({ kind: 'runtime_managed' });
      expect(runner.capabilities()).toEqual({ continuation: true });
      const tokens = await (
        await runner.execute({
          requestId: 'c',
          model: 'word-engine',
          messages: [
            { role: 'user', content: 'How are you?' },
            { role: 'assistant', content: 'Hello from Python! You said:', prefix: true },
          ],
          stream: true,
          estimatedTokens: 16,
        })
      ).collect();
      expect(tokens.text).toBe(' How are you?');
      let refused;
      try {
        await runner.execute({ requestId: 't', model: 'word-engine', messages: [{ role: 'user', content: 'x' }], tools: [{ name: 'f', parameters: { type: 'object' } }] });
      } catch (e) {
        refused = e;
      }
      expect(InferenceError.isInstance(refused) && refused.kind === 'bad_request').toBe(true);
    } finally {
      await runner.close();
    }
  }, 60_000);

  for (const c of runnerFactoryConformanceCases({ factory: runnerFactory, options: { engine: 'word_engine:create' }, invalid: [{ options: { engine: 'word_engine:create', pythonPath: 'engines' }, param: 'pythonPath' }] })) {
    test(`factory ${c.name}`, c.run);
  }

  // The engine template meets the same contract as every runner in the repo. The worker is
  // started first, so the engine's declaration (continuation) is what the cases check.
  const cases = runnerConformanceCases({
    create: async () => {
      const runner = wordEngineRunner();
      await runner.loadWeights({ kind: 'runtime_managed' });
      return runner;
    },
    capabilities: {
      batch: (requestId) => ({
        requestId,
        model: 'word-engine',
        messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten eleven twelve' }],
        sampling: { maxTokens: 12 },
        stream: true,
        estimatedTokens: 24,
      }),
      timeoutMs: 30_000,
    },
  });
  for (const c of cases) test(`conformance ${c.name}`, c.run, 60_000);
});

describe('vLLM configuration', () => {
  test('maps tensor / pipeline parallel and Ray to AsyncEngineArgs names', () => {
    const o = vllmRunnerOptions({ model: 'meta-llama/Llama-3.1-70B-Instruct', tp: 8, pp: 2, ray: true });
    expect(o.engine).toBe('vllm');
    expect(o.engineArgs).toEqual({
      tensor_parallel_size: 8,
      pipeline_parallel_size: 2,
      distributed_executor_backend: 'ray',
      max_model_len: 8192,
      gpu_memory_utilization: 0.9,
    });
    expect(vllmRunnerOptions({ model: 'm' }).engineArgs).not.toHaveProperty('distributed_executor_backend');
    expect(new PythonRunner(o).runtimeKind()).toBe('vllm');
  });

  test('without vLLM installed the example fails with a typed error naming the missing module', async () => {
    const r = await run('vllm.mjs', ['--model', 'Qwen/Qwen3-0.6B']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/vLLM error \((not_found|runtime_crashed|internal)\): .*vllm/i);
  }, 60_000);
});
