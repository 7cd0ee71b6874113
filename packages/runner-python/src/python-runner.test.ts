/**
 * PythonRunner against real python3 workers running the stdlib test engine
 * (test/fixtures/inferkit_test_engines.py; its docstring lists the scripted replies).
 */
import { InferenceError, supervise, type ExecuteBatch, type TokenChunk } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import type { PythonLogLine } from './log-tail.js';
import { PythonRunner } from './python-runner.js';
import type { PythonRunnerOptions, PythonWorkerExit } from './python-runner-options.js';
import { chatBatch, failure, runnersClosedAfterEach } from './__testing__/runner-fixtures.js';
import { processExists, scriptedOptions } from './__testing__/scripted-engine.js';

const newRunner = runnersClosedAfterEach();

const runner = (overrides: Partial<PythonRunnerOptions> = {}): PythonRunner => newRunner(scriptedOptions(overrides));

const batch = (requestId: string, content: string, sampling: ExecuteBatch['sampling'] = {}): ExecuteBatch => chatBatch('scripted', requestId, content, sampling);

/** Reads buffered chunks until the stream fails; the error must come. */
async function drainToError(iterator: AsyncIterator<TokenChunk>): Promise<InferenceError> {
  for (;;) {
    let done: boolean | undefined;
    try {
      done = (await iterator.next()).done;
    } catch (err) {
      expect(InferenceError.isInstance(err)).toBe(true);
      return err as InferenceError;
    }
    if (done) throw new Error('the stream ended without an error');
  }
}

/** Pings until the worker reports no request in flight (bounded; each ping is a round trip). */
async function settledStats(r: PythonRunner): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const health = await r.ping();
    if (health.inFlight === 0) return health.stats!;
  }
  throw new Error('the worker kept requests in flight');
}

describe('kinds', () => {
  test('runtimeKind, transportKind and gilPinned', () => {
    expect(runner().runtimeKind()).toBe('python:scripted');
    expect(runner({ name: undefined }).runtimeKind()).toBe('python:inferkit_test_engines');
    expect(new PythonRunner({ engine: 'vllm' }).runtimeKind()).toBe('vllm');
    expect(new PythonRunner({ engine: 'vllm' }).transportKind()).toEqual({ kind: 'local', device: 'cuda' });
    expect(new PythonRunner({ engine: 'transformers' }).runtimeKind()).toBe('python:transformers');
    expect(new PythonRunner({ engine: 'transformers', deviceLabel: 'cuda:1' }).transportKind()).toEqual({ kind: 'local', device: 'cuda:1' });
    expect(new PythonRunner({ engine: 'transformers', engineArgs: { device: 'cuda:2' } }).transportKind()).toEqual({ kind: 'local', device: 'cuda:2' });
    expect(new PythonRunner({ engine: 'transformers' }).transportKind()).toEqual({ kind: 'local', device: 'cpu' });
    expect(runner().gilPinned()).toBe(true);
  });

  test('options are checked at construction: bad_request naming the option', () => {
    const refusal = (options: unknown): [string, unknown] => {
      try {
        new PythonRunner(options as PythonRunnerOptions);
      } catch (err) {
        expect(InferenceError.isInstance(err)).toBe(true);
        return [(err as InferenceError).kind, ((err as InferenceError).details as { param?: string }).param];
      }
      throw new Error('expected the options to be refused');
    };
    expect(refusal({ engine: 'nocolon' })).toEqual(['bad_request', 'engine']);
    expect(refusal({})).toEqual(['bad_request', 'engine']);
    expect(refusal(undefined)).toEqual(['bad_request', 'engine']);
    expect(refusal('vllm')).toEqual(['bad_request', 'options']);
    expect(refusal({ engine: 'vllm', startupTimeoutMs: -1 })).toEqual(['bad_request', 'startupTimeoutMs']);
    expect(refusal({ engine: 'vllm', engineArgs: [] })).toEqual(['bad_request', 'engineArgs']);
    expect(refusal({ engine: 'vllm', engineArgs: { n: 1n } })).toEqual(['bad_request', 'engineArgs']);
    expect(refusal({ engine: 'vllm', env: { A: 1 } })).toEqual(['bad_request', 'env']);
    expect(refusal({ engine: 'vllm', livenessIntervalMs: 1000, livenessTimeoutMs: 1500 })).toEqual(['bad_request', 'livenessTimeoutMs']);
    expect(refusal({ engine: 'vllm', pythonArgs: ['-X', 3] })).toEqual(['bad_request', 'pythonArgs']);
    expect(refusal({ engine: 'vllm', enigne: 'typo' })).toEqual(['bad_request', 'enigne']);
  });

  test('options that moved to core policies are refused with where they went', () => {
    for (const [key, hint] of [
      ['maxInFlight', /supervise\(runner, \{ serving: \{ maxConcurrent \} \}\)/],
      ['onBackpressure', /onCapacityExhausted/],
      ['maxQueued', /maxQueueLength/],
      ['autoRestart', /supervise\(runner, \{ rebuild/],
      ['device', /deviceLabel/],
    ] as const) {
      let err: unknown;
      try {
        new PythonRunner({ engine: 'vllm', [key]: 1 } as unknown as PythonRunnerOptions);
      } catch (e) {
        err = e;
      }
      expect(InferenceError.isInstance(err) && err.kind === 'bad_request').toBe(true);
      expect((err as InferenceError).details).toEqual({ param: key });
      expect((err as InferenceError).message).toMatch(hint);
    }
  });
});

describe('streaming', () => {
  test('text, usage and finish reason of one request', async () => {
    const r = runner();
    const tokens = await (await r.execute(batch('req-1', 'hello big world'))).collect();
    expect(tokens.requestId).toBe('req-1');
    expect(tokens.text).toBe('echo: hello big world ');
    expect(tokens.finishReason).toBe('stop');
    expect(tokens.usage).toEqual({ inputTokens: 3, outputTokens: 4 });
    expect(r.engineInfo()).toEqual({ name: 'scripted', model: null, maxContext: 4096, chatTemplate: true, device: null, capabilities: { continuation: true } });
  });

  test('maxTokens and stop strings reach the engine', async () => {
    const r = runner();
    const cut = await (await r.execute(batch('a', '!tokens 50', { maxTokens: 3 }))).collect();
    expect([cut.text, cut.finishReason]).toEqual(['t0 t1 t2 ', 'length']);
    const stopped = await (await r.execute(batch('b', 'one two three', { stop: ['three'] }))).collect();
    expect([stopped.text, stopped.finishReason]).toEqual(['echo: one two ', 'stop']);
  });

  test('500 concurrent requests each stream their own tokens in order', async () => {
    const r = runner();
    const n = 500;
    const handles = await Promise.all(
      Array.from({ length: n }, (_, i) => r.execute(batch(`c${i}`, `!paced ${20 + (i % 7)}`))),
    );
    const results = await Promise.all(
      handles.map(async (handle, i) => {
        const chunks: TokenChunk[] = [];
        for await (const chunk of handle) chunks.push(chunk);
        return { i, chunks };
      }),
    );
    for (const { i, chunks } of results) {
      const count = 20 + (i % 7);
      expect(chunks.every((c) => c.requestId === `c${i}`)).toBe(true);
      expect(chunks.map((c) => c.textDelta).join('')).toBe(Array.from({ length: count }, (_, k) => `t${k} `).join(''));
      expect(chunks.filter((c) => c.finishReason !== undefined).length).toBe(1);
      expect(chunks.at(-1)!.usage!.outputTokens).toBe(count);
    }
    expect(r.inFlightCount()).toBe(0);
  });

  test('a fast engine is batched into few frames without losing tokens', async () => {
    const r = runner();
    const chunks: TokenChunk[] = [];
    for await (const chunk of await r.execute(batch('fast', '!tokens 20000'))) chunks.push(chunk);
    expect(chunks.map((c) => c.textDelta).join('')).toBe(Array.from({ length: 20000 }, (_, k) => `t${k} `).join(''));
    expect(chunks.length).toBeLessThan(20000);
    expect(chunks.at(-1)!.usage!.outputTokens).toBe(20000);
  });

  test('promptTemplate sends a rendered prompt instead of messages', async () => {
    const r = runner({ promptTemplate: (messages) => messages.map((m) => `${m.role}=${String(m.content)}`).join(' ') });
    const tokens = await (await r.execute(batch('t', 'hi'))).collect();
    expect(tokens.text).toBe('echo: user=hi ');
  });

  test('loadWeights passes the model to the engine and restarts it for another model', async () => {
    const r = runner({ model: 'first' });
    await r.loadWeights({ kind: 'runtime_managed' });
    expect(r.engineInfo()!.model).toBe('first');
    const pid = r.workerPid();
    await r.loadWeights({ kind: 'local_path', path: '/models/second' });
    expect(r.engineInfo()!.model).toBe('/models/second');
    expect(r.workerPid()).not.toBe(pid);
    expect(processExists(pid!)).toBe(false);
    await r.loadWeights({ kind: 'hugging_face', repo: 'org/third', revision: 'main' });
    expect(r.engineInfo()!.model).toBe('org/third');
    const err = await failure(r.loadWeights({ kind: 'nope' } as never));
    expect(err.kind).toBe('bad_request');
  });
});

describe('cancellation', () => {
  test('abort mid-stream releases the request in the engine', async () => {
    const r = runner();
    const handle = await r.execute(batch('long', '!forever'));
    const iterator = handle[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    handle.cancel('enough');
    const err = await failure(iterator.next());
    expect(err.kind).toBe('cancelled');
    const stats = await settledStats(r);
    expect(stats.active).toEqual([]);
    expect(stats.aborted).toEqual(['1']); // the engine's abort() ran for the wire id
    expect(stats.closedStreams).toEqual(['1']); // and its generator was closed
    expect(r.inFlightCount()).toBe(0);
  });

  test('the caller signal cancels a running request', async () => {
    const r = runner();
    const controller = new AbortController();
    const handle = await r.execute(batch('s', '!forever'), { signal: controller.signal });
    const iterator = handle[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();
    expect((await failure(iterator.next())).kind).toBe('cancelled');
    expect((await settledStats(r)).aborted).toEqual(['1']);
  });
});

describe('errors', () => {
  test('typed engine errors keep their kind and carry the request id', async () => {
    const r = runner();
    const err = await failure((await r.execute(batch('e', '!error rate_limited slow down please'))).collect());
    expect(err.kind).toBe('rate_limited');
    expect(err.message).toBe('slow down please');
    expect(err.retryable).toBe(true);
    expect(err.requestId).toBe('e');
    expect(err.provider).toBe('python');
    const internal = await failure((await r.execute(batch('i', '!raise'))).collect());
    expect(internal.kind).toBe('internal');
    expect(internal.message).toBe('RuntimeError: scripted failure');
    // the worker keeps serving
    expect((await (await r.execute(batch('ok', 'still here'))).collect()).finishReason).toBe('stop');
  });

  test('engine output on stdout and stderr becomes log lines and never touches the protocol', async () => {
    const lines: PythonLogLine[] = [];
    const r = runner({ onLog: (line) => lines.push(line) });
    const tokens = await (await r.execute(batch('p', '!print 30'))).collect();
    expect(tokens.text).toBe(Array.from({ length: 30 }, (_, k) => `p${k} `).join(''));
    // The log pipes are separate from the frame pipe: ping until their last lines have arrived.
    const arrived = (): boolean =>
      lines.some((l) => l.line === 'stderr noise 29') && lines.some((l) => l.line.startsWith('stdout noise 29'));
    for (let i = 0; i < 200 && !arrived(); i++) await r.ping();
    const stdout = lines.filter((l) => l.stream === 'stdout').map((l) => l.line);
    const stderr = lines.filter((l) => l.stream === 'stderr').map((l) => l.line);
    expect(stdout).toContain('stdout noise 29 \u0000\u0000\u0000\u0007{"type":"delta"}');
    expect(stderr).toContain('stderr noise 29');
    expect(lines.every((l) => l.pid === r.workerPid())).toBe(true);
  });

  test('SIGKILL mid-stream fails every in-flight request with runtime_crashed within 1 s; rebuildSession recovers', async () => {
    const r = runner();
    const handles = await Promise.all([1, 2, 3].map((i) => r.execute(batch(`k${i}`, i === 1 ? '!print 1' : '!forever'))));
    await handles[0]!.collect();
    const iterators = handles.slice(1).map((h) => h[Symbol.asyncIterator]());
    await Promise.all(iterators.map((it) => it.next()));
    const pid = r.workerPid()!;
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const errors = await Promise.all(iterators.map(drainToError));
    const elapsed = performance.now() - killedAt;
    expect(elapsed).toBeLessThan(1000);
    for (const [i, err] of errors.entries()) {
      expect(err.kind).toBe('runtime_crashed');
      expect(err.requestId).toBe(`k${i + 2}`);
      expect(err.details).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
      expect(err.message).toContain('killed by SIGKILL');
      expect((err.details as { stderrTail: string }).stderrTail).toContain('stderr noise 0');
    }
    const refused = await failure(r.execute(batch('after', 'x')));
    expect(refused.kind).toBe('runtime_crashed');
    expect(refused.message).toContain('rebuildSession');
    expect(r.inFlightCount()).toBe(0);
    await r.rebuildSession('manual');
    expect(r.workerPid()).not.toBe(pid);
    expect((await (await r.execute(batch('again', 'back again'))).collect()).text).toBe('echo: back again ');
  });

  test('a malformed frame from the worker is a clear runtime_crashed, not a hang', async () => {
    for (const command of ['!garbage', '!badjson']) {
      const r = runner();
      const other = await r.execute(batch('other', '!forever'));
      const err = await failure((await r.execute(batch('bad', command))).collect());
      expect(err.kind).toBe('runtime_crashed');
      expect(err.message).toMatch(command === '!garbage' ? /malformed frame \(frame length 4294967295 exceeds/ : /malformed frame \(frame body is not JSON/);
      expect((await failure(other.collect())).kind).toBe('runtime_crashed');
    }
  });

  test('an engine that reports itself dead fails its requests and the worker exits with a reason', async () => {
    let exited!: (exit: PythonWorkerExit) => void;
    const exit = new Promise<PythonWorkerExit>((resolve) => (exited = resolve));
    const r = runner({ onWorkerExit: (e) => exited(e) });
    const err = await failure((await r.execute(batch('f', '!fatal'))).collect());
    expect(err.kind).toBe('runtime_crashed');
    expect(err.message).toBe('scripted engine death');
    expect(await exit).toMatchObject({ code: 3, signal: null, expected: false, reason: 'exited with code 3 (the engine reported itself dead)' });
    const refused = await failure(r.execute(batch('n', 'x')));
    expect(refused.kind).toBe('runtime_crashed');
    expect(refused.message).toContain('scripted engine death; the python worker exited with code 3 (the engine reported itself dead)');
  });

  test('a request that cannot be framed is a bad_request and leaves nothing in flight', async () => {
    const r = runner();
    const huge = await failure(r.execute(batch('huge', 'x'.repeat(70 * 1024 * 1024))));
    expect(huge.kind).toBe('bad_request');
    expect(huge.message).toContain('exceeds the 67108864-byte limit');
    const cyclic = batch('cyclic', 'x');
    (cyclic.sampling as Record<string, unknown>).self = cyclic.sampling;
    expect((await failure(r.execute(cyclic))).kind).toBe('bad_request');
    expect((await (await r.execute(batch('ok', 'fine'))).collect()).text).toBe('echo: fine ');
    expect(r.inFlightCount()).toBe(0);
  });

  test('start-up failures are typed', async () => {
    const missing = await failure(runner({ engine: 'inferkit_no_such_module:create' }).execute(batch('a', 'x')));
    expect(missing.kind).toBe('not_found');
    expect(missing.message).toContain("cannot import engine module 'inferkit_no_such_module'");
    const refused = await failure(runner({ engineArgs: { fail_startup: 'no weights' } }).loadWeights({ kind: 'runtime_managed' }));
    expect([refused.kind, refused.message]).toEqual(['bad_request', 'no weights']);
    const noPython = await failure(runner({ python: '/nonexistent/python3' }).execute(batch('a', 'x')));
    expect(noPython.kind).toBe('not_found');
    expect(noPython.message).toContain('ENOENT');
    const slow = runner({ engineArgs: { startup_delay: 30, print_on_start: true }, startupTimeoutMs: 300 });
    const timeout = await failure(slow.execute(batch('a', 'x')));
    expect(timeout.kind).toBe('timeout');
    expect(timeout.details).toEqual({ phase: 'startup', timeoutMs: 300 });
  });

  test('an exit before ready reports the exit code and the traceback', async () => {
    const r = runner({ pythonArgs: ['-c', 'import sys; print("boom", file=sys.stderr); sys.exit(9)'] });
    const err = await failure(r.execute(batch('a', 'x')));
    expect(err.kind).toBe('runtime_crashed');
    expect(err.details).toMatchObject({ exitCode: 9, signal: null, stderrTail: 'boom' });
  });
});

describe('lifecycle', () => {
  test('close() shuts down gracefully and leaves no process, grandchildren included', async () => {
    const r = new PythonRunner(scriptedOptions());
    const handle = await r.execute(batch('g', '!spawn'));
    const iterator = handle[Symbol.asyncIterator]();
    const first = await iterator.next();
    const grandchild = Number.parseInt(first.value!.textDelta, 10);
    const pid = r.workerPid()!;
    expect(processExists(pid)).toBe(true);
    expect(processExists(grandchild)).toBe(true);
    await r.close();
    expect((await drainToError(iterator)).kind).toBe('cancelled');
    expect(processExists(pid)).toBe(false);
    expect(processExists(grandchild)).toBe(false);
    expect(processExists(-pid)).toBe(false); // the whole process group
    expect((await failure(r.execute(batch('late', 'x')))).kind).toBe('cancelled');
    expect(r.health().state).toBe('closed');
  });

  test('close() kills a worker that ignores the shutdown request', async () => {
    const r = new PythonRunner(scriptedOptions({ shutdownGraceMs: 200 }));
    await r.loadWeights({ kind: 'runtime_managed' });
    const pid = r.workerPid()!;
    process.kill(pid, 'SIGSTOP');
    await r.close();
    expect(processExists(pid)).toBe(false);
  });

  test('a crashed runner refuses work until rebuildSession or loadWeights', async () => {
    const r = runner();
    await failure((await r.execute(batch('x', '!exit 7'))).collect());
    const refused = await failure(r.execute(batch('y', 'x')));
    expect(refused.kind).toBe('runtime_crashed');
    expect(refused.details).toMatchObject({ exitCode: 7 });
    await r.loadWeights({ kind: 'runtime_managed' });
    expect((await (await r.execute(batch('z', 'loaded'))).collect()).text).toBe('echo: loaded ');
  });

  test('rebuildSession of a busy worker cancels its requests and starts a fresh one', async () => {
    const r = runner();
    const handle = await r.execute(batch('busy', '!forever'));
    const pid = r.workerPid();
    await r.rebuildSession('cuda_context_poisoned');
    const err = await failure(handle.collect());
    expect(err.kind).toBe('cancelled');
    expect(err.message).toContain('rebuildSession(cuda_context_poisoned)');
    expect(r.workerPid()).not.toBe(pid);
    expect(processExists(pid!)).toBe(false);
  });
});

describe('core policies around the runner', () => {
  test('a crashed worker is replaced by supervise(runner, { rebuild }) (what autoRestart did)', async () => {
    const r = runner();
    const events: string[] = [];
    const served = supervise(r, { rebuild: { maxRebuilds: 2, windowMs: 60_000 }, onEvent: (e) => events.push(e.type) });
    expect((await failure((await served.execute(batch('x', '!exit 7'))).collect())).kind).toBe('runtime_crashed');
    expect((await (await served.execute(batch('y', 'back again'))).collect()).text).toBe('echo: back again ');
    expect(r.health()).toMatchObject({ state: 'ready', crashes: 1 });
    expect(events).toContain('rebuild_finished');
  });

  test('concurrency limits come from supervise(runner, { serving }) (what maxInFlight did)', async () => {
    const r = runner();
    const served = supervise(r, { serving: { maxConcurrent: 1, onCapacityExhausted: 'reject' } });
    const a = await served.execute(batch('a', '!forever'));
    const err = await failure(served.execute(batch('b', 'x')));
    expect([err.kind, err.details]).toEqual(['backpressure', expect.objectContaining({ reason: 'capacity' })]);
    a.cancel();
    await settledStats(r);
    expect((await (await served.execute(batch('c', 'free'))).collect()).text).toBe('echo: free ');
  });
});
