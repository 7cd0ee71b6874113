import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('type tests (plugin-author friction, issue #12.7)', () => {
  it('the README patterns type-check under exactOptionalPropertyTypes against the built types', () => {
    let out = '';
    try {
      execFileSync(join(pkgDir, 'node_modules', '.bin', 'tsc'), ['-p', join(pkgDir, 'type-tests', 'tsconfig.json')], { cwd: pkgDir, stdio: 'pipe', timeout: 120_000 });
    } catch (e) {
      out = String((e as { stdout?: Buffer }).stdout ?? e);
    }
    expect(out).toBe('');
  }, 130_000);
});
