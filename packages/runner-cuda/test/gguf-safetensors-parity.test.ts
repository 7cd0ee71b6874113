import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AddonEngine, AddonEngineInfo } from '../src/binding/addon-types.js';
import { loadEngine } from './helpers/addon-engine.js';
import { ggufPath, modelDir, TINY_MODELS } from './helpers/paths.js';
import { pseudoRandomIds } from './helpers/prompts.js';
import { engineGreedy } from './helpers/runner.js';

// The same weights twice: the safetensors checkpoint, and its F32 GGUF export by
// scripts/export_gguf.py (llama-arch q/k rows permuted for llama.cpp's RoPE, llama3 scaling as
// rope_freqs.weight, llama.cpp's tensor names). The engine must produce exactly the same tokens
// from both.
const NEW_TOKENS = 64;
const PROMPTS: Array<[string, number, number]> = [
  ['a single token', 1, 31],
  ['nine tokens', 9, 32],
  ['forty tokens', 40, 33],
];

describe.each(TINY_MODELS)('GGUF export of %s gives the safetensors tokens', (name) => {
  let st: { engine: AddonEngine; info: AddonEngineInfo };
  let gg: { engine: AddonEngine; info: AddonEngineInfo };
  beforeAll(async () => {
    st = await loadEngine(modelDir(name));
    gg = await loadEngine(ggufPath(name));
  });
  afterAll(async () => {
    await st?.engine.close();
    await gg?.engine.close();
  });

  test('the GGUF metadata maps to the same model shape', () => {
    for (const key of ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'intermediateSize', 'tieWordEmbeddings'] as const) {
      expect(gg.info[key], key).toBe(st.info[key]);
    }
    expect(gg.info.weightDtype).toBe('F32');
    expect(gg.info.eosTokenIds).toContain(st.info.eosTokenIds[0]);
  });

  test.each(PROMPTS)('%s: greedy tokens identical, logits equal to float rounding', async (_label, length, seed) => {
    const prompt = pseudoRandomIds(seed, length, st.info.vocabSize);
    const [a, b] = await Promise.all([engineGreedy(st.engine, prompt, NEW_TOKENS), engineGreedy(gg.engine, prompt, NEW_TOKENS)]);
    expect(b).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(3);
    const [la, lb] = await Promise.all([st.engine.logits(Int32Array.from(prompt)), gg.engine.logits(Int32Array.from(prompt))]);
    let maxDiff = 0;
    la.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - (lb[i] ?? Number.NaN)));
    });
    // Only the order of the q.k sums differs (GGUF pairs head dims for llama-arch RoPE).
    expect(maxDiff).toBeLessThan(1e-4);
  });
});
