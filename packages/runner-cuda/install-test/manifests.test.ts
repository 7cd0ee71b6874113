import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

// The dependency policy of every package.json in the repository: runtime dependencies take caret
// ranges so they dedupe with an application's own copies; an exact pin needs its reason in the
// manifest's "//" field, keyed by the dependency or by its section. devDependencies are exempt:
// they never reach an application, and the lockfile pins them anyway.

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
type Manifest = {
  name: string;
  version: string;
  private?: boolean;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  files?: string[];
  scripts?: Record<string, string>;
  preferUnplugged?: boolean;
  '//'?: Record<string, string>;
} & Partial<Record<'dependencies' | 'peerDependencies' | 'optionalDependencies', Record<string, string>>>;

const manifests: { path: string; m: Manifest }[] = ['packages', 'examples'].flatMap((root) =>
  readdirSync(join(REPO, root))
    .map((d) => join(REPO, root, d, 'package.json'))
    .filter((p) => existsSync(p))
    .map((path) => ({ path: path.slice(REPO.length), m: JSON.parse(readFileSync(path, 'utf8')) as Manifest })),
);
const byName = new Map(manifests.map(({ m }) => [m.name, m]));
const runner = byName.get('@inferkit/runner-cuda')!;
const platformPackages = manifests.filter(({ m }) => m.name.startsWith('@inferkit/runner-cuda-'));

describe('dependency ranges', () => {
  test.each(manifests)('$path: runtime dependencies are caret ranges or carry a reason', ({ m }) => {
    for (const section of ['dependencies', 'peerDependencies', 'optionalDependencies'] as const) {
      for (const [dep, spec] of Object.entries(m[section] ?? {})) {
        if (/^(\^|workspace:\^)/.test(spec)) continue;
        const reason = m['//']?.[dep] ?? m['//']?.[section];
        expect(reason, `${m.name} ${section}.${dep} is "${spec}": a caret range, or a reason in "//"`).toMatch(/\S{10,}/);
      }
    }
  });
});

describe('prebuilt platform packages', () => {
  test('there are some, and runner-cuda lists each one as an optional dependency of its own version', () => {
    expect(platformPackages.map((p) => p.m.name).sort()).toEqual(['@inferkit/runner-cuda-linux-x64', '@inferkit/runner-cuda-linux-x64-cuda']);
    for (const { m } of platformPackages) {
      expect(m.version, m.name).toBe(runner.version);
      expect(runner.optionalDependencies?.[m.name], m.name).toBe('workspace:*');
    }
    expect(Object.keys(runner.optionalDependencies ?? {}).sort()).toEqual(platformPackages.map((p) => p.m.name).sort());
  });

  test.each(platformPackages)('$path: installs only where it runs, ships only bins/, runs no script', ({ m }) => {
    const [, platform, arch] = /^@inferkit\/runner-cuda-(\w+)-(\w+)/.exec(m.name)!;
    expect(m.os).toEqual([platform]);
    expect(m.cpu).toEqual([arch]);
    if (platform === 'linux') expect(m.libc).toEqual(['glibc']);
    expect(m.files).toEqual(['bins']);
    expect(m.preferUnplugged).toBe(true);
    expect(m.scripts ?? {}).toEqual({});
  });
});
