import { describe, expect, it } from 'vitest';
import type { ExecuteBatch } from './execute-batch.js';
import type { ModelRunner } from './model-runner.js';
import { RunHandle } from './run-handle.js';
import { runnerConformanceCases, runnerFactoryConformanceCases, type ConformanceCase } from './runner-conformance-cases.js';
import type { RunnerFactory } from './runner-factory.js';
import { RunnerOptions } from './runner-options.js';
import { validateBatch } from './validate-batch.js';
import { ScriptedRunner } from './scripted-runner.js';
import { supervise } from './supervise.js';
import type { TokenChunk } from './token-chunk.js';
import { InferenceError } from './inference-error.js';

const caps = { timeoutMs: 2000 };

async function failingIds(cases: ConformanceCase[]): Promise<string[]> {
  const failed: string[] = [];
  for (const c of cases) {
    try {
      await c.run();
    } catch {
      failed.push(c.id);
    }
  }
  return failed.sort();
}

/** A handle that ignores cancel(), break and abort: keeps emitting. */
class LeakyHandle extends RunHandle {
  override cancel(): void {}
  override return(): Promise<IteratorResult<TokenChunk>> {
    return Promise.resolve({ done: true, value: undefined });
  }
}

type Flaw =
  | 'keeps-emitting-after-cancel'
  | 'emits-after-finish'
  | 'throws-plain-errors'
  | 'ignores-abort-signal'
  | 'ignores-undeclared-tools'
  | 'serves-after-close'
  | 'restarts-on-any-cause'
  | 'declares-junk-capabilities';

/** A runner with one deliberate contract violation. */
function brokenRunner(flaw: Flaw): ModelRunner {
  const inner = new ScriptedRunner();
  let closed = false;
  const open = new Set<RunHandle>();
  return {
    runtimeKind: () => 'custom:broken',
    transportKind: () => ({ kind: 'local', device: 'cpu' }),
    capabilities: () => (flaw === 'declares-junk-capabilities' ? ({ tools: 'sure', teleport: true } as never) : {}),
    rebuildSession: async () => {
      if (flaw !== 'restarts-on-any-cause') return;
      for (const h of open) h.cancel(new InferenceError('cancelled', 'restarted'));
    },
    close: async () => {
      closed = true;
    },
    async execute(batch: ExecuteBatch, options) {
      if (closed && flaw !== 'serves-after-close') throw new InferenceError('cancelled', 'closed');
      if (flaw === 'throws-plain-errors') {
        if (!Array.isArray(batch.messages)) throw new TypeError('messages.map is not a function');
        validateBatch(batch, { capabilities: {} });
        return inner.execute(batch, options);
      }
      if (flaw === 'ignores-undeclared-tools') validateBatch({ ...batch, tools: undefined }, { capabilities: {} });
      else validateBatch(batch, { capabilities: {} });
      const id = batch.requestId;
      if (flaw === 'ignores-abort-signal') return queueFedHandle(id, options?.signal);
      async function* gen(): AsyncGenerator<TokenChunk> {
        for (let i = 0; i < 4; i++) {
          await new Promise((r) => setImmediate(r));
          yield { requestId: id, textDelta: `t${i}` };
        }
        yield { requestId: id, textDelta: '', finishReason: 'stop', usage: { outputTokens: 4 } };
        if (flaw === 'emits-after-finish') yield { requestId: id, textDelta: 'extra' };
      }
      const handle = flaw === 'keeps-emitting-after-cancel' ? new LeakyHandle(gen()) : RunHandle.streaming(gen(), undefined, { signal: options?.signal });
      open.add(handle);
      return handle;
    },
  };
}

/**
 * The classic native-callback bug: chunks are pushed into a queue by a producer; the cancel hook
 * stops the producer, but the consuming source awaits the queue without watching the signal, so
 * a next() pending during cancel() would wait forever.
 */
function queueFedHandle(requestId: string, signal: AbortSignal | undefined): RunHandle {
  const queue: TokenChunk[] = [];
  let wake: (() => void) | null = null;
  let stopped = false;
  let i = 0;
  const produce = (): void => {
    if (stopped) return;
    queue.push(i < 4 ? { requestId, textDelta: `q${i}` } : { requestId, textDelta: '', finishReason: 'stop', usage: { outputTokens: 4 } });
    i++;
    wake?.();
    if (i <= 4) setImmediate(produce);
  };
  setImmediate(produce);
  return RunHandle.streaming(
    async function* () {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r)); // ignores the signal
        const chunk = queue.shift()!;
        yield chunk;
        if (chunk.finishReason !== undefined) return;
      }
    },
    () => {
      stopped = true;
    },
    { signal },
  );
}

describe('runnerConformanceCases', () => {
  it('gives every case a unique, stable id and name', () => {
    const cases = runnerConformanceCases({ create: () => new ScriptedRunner(), capabilities: { createFailing: () => new ScriptedRunner() } });
    const ids = cases.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([
      'kinds.describe',
      'stream.shape',
      'stream.finish-last',
      'stream.collect',
      'usage.reported',
      'cancel.before-first-chunk',
      'cancel.mid-stream',
      'cancel.while-pending',
      'cancel.break',
      'abort.before-execute',
      'abort.mid-stream',
      'errors.invalid-batch',
      'errors.failing-runner',
      'rebuild-session.recovers',
      'capabilities.describe',
      'capabilities.tools',
      'capabilities.responseFormat',
      'capabilities.images',
      'capabilities.penalties',
      'capabilities.repetitionPenalty',
      'capabilities.continuation',
      'close.final',
      'close.open-streams',
      'rebuild-session.foreign-cause',
      'concurrency.isolated',
    ]);
    for (const c of cases) expect(c.name.startsWith(`${c.id}: `)).toBe(true);
  });

  describe('ScriptedRunner (macrotask pacing)', () => {
    for (const c of runnerConformanceCases({
      create: () => new ScriptedRunner(),
      capabilities: { ...caps, createFailing: () => new ScriptedRunner({ script: { executeError: new InferenceError('unauthorized', '401'), steps: [] } }) },
    })) {
      it(c.name, c.run);
    }
  });

  describe('ScriptedRunner (microtask pacing)', () => {
    for (const c of runnerConformanceCases({ create: () => new ScriptedRunner({ pacing: 'microtask' }), capabilities: caps })) {
      it(c.name, c.run);
    }
  });

  describe('ScriptedRunner, push source (macrotask pacing)', () => {
    for (const c of runnerConformanceCases({
      create: () => new ScriptedRunner({ source: 'push' }),
      capabilities: {
        ...caps,
        createFailing: () => new ScriptedRunner({ source: 'push', script: [{ text: 'a' }, { error: new InferenceError('server_error', 'boom') }] }),
      },
    })) {
      it(c.name, c.run);
    }
  });

  describe('ScriptedRunner, push source (microtask pacing, highWaterMark 1)', () => {
    for (const c of runnerConformanceCases({ create: () => new ScriptedRunner({ source: 'push', pacing: 'microtask', highWaterMark: 1 }), capabilities: caps })) {
      it(c.name, c.run);
    }
  });

  const sources = [
    ['', () => new ScriptedRunner()],
    [', push source', () => new ScriptedRunner({ source: 'push', pacing: 'microtask', highWaterMark: 2 })],
  ] as const;
  for (const [label, inner] of sources) {
    describe(`supervise(ScriptedRunner${label}) with every policy`, () => {
      const create = () =>
        supervise(inner(), {
          retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 5 },
          circuitBreaker: { failureThreshold: 5, windowMs: 60_000, openDurationMs: 1000 },
          rateLimits: { requestsPerMinute: 100_000, tokensPerMinute: 10_000_000, maxConcurrent: 8 },
          serving: { maxConcurrent: 4, onCapacityExhausted: 'queue' },
          budget: { hourlyUsd: 100, onExceeded: 'reject' },
          timeouts: { firstChunkMs: 5000, totalMs: 10_000 },
        });
      for (const c of runnerConformanceCases({ create, capabilities: { ...caps, concurrency: 6 } })) {
        it(c.name, c.run);
      }
    });
  }

  describe('supervise(single-chunk ScriptedRunner), multiChunk: false', () => {
    const create = () =>
      supervise(new ScriptedRunner({ script: [{ chunk: { textDelta: 'all at once', finishReason: 'stop', usage: { inputTokens: 3, outputTokens: 3 } } }] }), {
        serving: { maxConcurrent: 2 },
      });
    for (const c of runnerConformanceCases({ create, capabilities: { ...caps, multiChunk: false } })) {
      it(c.name, c.run);
    }
  });

  it('a runner that keeps emitting after cancel fails the cancellation and abort cases', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('keeps-emitting-after-cancel'), capabilities: caps }));
    expect(failed).toEqual(['abort.before-execute', 'abort.mid-stream', 'cancel.before-first-chunk', 'cancel.break', 'cancel.mid-stream', 'cancel.while-pending']);
  });

  it('a runner that emits after its finish chunk fails stream.finish-last only', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('emits-after-finish'), capabilities: caps }));
    expect(failed).toEqual(['stream.finish-last']);
  });

  it('a runner whose source ignores the abort signal fails cancel.while-pending (and only that)', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('ignores-abort-signal'), capabilities: { timeoutMs: 300 } }));
    expect(failed).toEqual(['cancel.while-pending']);
  });

  it('a runner that throws non-InferenceError errors fails errors.invalid-batch', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('throws-plain-errors'), capabilities: caps }));
    expect(failed).toEqual(['errors.invalid-batch']);
  });

  it('a runner that ignores tools it does not declare fails capabilities.tools only', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('ignores-undeclared-tools'), capabilities: caps }));
    expect(failed).toEqual(['capabilities.tools']);
  });

  it('a runner that still serves after close() fails close.final only', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('serves-after-close'), capabilities: caps }));
    expect(failed).toEqual(['close.final']);
  });

  it('a runner that restarts (breaking streams) on a cause meant for remote runners fails rebuild-session.foreign-cause only', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('restarts-on-any-cause'), capabilities: caps }));
    expect(failed).toEqual(['rebuild-session.foreign-cause']);
  });

  it('a runner whose capabilities() has junk fails capabilities.describe', async () => {
    const failed = await failingIds(runnerConformanceCases({ create: () => brokenRunner('declares-junk-capabilities'), capabilities: caps }));
    expect(failed).toContain('capabilities.describe');
  });
});

describe('runnerFactoryConformanceCases', () => {
  const goodFactory: RunnerFactory<{ maxTokens?: number }> = {
    kind: 'custom:scripted',
    create(options) {
      const o = new RunnerOptions(options, 'ScriptedFactory', ['maxTokens']);
      o.integer('maxTokens', { min: 1 });
      return new ScriptedRunner();
    },
  };

  describe('a well-shaped factory passes', () => {
    for (const c of runnerFactoryConformanceCases({ factory: goodFactory, options: { maxTokens: 3 }, invalid: [{ options: { maxTokens: 0 }, param: 'maxTokens' }] })) {
      it(c.name, c.run);
    }
  });

  it('a factory that accepts anything fails the refusal cases', async () => {
    const lax: RunnerFactory<unknown> = { kind: 'custom:lax', create: () => new ScriptedRunner() };
    const failed = await failingIds(runnerFactoryConformanceCases({ factory: lax, options: {}, invalid: [{ options: { maxTokens: 0 }, param: 'maxTokens' }] }));
    expect(failed).toEqual(['factory.invalid-1', 'factory.not-an-object', 'factory.unknown-key']);
  });

  it('a factory that throws TypeError instead of bad_request fails the refusal cases', async () => {
    const typeErr: RunnerFactory<unknown> = {
      kind: 'custom:typeerror',
      create: (o) => {
        if (typeof o !== 'object' || o === null || Object.keys(o).some((k) => k !== 'maxTokens')) throw new TypeError('bad options');
        return new ScriptedRunner();
      },
    };
    const failed = await failingIds(runnerFactoryConformanceCases({ factory: typeErr, options: {} }));
    expect(failed).toEqual(['factory.not-an-object', 'factory.unknown-key']);
  });
});
