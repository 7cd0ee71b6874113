import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SamplingParams } from '@inferkit/inference-core';
import type { EngineHandle } from '../src/host/engine-handle.js';
import { CudaRunner } from '../src/cuda-runner.js';
import { errorOf } from './helpers/error-of.js';
import { noEosModelDir } from './helpers/paths.js';
import { TEST_THREADS, userBatch } from './helpers/runner.js';

/**
 * OpenAI's formula over the generated tokens (mu[j] -= c[j] * frequency + (c[j] > 0) * presence),
 * after transformers' repetition penalty over prompt and output, in float64 on one logits row.
 */
function penalize(row: Float32Array, prompt: number[], output: number[], s: SamplingParams): Float64Array {
  const count = new Map<number, number>();
  for (const t of output) count.set(t, (count.get(t) ?? 0) + 1);
  const seen = new Set([...prompt, ...output]);
  const rep = s.repetitionPenalty ?? 1;
  const out = Float64Array.from(row);
  for (let j = 0; j < out.length; j++) {
    if (seen.has(j)) out[j] = out[j]! > 0 ? out[j]! / rep : out[j]! * rep;
    const c = count.get(j) ?? 0;
    out[j] = out[j]! - c * (s.frequencyPenalty ?? 0) - (c > 0 ? (s.presencePenalty ?? 0) : 0);
  }
  return out;
}

/** Greedy with the reference penalties on the engine's own logits of the whole context. */
async function expectedGreedy(engine: EngineHandle, prompt: number[], n: number, s: SamplingParams): Promise<number[]> {
  const vocab = engine.info.vocabSize;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const all = await engine.logits(Int32Array.from([...prompt, ...out]));
    const row = penalize(all.subarray(all.length - vocab), prompt, out, s);
    let best = 0;
    for (let j = 1; j < vocab; j++) if (row[j]! > row[best]!) best = j;
    out.push(best);
  }
  return out;
}

async function tokenIdsOf(runner: CudaRunner, content: string, sampling: SamplingParams): Promise<number[]> {
  const ids: number[] = [];
  for await (const c of await runner.execute(userBatch(content, sampling))) ids.push(...(c.tokenIds ?? []));
  return ids;
}

for (const engineProcess of ['in-process', 'child'] as const) {
  describe(`penalties on the CPU backend, engine ${engineProcess}`, () => {
    let runner: CudaRunner;
    beforeAll(async () => {
      runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess });
      // No EOS ids: every generation runs to maxTokens.
      await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
    });
    afterAll(async () => {
      await runner.close();
    });

    test('presence, frequency and repetition penalties reach the engine and follow the reference formula', async () => {
      const tok = runner._tokenizer!;
      const prompt = tok.encode('<|begin_of_text|><|im_start|>user\nsay it again and again<|im_end|>\n<|im_start|>assistant\n', false);
      const plain = await tokenIdsOf(runner, 'say it again and again', { maxTokens: 10, temperature: 0 });
      for (const s of [
        { presencePenalty: 1.5 },
        { frequencyPenalty: 2 },
        { repetitionPenalty: 2.5 },
        { presencePenalty: 0.7, frequencyPenalty: 0.9, repetitionPenalty: 1.4 },
      ] satisfies SamplingParams[]) {
        const sampling = { ...s, maxTokens: 10, temperature: 0 };
        const got = await tokenIdsOf(runner, 'say it again and again', sampling);
        const want = await expectedGreedy(runner._engine!, prompt, 10, sampling);
        expect(got).toEqual(want);
        expect(got).not.toEqual(plain);
      }
    });

    test('the runner declares penalties; zero penalties and a repetition penalty of 1 change nothing', async () => {
      expect(runner.capabilities()).toMatchObject({ penalties: true, repetitionPenalty: true });
      const plain = await tokenIdsOf(runner, 'hello', { maxTokens: 8, temperature: 0 });
      expect(await tokenIdsOf(runner, 'hello', { maxTokens: 8, temperature: 0, presencePenalty: 0, frequencyPenalty: 0, repetitionPenalty: 1 })).toEqual(plain);
    });

    test('penalties outside the bounds are bad_request naming the parameter', async () => {
      for (const [sampling, param] of [
        [{ presencePenalty: 2.5 }, 'sampling.presencePenalty'],
        [{ frequencyPenalty: -3 }, 'sampling.frequencyPenalty'],
        [{ repetitionPenalty: 0 }, 'sampling.repetitionPenalty'],
        [{ repetitionPenalty: 1e-4 }, 'sampling.repetitionPenalty'],
        [{ repetitionPenalty: 5000 }, 'sampling.repetitionPenalty'],
      ] as Array<[SamplingParams, string]>) {
        const err = await errorOf(runner.execute(userBatch('x', { maxTokens: 2, ...sampling })));
        expect(err.kind).toBe('bad_request');
        expect((err.details as { param?: string }).param).toBe(param);
      }
    });
  });
}
