#!/usr/bin/env node
// Builds the native addon (native/build/Release/inferkit.node) from source with cmake-js, and is
// the package's install script.
//
//   node native/build-addon.mjs             build (`pnpm build`, `build:native`); exit 1 on failure
//   node native/build-addon.mjs --install   the install script: nothing to do when a prebuilt
//                                           platform package works here (probed in a child
//                                           process); else a build from source. Exit 1 when
//                                           that is impossible or fails (see below)
//   --build-dir DIR                         build elsewhere (native/pack-prebuilt.mjs)
//   --portable                              a prebuilt package's binary: libstdc++ and libgcc
//                                           linked in, never -march=native
//
// Why the install fails instead of warning: npm shows an install script's output only when the
// script fails, so a warning would reach nobody and the user would meet the problem at
// loadWeights. A failed install names the missing tool and the fix; INFERKIT_SKIP_NATIVE_BUILD=1
// installs without an addon on purpose (e.g. an image stage without a compiler).
//
// Progress ("[3/21] engine/cuda/matmul.cu, 1m12s") goes to stderr, and under npm, which hides a
// running script's output, to the terminal (/dev/tty) as well; the compilers' output goes to
// native/build/build.log. After an install-time build only the addon, inferkit-build.json and
// the log stay: the intermediates are removed.
//
// Environment:
//   INFERKIT_CUDA=AUTO|ON|OFF      CUDA backend. AUTO (default): when nvcc is found AND nvidia-smi
//                                  lists a GPU, for that GPU's architecture only. ON: with nvcc,
//                                  for the GPUs present, else CMake's default list
//   INFERKIT_CUDA_ARCHS="86;90"    CMAKE_CUDA_ARCHITECTURES (wins over the GPUs present; builds
//                                  CUDA under AUTO too, e.g. in an image built without a GPU)
//   INFERKIT_CUDA_EXPERIMENTAL=1   also compile the experimental kernels (they run only with
//                                  INFERKIT_CUDA_EXPERIMENTAL=1 at run time)
//   INFERKIT_NATIVE_ARCH=1         -march=native (not portable)
//   INFERKIT_BUILD_JOBS=N          parallel compile jobs (default: cores, at most one per 2 GiB)
//   INFERKIT_BUILD_FROM_SOURCE=1   --install: build even when a prebuilt package works; the
//                                  runner then prefers this build
//   INFERKIT_SKIP_NATIVE_BUILD=1   --install: do nothing
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
const pkgRoot = join(nativeDir, '..');
const args = process.argv.slice(2);
const installMode = args.includes('--install');
const portable = args.includes('--portable');
const buildDirArg = args.indexOf('--build-dir');
const buildDir = buildDirArg >= 0 ? resolve(args[buildDirArg + 1] ?? '') : join(nativeDir, 'build');
const releaseDir = join(buildDir, 'Release');
const addonPath = join(releaseDir, 'inferkit.node');
const logPath = join(buildDir, 'build.log');
const started = Date.now();
const PKG = '@inferkit/runner-cuda';

// ---- output -------------------------------------------------------------------------------

function elapsed() {
  const s = Math.round((Date.now() - started) / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

// npm runs install scripts with their output captured and shows it only on failure; the
// terminal is where a user watching `npm install` can see progress.
let tty = -1;
const ua = process.env.npm_config_user_agent ?? '';
if (installMode && ua.startsWith('npm/') && process.env.npm_config_foreground_scripts !== 'true' && !process.stderr.isTTY) {
  try {
    tty = openSync('/dev/tty', 'w');
  } catch {
    // No controlling terminal (CI): stderr only.
  }
}

function say(line) {
  process.stderr.write(`inferkit: ${line}\n`);
  if (tty >= 0) {
    try {
      // \r and erase-line: start clean after npm's spinner character.
      writeSync(tty, `\r\x1b[2Kinferkit: ${line}\n`);
    } catch {
      tty = -1;
    }
  }
}

/** The rebuild command for the package manager running this script. */
function rebuildCommand() {
  if (!installMode) return `pnpm --filter ${PKG} run build:native`;
  if (ua.startsWith('pnpm/')) return `pnpm rebuild ${PKG}`;
  if (ua.startsWith('yarn/') && !ua.startsWith('yarn/1.')) return `yarn rebuild ${PKG}`;
  return `npm rebuild ${PKG}`;
}

function fail(message, { tail = false } = {}) {
  let errors = '';
  if (tail) {
    try {
      errors = readFileSync(logPath, 'utf8').split('\n').filter((l) => /error|Error|FAILED/.test(l)).slice(-8).join('\n');
    } catch {}
  }
  const lines = [`native addon build failed: ${message}`];
  if (errors) lines.push(errors);
  if (tail) lines.push(`full log: ${logPath}`);
  lines.push(`rebuild with: ${rebuildCommand()}`);
  if (installMode) lines.push('to install without the addon anyway (and build it later): INFERKIT_SKIP_NATIVE_BUILD=1');
  say(lines.join('\n'));
  process.exit(1);
}

// ---- what to build -----------------------------------------------------------------------

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return r.status === 0 ? r.stdout : null;
}

/** The tools a build from source needs that are missing from PATH, in words. */
function missingTools() {
  if (process.platform === 'win32') return []; // cmake-js finds Visual Studio itself
  const missing = [];
  const cmake = run('cmake', ['--version']);
  const v = /cmake version (\d+)\.(\d+)/.exec(cmake ?? '');
  if (v === null) missing.push('cmake (>= 3.18)');
  else if (Number(v[1]) < 3 || (Number(v[1]) === 3 && Number(v[2]) < 18)) missing.push(`cmake >= 3.18 (found ${v[1]}.${v[2]})`);
  const cxx = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  if (!cxx.some((c) => run(c, ['--version']) !== null)) missing.push(`a C++17 compiler (${cxx.join(', ')})`);
  if (run('ninja', ['--version']) === null && run('make', ['--version']) === null) missing.push('make or ninja');
  return missing;
}

function findNvcc() {
  const candidates = [process.env.CUDACXX, 'nvcc', '/usr/local/cuda/bin/nvcc'].filter(Boolean);
  return candidates.find((c) => run(c, ['--version']) !== null) ?? null;
}

/** GPUs from nvidia-smi: [{ name, arch: '90' }]; [] when there is none or no driver. */
function gpus() {
  const out = run('nvidia-smi', ['--query-gpu=name,compute_cap', '--format=csv,noheader']);
  if (out === null) return [];
  return out.split('\n').flatMap((l) => {
    const m = /^(.*),\s*(\d+)\.(\d+)\s*$/.exec(l.trim());
    return m ? [{ name: m[1].trim(), arch: `${m[2]}${m[3]}` }] : [];
  });
}

/** The CMake definitions and a one-line description of the backends. */
function plan() {
  const mode = (process.env.INFERKIT_CUDA ?? 'AUTO').toUpperCase();
  if (!['AUTO', 'ON', 'OFF'].includes(mode)) fail(`INFERKIT_CUDA must be AUTO, ON or OFF (got ${process.env.INFERKIT_CUDA})`);
  const experimental = process.env.INFERKIT_CUDA_EXPERIMENTAL === '1';
  const defs = {
    INFERKIT_NATIVE_ARCH: !portable && process.env.INFERKIT_NATIVE_ARCH === '1' ? 'ON' : 'OFF',
    INFERKIT_STATIC_RUNTIME: portable ? 'ON' : 'OFF',
    INFERKIT_CUDA_EXPERIMENTAL: experimental ? 'ON' : 'OFF',
  };
  const cpuOnly = (why) => ({ defs: { ...defs, INFERKIT_CUDA: 'OFF' }, cuda: false, describe: `CPU backend only (${why})` });
  if (mode === 'OFF') return cpuOnly('INFERKIT_CUDA=OFF');
  const nvcc = findNvcc();
  if (nvcc === null) {
    if (mode === 'ON') fail('INFERKIT_CUDA=ON but nvcc was not found (PATH, CUDACXX, /usr/local/cuda/bin)');
    return cpuOnly('no nvcc');
  }
  const present = gpus();
  let archs = process.env.INFERKIT_CUDA_ARCHS;
  let origin = 'INFERKIT_CUDA_ARCHS';
  if (!archs && present.length > 0) {
    // Machine code for exactly the GPUs here: no PTX, no other architectures.
    archs = [...new Set(present.map((g) => g.arch))].map((a) => `${a}-real`).join(';');
    origin = [...new Set(present.map((g) => g.name))].join(', ');
  }
  if (!archs && mode === 'AUTO') {
    return cpuOnly('nvcc found but nvidia-smi lists no GPU; INFERKIT_CUDA_ARCHS=<arch> or INFERKIT_CUDA=ON builds CUDA anyway');
  }
  if (archs) defs.CMAKE_CUDA_ARCHITECTURES = archs;
  const which = archs ? `${archs} (${origin})` : 'the default architectures of CMakeLists.txt';
  return {
    defs: { ...defs, INFERKIT_CUDA: mode },
    cuda: true,
    cudaVersion: /release (\d+\.\d+)/.exec(run(nvcc, ['--version']) ?? '')?.[1] ?? null,
    describe: `CPU and CUDA backends, CUDA for ${which}${experimental ? ', experimental kernels' : ''}`,
  };
}

function jobs() {
  const fromEnv = Number(process.env.INFERKIT_BUILD_JOBS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  // nvcc on a large kernel file takes about 2 GiB.
  return Math.max(1, Math.min(availableParallelism(), Math.floor(totalmem() / 2 ** 31)));
}

// ---- prebuilt packages -------------------------------------------------------------------

/** A source checkout builds in `pnpm build`, never at install. */
function isSourceCheckout() {
  return existsSync(join(pkgRoot, 'src', 'index.ts'));
}

/** The prebuilt package chosen exactly as CudaRunner will choose it (dist/choose-binary.js). */
async function prebuiltChoice() {
  const mod = join(pkgRoot, 'dist', 'choose-binary.js');
  if (!existsSync(mod)) return { passedOver: [{ name: 'prebuilt packages', reason: 'dist/choose-binary.js is missing' }] };
  const { chooseBinary } = await import(pathToFileURL(mod).href);
  return chooseBinary({ root: pkgRoot, localBuild: false });
}

async function probe(path) {
  const mod = join(pkgRoot, 'dist', 'test-binary.js');
  if (!existsSync(mod)) return null;
  const { testBinary } = await import(pathToFileURL(mod).href);
  return testBinary(path);
}

// ---- the build -----------------------------------------------------------------------------

function cmakeJsBin() {
  try {
    const require = createRequire(join(pkgRoot, 'package.json'));
    return join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  } catch {
    fail(`cmake-js is not installed (it is a dependency of ${PKG})`);
  }
}

/** Runs cmake-js, its output to the log; calls onLine for each line. Resolves to the exit code. */
function cmakeJs(log, argv, onLine) {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [cmakeJsBin(), ...argv], { cwd: nativeDir, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let rest = '';
    const take = (chunk) => {
      writeSync(log, chunk);
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e) => {
      writeSync(log, `\n${e.message}\n`);
      resolveRun(1);
    });
    child.on('close', (code) => {
      if (rest) onLine(rest);
      resolveRun(code ?? 1);
    });
  });
}

/** A cache written by another checkout (a build folder copied or restored from a cache) cannot be reused. */
function dropForeignCache() {
  const cache = join(buildDir, 'CMakeCache.txt');
  if (!existsSync(cache)) return;
  const home = /^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$/m.exec(readFileSync(cache, 'utf8'))?.[1];
  if (home !== undefined && resolve(home) !== resolve(nativeDir)) {
    say(`discarding ${relative(pkgRoot, buildDir) || buildDir}: it was configured for ${home}`);
    rmSync(buildDir, { recursive: true, force: true });
  }
}

/** Whether the configured build compiles the CUDA backend (CMake found and enabled nvcc). */
function cudaEnabled() {
  try {
    return /^CMAKE_CUDA_COMPILER:\w+=(?!.*NOTFOUND).+$/m.test(readFileSync(join(buildDir, 'CMakeCache.txt'), 'utf8'));
  } catch {
    return false;
  }
}

function sourceCount() {
  try {
    return JSON.parse(readFileSync(join(buildDir, 'compile_commands.json'), 'utf8')).length;
  } catch {
    return 0;
  }
}

function dirBytes(path) {
  let total = 0;
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  for (const e of readdirSync(path)) total += dirBytes(join(path, e));
  return total;
}

/** Removes everything but the addon, its build info and the log. Returns the bytes freed. */
function removeIntermediates() {
  let freed = 0;
  for (const e of readdirSync(buildDir)) {
    const p = join(buildDir, e);
    if (p === releaseDir || p === logPath) continue;
    freed += dirBytes(p);
    rmSync(p, { recursive: true, force: true });
  }
  for (const e of readdirSync(releaseDir)) {
    if (e === 'inferkit.node' || e === 'inferkit-build.json') continue;
    const p = join(releaseDir, e);
    freed += dirBytes(p);
    rmSync(p, { recursive: true, force: true });
  }
  return freed;
}

async function build(why) {
  const missing = missingTools();
  if (missing.length > 0) {
    const hint = process.platform === 'darwin'
      ? 'xcode-select --install && brew install cmake'
      : 'Debian/Ubuntu: apt-get install cmake g++ make; Fedora/RHEL: dnf install cmake gcc-c++ make; Alpine: apk add cmake g++ make';
    fail(`${why ? `${why}, and ` : ''}a build from source needs ${missing.join(', ')}, missing from PATH. Install them (${hint}), then rebuild`);
  }
  const p = plan();
  const n = jobs();
  say(`building from source${why ? ` (${why})` : ''}: ${p.describe}, ${n} parallel job${n > 1 ? 's' : ''}; log: ${logPath}`);

  mkdirSync(buildDir, { recursive: true });
  dropForeignCache();
  mkdirSync(buildDir, { recursive: true });
  const cmdDefs = Object.entries(p.defs).map(([k, v]) => `--CD${k}=${v}`);
  const stampPath = join(buildDir, '.inferkit-configure');
  const stamp = JSON.stringify(cmdDefs);
  const configured = existsSync(join(buildDir, 'CMakeCache.txt')) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp;
  const common = ['-d', nativeDir, '-O', buildDir, '--config', 'Release', ...cmdDefs];
  const log = openSync(logPath, 'w');

  let cudaConfigured = null;
  if (!configured) {
    say('configuring (cmake)');
    const code = await cmakeJs(log, ['configure', ...common], (l) => {
      const m = /inferkit: CUDA backend (ON|OFF)/.exec(l);
      if (m) cudaConfigured = m[1] === 'ON';
    });
    if (code !== 0) {
      closeSync(log);
      fail('cmake-js configure failed', { tail: true });
    }
    writeFileSync(stampPath, stamp);
    if (p.cuda && cudaConfigured === false) say('nvcc was found but CMake could not use it (see the log): CPU backend only');
  }

  const total = sourceCount();
  let done = 0;
  let lastLine = Date.now();
  const heartbeat = setInterval(() => {
    if (Date.now() - lastLine >= 30_000) {
      say(`still compiling (${done}/${total || '?'} files done, ${elapsed()})`);
      lastLine = Date.now();
    }
  }, 5_000);
  const code = await cmakeJs(log, ['build', ...common, '-p', String(n)], (l) => {
    const compiled = /Building (?:CXX|CUDA|C) object .*?\.dir\/(.+?)\.o\b/.exec(l);
    if (compiled) {
      done += 1;
      say(`[${done}/${total || '?'}] ${compiled[1]} (${elapsed()})`);
      lastLine = Date.now();
    } else if (/Linking CXX shared (module|library) .*inferkit\.node/.test(l)) {
      say(`linking inferkit.node (${elapsed()})`);
      lastLine = Date.now();
    }
  });
  clearInterval(heartbeat);
  closeSync(log);
  if (code !== 0) fail('cmake-js build failed', { tail: true });
  if (!existsSync(addonPath)) fail(`the build finished but ${addonPath} is missing`, { tail: true });

  writeFileSync(join(releaseDir, 'inferkit-build.json'), JSON.stringify({
    version: JSON.parse(readFileSync(join(pkgRoot, 'package.json'), 'utf8')).version,
    definitions: p.defs,
    cuda: cudaEnabled() ? p.cudaVersion : null,
    requested: installMode && process.env.INFERKIT_BUILD_FROM_SOURCE === '1',
    portable,
  }, null, 1) + '\n');
  return done;
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  if (installMode) {
    if (process.env.INFERKIT_SKIP_NATIVE_BUILD === '1') {
      say('INFERKIT_SKIP_NATIVE_BUILD=1: no native addon built; CudaRunner needs a prebuilt package or a later build');
      return;
    }
    if (isSourceCheckout()) {
      say('source checkout: `pnpm build` builds the native addon');
      return;
    }
  }
  let why = '';
  if (installMode) {
    if (process.env.INFERKIT_BUILD_FROM_SOURCE === '1') {
      why = 'INFERKIT_BUILD_FROM_SOURCE=1';
    } else {
      const choice = await prebuiltChoice();
      if (choice.info !== undefined) {
        const i = choice.info;
        say(`using the prebuilt addon ${i.name} (${i.cudaUsable ? 'CUDA device usable' : `CPU backend; ${i.cudaReason}`}): nothing to build`);
        return;
      }
      why = `no usable prebuilt addon: ${choice.passedOver.map((c) => `${c.name}: ${c.reason}`).join('; ')}`;
      if (choice.passedOver.some((c) => c.reason === 'not installed')) {
        why += ' (they are optional dependencies: --omit=optional, or a lockfile written on another platform, leaves them out)';
      }
    }
  }
  const compiled = await build(why);
  let tail = '';
  if (installMode) {
    const verdict = await probe(addonPath);
    if (verdict && !verdict.usable) fail(`the built addon does not load: ${verdict.failure?.message}`, { tail: true });
    tail = `; removed ${(removeIntermediates() / 2 ** 20).toFixed(0)} MB of build intermediates`;
  }
  say(compiled === 0 ? `native addon up to date (${relative(pkgRoot, addonPath)})` : `built ${relative(pkgRoot, addonPath)} in ${elapsed()}${tail}`);
}

main().catch((e) => fail(e?.stack ?? String(e)));
