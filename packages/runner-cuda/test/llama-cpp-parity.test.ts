import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Llama, LlamaModel } from 'node-llama-cpp';
import { CudaRunner } from '../src/cuda-runner.js';
import { llamaCppContext, llamaCppGreedy, loadLlamaCpp } from './helpers/llama-cpp.js';
import { ggufPath, modelDir, TINY_MODELS } from './helpers/paths.js';
import { engineGreedy, pseudoRandomIds, TEST_THREADS } from './helpers/runner.js';

// llama.cpp (through node-llama-cpp) is the second, independent implementation: the same
// weights exported to GGUF by scripts/export_gguf.py must greedy-decode to the same tokens.
const NEW_TOKENS = 64;
const PROMPTS: Array<[string, number, number]> = [
  ['a single token', 1, 21],
  ['nine tokens', 9, 22],
  ['forty tokens', 40, 23],
];

let llama: Llama;
beforeAll(async () => {
  llama = await loadLlamaCpp();
});
afterAll(() => llama?.dispose());

describe.each(TINY_MODELS)('greedy decoding matches llama.cpp: %s', (name) => {
  let runner: CudaRunner;
  let model: LlamaModel;
  beforeAll(async () => {
    runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: modelDir(name) });
    model = await llama.loadModel({ modelPath: ggufPath(name) });
  });
  afterAll(async () => {
    await runner.close();
    await model.dispose();
  });

  test.each(PROMPTS)('%s', async (_label, length, seed) => {
    const prompt = pseudoRandomIds(seed, length, runner.modelInfo!.vocabSize);
    // A fresh context per prompt: nothing of an earlier run stays in llama.cpp's state.
    const ctx = await llamaCppContext(model);
    const theirs = await llamaCppGreedy(ctx, prompt, NEW_TOKENS).finally(() => ctx.dispose());
    const ours = await engineGreedy(runner._engine!, prompt, NEW_TOKENS);
    expect(theirs).toHaveLength(NEW_TOKENS);
    expect(ours).toEqual(theirs);
    // A degenerate model that repeats one token would make the comparison weak.
    expect(new Set(ours).size).toBeGreaterThan(3);
  });
});
