/** PythonWorker's guards: whatever handling a worker's output throws fails that worker, never the host. */
import path from 'node:path';
import { realClock } from '@inferkit/inference-core';
import { expect, test } from 'vitest';
import { bridgePythonPath } from './bridge-path.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { PythonWorker, type WorkerExit } from './python-worker.js';
import { FIXTURES_DIR } from './__testing__/scripted-engine.js';

function startWorker(onFrame: () => void, exits: WorkerExit[]): PythonWorker {
  const worker = new PythonWorker({
    python: 'python3',
    pythonArgs: [],
    env: { ...process.env, PYTHONPATH: [bridgePythonPath(), FIXTURES_DIR].join(path.delimiter) },
    cwd: undefined,
    logTailLines: 10,
    clock: realClock,
    liveness: null,
    onFrame,
    onLog: () => {},
    onExit: (exit) => exits.push(exit),
  });
  worker.send({ type: 'init', protocol: PROTOCOL_VERSION, engine: 'inferkit_test_engines:create', model: null, revision: null, engineArgs: {} });
  return worker;
}

test('a frame handler that throws (the RangeError of issue #11.1) fails the worker with kind internal; the host carries on', async () => {
  const exits: WorkerExit[] = [];
  const worker = startWorker(() => {
    throw new RangeError('Maximum call stack size exceeded');
  }, exits);
  await worker.waitForExit();
  expect(exits).toHaveLength(1);
  expect(exits[0]!.failure).toEqual({ kind: 'internal', message: 'handling a frame threw RangeError: Maximum call stack size exceeded' });
  expect(exits[0]!.reason).toBe('was killed because handling a frame threw RangeError: Maximum call stack size exceeded');
});

test('an exit handler that throws is reported as a process warning, not an uncaught exception', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    const worker = new PythonWorker({
      python: 'python3',
      pythonArgs: ['-c', 'import sys; sys.exit(5)'],
      env: process.env,
      cwd: undefined,
      logTailLines: 10,
      clock: realClock,
      liveness: null,
      onFrame: () => {},
      onLog: () => {},
      onExit: () => {
        throw new TypeError('observer bug');
      },
    });
    await worker.waitForExit();
    const deadline = Date.now() + 5_000;
    while (warnings.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(warnings.some((w) => w.includes('observer bug'))).toBe(true);
  } finally {
    process.off('warning', onWarning);
  }
});
