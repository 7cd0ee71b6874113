import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { chooseBinary, pickBinary, type BinaryCandidate } from '../src/binding/choose-binary.js';
import { packageLayout, rebuildCommand } from '../src/binding/rebuild-advice.js';
import { testBinary, type BinaryVerdict } from '../src/binding/test-binary.js';
import { ADDON_BUILT, ADDON_PATH } from './helpers/paths.js';
import { withoutNodePath } from './helpers/without-node-path.js';

withoutNodePath();

const dir = mkdtempSync(join(tmpdir(), 'inferkit-choose-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const CPU_PKG = '@inferkit/runner-cuda-linux-x64';
const CUDA_PKG = '@inferkit/runner-cuda-linux-x64-cuda';

let apps = 0;
/**
 * An app's node_modules as npm lays it out: runner-cuda 0.1.0 and the given platform packages,
 * each holding a copy of the real addon (or `garbage` instead), plus an optional local build.
 */
function app(spec: { prebuilt?: Record<string, { version?: string; garbage?: boolean }>; local?: { requested?: boolean } }): string {
  const modules = join(dir, `app${apps++}`, 'node_modules');
  const root = join(modules, '@inferkit', 'runner-cuda');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: '@inferkit/runner-cuda', version: '0.1.0' }));
  for (const [name, p] of Object.entries(spec.prebuilt ?? {})) {
    const pkg = join(modules, name);
    mkdirSync(join(pkg, 'bins'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name, version: p.version ?? '0.1.0' }));
    if (p.garbage) writeFileSync(join(pkg, 'bins', 'inferkit.node'), 'not an ELF file');
    else copyFileSync(ADDON_PATH, join(pkg, 'bins', 'inferkit.node'));
  }
  if (spec.local) {
    const release = join(root, 'native', 'build', 'Release');
    mkdirSync(release, { recursive: true });
    copyFileSync(ADDON_PATH, join(release, 'inferkit.node'));
    writeFileSync(join(release, 'inferkit-build.json'), JSON.stringify({ requested: spec.local.requested === true }));
  }
  return root;
}

const reasonOf = (passed: { name: string; reason: string }[], name: string) => passed.find((p) => p.name === name)?.reason;

describe.skipIf(!ADDON_BUILT || !linuxX64)('chooseBinary on an installed layout', () => {
  test('a working prebuilt package is chosen over a local build, and the others are accounted for', async () => {
    const c = await chooseBinary({ root: app({ prebuilt: { [CPU_PKG]: {} }, local: {} }) });
    const real = await testBinary(ADDON_PATH);
    expect(c.info).toMatchObject({ source: 'prebuilt', name: CPU_PKG, builtWithCuda: real.builtWithCuda, cudaUsable: real.cudaUsable });
    expect(c.info!.path).toContain(join('runner-cuda-linux-x64', 'bins', 'inferkit.node'));
    expect(reasonOf(c.info!.passedOver, CUDA_PKG)).toBe('not installed');
    expect(reasonOf(c.info!.passedOver, 'local build')).toBe(`works, but ${CPU_PKG} ranks first`);
  });

  test('a prebuilt package of another version is passed over, and the local build is used', async () => {
    const c = await chooseBinary({ root: app({ prebuilt: { [CPU_PKG]: { version: '0.0.9' } }, local: {} }) });
    expect(c.info).toMatchObject({ source: 'local_build', name: 'local build' });
    expect(reasonOf(c.passedOver, CPU_PKG)).toBe('version 0.0.9 does not match @inferkit/runner-cuda 0.1.0');
  });

  test('a prebuilt binary that does not load is passed over with the probe\'s reason', async () => {
    const c = await chooseBinary({ root: app({ prebuilt: { [CPU_PKG]: { garbage: true } }, local: {} }) });
    expect(c.info?.source).toBe('local_build');
    expect(reasonOf(c.passedOver, CPU_PKG)).toMatch(/invalid ELF header|too short|not a valid/i);
  });

  test('a local build made with INFERKIT_BUILD_FROM_SOURCE=1 ranks first', async () => {
    const c = await chooseBinary({ root: app({ prebuilt: { [CPU_PKG]: {} }, local: { requested: true } }) });
    expect(c.info?.source).toBe('local_build');
    expect(reasonOf(c.passedOver, CPU_PKG)).toBe('works, but local build ranks first');
  });

  test('the install script asks for prebuilt packages only', async () => {
    const c = await chooseBinary({ root: app({ local: {} }), localBuild: false });
    expect(c.info).toBeUndefined();
    expect(c.passedOver.map((p) => p.name)).toEqual([CPU_PKG, CUDA_PKG]);
  });

  test('nothing installed: no choice, and a reason for every candidate', async () => {
    const c = await chooseBinary({ root: app({}) });
    expect(c.info).toBeUndefined();
    expect(c.passedOver.map((p) => [p.name, p.reason.split(' (')[0]])).toEqual([
      [CPU_PKG, 'not installed'],
      [CUDA_PKG, 'not installed'],
      ['local build', 'not built'],
    ]);
  });

  test('a platform without published packages says so instead of naming packages', async () => {
    const c = await chooseBinary({ root: app({ local: {} }), platform: 'darwin', arch: 'arm64' });
    expect(c.info?.source).toBe('local_build');
    expect(reasonOf(c.passedOver, 'prebuilt packages')).toBe('none published for darwin-arm64');
  });
});

describe('pickBinary ranking', () => {
  const cand = (name: string, source: BinaryCandidate['source'], rank: number, requested = false): BinaryCandidate => ({ name, source, rank, path: `/x/${name}`, requested });
  const works = (cudaUsable: boolean, builtWithCuda = cudaUsable): BinaryVerdict => ({
    usable: true,
    builtWithCuda,
    cudaUsable,
    cudaDeviceCount: cudaUsable ? 1 : 0,
    cudaReason: cudaUsable ? '' : 'no CUDA device',
  });
  const broken: BinaryVerdict = { usable: false, builtWithCuda: false, cudaUsable: false, cudaDeviceCount: 0, cudaReason: 'x', failure: { exitCode: 3, signal: null, message: 'cannot open', stderrTail: '' } };
  const cpu = cand(CPU_PKG, 'prebuilt', 0);
  const cuda = cand(CUDA_PKG, 'prebuilt', 1);
  const local = cand('local build', 'local_build', 2);

  test('a binary that can use the GPU beats the CPU-only package', () => {
    expect(pickBinary([cpu, cuda, local], [works(false), works(true), works(false)]).info?.name).toBe(CUDA_PKG);
  });

  test('a local CUDA build beats the CPU package when the CUDA package cannot use the device', () => {
    const c = pickBinary([cpu, cuda, local], [works(false), works(false, true), works(true)]);
    expect(c.info?.name).toBe('local build');
    expect(reasonOf(c.passedOver, CUDA_PKG)).toBe('works, but local build ranks first');
  });

  test('without a usable device the CPU package beats the CUDA one', () => {
    expect(pickBinary([cpu, cuda, local], [works(false), works(false, true), works(false)]).info?.name).toBe(CPU_PKG);
  });

  test('broken candidates carry their probe message; none usable is no choice', () => {
    const c = pickBinary([cpu, cuda], [broken, broken]);
    expect(c.info).toBeUndefined();
    expect(c.passedOver.map((p) => p.reason)).toEqual(['cannot open', 'cannot open']);
  });
});

describe('rebuild command per package manager', () => {
  const layout = (marker: string | null, ...path: string[]) => {
    const root = join(dir, 'layouts', ...path);
    mkdirSync(root, { recursive: true });
    const nm = path.indexOf('node_modules');
    if (marker !== null && nm >= 0) writeFileSync(join(dir, 'layouts', ...path.slice(0, nm + 1), marker), '');
    return root;
  };

  test('a repository checkout builds with the workspace command', () => {
    expect(packageLayout(layout(null, 'repo', 'packages', 'runner-cuda'))).toBe('source');
    expect(rebuildCommand(layout(null, 'repo', 'packages', 'runner-cuda'))).toBe('pnpm --filter @inferkit/runner-cuda run build:native');
  });

  test('npm: npm rebuild, and how to approve the script', () => {
    const root = layout('.package-lock.json', 'npm-app', 'node_modules', '@inferkit', 'runner-cuda');
    expect(packageLayout(root)).toBe('npm');
    expect(rebuildCommand(root)).toContain('npm rebuild @inferkit/runner-cuda');
    expect(rebuildCommand(root)).toContain('npm install-scripts approve @inferkit/runner-cuda');
  });

  test('pnpm: pnpm rebuild, and approve-builds / onlyBuiltDependencies', () => {
    const root = layout(null, 'pnpm-app', 'node_modules', '.pnpm', '@inferkit+runner-cuda@0.1.0', 'node_modules', '@inferkit', 'runner-cuda');
    expect(packageLayout(root)).toBe('pnpm');
    expect(rebuildCommand(root)).toContain('pnpm rebuild @inferkit/runner-cuda');
    expect(rebuildCommand(root)).toContain('pnpm approve-builds');
    expect(rebuildCommand(root)).toContain('onlyBuiltDependencies');
  });

  test('yarn (node-modules linker): yarn rebuild; yarn 1: npm rebuild', () => {
    expect(rebuildCommand(layout('.yarn-state.yml', 'yarn-app', 'node_modules', '@inferkit', 'runner-cuda'))).toBe('yarn rebuild @inferkit/runner-cuda');
    expect(rebuildCommand(layout('.yarn-integrity', 'yarn1-app', 'node_modules', '@inferkit', 'runner-cuda'))).toContain('npm rebuild @inferkit/runner-cuda');
  });

  test('an unknown layout lists every package manager', () => {
    const cmd = rebuildCommand(layout(null, 'other-app', 'node_modules', '@inferkit', 'runner-cuda'));
    expect(cmd).toContain('npm rebuild');
    expect(cmd).toContain('pnpm rebuild');
    expect(cmd).toContain('yarn rebuild');
  });
});
