#!/usr/bin/env node
// Install time of @inferkit/runner-cuda in a fresh app: plain `npm install` of the packed
// tarballs, served for the @inferkit scope by a local registry (install-test/local-registry.mjs;
// third-party packages come from npm's cache or the registry), one fresh app per scenario:
//
//   prebuilt         the platform packages of native/prebuilt/ are served (pack:prebuilt first)
//   source           none served: the install script builds from source; nvcc visible, GPUs as
//                    nvidia-smi lists them (none: CPU only)
//   source-sm90      the same with INFERKIT_CUDA_ARCHS=90-real: what a machine with one H100/H200 builds
//   source-no-nvcc   the same with the CUDA toolkit hidden (a private mount namespace over
//                    /usr/local/cuda*, needs root and unshare; else INFERKIT_CUDA=OFF, labelled so)
//   before, before-no-nvcc   --before DIR: the tarballs in DIR (an older runner-cuda and core)
//
//   node bench/install-time.mjs [--only prebuilt,source] [--before DIR]
//
// Prints a table (wall time; CPU time of npm and everything it waited for, from /usr/bin/time,
// which a loaded machine disturbs far less; node_modules/@inferkit size; what was compiled) and
// writes bench/out/install-time.json. Build scripts run with INFERKIT_BUILD_JOBS unset (the default).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalRegistry } from '../install-test/local-registry.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const repo = join(pkg, '..', '..');
const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const only = arg('--only')?.split(',');
const beforeDir = arg('--before');
const version = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version;
const work = mkdtempSync(join(tmpdir(), 'inferkit-install-time-'));
const canHide = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;

function pack(dir) {
  const out = execFileSync('pnpm', ['pack', '--pack-destination', work], { cwd: dir, encoding: 'utf8' });
  return out.trim().split('\n').filter((l) => l.endsWith('.tgz')).pop();
}

function bytes(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, e) => n + bytes(join(path, e)), 0);
}

/** npm install in a fresh app; `hideCuda` runs it in a mount namespace without the toolkit. */
async function install(name, tarballs, { env = {}, hideCuda = false } = {}) {
  const registry = await LocalRegistry.start(tarballs);
  const dir = join(work, name);
  mkdirSync(dir);
  const core = tarballs.find((t) => t.includes('inference-core'));
  const coreVersion = JSON.parse(execFileSync('tar', ['-xzOf', core, 'package/package.json'], { encoding: 'utf8' })).version;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({
    name: 'fresh-app', version: '1.0.0', private: true, type: 'module',
    dependencies: { '@inferkit/inference-core': coreVersion, '@inferkit/runner-cuda': coreVersion },
    allowScripts: { '@inferkit/runner-cuda': true },
  }));
  writeFileSync(join(dir, '.npmrc'), `@inferkit:registry=${registry.url}/\nfund=false\naudit=false\nupdate-notifier=false\n`);
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|pnpm_|INFERKIT_|NODE_PATH$|NODE_OPTIONS$|INIT_CWD$)/i.test(k)));
  let cmd = 'npm';
  let args = ['install', '--no-package-lock'];
  if (hideCuda) {
    const cuda = ['/usr/local/cuda', ...readdirSync('/usr/local').filter((d) => d.startsWith('cuda-')).map((d) => `/usr/local/${d}`)];
    const empty = join(work, 'empty');
    mkdirSync(empty, { recursive: true });
    const mounts = cuda.filter((d) => existsSync(d)).map((d) => `mount --bind ${empty} ${d}`);
    for (const p of (process.env.PATH ?? '').split(':')) if (existsSync(join(p, 'nvcc'))) mounts.push(`mount --bind /bin/false ${join(p, 'nvcc')}`);
    args = ['-m', '--propagation', 'private', 'sh', '-c', `${mounts.join(' && ')} && exec npm install --no-package-lock`];
    cmd = 'unshare';
  }
  const timeFile = join(work, `${name}.time`);
  if (existsSync('/usr/bin/time')) {
    args = ['-f', '%U %S', '-o', timeFile, cmd, ...args];
    cmd = '/usr/bin/time';
  }
  const t0 = process.hrtime.bigint();
  const result = await new Promise((resolve) => {
    execFile(cmd, args, { cwd: dir, env: { ...cleanEnv, ...env }, maxBuffer: 64 << 20, timeout: 3_600_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, out: `${stdout}${stderr}` }));
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = existsSync(timeFile)
    ? readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').reduce((a, b) => a + Number(b), 0)
    : null;
  await registry.close();
  const runner = join(dir, 'node_modules', '@inferkit', 'runner-cuda');
  const info = (() => {
    try {
      return JSON.parse(readFileSync(join(runner, 'native', 'build', 'Release', 'inferkit-build.json'), 'utf8'));
    } catch {
      return null;
    }
  })();
  const built = existsSync(join(runner, 'native', 'build', 'Release', 'inferkit.node'));
  const compiled = built
    ? info
      ? `from source: CUDA ${info.definitions.INFERKIT_CUDA === 'OFF' ? 'off' : info.definitions.CMAKE_CUDA_ARCHITECTURES ?? 'default archs'}`
      : 'from source (no build info: an older version)'
    : 'nothing (prebuilt)';
  return { name, ok: result.ok, seconds: Number(seconds.toFixed(1)), cpuSeconds: cpu === null ? null : Number(cpu.toFixed(1)), inferkitMiB: Number((bytes(join(dir, 'node_modules', '@inferkit')) / 2 ** 20).toFixed(1)), compiled, tail: result.ok ? undefined : result.out.slice(-2000) };
}

const core = pack(join(repo, 'packages', 'inference-core'));
const runner = pack(pkg);
const prebuiltDir = join(pkg, 'native', 'prebuilt');
const prebuilt = existsSync(prebuiltDir) ? readdirSync(prebuiltDir).filter((f) => f.endsWith(`-${version}.tgz`)).map((f) => join(prebuiltDir, f)) : [];
const scenarios = [
  ['prebuilt', () => (prebuilt.length ? install('prebuilt', [core, runner, ...prebuilt]) : null)],
  ['source', () => install('source', [core, runner])],
  ['source-sm90', () => install('source-sm90', [core, runner], { env: { INFERKIT_CUDA_ARCHS: '90-real' } })],
  ['source-no-nvcc', () => install(canHide ? 'source-no-nvcc' : 'source-INFERKIT_CUDA=OFF', [core, runner], canHide ? { hideCuda: true } : { env: { INFERKIT_CUDA: 'OFF' } })],
];
if (beforeDir) {
  const old = readdirSync(beforeDir).filter((f) => f.endsWith('.tgz')).map((f) => join(beforeDir, f));
  scenarios.push(['before', () => install('before', old)]);
  scenarios.push(['before-no-nvcc', () => install(canHide ? 'before-no-nvcc' : 'before-INFERKIT_CUDA=OFF', old, canHide ? { hideCuda: true } : { env: { INFERKIT_CUDA: 'OFF' } })]);
}

const rows = [];
for (const [name, runScenario] of scenarios) {
  if (only && !only.includes(name)) continue;
  const r = await runScenario();
  if (r === null) {
    console.error(`${name}: skipped (no native/prebuilt/*-${version}.tgz: run pack:prebuilt first)`);
    continue;
  }
  rows.push(r);
  console.error(`${r.name}: ${r.ok ? 'ok' : 'FAILED'} ${r.seconds} s`);
}
rmSync(work, { recursive: true, force: true });

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`\nnpm install of @inferkit/inference-core + @inferkit/runner-cuda ${version} in a fresh app (load average now: ${load})\n`);
console.log(`| scenario | result | wall time | CPU time | node_modules/@inferkit | compiled |`);
console.log(`|---|---|---|---|---|---|`);
for (const r of rows) {
  console.log(`| ${r.name} | ${r.ok ? 'ok' : 'failed'} | ${r.seconds} s | ${r.cpuSeconds ?? '?'} s | ${r.inferkitMiB} MiB | ${r.compiled} |`);
}
mkdirSync(join(here, 'out'), { recursive: true });
writeFileSync(join(here, 'out', 'install-time.json'), JSON.stringify({ version, load, rows }, null, 1));
