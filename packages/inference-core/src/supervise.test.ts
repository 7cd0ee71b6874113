import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import { InferenceError } from './inference-error.js';
import type { ExecuteBatch } from './execute-batch.js';
import type { ModelRunner } from './model-runner.js';
import type { RateLimitObservation } from './rate-limiter.js';
import type { RunHandle } from './run-handle.js';
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
    expect(sup.budget!.spent('hour')).toBeCloseTo(1.2);
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
