import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { CudaRunner } from '../src/cuda-runner.js';
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
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
});
afterAll(() => llama?.dispose());

async function llamaCppGreedy(model: LlamaModel, prompt: number[], n: number): Promise<number[]> {
  // f32 KV cache and no flash attention: llama.cpp's defaults (f16 K/V) round logits by ~1e-3,
  // enough to flip near-ties between random-weight logits.
  const ctx = await model.createContext({
    contextSize: 256,
    batchSize: 256,
    threads: TEST_THREADS,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
  });
  try {
    // Token by token through controlledEvaluate: `evaluate()` would end at llama.cpp's
    // end-of-generation tokens (EOS, and control tokens such as <|im_end|>), which random
    // weights emit now and then, while the comparison wants all n tokens.
    const seq = ctx.getSequence();
    const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
    const out: number[] = [];
    let input: unknown[] = [...prompt.slice(0, -1), [prompt[prompt.length - 1], greedy]];
    while (out.length < n) {
      const result = await seq.controlledEvaluate(input as never);
      const next = result[result.length - 1]?.next.token;
      if (typeof next !== 'number') throw new Error(`llama.cpp produced no token after ${out.length}`);
      out.push(next);
      input = [[next, greedy]];
    }
    return out;
  } finally {
    await ctx.dispose();
  }
}

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
    const theirs = await llamaCppGreedy(model, prompt, NEW_TOKENS);
    const ours = await engineGreedy(runner._engine!, prompt, NEW_TOKENS);
    expect(theirs).toHaveLength(NEW_TOKENS);
    expect(ours).toEqual(theirs);
    // A degenerate model that repeats one token would make the comparison weak.
    expect(new Set(ours).size).toBeGreaterThan(3);
  });
});
