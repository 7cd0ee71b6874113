import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BPE_TRAINER,
  GGUF_MODELS,
  GGUF_MODELS_DIR,
  GGUF_TYPES,
  ggufModelPath,
  ggufPath,
  INFERKIT_TINY_DIR,
  INFERKIT_TINY_GGUF,
  modelDir,
  NO_EOS_MODELS,
  noEosModelDir,
  PACKAGE_DIR,
  SCRIPTS_DIR,
  TEST_MODELS_DIR,
  TINY_MODELS,
  TOKENIZER_GGUFS,
  tokenizerGguf,
} from './helpers/paths.js';
import { pseudoRandomIds, REFERENCE_PROMPTS, referenceLogitsFile } from './helpers/prompts.js';

/**
 * Writes the tiny checkpoints (and their GGUF exports) before any test file runs. They are
 * regenerated from fixed seeds rather than committed: ~3 MB of weights in git for files any
 * machine with python3 + numpy rebuilds byte-identically in about a second. A stamp over the
 * generator sources skips the work when nothing changed.
 */
export default function setup(): void {
  buildDistIfStale();
  writeTestModels();
}

/**
 * Tests import the sources, but an engine in a child process runs `dist/engine-child.js`, prompt
 * workers run `dist/prompt-worker.js`, and the host-process tests import `dist/index.js`: rebuild
 * them when any source is newer.
 */
function buildDistIfStale(): void {
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  const built = ['index.js', 'engine-child.js', 'prompt-worker.js'].map((f) => join(PACKAGE_DIR, 'dist', f));
  const oldest = Math.min(...built.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  if (oldest >= newest(join(PACKAGE_DIR, 'src'))) return;
  execFileSync(process.execPath, [join(PACKAGE_DIR, 'node_modules', 'tsup', 'dist', 'cli-default.js')], { cwd: PACKAGE_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
}

function writeTestModels(): void {
  const hash = createHash('sha256');
  for (const f of readdirSync(SCRIPTS_DIR).filter((f) => f.endsWith('.py')).sort()) {
    hash.update(f).update(readFileSync(join(SCRIPTS_DIR, f)));
  }
  // The demo model's GGUF export follows its files (weights by size: they change only by retraining).
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) hash.update(f).update(readFileSync(join(INFERKIT_TINY_DIR, f)));
  hash.update(String(statSync(join(INFERKIT_TINY_DIR, 'model.safetensors')).size));
  // The tokenizer trainer the generator shares with the embedded model (scripts/model_spec.py).
  hash.update(readFileSync(BPE_TRAINER));
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
        GGUF_MODELS.every((g) => GGUF_TYPES.every((t) => existsSync(ggufModelPath(g, t)))) &&
        REFERENCE_PROMPTS.every((p) => existsSync(referenceLogitsFile(m, p.label))),
    ) &&
    TOKENIZER_GGUFS.every((g) => existsSync(tokenizerGguf(g))) &&
    existsSync(INFERKIT_TINY_GGUF);
  if (fresh) return;
  const run = (script: string, args: string[]) =>
    execFileSync('python3', [join(SCRIPTS_DIR, script), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  run('gen_tiny_models.py', [TEST_MODELS_DIR]);
  for (const m of TINY_MODELS) run('export_gguf.py', [join(TEST_MODELS_DIR, m), ggufPath(m)]);
  run('gen_gguf_models.py', [GGUF_MODELS_DIR]);
  run('export_gguf.py', [INFERKIT_TINY_DIR, INFERKIT_TINY_GGUF]);
  run('gen_tokenizer_ggufs.py', [join(TEST_MODELS_DIR, 'gguf-tokenizers')]);
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
