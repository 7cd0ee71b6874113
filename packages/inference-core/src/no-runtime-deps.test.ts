import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const distDir = join(pkgDir, 'dist');

/** Newest mtime under a directory. */
function newest(dir: string): number {
  let t = 0;
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.test.ts')) continue; // tests are not part of the build
    const p = join(dir, name);
    const s = statSync(p);
    t = Math.max(t, s.isDirectory() ? newest(p) : s.mtimeMs);
  }
  return t;
}

/** Builds dist when missing or older than src (CI builds first; this keeps a bare `vitest` honest). */
function ensureBuilt(): void {
  const entry = join(distDir, 'index.js');
  if (existsSync(entry) && newest(distDir) >= newest(join(pkgDir, 'src'))) return;
  execFileSync(join(pkgDir, 'node_modules', '.bin', 'tsup'), [], { cwd: pkgDir, stdio: 'pipe', timeout: 180_000 });
}

/** Every module specifier a built file imports or requires. */
function specifiers(code: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\bimport\s+(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bexport\s+[^'"`;]*?\s+from\s+['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

describe('zero runtime dependencies', () => {
  it('package.json declares no dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys((pkg.dependencies as object | undefined) ?? {})).toEqual([]);
    expect(Object.keys((pkg.peerDependencies as object | undefined) ?? {})).toEqual([]);
    expect(Object.keys((pkg.optionalDependencies as object | undefined) ?? {})).toEqual([]);
  });

  it('the built dist imports nothing but node: builtins and its own files', { timeout: 200_000 }, () => {
    ensureBuilt();
    const files = readdirSync(distDir).filter((f) => /\.(c?js)$/.test(f));
    expect(files).toEqual(expect.arrayContaining(['index.js', 'index.cjs', 'testing.js', 'testing.cjs']));
    const foreign: string[] = [];
    let total = 0;
    for (const f of files) {
      for (const spec of specifiers(readFileSync(join(distDir, f), 'utf8'))) {
        total++;
        const own = spec.startsWith('./') && existsSync(join(distDir, spec));
        const builtin = spec.startsWith('node:') && builtinModules.includes(spec.slice(5));
        if (!own && !builtin) foreign.push(`${f} → ${spec}`);
      }
    }
    expect(foreign).toEqual([]);
    expect(total).toBeGreaterThan(0); // the scan saw the chunk imports, so it works
  });
});
