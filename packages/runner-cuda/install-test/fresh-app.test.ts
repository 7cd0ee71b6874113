import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LocalRegistry } from './local-registry.mjs';

// A user's first install, as close as it gets without publishing: the packed tarballs of
// @inferkit/inference-core, @inferkit/runner-cuda and the prebuilt platform packages, served by a
// local registry for the @inferkit scope (third-party dependencies come from the npm registry,
// through npm's cache), installed by plain npm into a fresh app, with nothing but node, npm and
// sh on the PATH: no cmake, no compiler, no nvcc.

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const REPO = join(PACKAGE_DIR, '..', '..');
const MODEL = join(REPO, 'models', 'inferkit-tiny');
const VERSION = (JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { version: string }).version;
const CPU_PKG = '@inferkit/runner-cuda-linux-x64';
const CUDA_PKG = '@inferkit/runner-cuda-linux-x64-cuda';
const CUDA_TARBALL = join(PACKAGE_DIR, 'native', 'prebuilt', `inferkit-runner-cuda-linux-x64-cuda-${VERSION}.tgz`);
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

const work = mkdtempSync(join(tmpdir(), 'inferkit-fresh-app-'));
const tarballs = { core: '', runner: '', cpu: '' };
const bin = join(work, 'bin');

/** Newest modification time of the files a native build reads. */
function newestSource(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((e) => newestSource(join(path, e))));
}

// .ci/run builds the CUDA package when nvcc is found (minutes); here it is only used, and only
// when it is newer than the native sources.
const cudaSkip = !existsSync(CUDA_TARBALL)
  ? `no ${CUDA_TARBALL} (.ci/run builds it when nvcc is found: pnpm --filter @inferkit/runner-cuda run pack:prebuilt --variant cuda --cuda-archs 90-real)`
  : statSync(CUDA_TARBALL).mtimeMs < Math.max(...['engine', 'addon', 'CMakeLists.txt', 'build-addon.mjs'].map((f) => newestSource(join(PACKAGE_DIR, 'native', f))))
    ? `${CUDA_TARBALL} is older than the native sources: rebuild it with pack:prebuilt --variant cuda`
    : '';

afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(() => {
  if (!linuxX64) return;
  const out = join(work, 'tarballs');
  mkdirSync(out);
  // pnpm pack turns workspace: ranges into the versions a registry would carry.
  const pack = (dir: string) => {
    const printed = execFileSync('pnpm', ['pack', '--pack-destination', out], { cwd: dir, encoding: 'utf8' });
    return printed.trim().split('\n').filter((l) => l.endsWith('.tgz')).pop()!;
  };
  tarballs.core = pack(join(REPO, 'packages', 'inference-core'));
  tarballs.runner = pack(PACKAGE_DIR);
  // Incremental: a no-op when .ci/run built it already.
  const printed = execFileSync(process.execPath, [join(PACKAGE_DIR, 'native', 'pack-prebuilt.mjs'), '--variant', 'cpu', '--out', out], {
    cwd: PACKAGE_DIR,
    encoding: 'utf8',
    env: { ...process.env, INFERKIT_BUILD_JOBS: process.env.INFERKIT_BUILD_JOBS ?? '2' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  tarballs.cpu = printed.trim().split('\n').pop()!;

  // The PATH of a machine without build tools: node, npm and the shell npm runs scripts with.
  mkdirSync(bin);
  symlinkSync('/bin/sh', join(bin, 'sh'));
  symlinkSync(process.execPath, join(bin, 'node'));
  const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  symlinkSync(npmCli, join(bin, 'npm'));
}, 900_000);

/** The environment of a user's shell: no pnpm/npm variables from this test run, no INFERKIT_*. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // pnpm run sets NODE_PATH to its virtual store, where the workspace packages resolve.
    if (/^(npm_|pnpm_|INFERKIT_|NODE_OPTIONS$|NODE_PATH$|VITEST|INIT_CWD$)/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, PATH: bin, ...extra };
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number; out: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    // Asynchronous on purpose: the registry answers from this process while npm runs.
    execFile(cmd, args, { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: `${stdout}\n${stderr}`, ms: Date.now() - t0 });
    });
  });
}

function bytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, e) => n + bytes(join(path, e)), 0);
}

let apps = 0;
/** A fresh app whose @inferkit scope resolves from `registry`; npm install, nothing else. */
async function installApp(registry: LocalRegistry, env: Record<string, string> = {}) {
  const dir = join(work, `app${apps++}`);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'fresh-app',
      version: '1.0.0',
      private: true,
      type: 'module',
      dependencies: { '@inferkit/inference-core': `^${VERSION}`, '@inferkit/runner-cuda': `^${VERSION}` },
      // What `npm install-scripts approve @inferkit/runner-cuda` writes; older npm runs it anyway.
      allowScripts: { '@inferkit/runner-cuda': true },
    }),
  );
  writeFileSync(join(dir, '.npmrc'), `@inferkit:registry=${registry.url}/\nfund=false\naudit=false\nupdate-notifier=false\n`);
  const install = await run(join(bin, 'npm'), ['install', '--no-package-lock'], dir, userEnv(env), 600_000);
  return { dir, install };
}

// Streams from the embedded model with whatever addon CudaRunner picks; prints one JSON line.
const STREAM = `
import { CudaRunner } from '@inferkit/runner-cuda';
const runner = new CudaRunner({ device: 'auto', threads: 2 });
try {
  await runner.loadWeights({ kind: 'local_path', path: process.argv[2] });
  const handle = await runner.execute({
    requestId: 'r1', model: 'inferkit-tiny', stream: true, estimatedTokens: 40,
    messages: [{ role: 'user', content: 'Tell me a story about a cat.' }],
    sampling: { maxTokens: 24, temperature: 0, seed: 1 },
  });
  let text = '', chunks = 0, last;
  for await (const c of handle) { text += c.textDelta; chunks++; last = c; }
  console.log(JSON.stringify({ ok: true, binary: runner.binaryInfo, device: runner.transportKind().device, text, chunks, usage: last?.usage, finishReason: last?.finishReason }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, kind: e.kind, message: e.message }));
} finally {
  await runner.close();
}
`;

async function stream(dir: string): Promise<Record<string, unknown>> {
  writeFileSync(join(dir, 'stream.mjs'), STREAM);
  const r = await run(join(bin, 'node'), ['stream.mjs', MODEL], dir, userEnv(), 300_000);
  const line = r.out.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`stream.mjs printed no result (exit ${r.code}):\n${r.out}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function report(label: string, dir: string, ms: number) {
  const mb = (bytes(join(dir, 'node_modules', '@inferkit')) / 2 ** 20).toFixed(1);
  console.log(`[fresh app] ${label}: npm install ${(ms / 1000).toFixed(1)} s, node_modules/@inferkit ${mb} MiB`);
}

describe.skipIf(!linuxX64)('fresh app, plain npm (PATH: node, npm and sh unless a test says otherwise)', () => {
  test('the PATH really has no build tools', async () => {
    for (const tool of ['cmake', 'c++', 'g++', 'make', 'nvcc']) {
      const r = await run('/bin/sh', ['-c', `command -v ${tool}`], work, userEnv(), 10_000);
      expect(r.code, tool).not.toBe(0);
    }
  });

  test('installs with the prebuilt CPU package and streams from the embedded model', async () => {
    const registry = await LocalRegistry.start([tarballs.core, tarballs.runner, tarballs.cpu]);
    try {
      const { dir, install } = await installApp(registry);
      expect(install.code, install.out).toBe(0);
      report('prebuilt CPU package', dir, install.ms);
      expect(existsSync(join(dir, 'node_modules', CPU_PKG, 'bins', 'inferkit.node'))).toBe(true);
      // Nothing was compiled: no build folder in the package.
      expect(existsSync(join(dir, 'node_modules', '@inferkit', 'runner-cuda', 'native', 'build'))).toBe(false);
      const r = await stream(dir);
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, device: 'cpu', binary: { source: 'prebuilt', name: CPU_PKG, builtWithCuda: false } });
      expect(r.chunks as number).toBeGreaterThan(1);
      expect((r.text as string).trim().length).toBeGreaterThan(0);
      expect((r.usage as { outputTokens: number }).outputTokens).toBeGreaterThan(0);
    } finally {
      await registry.close();
    }
  });

  test('INFERKIT_BUILD_FROM_SOURCE=1 npm rebuild with a toolchain: progress lines, intermediates removed, and the runner prefers that build', async () => {
    const registry = await LocalRegistry.start([tarballs.core, tarballs.runner, tarballs.cpu]);
    try {
      const { dir, install } = await installApp(registry);
      expect(install.code, install.out).toBe(0);
      // The machine's own PATH now (cmake, compiler); CPU only, to bound the time where nvcc is found.
      const env = userEnv({ PATH: `${bin}:${process.env.PATH ?? ''}`, INFERKIT_BUILD_FROM_SOURCE: '1', INFERKIT_CUDA: 'OFF' });
      const rebuild = await run(join(bin, 'npm'), ['rebuild', '@inferkit/runner-cuda', '--foreground-scripts'], dir, env, 1_200_000);
      expect(rebuild.code, rebuild.out).toBe(0);
      expect(rebuild.out).toContain('building from source (INFERKIT_BUILD_FROM_SOURCE=1): CPU backend only (INFERKIT_CUDA=OFF)');
      expect(rebuild.out).toMatch(/inferkit: \[1\/\d+\] engine\/\S+ \(\d+/);
      expect(rebuild.out).toMatch(/inferkit: built native\/build\/Release\/inferkit\.node in \S+; removed \d+ MB of build intermediates/);
      const build = join(dir, 'node_modules', '@inferkit', 'runner-cuda', 'native', 'build');
      expect(readdirSync(build).sort()).toEqual(['Release', 'build.log']);
      expect(readdirSync(join(build, 'Release')).sort()).toEqual(['inferkit-build.json', 'inferkit.node']);
      const r = await stream(dir);
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, binary: { source: 'local_build' } });
      const passed = (r.binary as { passedOver: { name: string; reason: string }[] }).passedOver;
      expect(passed).toContainEqual({ name: CPU_PKG, reason: 'works, but local build ranks first' });
    } finally {
      await registry.close();
    }
  });

  test('without the prebuilt package the install fails, naming the missing tools and the fix', async () => {
    const registry = await LocalRegistry.start([tarballs.core, tarballs.runner]);
    try {
      const { install } = await installApp(registry);
      // What the user sees: npm prints a failed install script's output.
      console.log(install.out.split('\n').filter((l) => l.includes('inferkit')).join('\n'));
      expect(install.code).not.toBe(0);
      expect(install.out).toContain(`${CPU_PKG}: not installed`);
      expect(install.out).toContain('cmake (>= 3.18)');
      expect(install.out).toContain('a C++17 compiler');
      expect(install.out).toContain('npm rebuild @inferkit/runner-cuda');
      expect(install.out).toContain('INFERKIT_SKIP_NATIVE_BUILD=1');
    } finally {
      await registry.close();
    }
  });

  test('installed without an addon on purpose, loadWeights names the optional packages and the npm command', async () => {
    const registry = await LocalRegistry.start([tarballs.core, tarballs.runner]);
    try {
      const { dir, install } = await installApp(registry, { INFERKIT_SKIP_NATIVE_BUILD: '1' });
      expect(install.code, install.out).toBe(0);
      const r = await stream(dir);
      expect(r).toMatchObject({ ok: false, kind: 'internal' });
      expect(r.message).toContain(`${CPU_PKG}: not installed`);
      expect(r.message).toContain('--omit=optional');
      expect(r.message).toContain('npm rebuild @inferkit/runner-cuda');
    } finally {
      await registry.close();
    }
  });

  test('the prebuilt CUDA package alone installs and streams (on the CPU when no GPU is usable)', async (ctx) => {
    if (cudaSkip !== '') return ctx.skip(cudaSkip);
    const registry = await LocalRegistry.start([tarballs.core, tarballs.runner, CUDA_TARBALL]);
    try {
      const { dir, install } = await installApp(registry);
      expect(install.code, install.out).toBe(0);
      report('prebuilt CUDA package', dir, install.ms);
      const r = await stream(dir);
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, binary: { source: 'prebuilt', name: CUDA_PKG, builtWithCuda: true } });
      const binary = r.binary as { cudaUsable: boolean };
      expect(r.device).toBe(binary.cudaUsable ? 'cuda' : 'cpu');
      expect(r.chunks as number).toBeGreaterThan(1);
    } finally {
      await registry.close();
    }
  });
});
