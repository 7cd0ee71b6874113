import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecuteBatch, SamplingParams } from '@inferkit/inference-core';
import type { AddonEngine, AddonTokenEvent } from '../../src/binding/addon-types.js';
import { CudaRunner } from '../../src/cuda-runner.js';
import type { CudaRunnerOptions } from '../../src/cuda-runner-options.js';
import { modelDir, type TinyModel } from './paths.js';

export { pseudoRandomIds } from './prompts.js';

// Tests share 2 cores with each other; one engine thread each keeps them from oversubscribing.
export const TEST_THREADS = 1;

let seq = 0;

export function userBatch(content: string, sampling: SamplingParams = {}): ExecuteBatch {
  return { requestId: `req-${++seq}`, model: 'tiny', messages: [{ role: 'user', content }], sampling, stream: true, estimatedTokens: 64 };
}

export async function loadedRunner(model: TinyModel = 'llama-gqa', options: CudaRunnerOptions = {}): Promise<CudaRunner> {
  const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, ...options });
  await runner.loadWeights({ kind: 'local_path', path: modelDir(model) });
  return runner;
}

/**
 * Greedy-decodes `n` tokens from raw ids (no stop tokens, no chat template) on a raw addon engine
 * or on a runner's EngineHandle: both submit the same way.
 */
export function engineGreedy(engine: Pick<AddonEngine, 'submit'>, prompt: number[], n: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const out: number[] = [];
    engine.submit({ tokens: Int32Array.from(prompt), temperature: 0, maxTokens: n, stopTokenIds: new Int32Array(0) }, (e: AddonTokenEvent) => {
      out.push(...e.tokens);
      if (e.finishReason === 'length') resolve(out);
      else if (e.finishReason !== undefined) reject(new Error(`engine finished with ${e.finishReason}: ${e.error?.message ?? ''}`));
    });
  });
}

/** Copies a tiny model to a temp dir, lets `edit` change it, and returns the copy's path. */
export function editedCopy(model: TinyModel, edit: (dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), `inferkit-${model}-`));
  cpSync(modelDir(model), dir, { recursive: true });
  edit(dir);
  return dir;
}

/** Rewrites a safetensors header in place with `mutate`; the header keeps its length (space padding). */
export function mutateSafetensorsHeader(file: string, mutate: (header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>) => void): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, never>;
  mutate(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.length > n) throw new Error('mutated header grew; pick a same-length edit');
  const padded = Buffer.concat([json, Buffer.alloc(n - json.length, 0x20)]);
  writeFileSync(file, Buffer.concat([buf.subarray(0, 8), padded, buf.subarray(8 + n)]));
}

export function editJson(file: string, edit: (v: Record<string, unknown>) => void): void {
  const v = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(v);
  writeFileSync(file, JSON.stringify(v, null, 2));
}
