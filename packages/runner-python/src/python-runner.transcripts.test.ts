/**
 * PythonRunner against recorded frame transcripts (src/__fixtures__/*.frames.jsonl, recorded from
 * real workers by test/record_transcripts.py). replay-worker.mjs plays the worker on fds 3 and 4,
 * so these tests need no Python.
 */
import type { ExecuteBatch, TokenChunk } from '@inferkit/inference-core';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import type { PythonRunner } from './python-runner.js';
import type { PythonRunnerOptions, PythonWorkerExit } from './python-runner-options.js';
import { chatBatch, failure, runnersClosedAfterEach } from './__testing__/runner-fixtures.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '__fixtures__');
const newRunner = runnersClosedAfterEach();

function replay(transcript: string, overrides: Partial<PythonRunnerOptions> = {}): PythonRunner {
  return newRunner({
    engine: 'inferkit_test_engines:create',
    name: 'scripted',
    python: process.execPath,
    pythonArgs: [path.join(FIXTURES, 'replay-worker.mjs'), path.join(FIXTURES, `${transcript}.frames.jsonl`)],
    startupTimeoutMs: 20_000,
    ...overrides,
  });
}

const batch = (requestId: string, content: string, sampling: ExecuteBatch['sampling'] = {}): ExecuteBatch => chatBatch('scripted', requestId, content, sampling);

async function chunks(handle: AsyncIterable<TokenChunk>): Promise<TokenChunk[]> {
  const out: TokenChunk[] = [];
  for await (const chunk of handle) out.push(chunk);
  return out;
}

test('deltas become chunks with the caller request id; the final one carries usage and finish reason', async () => {
  const runner = replay('stream-and-usage');
  expect(await chunks(await runner.execute(batch('first', 'héllo wörld', { maxTokens: 10 })))).toEqual([
    { requestId: 'first', textDelta: 'echo: héllo wörld ', usage: { outputTokens: 3, inputTokens: 2 }, finishReason: 'stop' },
  ]);
  expect(runner.engineInfo()).toEqual({ name: 'scripted', model: null, maxContext: 4096, chatTemplate: true, device: null, capabilities: { continuation: true } });
  expect(await chunks(await runner.execute(batch('second', '!paced 5', { maxTokens: 3 })))).toEqual([
    { requestId: 'second', textDelta: 't0 ' },
    { requestId: 'second', textDelta: 't1 ' },
    { requestId: 'second', textDelta: 't2 ' },
    { requestId: 'second', textDelta: '', usage: { outputTokens: 3, inputTokens: 2 }, finishReason: 'length' },
  ]);
  expect(runner.inFlightCount()).toBe(0);
});

test('error frames become InferenceErrors of the same kind, message and retryability', async () => {
  const runner = replay('errors');
  const typed = await failure((await runner.execute(batch('a', '!error context_length_exceeded prompt is 9000 tokens'))).collect());
  expect([typed.kind, typed.message, typed.retryable, typed.requestId, typed.provider]).toEqual([
    'context_length_exceeded',
    'prompt is 9000 tokens',
    false,
    'a',
    'python',
  ]);
  const internal = await failure((await runner.execute(batch('b', '!raise'))).collect());
  expect([internal.kind, internal.message, internal.details]).toEqual([
    'internal',
    'RuntimeError: scripted failure',
    { originalName: 'RuntimeError' },
  ]);
});

test('a worker that cannot start its engine fails execute with the engine error', async () => {
  const runner = replay('startup-failure');
  const err = await failure(runner.execute(batch('a', 'x')));
  expect(err.kind).toBe('not_found');
  expect(err.message).toContain("cannot import engine module 'inferkit_missing_engine'");
});

test('a dead engine: the request fails, then the exit is reported with the fatal message and exit code', async () => {
  let exited!: (exit: PythonWorkerExit) => void;
  const exit = new Promise<PythonWorkerExit>((resolve) => (exited = resolve));
  const runner = replay('engine-dead', { onWorkerExit: (e) => exited(e) });
  const err = await failure((await runner.execute(batch('a', '!fatal'))).collect());
  expect([err.kind, err.message]).toEqual(['runtime_crashed', 'scripted engine death']);
  expect(await exit).toMatchObject({ code: 3, signal: null, expected: false });
  const next = await failure(runner.execute(batch('b', 'x')));
  expect(next.kind).toBe('runtime_crashed');
  expect(next.message).toContain('scripted engine death; the python worker exited with code 3 (the engine reported itself dead)');
  expect(next.details).toMatchObject({ exitCode: 3, signal: null });
});

test('cancel sends abort; the slot is held until the worker confirms with aborted', async () => {
  const runner = replay('abort');
  const handle = await runner.execute(batch('a', '!forever'));
  const iterator = handle[Symbol.asyncIterator]();
  expect((await iterator.next()).value).toEqual({ requestId: 'a', textDelta: 'f0 ' });
  handle.cancel();
  expect((await failure(iterator.next())).kind).toBe('cancelled');
  const health = await runner.ping();
  expect(health.inFlight).toBe(0);
  expect(health.stats).toMatchObject({ aborted: ['1'], active: [] });
  expect(runner.inFlightCount()).toBe(0);
});

test('a worker that exits mid-request: the request fails with runtime_crashed and health says crashed until a rebuild', async () => {
  const runner = replay('crash');
  const handle = await runner.execute(batch('a', '!exit 7'));
  const err = await failure(handle.collect());
  expect([err.kind, err.details]).toEqual(['runtime_crashed', expect.objectContaining({ exitCode: 7, signal: null })]);
  const health = runner.health();
  expect([health.state, health.crash?.kind, health.crash?.error.kind, health.crashes]).toEqual(['crashed', 'exit', 'runtime_crashed', 1]);
  expect((await failure(runner.execute(batch('b', 'x')))).message).toContain('call rebuildSession() to restart it');
});
