import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GgufMetadata } from './weights/gguf-metadata.js';

/** Sampling defaults from `generation_config.json`, used for fields a request leaves unset. */
export interface SamplingDefaults {
  temperature: number;
  topK: number;
  topP: number;
}

/**
 * transformers semantics: without `do_sample: true` generation is greedy whatever temperature
 * the file lists; with it, the file's temperature/top_k/top_p apply (transformers' own defaults
 * 1.0 / 50 / 1.0 otherwise).
 */
export async function readSamplingDefaults(modelDir: string): Promise<SamplingDefaults> {
  let cfg: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(await readFile(join(modelDir, 'generation_config.json'), 'utf8')) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) cfg = parsed as Record<string, unknown>;
  } catch {
    // generation_config.json is optional; a broken one is ignored like transformers does for
    // unknown keys, since sampling defaults are only a convenience.
  }
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  if (cfg.do_sample !== true) return { temperature: 0, topK: 0, topP: 1 };
  return { temperature: num(cfg.temperature, 1), topK: Math.max(0, Math.trunc(num(cfg.top_k, 50))), topP: num(cfg.top_p, 1) };
}

/**
 * Sampling defaults of a GGUF file: `general.sampling.temp` / `top_k` / `top_p`, which
 * llama.cpp's converter writes from generation_config.json when it asks for sampling. A file with
 * none of them decodes greedily, like a checkpoint without `do_sample`; a missing one of the three
 * takes transformers' default, as it would have in the checkpoint the file came from.
 */
export function ggufSamplingDefaults(meta: GgufMetadata): SamplingDefaults {
  const temperature = meta.number('general.sampling.temp');
  const topK = meta.number('general.sampling.top_k');
  const topP = meta.number('general.sampling.top_p');
  if (temperature === undefined && topK === undefined && topP === undefined) return { temperature: 0, topK: 0, topP: 1 };
  return { temperature: Math.max(0, temperature ?? 1), topK: Math.max(0, Math.trunc(topK ?? 50)), topP: topP !== undefined && topP > 0 && topP <= 1 ? topP : 1 };
}
