#!/usr/bin/env node
// Builds the native addon (native/build/Release/inferkit.node) with cmake-js.
//
//   node native/build-addon.mjs            fail (exit 1) when the build fails: `pnpm run build`
//   node native/build-addon.mjs --install  never fail the package install: print one warning
//                                          with the log path and the rebuild command instead
//
// All compiler output goes to native/build/build.log, never to stdout. Environment:
//   INFERKIT_CUDA=AUTO|ON|OFF      CUDA backend (default AUTO: when nvcc is found)
//   INFERKIT_NATIVE_ARCH=1         -march=native (not portable)
//   INFERKIT_CUDA_ARCHS="90"       CMAKE_CUDA_ARCHITECTURES (default: see CMakeLists.txt)
//   INFERKIT_BUILD_JOBS=N          parallel compile jobs (default 2)
//   INFERKIT_SKIP_NATIVE_BUILD=1   skip (e.g. when a prebuilt binary is provided)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
const buildDir = join(nativeDir, 'build');
const logPath = join(buildDir, 'build.log');
const installMode = process.argv.includes('--install');
const rebuildHint = 'pnpm --filter @inferkit/runner-cuda run build:native';

if (process.env.INFERKIT_SKIP_NATIVE_BUILD === '1') {
  process.exit(0);
}

const cudaMode = (process.env.INFERKIT_CUDA ?? 'AUTO').toUpperCase();
if (!['AUTO', 'ON', 'OFF'].includes(cudaMode)) {
  console.error(`inferkit: INFERKIT_CUDA must be AUTO, ON or OFF (got ${process.env.INFERKIT_CUDA})`);
  process.exit(installMode ? 0 : 1);
}
const jobs = String(Math.max(1, Number(process.env.INFERKIT_BUILD_JOBS ?? 2) || 2));
const defs = [
  `--CDINFERKIT_CUDA=${cudaMode}`,
  `--CDINFERKIT_NATIVE_ARCH=${process.env.INFERKIT_NATIVE_ARCH === '1' ? 'ON' : 'OFF'}`,
];
if (process.env.INFERKIT_CUDA_ARCHS) defs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.INFERKIT_CUDA_ARCHS}`);

const require = createRequire(join(nativeDir, '..', 'package.json'));
let cmakeJs;
try {
  cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
} catch {
  fail('cmake-js is not installed (it is a dependency of @inferkit/runner-cuda)');
}

mkdirSync(buildDir, { recursive: true });
const stampPath = join(buildDir, '.inferkit-configure');
const stamp = JSON.stringify(defs);
const configured = existsSync(join(buildDir, 'CMakeCache.txt')) && existsSync(stampPath) &&
  readFileSync(stampPath, 'utf8') === stamp;

const log = openSync(logPath, 'w');
const common = ['-d', nativeDir, '-O', buildDir, '--config', 'Release', ...defs];
const steps = configured ? [['build', '-p', jobs]] : [['configure'], ['build', '-p', jobs]];
for (const args of steps) {
  const r = spawnSync(process.execPath, [cmakeJs, args[0], ...common, ...args.slice(1)], {
    cwd: nativeDir,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  if (r.status !== 0) {
    closeSync(log);
    fail(`cmake-js ${args[0]} failed${r.error ? `: ${r.error.message}` : ''}`);
  }
  if (args[0] === 'configure') writeFileSync(stampPath, stamp);
}
closeSync(log);
if (!existsSync(join(buildDir, 'Release', 'inferkit.node'))) {
  fail('the build finished but native/build/Release/inferkit.node is missing');
}

function fail(message) {
  let tail = '';
  try {
    tail = readFileSync(logPath, 'utf8').split('\n').filter((l) => /error|Error|FAILED/.test(l)).slice(-8).join('\n');
  } catch {}
  console.error(`inferkit: native addon build failed: ${message}\n${tail ? tail + '\n' : ''}` +
    `full log: ${logPath}\nrebuild with: ${rebuildHint}`);
  process.exit(installMode ? 0 : 1);
}
