import { join } from 'node:path';
import { TEST_MODELS_DIR, type TinyModel } from './paths.js';

/** Deterministic pseudo-random token ids (LCG) so prompts are fixed without being hand-written. */
export function pseudoRandomIds(seed: number, count: number, vocab: number): number[] {
  let x = seed >>> 0;
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    ids.push(x % vocab);
  }
  return ids;
}

/** Prompts whose logits the numpy reference computes once in the global setup. */
export const REFERENCE_PROMPTS: ReadonlyArray<{ label: string; length: number; seed: number }> = [
  { label: 'one token', length: 1, seed: 11 },
  { label: 'short prompt', length: 7, seed: 12 },
  { label: 'long prompt', length: 90, seed: 13 },
];

/** Where the global setup leaves the reference logits ([T, vocab] little-endian f32) of a prompt. */
export function referenceLogitsFile(model: TinyModel, label: string): string {
  return join(TEST_MODELS_DIR, 'reference', `${model}.${label.replace(/ /g, '-')}.f32`);
}
