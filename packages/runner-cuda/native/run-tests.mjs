#!/usr/bin/env node
// `pnpm run test:native`: configures and builds the C++ test build (native/build/ctest, separate
// from the addon build), runs CTest and writes JUnit XML to packages/runner-cuda/reports/ctest.xml.
//   INFERKIT_TEST_CUDA=AUTO|ON|OFF   CUDA in the test build (default OFF: CI compiles the CUDA
//                                    sources in the CUDA prebuilt package; CUDA tests need a GPU)
//   INFERKIT_BUILD_JOBS=N            parallel compile jobs (default 2)
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
const buildDir = join(nativeDir, 'build', 'ctest');
const reportsDir = join(nativeDir, '..', 'reports');
const jobs = String(Math.max(1, Number(process.env.INFERKIT_BUILD_JOBS ?? 2) || 2));
const cuda = (process.env.INFERKIT_TEST_CUDA ?? 'OFF').toUpperCase();

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: nativeDir });
  if (r.status !== 0) {
    console.error(`${cmd} ${args[0]} failed${r.error ? `: ${r.error.message}` : ''}`);
    process.exit(1);
  }
}

mkdirSync(reportsDir, { recursive: true });
run('cmake', ['-S', nativeDir, '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release',
  '-DINFERKIT_BUILD_TESTS=ON', `-DINFERKIT_CUDA=${cuda}`, '-Wno-dev', '--log-level=WARNING']);
run('cmake', ['--build', buildDir, '-j', jobs]);
run('ctest', ['--test-dir', buildDir, '--output-on-failure', '-j', jobs,
  '--output-junit', join(reportsDir, 'ctest.xml')]);
