import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TokenChunk, WeightLoadProgress } from '@inferkit/inference-core';
import { CudaRunner } from '../src/cuda-runner.js';
import { errorOf } from './helpers/error-of.js';
import { INFERKIT_TINY_DIR, INFERKIT_TINY_GGUF, tokenizerGguf } from './helpers/paths.js';
import { engineGreedy, TEST_THREADS, userBatch } from './helpers/runner.js';

const PROMPTS = ['Tell me a story about a cat.', 'Who are you?', 'What does a dog say?'];

async function run(runner: CudaRunner, content: string, maxTokens: number): Promise<{ chunks: TokenChunk[]; text: string }> {
  const chunks: TokenChunk[] = [];
  for await (const c of await runner.execute(userBatch(content, { maxTokens, temperature: 0 }))) chunks.push(c);
  return { chunks, text: chunks.map((c) => c.textDelta).join('') };
}

describe('CudaRunner on a GGUF file', () => {
  let gguf: CudaRunner;
  let safetensors: CudaRunner;
  const progress: WeightLoadProgress[] = [];
  const temps: string[] = [];

  beforeAll(async () => {
    gguf = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await gguf.loadWeights({ kind: 'local_path', path: INFERKIT_TINY_GGUF }, { onProgress: (p) => progress.push(p) });
    safetensors = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await safetensors.loadWeights({ kind: 'local_path', path: INFERKIT_TINY_DIR });
  });
  afterAll(async () => {
    await gguf?.close();
    await safetensors?.close();
    for (const t of temps) rmSync(t, { recursive: true, force: true });
  });

  test('loads the F32 export of inferkit-tiny: same shape as the checkpoint, progress up to the file size', () => {
    const a = gguf.modelInfo!;
    const b = safetensors.modelInfo!;
    expect({ vocab: a.vocabSize, layers: a.numLayers, heads: a.numHeads, kvHeads: a.numKvHeads, headDim: a.headDim }).toEqual({
      vocab: b.vocabSize,
      layers: b.numLayers,
      heads: b.numHeads,
      kvHeads: b.numKvHeads,
      headDim: b.headDim,
    });
    const last = progress.at(-1)!;
    expect(last).toMatchObject({ phase: 'load', loadedBytes: statSync(INFERKIT_TINY_GGUF).size, totalBytes: statSync(INFERKIT_TINY_GGUF).size });
  });

  test.each(PROMPTS)('streams exactly the tokens of the safetensors model: %s', async (content) => {
    const ours = await run(gguf, content, 48);
    const theirs = await run(safetensors, content, 48);
    expect(ours.chunks.length).toBeGreaterThan(2);
    expect(ours.text.length).toBeGreaterThan(0);
    expect(ours.text).toBe(theirs.text);
    expect(ours.chunks.at(-1)).toMatchObject({ finishReason: theirs.chunks.at(-1)!.finishReason, usage: theirs.chunks.at(-1)!.usage });
    // Token for token: the prompt encodes to the same ids and greedy decoding gives the same ids.
    const promptIds = gguf._tokenizer!.encode(`<|im_start|>user\n${content}<|im_end|>\n<|im_start|>assistant\n`, false);
    expect(promptIds).toEqual(safetensors._tokenizer!.encode(`<|im_start|>user\n${content}<|im_end|>\n<|im_start|>assistant\n`, false));
    expect(await engineGreedy(gguf._engine!, promptIds, 40)).toEqual(await engineGreedy(safetensors._engine!, promptIds, 40));
  });

  test('a directory holding one .gguf file loads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferkit-gguf-dir-'));
    temps.push(dir);
    cpSync(INFERKIT_TINY_GGUF, join(dir, 'inferkit-tiny-F32.gguf'));
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    try {
      await runner.loadWeights({ kind: 'local_path', path: dir });
      expect((await run(runner, PROMPTS[0]!, 8)).text).toBe((await run(safetensors, PROMPTS[0]!, 8)).text);
    } finally {
      await runner.close();
    }
  });
});

describe('CudaRunner.loadWeights on GGUF files the TS side refuses (before the engine reads anything)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inferkit-gguf-bad-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('an unknown pre-tokenizer, and a file cut short in its vocabulary', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    try {
      const unknownPre = join(dir, 'unknown-pre.gguf');
      // Same length as 'gpt-2', so the file stays well-formed.
      const bytes = readFileSync(tokenizerGguf('bpe-gpt2'));
      const at = bytes.indexOf('gpt-2');
      bytes.write('viki1', at, 'latin1');
      writeFileSync(unknownPre, bytes);
      const e1 = await errorOf(runner.loadWeights({ kind: 'local_path', path: unknownPre }));
      expect(e1.kind).toBe('bad_request');
      expect(e1.message).toMatch(/tokenizer\.ggml\.pre is "viki1"/);
      const truncated = join(dir, 'truncated.gguf');
      writeFileSync(truncated, readFileSync(tokenizerGguf('spm')).subarray(0, 5000));
      const e2 = await errorOf(runner.loadWeights({ kind: 'local_path', path: truncated }));
      expect(e2.kind).toBe('bad_request');
      expect(e2.message).toMatch(/^truncated\.gguf: not a valid GGUF file: metadata key tokenizer\.ggml\.tokens has \d+ array elements, more than the rest of the file holds$/);
      expect(runner.modelInfo).toBeUndefined();
    } finally {
      await runner.close();
    }
  });
});
