// Builds the gateway as it was at a git commit into bench/baseline/dist, so run.mjs can load
// test it side by side with the current build (BENCH_BASELINE). The old sources are compiled
// against this checkout's @inferkit/inference-core.
//
//   node packages/gateway/bench/build-baseline.mjs <commit>
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const commit = process.argv[2];
if (commit === undefined) {
  console.error('usage: node bench/build-baseline.mjs <commit>');
  process.exit(2);
}
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(pkg, 'bench', 'baseline');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: pkg, encoding: 'utf8' }).trim();
const tar = execFileSync('git', ['archive', '--format=tar', commit, 'packages/gateway/src'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
execFileSync('tar', ['-x', '--strip-components=2', '-C', out], { input: tar });
execFileSync(join(pkg, 'node_modules', '.bin', 'tsup'), [join(out, 'src', 'index.ts'), '--format', 'esm', '--target', 'node20', '--out-dir', join(out, 'dist'), '--external', '@inferkit/inference-core', '--no-config'], {
  cwd: pkg,
  stdio: 'inherit',
});
console.log(`baseline (${commit}): ${join(out, 'dist', 'index.js')}`);
