import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ggufPath, SCRIPTS_DIR, TEST_MODELS_DIR, TINY_MODELS } from './helpers/paths.js';

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
    TINY_MODELS.every((m) => existsSync(join(TEST_MODELS_DIR, m, 'config.json')) && existsSync(ggufPath(m)));
  if (fresh) return;
  const run = (script: string, args: string[]) =>
    execFileSync('python3', [join(SCRIPTS_DIR, script), ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  run('gen_tiny_models.py', [TEST_MODELS_DIR]);
  for (const m of TINY_MODELS) run('export_gguf.py', [join(TEST_MODELS_DIR, m), ggufPath(m)]);
  writeFileSync(stampFile, stamp);
}
