/**
 * Issue #11: a Python worker is another process, and the host must survive whatever it does.
 * The attacks come from real python3 workers running test/fixtures/inferkit_hostile_engines.py;
 * each test names the attack. A failure of the host would show up as an uncaught exception
 * (vitest fails the run), a crash of the test process, or a request that never settles (the
 * test's deadline).
 */
import { InferenceError, type ExecuteBatch, type TokenChunk } from '@inferkit/inference-core';
import { afterEach, describe, expect, test } from 'vitest';
import { PythonRunner } from './python-runner.js';
import type { PythonRunnerOptions } from './python-runner-options.js';
import { chatBatch, runnersClosedAfterEach } from './__testing__/runner-fixtures.js';
import { eventually, hostileOptions, processExists } from './__testing__/scripted-engine.js';

const newRunner = runnersClosedAfterEach();
const strays: number[] = [];

afterEach(() => {
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

const hostile = (overrides: Partial<PythonRunnerOptions> = {}): PythonRunner => newRunner(hostileOptions(overrides));

const batch = (requestId: string, content: string): ExecuteBatch => chatBatch('hostile', requestId, content);

async function streamError(r: PythonRunner, requestId: string, attack: string): Promise<{ error: InferenceError; chunks: TokenChunk[] }> {
  const chunks: TokenChunk[] = [];
  try {
    for await (const chunk of await r.execute(batch(requestId, attack))) chunks.push(chunk);
  } catch (err) {
    expect(InferenceError.isInstance(err)).toBe(true);
    return { error: err as InferenceError, chunks };
  }
  throw new Error(`the ${attack} request finished without an error`);
}

/** The worker was killed for a protocol violation: the request and the runner say so. */
async function expectKilledForProtocol(r: PythonRunner, attack: string, why: RegExp): Promise<void> {
  const { error, chunks } = await streamError(r, 'a', attack);
  expect(chunks.map((c) => c.textDelta).join('')).toBe('x ');
  expect(error.kind).toBe('runtime_crashed');
  expect(error.message).toMatch(/killed after sending a malformed frame/);
  expect(error.message).toMatch(why);
  await eventually(() => r.health().state === 'crashed', 10_000, 'health() reports the crash');
  expect(r.health().crash?.kind).toBe('protocol');
  // The runner recovers through rebuildSession, as supervise({ rebuild }) would call it.
  await r.rebuildSession('manual');
  expect((await (await r.execute(batch('after', 'hello'))).collect()).text).toBe('x fine');
}

describe('issue #11.1: frames from the worker are bounded and every listener fails the worker, never the host', () => {
  test('hostile deep-cause: an error frame whose cause nests 100,000 levels (7 MB) kills the worker, not the host', async () => {
    await expectKilledForProtocol(hostile(), 'deep-cause 100000', /nests deeper than 32 levels/);
  });

  test('hostile deep-cause at start-up: the same frame before ready is a typed start-up failure', async () => {
    const r = hostile({ engineArgs: { startup: 'deep-cause 100000' } });
    let err: unknown;
    try {
      await r.loadWeights({ kind: 'runtime_managed' });
    } catch (e) {
      err = e;
    }
    expect(InferenceError.isInstance(err) && err.kind === 'runtime_crashed').toBe(true);
    expect((err as InferenceError).message).toMatch(/nests deeper than 32 levels/);
    expect(r.health()).toMatchObject({ state: 'crashed', crash: { kind: 'startup' } });
  });

  test('hostile deep-json: a delta carrying a value nested 100,000 levels is refused before it is parsed', async () => {
    await expectKilledForProtocol(hostile(), 'deep-json 100000', /nests deeper than 32 levels/);
  });

  test('hostile length-2g: a frame announcing 2 GiB is refused from its header', async () => {
    await expectKilledForProtocol(hostile(), 'length-2g', /frame length 2147483648 exceeds the 67108864-byte limit/);
  });

  test('hostile bad-utf8: a frame body that is not UTF-8', async () => {
    await expectKilledForProtocol(hostile(), 'bad-utf8', /not valid UTF-8/);
  });

  test('hostile unknown-type: a frame of a type the host does not know', async () => {
    await expectKilledForProtocol(hostile(), 'unknown-type', /unknown worker frame type "telemetry"/);
  });

  test('hostile stray-id: a delta for a request id the host never sent', async () => {
    await expectKilledForProtocol(hostile(), 'stray-id', /delta frame for request id "999999", which is not running/);
  });
});

/** Starts the `spawn` attack: returns the worker's two children (same group, new session). */
async function spawnChildren(r: PythonRunner): Promise<{ handle: AsyncIterator<TokenChunk>; group: number; session: number }> {
  const handle = (await r.execute(batch('s', 'spawn')))[Symbol.asyncIterator]();
  const first = await handle.next();
  const [group, session] = first.value!.textDelta.trim().split(' ').map(Number) as [number, number];
  strays.push(group, session);
  expect(processExists(group)).toBe(true);
  expect(processExists(session)).toBe(true);
  return { handle, group, session };
}

async function drainToError(it: AsyncIterator<TokenChunk>): Promise<InferenceError> {
  for (;;) {
    try {
      if ((await it.next()).done) throw new Error('the stream ended without an error');
    } catch (err) {
      if (!InferenceError.isInstance(err)) throw err;
      return err;
    }
  }
}

describe('issue #11.3: whatever ends the worker, what it started ends with it', () => {
  test('hostile exit: the engine calls os._exit; its child in the group and its child in a new session are gone', async () => {
    const r = hostile();
    const { group, session } = await spawnChildren(r);
    const { error } = await streamError(r, 'e', 'exit');
    expect([error.kind, error.details]).toEqual(['runtime_crashed', expect.objectContaining({ exitCode: 7 })]);
    await eventually(() => !processExists(group) && !processExists(session), 10_000, 'both children are gone');
  });

  test('SIGKILL of the engine process: its children, setsid one included, are gone', async () => {
    const r = hostile();
    const { handle, group, session } = await spawnChildren(r);
    const enginePid = r.health().enginePid!;
    expect(enginePid).not.toBe(r.workerPid()); // served by a child of the reaper
    process.kill(enginePid, 'SIGKILL');
    const err = await drainToError(handle);
    expect([err.kind, err.details]).toEqual(['runtime_crashed', expect.objectContaining({ signal: 'SIGKILL' })]);
    await eventually(() => !processExists(group) && !processExists(session), 10_000, 'both children are gone');
    expect(r.health()).toMatchObject({ state: 'crashed', crash: { kind: 'signal' } });
  });

  test('rebuildSession and close(): the children of the replaced worker are gone', async () => {
    const r = hostile();
    const first = await spawnChildren(r);
    await r.rebuildSession('manual');
    await eventually(() => !processExists(first.group) && !processExists(first.session), 10_000, 'children of the replaced worker are gone');
    const second = await spawnChildren(r);
    await r.close();
    await eventually(() => !processExists(second.group) && !processExists(second.session), 10_000, 'children of the closed worker are gone');
  });

  test('limit (README): SIGKILL of the reaper itself; the group child is gone, the setsid child is out of reach', async () => {
    const r = hostile();
    const { handle, group, session } = await spawnChildren(r);
    process.kill(r.workerPid()!, 'SIGKILL');
    await drainToError(handle);
    await eventually(() => !processExists(group), 10_000, 'the group child is gone');
    // Nothing is left that knows about it: it was reparented to init. afterEach kills it.
    expect(processExists(session)).toBe(true);
  });
});

describe('issue #11.9: a worker that stops answering is replaced instead of wedging its requests', () => {
  const liveness = { livenessIntervalMs: 100, livenessTimeoutMs: 1_000 };

  test('hostile sleep: time.sleep() inside generate blocks the event loop; runtime_crashed, with the stack in the log', async () => {
    const r = hostile(liveness);
    const started = Date.now();
    const { error, chunks } = await streamError(r, 'a', 'sleep 60');
    expect(chunks.map((c) => c.textDelta).join('')).toBe('x ');
    expect(Date.now() - started).toBeLessThan(30_000); // not the 60 s of the sleep
    expect(error.kind).toBe('runtime_crashed');
    expect(error.message).toMatch(/killed because it had its event loop blocked for \d+ ms/);
    expect((error.details as { stderrTail: string }).stderrTail).toMatch(/the event loop has not run for .* it is blocked in:[\s\S]*time\.sleep/);
    expect(r.health()).toMatchObject({ state: 'crashed', crash: { kind: 'unresponsive' } });
  });

  test('hostile half-frame: half a frame then silence; runtime_crashed instead of a hang', async () => {
    const r = hostile(liveness);
    const { error } = await streamError(r, 'a', 'half-frame');
    expect(error.kind).toBe('runtime_crashed');
    expect(error.message).toMatch(/killed because it stopped writing in the middle of a frame/);
    expect(r.health().crash?.kind).toBe('unresponsive');
  });

  test('a stopped engine process (SIGSTOP) answers no pings; runtime_crashed, and rebuildSession recovers', async () => {
    const r = hostile(liveness);
    const handle = (await r.execute(batch('a', 'spawn')))[Symbol.asyncIterator]();
    const first = await handle.next();
    strays.push(...first.value!.textDelta.trim().split(' ').map(Number));
    process.kill(r.health().enginePid!, 'SIGSTOP');
    const err = await drainToError(handle);
    expect(err.kind).toBe('runtime_crashed');
    expect(err.message).toMatch(/killed because it did not answer liveness pings for \d+ ms/);
    await r.rebuildSession('manual');
    expect((await (await r.execute(batch('b', 'hello'))).collect()).text).toBe('x fine');
  });

  test('a healthy worker under the same short deadlines is left alone', async () => {
    const r = hostile(liveness);
    await r.loadWeights({ kind: 'runtime_managed' });
    await eventually(() => (r.health().sinceAliveMs ?? Infinity) < 500, 10_000, 'liveness answers arrive');
    const until = Date.now() + 2_500; // well past the deadline
    while (Date.now() < until) {
      expect((await (await r.execute(batch('ok', 'hello'))).collect()).text).toBe('x fine');
    }
    expect(r.health().state).toBe('ready');
  });
});
