// The random-weight bench models written by scripts/bench_model.py.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { outDir, packageDir } from './bench-env.mjs';

/**
 * Runs scripts/bench_model.py into `dir` with `args`; the script skips what is already there, so
 * only the first run pays for it. `what` names the model in the progress line.
 */
export function generateBenchModel(dir, args, what = 'the bench model') {
  mkdirSync(outDir, { recursive: true });
  process.stderr.write(`generating ${what} in ${dir} (skipped when present)\n`);
  execFileSync('python3', [join(packageDir, 'scripts', 'bench_model.py'), dir, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** The vocabulary size in a Hugging Face checkpoint's config.json (32000 when it has none). */
export function vocabSizeOf(hfDir) {
  return JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8')).vocab_size ?? 32000;
}
