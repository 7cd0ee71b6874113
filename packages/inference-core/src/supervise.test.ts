import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import type { BudgetTracker } from './budget-tracker.js';
import { InferenceError } from './inference-error.js';
import type { ExecuteBatch } from './execute-batch.js';
import type { ModelRunner } from './model-runner.js';
import type { RateLimitObservation } from './rate-limiter.js';
import { RunHandle } from './run-handle.js';
import type { SessionRebuildCause } from './session-rebuild-cause.js';
import { sleep } from './sleep.js';
import { ScriptedRunner, type ScriptedRunnerOptions, type ScriptStep } from './scripted-runner.js';
import { supervise, type SupervisePolicy } from './supervise.js';
import type { SuperviseEvent } from './supervise-event.js';
import type { TokenChunk } from './token-chunk.js';

let n = 0;
const batch = (extra: Partial<ExecuteBatch> = {}): ExecuteBatch => ({
  requestId: `r${++n}`,
  model: 'm',
  messages: [{ role: 'user', content: 'hi' }],
  sampling: {},
  stream: true,
  estimatedTokens: 10,
  ...extra,
});

/** Settles `p` on the fake clock: runs timers in order, letting promise chains progress in between. */
async function drive<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 10_000 && !settled; i++) {
    await new Promise((r) => setImmediate(r));
    if (settled) break;
    const at = clock.nextTimerAt();
    if (at !== undefined) await clock.advanceAsync(Math.max(0, at - clock.now()));
  }
  return p;
}

async function drain(handle: RunHandle): Promise<{ chunks: TokenChunk[]; error: unknown }> {
  const chunks: TokenChunk[] = [];
  try {
    for await (const c of handle) chunks.push(c);
    return { chunks, error: undefined };
  } catch (e) {
    return { chunks, error: e };
  }
}

const fiveThenStop: ScriptStep[] = [{ text: 'a' }, { text: 'b' }, { text: 'c' }, { text: 'd' }, { text: 'e' }, { finish: 'stop' }];
const serverError = () => new InferenceError('server_error', 'upstream 503', { status: 503 });

function setup(script: ScriptedRunnerOptions['script'], policy: SupervisePolicy = {}) {
  const clock = new FakeClock();
  const events: SuperviseEvent[] = [];
  const runner = new ScriptedRunner({ script, clock, pacing: 'microtask' });
  const sup = supervise(runner, { clock, random: () => 0.5, onEvent: (e) => events.push(e), ...policy });
  return { clock, events, runner, sup };
}

describe('supervise', () => {
  it('a runner failing twice before its first chunk, then streaming, delivers exactly one copy of the stream', async () => {
    const { clock, events, runner, sup } = setup(
      (_b, call) => (call === 1 ? { executeError: serverError(), steps: [] } : call === 2 ? [{ error: serverError() }] : fiveThenStop),
      { retry: { maxRetries: 3, initialDelayMs: 100, maxDelayMs: 1000, jitter: 'none' } },
    );
    const handle = await drive(clock, sup.execute(batch()));
    const { chunks, error } = await drain(handle);
    expect(error).toBeUndefined();
    expect(chunks.map((c) => c.textDelta).join('')).toBe('abcde');
    expect(chunks.filter((c) => c.finishReason !== undefined)).toHaveLength(1);
    expect(runner.calls).toHaveLength(3);
    const retries = events.filter((e) => e.type === 'retry');
    expect(retries.map((e) => [e.retry, e.delayMs, e.atMs])).toEqual([
      [1, 100, 0],
      [2, 200, 100],
    ]);
    const first = events.find((e) => e.type === 'first_token');
    expect(first).toMatchObject({ attempts: 3, latencyMs: 300 });
    expect(events.map((e) => e.type)).toEqual(['request_start', 'retry', 'retry', 'first_token', 'request_finish']);
  });

  it('a runner failing after 3 chunks delivers those 3 chunks and then the error, with no retry', async () => {
    const { clock, events, runner, sup } = setup([{ text: '1' }, { text: '2' }, { text: '3' }, { error: serverError() }], {
      retry: { maxRetries: 5, initialDelayMs: 10, maxDelayMs: 10 },
    });
    const handle = await drive(clock, sup.execute(batch()));
    const { chunks, error } = await drain(handle);
    expect(chunks.map((c) => c.textDelta)).toEqual(['1', '2', '3']);
    expect(InferenceError.isInstance(error) && error.kind).toBe('server_error');
    expect(runner.calls).toHaveLength(1);
    expect(events.filter((e) => e.type === 'retry')).toEqual([]);
    expect(events.at(-1)).toMatchObject({ type: 'request_error', afterFirstChunk: true });
  });

  it('honours Retry-After of 2 s and fails fast on 120 s', async () => {
    const ra = (ms: number) => new InferenceError('rate_limited', '429', { retryAfterMs: ms, status: 429 });
    const retry = { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 1 };
    const ok = setup((_b, call) => (call === 1 ? { executeError: ra(2000), steps: [] } : fiveThenStop), { retry });
    await drive(ok.clock, ok.sup.execute(batch()));
    expect(ok.events.find((e) => e.type === 'first_token')).toMatchObject({ atMs: 2000 });

    const slow = setup({ executeError: ra(120_000), steps: [] }, { retry });
    const err = await drive(slow.clock, slow.sup.execute(batch())).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'rate_limited', retryAfterMs: 120_000 });
    expect(slow.clock.now()).toBe(0); // failed fast, no waiting
    expect(slow.runner.calls).toHaveLength(1);
  });

  it('capacity: reject fails at once with backpressure; queue waits for a slot', async () => {
    const slow: ScriptStep[] = [{ text: 'x' }, { delayMs: 1000 }, { finish: 'stop' }];
    const rej = setup(slow, { serving: { maxConcurrent: 1, onCapacityExhausted: 'reject' } });
    const h1 = await drive(rej.clock, rej.sup.execute(batch()));
    const err = await rej.sup.execute(batch()).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'backpressure', details: { reason: 'capacity' } });
    await drive(rej.clock, drain(h1));
    expect(rej.sup.capacity!.inFlight).toBe(0);

    const q = setup(slow, { serving: { maxConcurrent: 1, onCapacityExhausted: 'queue' } });
    const a = await drive(q.clock, q.sup.execute(batch()));
    const pending = q.sup.execute(batch());
    expect(q.runner.calls).toHaveLength(1);
    await drive(q.clock, drain(a)); // first finishes at t=1000, freeing the slot
    const b = await drive(q.clock, pending);
    expect(q.runner.calls).toHaveLength(2);
    expect(q.events.filter((e) => e.type === 'first_token').map((e) => e.atMs)).toEqual([0, 1000]);
    await drive(q.clock, drain(b));
  });

  it('budget reject: spend from actual cost blocks new requests until the hour rolls over', async () => {
    const { clock, events, sup } = setup([{ text: 'x' }, { finish: 'stop', costUsd: 0.6 }], {
      budget: { hourlyUsd: 1, onExceeded: 'reject' },
    });
    for (let i = 0; i < 2; i++) await drain(await drive(clock, sup.execute(batch())));
    expect((sup.budget as BudgetTracker).spent('hour')).toBeCloseTo(1.2);
    const err = await sup.execute(batch()).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'budget_exceeded', details: { window: 'hour', limitUsd: 1 } });
    expect(events.some((e) => e.type === 'budget_exceeded' && e.action === 'reject')).toBe(true);
    clock.advance(3_600_001);
    await drain(await drive(clock, sup.execute(batch())));
  });

  it('budget throttle halves concurrency while over budget; warn only reports', async () => {
    const t = setup([{ text: 'x' }, { finish: 'stop', costUsd: 2 }], {
      budget: { hourlyUsd: 1, onExceeded: 'throttle' },
      serving: { maxConcurrent: 4 },
    });
    await drain(await drive(t.clock, t.sup.execute(batch())));
    const h = await drive(t.clock, t.sup.execute(batch()));
    expect(t.sup.capacity!.maxConcurrent).toBe(2);
    await drain(h);

    const w = setup([{ text: 'x' }, { finish: 'stop', costUsd: 2 }], { budget: { dailyUsd: 1, onExceeded: 'warn' } });
    await drain(await drive(w.clock, w.sup.execute(batch())));
    await drain(await drive(w.clock, w.sup.execute(batch())));
    expect(w.events.filter((e) => e.type === 'budget_exceeded').map((e) => e.type === 'budget_exceeded' && e.action)).toEqual(['warn']);

    expect(() => supervise(new ScriptedRunner(), { budget: { hourlyUsd: 1, onExceeded: 'throttle' } })).toThrow(/maxConcurrent/);
  });

  it('reports unknown cost instead of charging 0', async () => {
    const { clock, events, sup } = setup([{ text: 'x' }, { finish: 'stop' }], { budget: { hourlyUsd: 1, onExceeded: 'reject' } });
    await drain(await drive(clock, sup.execute(batch())));
    expect(events.some((e) => e.type === 'budget_unknown_cost')).toBe(true);
    expect(events.find((e) => e.type === 'request_finish')).toMatchObject({ costUsd: undefined });
  });

  it('opens the breaker after repeated failures and then fails fast with circuit_open', async () => {
    const { clock, events, runner, sup } = setup({ executeError: serverError(), steps: [] }, {
      circuitBreaker: { failureThreshold: 2, windowMs: 10_000, openDurationMs: 5000 },
    });
    for (let i = 0; i < 2; i++) await drive(clock, sup.execute(batch())).catch(() => undefined);
    const err = await sup.execute(batch()).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'circuit_open', details: { retryAtMs: 5000 } });
    expect(runner.calls).toHaveLength(2);
    expect(events.filter((e) => e.type === 'breaker').map((e) => e.type === 'breaker' && e.transition.to)).toEqual(['open']);
  });

  it('applies the rate limiter per attempt and corrects it from usage', async () => {
    const { clock, sup } = setup([{ text: 'x' }, { finish: 'stop', usage: { inputTokens: 5, outputTokens: 5 } }], {
      rateLimits: { tokensPerMinute: 1000, maxConcurrent: 1 },
    });
    await drain(await drive(clock, sup.execute(batch({ estimatedTokens: 900 }))));
    expect(sup.limiter!.inFlight).toBe(0);
    // 900 estimated, 10 used: the refund admits another 900-token request at once.
    const h = await drive(clock, sup.execute(batch({ estimatedTokens: 900 })));
    expect(clock.now()).toBe(0);
    await drain(h);
  });

  it("subscribes its limiter to the runner's observeRateLimits and unsubscribes on close", async () => {
    const clock = new FakeClock();
    const runner = new ScriptedRunner({ script: [{ text: 'x' }, { finish: 'stop' }], clock, pacing: 'microtask' });
    const listeners = new Set<(o: RateLimitObservation) => void>();
    const observed: ModelRunner = Object.assign(Object.create(runner) as ModelRunner, {
      observeRateLimits: (l: (o: RateLimitObservation) => void) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
    });
    const sup = supervise(observed, { clock, rateLimits: {} });
    expect(listeners.size).toBe(1);
    // The backend says its window is spent for 5 s: the next request waits that long.
    for (const l of listeners) l({ remainingRequests: 0, resetMs: 5000 });
    await drain(await drive(clock, sup.execute(batch())));
    expect(clock.now()).toBe(5000);
    await sup.close();
    expect(listeners.size).toBe(0);
    // Without a limiter there is nothing to feed, so nothing subscribes.
    supervise(observed, { clock });
    expect(listeners.size).toBe(0);
    // A supervisor around a supervised runner gets the backend's feedback through it.
    const outer = supervise(supervise(observed, { clock }), { clock, rateLimits: {} });
    expect(listeners.size).toBe(1);
    await outer.close();
    expect(listeners.size).toBe(0);
  });

  it('firstChunkMs fails with timeout; cancel and abort after return reach the runner', async () => {
    const t = setup([{ delayMs: 5000 }, { text: 'late' }, { finish: 'stop' }], { timeouts: { firstChunkMs: 1000 } });
    const err = await drive(t.clock, t.sup.execute(batch())).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout', details: { phase: 'first_chunk', timeoutMs: 1000 } });

    const c = setup([{ text: 'a' }, { delayMs: 100 }, { text: 'b' }, { finish: 'stop' }], { serving: { maxConcurrent: 1 } });
    const ac = new AbortController();
    const h = await drive(c.clock, c.sup.execute(batch(), { signal: ac.signal }));
    const it = h[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ textDelta: 'a' });
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ kind: 'cancelled' });
    expect(c.runner.cancellations).toBe(1);
    expect(c.sup.capacity!.inFlight).toBe(0);
    expect(c.events.at(-1)).toMatchObject({ type: 'request_finish', outcome: 'cancelled' });
  });

  it('adopts a handle that only looks like a RunHandle', async () => {
    let cancelled = 0;
    const duckRunner = {
      runtimeKind: () => 'custom:duck' as const,
      transportKind: () => ({ kind: 'local' as const, device: 'cpu' }),
      rebuildSession: async () => undefined,
      execute: async (b: ExecuteBatch) =>
        ({
          async *[Symbol.asyncIterator]() {
            yield { requestId: b.requestId, textDelta: 'a' };
            yield { requestId: b.requestId, textDelta: 'b' };
            yield { requestId: b.requestId, textDelta: '', finishReason: 'stop' };
          },
          cancel: () => cancelled++,
        }) as unknown as RunHandle,
    };
    const sup = supervise(duckRunner, { serving: { maxConcurrent: 1 } });
    const tokens = await (await sup.execute(batch())).collect();
    expect(tokens.text).toBe('ab');
    expect(sup.capacity!.inFlight).toBe(0);
    const h = await sup.execute(batch());
    h.cancel();
    expect(cancelled).toBe(1);
    expect(sup.capacity!.inFlight).toBe(0);
  });

  it('delegates the rest of the contract', async () => {
    const runner = new ScriptedRunner({ runtimeKind: 'python:echo', rateLimits: { requestsPerMinute: 5 }, estimatedCostUsd: 0.01 });
    const sup = supervise(runner);
    expect(sup.runtimeKind()).toBe('python:echo');
    expect(sup.gilPinned()).toBe(true);
    expect(sup.limiter).toBeDefined(); // from runner.rateLimits()
    expect(sup.estimateCostUsd(batch())).toBe(0.01);
    await sup.rebuildSession('manual');
    expect(runner.rebuilds).toEqual(['manual']);
    expect(sup.loadWeights).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Runners that do not honour their signal (#11 item 5): supervise enforces abort and deadlines.

type SourceKind = 'factory' | 'iterable' | 'push';

/**
 * A runner that ignores `options.signal`: its stream yields `chunks`, then waits on `release`
 * (never, unless the test calls it), then ends with a finish chunk. `execute` itself never
 * settles when `executeHangs`.
 */
class DeafRunner implements ModelRunner {
  cancellations = 0;
  calls = 0;
  release: () => void = () => undefined;
  /** With `executeHangs`: makes the pending `execute` resolve after all (a late handle). */
  finishExecute: () => void = () => undefined;
  private readonly called: Promise<void>;
  private onCall: () => void = () => undefined;
  constructor(
    private readonly source: SourceKind,
    private readonly chunks: unknown[],
    private readonly executeHangs = false,
  ) {
    this.called = new Promise((r) => (this.onCall = r));
  }
  /** Resolves once `execute` was called. */
  whenCalled(): Promise<void> {
    return this.called;
  }
  runtimeKind() {
    return 'custom:deaf' as const;
  }
  transportKind() {
    return { kind: 'local', device: 'cpu' } as const;
  }
  async rebuildSession(): Promise<void> {}
  execute(b: ExecuteBatch): Promise<RunHandle> {
    this.calls++;
    this.onCall();
    if (this.executeHangs) return new Promise((r) => (this.finishExecute = () => r(this.handle(b.requestId))));
    return Promise.resolve(this.handle(b.requestId));
  }
  handle(requestId: string): RunHandle {
    const hook = () => void this.cancellations++;
    const gate = new Promise<void>((r) => (this.release = r));
    const chunks = this.chunks;
    async function* produce(): AsyncGenerator<TokenChunk> {
      for (const c of chunks) yield c as TokenChunk;
      await gate; // deaf: the signal does not end this wait
      yield { requestId, textDelta: '', finishReason: 'stop' };
    }
    if (this.source === 'factory') return RunHandle.streaming(() => produce(), hook, { requestId });
    if (this.source === 'iterable') return RunHandle.streaming(produce(), hook, { requestId });
    const { handle, controller } = RunHandle.pushable(hook, { requestId });
    for (const c of chunks) controller.push(c as TokenChunk);
    void gate.then(() => {
      controller.push({ requestId, textDelta: '', finishReason: 'stop' });
      controller.end();
    });
    return handle;
  }
}

const text = (t: string): TokenChunk => ({ requestId: 'x', textDelta: t });

function deaf(runner: ModelRunner, policy: SupervisePolicy = {}) {
  const clock = new FakeClock();
  const events: SuperviseEvent[] = [];
  const sup = supervise(runner, { clock, serving: { maxConcurrent: 1 }, onEvent: (e) => events.push(e), ...policy });
  return { clock, events, sup };
}

describe('supervise enforces abort and deadlines on a runner that ignores its signal', () => {
  it("execute() never settles: the caller's abort rejects with cancelled, frees the slot, and a handle arriving later is cancelled", async () => {
    const runner = new DeafRunner('factory', [text('a')], true);
    const { sup, events } = deaf(runner);
    const ac = new AbortController();
    const p = sup.execute(batch(), { signal: ac.signal });
    await runner.whenCalled();
    ac.abort('user left');
    await expect(p).rejects.toMatchObject({ kind: 'cancelled', message: 'user left' });
    expect(sup.capacity!.inFlight).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'request_error', error: { kind: 'cancelled' }, afterFirstChunk: false });
    runner.finishExecute();
    await new Promise((r) => setImmediate(r));
    expect(runner.cancellations).toBe(1); // the late handle was cancelled, not left running
  });

  it('execute() never settles: firstChunkMs fails with timeout (phase first_chunk) and frees the slot', async () => {
    const runner = new DeafRunner('factory', [], true);
    const { clock, sup } = deaf(runner, { timeouts: { firstChunkMs: 1000 } });
    const err = await drive(clock, sup.execute(batch())).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'timeout', details: { phase: 'first_chunk', timeoutMs: 1000 } });
    expect(clock.now()).toBe(1000);
    expect(sup.capacity!.inFlight).toBe(0);
  });

  it.each<SourceKind>(['factory', 'iterable', 'push'])(
    'a %s handle that never yields its first chunk: totalMs fails with timeout (phase total), cancels the handle, frees the slot',
    async (source) => {
      const runner = new DeafRunner(source, []);
      const { clock, sup } = deaf(runner, { timeouts: { totalMs: 2000 } });
      const err = await drive(clock, sup.execute(batch())).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'timeout', details: { phase: 'total', timeoutMs: 2000 } });
      expect(clock.now()).toBe(2000);
      expect(runner.cancellations).toBe(1);
      expect(sup.capacity!.inFlight).toBe(0);
    },
  );

  it.each<SourceKind>(['iterable', 'push'])(
    'a %s stream that stalls after its first chunk: totalMs rejects the pending next() with timeout, cancels the runner, frees the slot',
    async (source) => {
      const runner = new DeafRunner(source, [text('a')]);
      const { clock, events, sup } = deaf(runner, { timeouts: { totalMs: 2000 } });
      const handle = await drive(clock, sup.execute(batch()));
      const it = handle[Symbol.asyncIterator]();
      expect((await it.next()).value).toMatchObject({ textDelta: 'a' });
      const err = await drive(clock, it.next()).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'timeout', details: { phase: 'total' } });
      expect(clock.now()).toBe(2000);
      expect(runner.cancellations).toBe(1);
      expect(sup.capacity!.inFlight).toBe(0);
      expect(events.at(-1)).toMatchObject({ type: 'request_error', error: { kind: 'timeout' }, afterFirstChunk: true });
    },
  );

  it.each<SourceKind>(['iterable', 'push'])(
    "a %s stream that stalls after its first chunk: the caller's abort rejects the pending next() with cancelled and frees the slot",
    async (source) => {
      const runner = new DeafRunner(source, [text('a')]);
      const { clock, events, sup } = deaf(runner);
      const ac = new AbortController();
      const handle = await drive(clock, sup.execute(batch(), { signal: ac.signal }));
      const it = handle[Symbol.asyncIterator]();
      await it.next();
      const pending = it.next();
      ac.abort();
      await expect(pending).rejects.toMatchObject({ kind: 'cancelled' });
      expect(runner.cancellations).toBe(1);
      expect(sup.capacity!.inFlight).toBe(0);
      expect(events.at(-1)).toMatchObject({ type: 'request_finish', outcome: 'cancelled' });
    },
  );

  it('a factory source that ignores its signal mid-stream: totalMs still frees the slot and reports; the pending next() rejects once the source yields again', async () => {
    const runner = new DeafRunner('factory', [text('a')]);
    const { clock, events, sup } = deaf(runner, { timeouts: { totalMs: 2000 } });
    const handle = await drive(clock, sup.execute(batch()));
    const it = handle[Symbol.asyncIterator]();
    await it.next();
    let outcome: unknown = 'pending';
    const pending = it.next().then(
      (r) => (outcome = r),
      (e: unknown) => (outcome = e),
    );
    await clock.advanceAsync(2000);
    expect(sup.capacity!.inFlight).toBe(0);
    expect(runner.cancellations).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: 'request_error', error: { kind: 'timeout' }, afterFirstChunk: true });
    // The documented limit of the fast path: this next() waits on the deaf source itself.
    expect(outcome).toBe('pending');
    runner.release();
    await pending;
    expect(outcome).toMatchObject({ kind: 'timeout', details: { phase: 'total' } });
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'oops'],
  ])('a first chunk that is %s fails with internal, cancels the handle and frees the slot', async (_label, first) => {
    const runner = new DeafRunner('iterable', [first]);
    const { clock, events, sup } = deaf(runner);
    const err = await drive(clock, sup.execute(batch())).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'internal', message: expect.stringMatching(/first chunk that is not an object/) });
    expect(sup.capacity!.inFlight).toBe(0);
    expect(runner.cancellations).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: 'request_error', afterFirstChunk: false });
  });

  it('a handle neither read nor cancelled is cancelled after serving.abandonedHandleMs and gives its slot back; a read one is left alone', async () => {
    const runner = new DeafRunner('push', [text('a')]);
    const { clock, events, sup } = deaf(runner, { serving: { maxConcurrent: 1, abandonedHandleMs: 5000 } });
    const dropped = await drive(clock, sup.execute(batch()));
    await clock.advanceAsync(4999);
    expect(sup.capacity!.inFlight).toBe(1);
    await clock.advanceAsync(1);
    expect(sup.capacity!.inFlight).toBe(0);
    expect(runner.cancellations).toBe(1);
    expect(events.filter((e) => e.type === 'handle_abandoned')).toEqual([
      { type: 'handle_abandoned', requestId: dropped.requestId, atMs: 5000, idleMs: 5000 },
    ]);
    await expect(dropped.next()).rejects.toMatchObject({ kind: 'cancelled', details: { reason: 'abandoned' } });

    const read = await drive(clock, sup.execute(batch()));
    const it = read[Symbol.asyncIterator]();
    await it.next();
    await clock.advanceAsync(10_000);
    expect(sup.capacity!.inFlight).toBe(1);
    runner.release();
    expect((await it.next()).value).toMatchObject({ finishReason: 'stop' });
    expect(sup.capacity!.inFlight).toBe(0);
    expect(runner.cancellations).toBe(1);
  });

  it('abandonedHandleMs defaults to 60 s', async () => {
    const runner = new DeafRunner('iterable', [text('a')]);
    const { clock, sup } = deaf(runner);
    await drive(clock, sup.execute(batch()));
    await clock.advanceAsync(59_999);
    expect(sup.capacity!.inFlight).toBe(1);
    await clock.advanceAsync(1);
    expect(sup.capacity!.inFlight).toBe(0);
  });

  it('refuses unusable timeouts and abandonedHandleMs with a RangeError naming the field', () => {
    const r = new ScriptedRunner();
    expect(() => supervise(r, { timeouts: { totalMs: 0 } })).toThrow(/timeouts\.totalMs must be a number > 0/);
    expect(() => supervise(r, { timeouts: { firstChunkMs: NaN } })).toThrow(RangeError);
    expect(() => supervise(r, { serving: { abandonedHandleMs: -1 } })).toThrow(/serving\.abandonedHandleMs/);
    expect(() => supervise(r, { timeouts: { totalMs: Infinity }, serving: { abandonedHandleMs: Infinity } })).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------
// Self-healing (#13 item 3): automatic rebuildSession on session failures.

/** A ScriptedRunner whose rebuilds take `rebuildMs` on the clock and whose first `failRebuilds` throw. */
class RebuildingRunner extends ScriptedRunner {
  rebuildMs = 0;
  failRebuilds = 0;
  constructor(
    options: ScriptedRunnerOptions,
    private readonly testClock: FakeClock,
  ) {
    super({ ...options, clock: testClock, pacing: 'microtask' });
  }
  override async rebuildSession(cause: SessionRebuildCause): Promise<void> {
    await super.rebuildSession(cause); // records the cause
    if (this.rebuildMs > 0) await sleep(this.testClock, this.rebuildMs);
    if (this.failRebuilds > 0) {
      this.failRebuilds--;
      throw new Error('driver reset failed');
    }
  }
}

const poisoned = () => new InferenceError('cuda_context_poisoned', 'cudaErrorIllegalAddress', { details: { cudaError: 'cudaErrorIllegalAddress' } });
const rebuild = { maxRebuilds: 3, windowMs: 60_000 };

function healing(script: ScriptedRunnerOptions['script'], policy: SupervisePolicy = {}, options: Partial<ScriptedRunnerOptions> = {}) {
  const clock = new FakeClock();
  const events: SuperviseEvent[] = [];
  const runner = new RebuildingRunner({ script, ...options }, clock);
  const sup = supervise(runner, { clock, random: () => 0.5, rebuild, onEvent: (e) => events.push(e), ...policy });
  const rebuildEvents = () => events.filter((e) => e.type.startsWith('rebuild_'));
  return { clock, events, runner, sup, rebuildEvents };
}

const text5 = async (h: RunHandle) => (await h.collect()).text;

describe('supervise rebuilds the session by itself', () => {
  it('cuda_context_poisoned: one rebuild; a request arriving during it waits and succeeds; the failed request is retried after it', async () => {
    const { clock, events, runner, sup, rebuildEvents } = healing(
      (_b, call) => (call === 1 ? { executeError: poisoned(), steps: [] } : fiveThenStop),
      { retry: { maxRetries: 1 } },
    );
    runner.rebuildMs = 500;
    const first = sup.execute(batch());
    await clock.advanceAsync(100); // the first attempt failed at t=0 and the rebuild runs until t=500
    expect(runner.rebuilds).toEqual(['cuda_context_poisoned']);
    const during = sup.execute(batch());
    await clock.advanceAsync(100);
    expect(runner.calls).toHaveLength(1); // waiting, not failing, not calling the broken runner
    const [a, b] = await drive(clock, Promise.all([first, during]));
    expect(await text5(a)).toBe('abcde');
    expect(await text5(b)).toBe('abcde');
    expect(runner.calls).toHaveLength(3);
    expect(runner.rebuilds).toEqual(['cuda_context_poisoned']);
    expect(rebuildEvents()).toMatchObject([
      { type: 'rebuild_started', atMs: 0, cause: 'cuda_context_poisoned', error: { kind: 'cuda_context_poisoned' } },
      { type: 'rebuild_finished', atMs: 500, cause: 'cuda_context_poisoned', durationMs: 500, error: undefined },
    ]);
    expect(events.filter((e) => e.type === 'retry')).toMatchObject([{ retry: 1, delayMs: 0, error: { kind: 'cuda_context_poisoned' } }]);
    expect(events.filter((e) => e.type === 'first_token').map((e) => e.atMs)).toEqual([500, 500]);
  });

  it('without a retry policy the failed request fails with its error; the rebuild still runs and later requests succeed', async () => {
    const { clock, runner, sup } = healing((_b, call) => (call === 1 ? { executeError: poisoned(), steps: [] } : fiveThenStop));
    await expect(drive(clock, sup.execute(batch()))).rejects.toMatchObject({ kind: 'cuda_context_poisoned' });
    expect(await text5(await drive(clock, sup.execute(batch())))).toBe('abcde');
    expect(runner.rebuilds).toEqual(['cuda_context_poisoned']);
  });

  it('a chunk already delivered: a mid-stream poison is delivered as is (no retry) and still rebuilds the session', async () => {
    const { clock, runner, sup } = healing((_b, call) => (call === 1 ? [{ text: 'a' }, { error: poisoned() }] : fiveThenStop), {
      retry: { maxRetries: 3 },
    });
    const h = await drive(clock, sup.execute(batch()));
    await expect(h.collect()).rejects.toMatchObject({ kind: 'cuda_context_poisoned' });
    expect(runner.calls).toHaveLength(1);
    expect(runner.rebuilds).toEqual(['cuda_context_poisoned']);
  });

  it('unauthorized rebuilds with remote_auth_failure, runtime_crashed with manual', async () => {
    const auth = healing(
      (_b, call) => (call === 1 ? { executeError: new InferenceError('unauthorized', '401', { status: 401 }), steps: [] } : fiveThenStop),
      { retry: { maxRetries: 1 } },
      { transportKind: { kind: 'remote', provider: 'openai' } },
    );
    expect(await text5(await drive(auth.clock, auth.sup.execute(batch())))).toBe('abcde');
    expect(auth.runner.rebuilds).toEqual(['remote_auth_failure']);

    const crash = healing((_b, call) => (call === 1 ? [{ error: new InferenceError('runtime_crashed', 'worker exited', { details: { exitCode: 137 } }) }] : fiveThenStop), {
      retry: { maxRetries: 1 },
    });
    expect(await text5(await drive(crash.clock, crash.sup.execute(batch())))).toBe('abcde');
    expect(crash.runner.rebuilds).toEqual(['manual']);
  });

  it('concurrent failures of one session trigger one rebuild, even one reported after the rebuild finished', async () => {
    const { clock, runner, sup } = healing(
      (_b, call) => (call === 1 ? { executeDelayMs: 2000, executeError: poisoned(), steps: [] } : call <= 3 ? { executeError: poisoned(), steps: [] } : fiveThenStop),
      { retry: { maxRetries: 1 } },
    );
    runner.rebuildMs = 500;
    const all = Promise.all([sup.execute(batch()), sup.execute(batch()), sup.execute(batch())]);
    const handles = await drive(clock, all);
    for (const h of handles) expect(await text5(h)).toBe('abcde');
    expect(runner.rebuilds).toEqual(['cuda_context_poisoned']); // call 1 failed at t=2000, after the rebuild of 0..500
    expect(runner.calls).toHaveLength(6);
  });

  it(`past maxRebuilds within windowMs: rebuild_gave_up, requests fail fast with the last kind, nothing rebuilds until a manual rebuildSession()`, async () => {
    let healthy = false;
    const { clock, events, runner, sup, rebuildEvents } = healing(() => (healthy ? fiveThenStop : { executeError: poisoned(), steps: [] }));
    for (let i = 0; i < 3; i++) {
      await expect(drive(clock, sup.execute(batch()))).rejects.toMatchObject({ kind: 'cuda_context_poisoned' });
      await clock.advanceAsync(10_000);
    }
    expect(runner.rebuilds).toHaveLength(3);
    // The fourth failure within 60 s would need a fourth rebuild.
    const gaveUp = await drive(clock, sup.execute(batch())).catch((e: unknown) => e);
    expect(gaveUp).toMatchObject({
      kind: 'cuda_context_poisoned',
      retryable: false,
      details: { cudaError: 'cudaErrorIllegalAddress', rebuildsGaveUp: { rebuilds: 3, windowMs: 60_000 } },
    });
    expect(events.filter((e) => e.type === 'rebuild_gave_up')).toMatchObject([
      { atMs: 30_000, rebuilds: 3, windowMs: 60_000, error: { kind: 'cuda_context_poisoned' } },
    ]);
    expect(runner.rebuilds).toHaveLength(3);
    const calls = runner.calls.length;
    await clock.advanceAsync(600_000); // the window has long passed: still failed
    healthy = true;
    const fast = await sup.execute(batch()).catch((e: unknown) => e);
    expect(fast).toMatchObject({ kind: 'cuda_context_poisoned', details: { rebuildsGaveUp: { rebuilds: 3 } } });
    expect(runner.calls).toHaveLength(calls); // failed fast: the runner was not called
    expect(events.at(-1)).toMatchObject({ type: 'request_error', error: { kind: 'cuda_context_poisoned' } });

    await sup.rebuildSession('cuda_context_poisoned');
    expect(rebuildEvents().at(-1)).toMatchObject({ type: 'rebuild_finished', cause: 'cuda_context_poisoned', error: undefined });
    expect(rebuildEvents().at(-2)).toMatchObject({ type: 'rebuild_started', error: undefined });
    expect(await text5(await drive(clock, sup.execute(batch())))).toBe('abcde');
    // Reset: a new budget of automatic rebuilds.
    healthy = false;
    await expect(drive(clock, sup.execute(batch()))).rejects.toMatchObject({ kind: 'cuda_context_poisoned', details: { cudaError: 'cudaErrorIllegalAddress' } });
    expect(runner.rebuilds).toHaveLength(5);
  });

  it('the window slides: failures spaced wider than windowMs / maxRebuilds never give up', async () => {
    const { clock, events, runner, sup } = healing({ executeError: poisoned(), steps: [] });
    for (let i = 0; i < 8; i++) {
      await expect(drive(clock, sup.execute(batch()))).rejects.toMatchObject({ kind: 'cuda_context_poisoned' });
      await clock.advanceAsync(20_000); // 3 rebuilds per 60 s at most: starts at 0, 20, 40 s, then 60 s drops 0 s
    }
    expect(runner.rebuilds).toHaveLength(8);
    expect(events.some((e) => e.type === 'rebuild_gave_up')).toBe(false);
  });

  it('a rebuild that throws: rebuild_finished carries the typed error, the requests waiting on it fail with it, the next request rebuilds again', async () => {
    const { clock, runner, sup, rebuildEvents } = healing((_b, call) => (call === 1 ? { executeError: poisoned(), steps: [] } : fiveThenStop));
    runner.rebuildMs = 500;
    runner.failRebuilds = 1;
    await expect(drive(clock, sup.execute(batch()))).rejects.toMatchObject({ kind: 'cuda_context_poisoned' });
    const waiting = sup.execute(batch());
    const err = await drive(clock, waiting).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'internal', message: 'driver reset failed' });
    expect(runner.calls).toHaveLength(1);
    expect(rebuildEvents()).toMatchObject([
      { type: 'rebuild_started', atMs: 0 },
      { type: 'rebuild_finished', atMs: 500, durationMs: 500, error: { kind: 'internal', message: 'driver reset failed' } },
    ]);
    expect(sup.capacity).toBeUndefined();
    expect(await text5(await drive(clock, sup.execute(batch())))).toBe('abcde');
    expect(runner.rebuilds).toEqual(['cuda_context_poisoned', 'cuda_context_poisoned']);
  });

  it('a request waiting for a rebuild is bounded by its own deadline and signal, and holds no slot', async () => {
    const { clock, runner, sup } = healing((_b, call) => (call === 1 ? { executeError: poisoned(), steps: [] } : fiveThenStop), {
      timeouts: { firstChunkMs: 1000 },
      serving: { maxConcurrent: 1 },
    });
    runner.rebuildMs = Infinity; // the rebuild never finishes
    await expect(drive(clock, sup.execute(batch()))).rejects.toMatchObject({ kind: 'cuda_context_poisoned' });
    const timedOut = await drive(clock, sup.execute(batch())).catch((e: unknown) => e);
    expect(timedOut).toMatchObject({ kind: 'timeout', details: { phase: 'first_chunk' } });
    const ac = new AbortController();
    const aborted = sup.execute(batch(), { signal: ac.signal });
    expect(sup.capacity!.inFlight).toBe(0);
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ kind: 'cancelled' });
    expect(runner.calls).toHaveLength(1);
  });

  it('refuses an unusable rebuild policy with a RangeError naming the field', () => {
    const r = new ScriptedRunner();
    expect(() => supervise(r, { rebuild: { maxRebuilds: 0, windowMs: 1000 } })).toThrow(/rebuild\.maxRebuilds must be an integer >= 1/);
    expect(() => supervise(r, { rebuild: { maxRebuilds: 1.5, windowMs: 1000 } })).toThrow(RangeError);
    expect(() => supervise(r, { rebuild: { maxRebuilds: 2, windowMs: -1 } })).toThrow(/rebuild\.windowMs must be a number > 0/);
    expect(() => supervise(r, { rebuild: { maxRebuilds: 2 } as never })).toThrow(/rebuild\.windowMs is required/);
    expect(() => supervise(r, { rebuild: { maxRebuilds: 2, windowMs: Infinity } })).not.toThrow();
  });
});
