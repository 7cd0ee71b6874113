import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ggufPath, modelDir, NO_EOS_MODELS, noEosModelDir, SCRIPTS_DIR, TEST_MODELS_DIR, TINY_MODELS } from './helpers/paths.js';
import { pseudoRandomIds, REFERENCE_PROMPTS, referenceLogitsFile } from './helpers/prompts.js';

/**
 * Writes the tiny checkpoints (and their GGUF exports) before any test file runs. They are
 * regenerated from fixed seeds rather than committed: ~3 MB of weights in git for files any
 * machine with python3 + numpy rebuilds byte-identically in about a second. A stamp over the
 * generator sources skips the work when nothing changed.
 */
export default function setup(): void {
  const hash = createHash('sha256');
  for (const f of readdirSync(SCRIPTS_DIR).filter((f) => f.endsWith('.py')).sort()) {
    hash.update(f).update(readFileSync(join(SCRIPTS_DIR, f)));
  }
  const stamp = hash.digest('hex');
  const stampFile = join(TEST_MODELS_DIR, 'stamp');
  const fresh =
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp &&
    TINY_MODELS.every(
      (m) =>
        existsSync(join(TEST_MODELS_DIR, m, 'config.json')) &&
        existsSync(ggufPath(m)) &&
        NO_EOS_MODELS.every((n) => existsSync(join(noEosModelDir(n), 'config.json'))) &&
        REFERENCE_PROMPTS.every((p) => existsSync(referenceLogitsFile(m, p.label))),
    );
  if (fresh) return;
  const run = (script: string, args: string[]) =>
    execFileSync('python3', [join(SCRIPTS_DIR, script), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  run('gen_tiny_models.py', [TEST_MODELS_DIR]);
  for (const m of TINY_MODELS) run('export_gguf.py', [join(TEST_MODELS_DIR, m), ggufPath(m)]);
  for (const m of NO_EOS_MODELS) {
    const dir = noEosModelDir(m);
    cpSync(modelDir(m), dir, { recursive: true });
    const edit = (file: string, key: string) => {
      const v = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
      v[key] = null;
      writeFileSync(join(dir, file), JSON.stringify(v, null, 2));
    };
    edit('config.json', 'eos_token_id');
    edit('generation_config.json', 'eos_token_id');
    edit('tokenizer_config.json', 'eos_token');
  }
  // Reference logits for the parity test, all in one Python process (numpy's import is most of
  // the cost of a single forward on these models).
  mkdirSync(join(TEST_MODELS_DIR, 'reference'), { recursive: true });
  const cases = TINY_MODELS.flatMap((m) => {
    const vocab = (JSON.parse(readFileSync(join(modelDir(m), 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
    return REFERENCE_PROMPTS.map((p) => ({ model_dir: modelDir(m), tokens: pseudoRandomIds(p.seed, p.length, vocab), out: referenceLogitsFile(m, p.label) }));
  });
  const casesFile = join(TEST_MODELS_DIR, 'reference', 'cases.json');
  writeFileSync(casesFile, JSON.stringify(cases));
  run('reference_forward.py', ['--cases', casesFile]);
  writeFileSync(stampFile, stamp);
}
