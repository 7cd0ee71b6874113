import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock.js';
import type { ExecuteBatch } from './execute-batch.js';
import { INFERENCE_ERROR_KINDS, InferenceError, type InferenceErrorKind } from './inference-error.js';
import type { ModelRunner } from './model-runner.js';
import type { RouteEvent } from './route-event.js';
import { DEFAULT_FALLBACK_KINDS } from './route-options.js';
import { route } from './router.js';
import { rejectionOf } from './rejection-of.js';
import { RunHandle } from './run-handle.js';
import { runnerConformanceCases } from './runner-conformance-cases.js';
import { ScriptedRunner, type ScriptStep } from './scripted-runner.js';
import type { TokenChunk } from './token-chunk.js';

let seq = 0;
function batch(over: Partial<ExecuteBatch> = {}): ExecuteBatch {
  return {
    requestId: `r${++seq}`,
    model: 'logical',
    messages: [{ role: 'user', content: 'hi' }],
    sampling: { maxTokens: 8 },
    stream: true,
    estimatedTokens: 16,
    ...over,
  };
}

const err = (kind: InferenceErrorKind, message: string = kind): InferenceError => new InferenceError(kind, message);
const failing = (kind: InferenceErrorKind): ScriptedRunner => new ScriptedRunner({ pacing: 'microtask', script: { executeError: err(kind), steps: [] } });
const ok = (text = 'ok'): ScriptedRunner => new ScriptedRunner({ pacing: 'microtask', script: [{ text }, { finish: 'stop', usage: { inputTokens: 2, outputTokens: 1 } }] });

describe('route(): failover before the first chunk', () => {
  const others = INFERENCE_ERROR_KINDS.filter((k) => !DEFAULT_FALLBACK_KINDS.includes(k));

  it.each(DEFAULT_FALLBACK_KINDS.map((k) => [k]))('%s moves the request to the next target', async (kind) => {
    const a = failing(kind);
    const b = ok('from b');
    const events: RouteEvent[] = [];
    const router = route([{ runner: a, name: 'a' }, { runner: b, name: 'b' }], { strategy: 'fallback', onEvent: (e) => events.push(e) });
    const out = await (await router.execute(batch())).collect();
    expect(out.text).toBe('from b');
    expect(a.calls.length).toBe(1);
    expect(b.calls.length).toBe(1);
    expect(events.filter((e) => e.type === 'failover').map((e) => (e as { from: string }).from)).toEqual(['a']);
  });

  it('a failure after execute() resolved but before the first chunk fails over too', async () => {
    const a = new ScriptedRunner({ pacing: 'microtask', script: [{ error: err('server_error') }] });
    const b = ok('b');
    const out = await (await route([a, b], { strategy: 'fallback' }).execute(batch())).collect();
    expect(out.text).toBe('b');
  });

  it.each(others.map((k) => [k]))('%s is delivered as is; the next target is not tried', async (kind) => {
    const a = failing(kind);
    const b = ok();
    const e = await rejectionOf(route([a, b], { strategy: 'fallback' }).execute(batch()));
    expect(e.kind).toBe(kind);
    expect(b.calls.length).toBe(0);
  });

  it('fallbackOn replaces the default list', async () => {
    const a = failing('unauthorized');
    const b = ok('b');
    const out = await (await route([a, b], { strategy: 'fallback', fallbackOn: ['unauthorized'] }).execute(batch())).collect();
    expect(out.text).toBe('b');
    const c = failing('server_error');
    const d = ok();
    expect((await rejectionOf(route([c, d], { strategy: 'fallback', fallbackOn: ['unauthorized'] }).execute(batch()))).kind).toBe('server_error');
  });

  it('each target is tried at most once; the last error carries every attempt', async () => {
    const runners = [failing('rate_limited'), failing('server_error'), failing('timeout')];
    const router = route(runners.map((runner, i) => ({ runner, name: `t${i}` })), { strategy: 'fallback' });
    const e = await rejectionOf(router.execute(batch()));
    expect(e.kind).toBe('timeout');
    expect((e.details as { attempts?: unknown }).attempts).toEqual([
      { target: 't0', kind: 'rate_limited' },
      { target: 't1', kind: 'server_error' },
      { target: 't2', kind: 'timeout' },
    ]);
    expect(runners.map((r) => r.calls.length)).toEqual([1, 1, 1]);
    expect(e.message).toContain('t0: rate_limited');
    expect(router.stats().map((s) => s.inFlight)).toEqual([0, 0, 0]);
  });

  it('rewrites batch.model per target', async () => {
    const a = failing('server_error');
    const b = ok();
    await (await route([{ runner: a, model: 'gpt-4.1-mini' }, { runner: b, model: 'qwen3-8b' }], { strategy: 'fallback' }).execute(batch())).collect();
    expect(a.calls[0]!.model).toBe('gpt-4.1-mini');
    expect(b.calls[0]!.model).toBe('qwen3-8b');
  });

  it('a target whose execute() never resolves cannot hold an aborting caller; its slot comes back', async () => {
    const stuck: ModelRunner = {
      runtimeKind: () => 'custom:stuck',
      transportKind: () => ({ kind: 'local', device: 'cpu' }),
      rebuildSession: async () => undefined,
      execute: () => new Promise<RunHandle>(() => undefined),
    };
    const router = route([{ runner: stuck, name: 'stuck' }], { strategy: 'fallback' });
    const ac = new AbortController();
    const p = router.execute(batch(), { signal: ac.signal });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    expect((await rejectionOf(p)).kind).toBe('cancelled');
    expect(router.stats()[0]!.inFlight).toBe(0);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(0);
  });
});

describe('route(): strategies', () => {
  it('cheapest orders by estimateCostUsd, unknown prices last, and skips targets above maxCostUsd', async () => {
    const pricey = new ScriptedRunner({ pacing: 'microtask', estimatedCostUsd: 0.5, script: [{ text: 'pricey' }, { finish: 'stop' }] });
    const cheap = new ScriptedRunner({ pacing: 'microtask', estimatedCostUsd: 0.01, script: [{ text: 'cheap' }, { finish: 'stop' }] });
    const unknown = new ScriptedRunner({ pacing: 'microtask', script: [{ text: 'unknown' }, { finish: 'stop' }] });
    const r1 = route([unknown, pricey, cheap], { strategy: 'cheapest' });
    expect((await (await r1.execute(batch())).collect()).text).toBe('cheap');
    const r2 = route([unknown, pricey], { strategy: 'cheapest', maxCostUsd: 0.1 });
    expect((await (await r2.execute(batch())).collect()).text).toBe('unknown');
    const r3 = route([pricey], { strategy: 'cheapest', maxCostUsd: 0.1 });
    const e = await rejectionOf(r3.execute(batch()));
    expect(e.kind).toBe('bad_request');
    expect((e.details as { param?: string }).param).toBe('maxCostUsd');
  });

  it('least_loaded over two targets, one 4× slower: 1,000 requests finish within 10% of the ideal split', async () => {
    const clock = new FakeClock();
    const make = (stepMs: number): ScriptedRunner =>
      new ScriptedRunner({ clock, pacing: 'microtask', script: [{ delayMs: stepMs }, { text: 'x' }, { finish: 'stop', usage: { outputTokens: 1 } }] });
    const fast = make(10);
    const slow = make(40);
    const slots = 4;
    const router = route(
      [
        { runner: fast, name: 'fast', maxConcurrent: slots },
        { runner: slow, name: 'slow', maxConcurrent: slots },
      ],
      { strategy: 'least_loaded', clock },
    );
    const n = 1000;
    let done = 0;
    const all = Array.from({ length: n }, async () => {
      await (await router.execute(batch())).collect();
      done++;
    });
    while (done < n) await clock.advanceAsync(1);
    await Promise.all(all);
    // Ideal: both targets always busy; throughput slots/10 + slots/40 requests per ms.
    const ideal = n / (slots / 10 + slots / 40);
    expect(clock.now()).toBeLessThanOrEqual(ideal * 1.1);
    expect(fast.calls.length).toBeGreaterThan(slow.calls.length * 3);
    expect(router.waiting).toBe(0);
    expect(router.stats().map((s) => s.inFlight)).toEqual([0, 0]);
  }, 60_000);

  it('ties go by weight, then round robin', async () => {
    const a = ok('a');
    const b = ok('b');
    const c = ok('c');
    const weighted = route([{ runner: a }, { runner: b, weight: 3 }], { strategy: 'least_loaded' });
    for (let i = 0; i < 4; i++) await (await weighted.execute(batch())).collect();
    expect(b.calls.length).toBe(4);
    const even = route([{ runner: a, name: 'a' }, { runner: c, name: 'c' }], { strategy: 'least_loaded' });
    for (let i = 0; i < 6; i++) await (await even.execute(batch())).collect();
    expect(c.calls.length).toBe(3);
  });

  it('an open breaker keeps a target out of traffic until its probe', async () => {
    const clock = new FakeClock();
    let failA = true;
    const a = new ScriptedRunner({
      clock,
      pacing: 'microtask',
      script: () => (failA ? { executeError: err('server_error'), steps: [] } : [{ text: 'a' }, { finish: 'stop' }]),
    });
    const b = ok('b');
    const events: RouteEvent[] = [];
    const router = route([{ runner: a, name: 'a' }, { runner: b, name: 'b' }], {
      strategy: 'fallback',
      clock,
      circuitBreaker: { failureThreshold: 3, windowMs: 60_000, openDurationMs: 1_000 },
      onEvent: (e) => events.push(e),
    });
    for (let i = 0; i < 3; i++) await (await router.execute(batch())).collect();
    expect(events.some((e) => e.type === 'target_down' && e.target === 'a')).toBe(true);
    expect(router.stats()[0]!.state).toBe('open');
    for (let i = 0; i < 5; i++) expect((await (await router.execute(batch())).collect()).text).toBe('b');
    expect(a.calls.length).toBe(3);
    failA = false;
    clock.advance(1_000);
    expect((await (await router.execute(batch())).collect()).text).toBe('a'); // the probe
    expect(a.calls.length).toBe(4);
    expect(events.some((e) => e.type === 'target_up' && e.target === 'a')).toBe(true);
  });

  it('a request waiting for a slot can be aborted and leaves no waiter', async () => {
    const clock = new FakeClock();
    const slow = new ScriptedRunner({ clock, pacing: 'microtask', script: [{ delayMs: 100 }, { text: 'x' }, { finish: 'stop' }] });
    const router = route([{ runner: slow, maxConcurrent: 1 }], { strategy: 'least_loaded', clock });
    const first = router.execute(batch());
    await new Promise((r) => setImmediate(r));
    const ac = new AbortController();
    const second = router.execute(batch(), { signal: ac.signal });
    await new Promise((r) => setImmediate(r));
    expect(router.waiting).toBe(1);
    ac.abort();
    expect((await rejectionOf(second)).kind).toBe('cancelled');
    expect(router.waiting).toBe(0);
    await clock.advanceAsync(100);
    await (await first).collect();
  });

  it('requests go only to targets whose capabilities cover them', async () => {
    const plain = new ScriptedRunner({ pacing: 'microtask', capabilities: {}, script: [{ text: 'plain' }, { finish: 'stop' }] });
    const tools = new ScriptedRunner({ pacing: 'microtask', capabilities: { tools: true }, script: [{ text: 'tools' }, { finish: 'stop' }] });
    const router = route([plain, tools], { strategy: 'fallback' });
    const withTools = batch({ tools: [{ name: 'f', parameters: { type: 'object' } }] });
    expect((await (await router.execute(withTools)).collect()).text).toBe('tools');
    expect((await (await router.execute(batch())).collect()).text).toBe('plain');
    expect(router.capabilities()).toEqual({ tools: true });
    const none = route([plain], { strategy: 'fallback' });
    expect((await rejectionOf(none.execute(withTools))).kind).toBe('bad_request');
  });

  it('a repetition penalty goes to a target declaring repetitionPenalty, not to one with penalties only', async () => {
    const penalties = new ScriptedRunner({ pacing: 'microtask', capabilities: { penalties: true }, script: [{ text: 'penalties' }, { finish: 'stop' }] });
    const repetition = new ScriptedRunner({ pacing: 'microtask', capabilities: { penalties: true, repetitionPenalty: true }, script: [{ text: 'repetition' }, { finish: 'stop' }] });
    const router = route([penalties, repetition], { strategy: 'fallback' });
    expect((await (await router.execute(batch({ sampling: { repetitionPenalty: 1.3 } }))).collect()).text).toBe('repetition');
    expect((await (await router.execute(batch({ sampling: { repetitionPenalty: 1, presencePenalty: 0.5 } }))).collect()).text).toBe('penalties');
    const only = route([penalties], { strategy: 'fallback' });
    expect((await rejectionOf(only.execute(batch({ sampling: { repetitionPenalty: 1.3 } })))).kind).toBe('bad_request');
  });
});

/** A continuation-capable scripted target; `steps` per call. */
function resumable(steps: (b: ExecuteBatch, call: number) => ScriptStep[], caps = { continuation: true }): ScriptedRunner {
  return new ScriptedRunner({ pacing: 'microtask', capabilities: caps, script: (b, call) => steps(b, call) });
}

describe('route(): streams that survive a dying backend', () => {
  it('continues on another target with the delivered text as a prefix: one stream, nothing lost or repeated', async () => {
    const a = resumable(() => [{ text: 'Hello' }, { text: ' wor' }, { error: err('runtime_crashed', 'engine died') }]);
    const b = resumable(() => [{ text: 'ld' }, { text: '!' }, { finish: 'stop', usage: { inputTokens: 12, outputTokens: 2 } }]);
    const events: RouteEvent[] = [];
    const router = route([{ runner: a, name: 'a' }, { runner: b, name: 'b' }], { strategy: 'fallback', resume: { maxResumes: 1 }, onEvent: (e) => events.push(e) });
    const chunks: TokenChunk[] = [];
    for await (const c of await router.execute(batch({ sampling: { maxTokens: 10 } }))) chunks.push(c);
    expect(chunks.map((c) => c.textDelta).join('')).toBe('Hello world!');
    expect(chunks.filter((c) => c.finishReason !== undefined).length).toBe(1);
    expect(chunks.at(-1)!.usage).toEqual({ inputTokens: 12, outputTokens: 4 });
    const cont = b.calls[0]!;
    expect(cont.messages.at(-1)).toEqual({ role: 'assistant', content: 'Hello wor', prefix: true });
    expect(cont.messages.slice(0, -1)).toEqual(a.calls[0]!.messages);
    expect(cont.sampling?.maxTokens).toBe(8);
    const resumed = events.filter((e) => e.type === 'resumed');
    expect(resumed.length).toBe(1);
    expect(resumed[0]).toMatchObject({ from: 'a', to: 'b', resume: 1, deliveredChars: 9 });
    expect(router.stats()).toMatchObject([{ name: 'a', failed: 1, inFlight: 0 }, { name: 'b', served: 1, inFlight: 0 }]);
  });

  it('hands the delivered token ids to a target that takes them', async () => {
    const a = resumable(() => [{ chunk: { textDelta: 'ab', tokenIds: [5, 6] } }, { chunk: { textDelta: 'c', tokenIds: [7] } }, { error: err('network_error') }], { continuation: true, tokenIds: true } as never);
    const b = resumable(() => [{ chunk: { textDelta: 'd', tokenIds: [8] } }, { finish: 'length' }], { continuation: true, tokenIds: true } as never);
    const out = await (await route([a, b], { strategy: 'fallback', resume: { maxResumes: 2 } }).execute(batch({ sampling: { maxTokens: 4 } }))).collect();
    expect(out.text).toBe('abcd');
    expect(b.calls[0]!.continuationTokenIds).toEqual([5, 6, 7]);
    expect(b.calls[0]!.sampling?.maxTokens).toBe(1);
    expect(out.usage?.outputTokens).toBe(4);
    expect(out.finishReason).toBe('length');
  });

  it('never resumes onto a target that cannot continue (e.g. OpenAI proper)', async () => {
    const a = resumable(() => [{ text: 'Hi' }, { error: err('server_error') }]);
    const openai = new ScriptedRunner({ pacing: 'microtask', capabilities: {}, script: [{ text: 'WRONG' }, { finish: 'stop' }] });
    const c = resumable(() => [{ text: ' there' }, { finish: 'stop' }]);
    const out = await (await route([a, openai, c], { strategy: 'fallback', resume: { maxResumes: 1 } }).execute(batch())).collect();
    expect(out.text).toBe('Hi there');
    expect(openai.calls.length).toBe(0);
    const alone = route([resumable(() => [{ text: 'Hi' }, { error: err('server_error') }]), openai], { strategy: 'fallback', resume: { maxResumes: 1 } });
    const handle = await alone.execute(batch());
    await expect(handle.collect()).rejects.toMatchObject({ kind: 'server_error' });
    expect(openai.calls.length).toBe(0);
  });

  it('tool-call streams are not resumed; neither are non-fallback kinds; maxResumes bounds continuations', async () => {
    const tool = resumable(() => [{ chunk: { toolCallDelta: { index: 0, id: 'c1', name: 'f', argumentsDelta: '{"a"' } } }, { error: err('server_error') }]);
    const spare = resumable(() => [{ text: 'x' }, { finish: 'stop' }]);
    await expect((await route([tool, spare], { strategy: 'fallback', resume: { maxResumes: 3 } }).execute(batch())).collect()).rejects.toMatchObject({ kind: 'server_error' });
    expect(spare.calls.length).toBe(0);

    const filtered = resumable(() => [{ text: 'x' }, { error: err('content_filtered') }]);
    await expect((await route([filtered, spare], { strategy: 'fallback', resume: { maxResumes: 3 } }).execute(batch())).collect()).rejects.toMatchObject({ kind: 'content_filtered' });

    const dying = (): ScriptedRunner => resumable(() => [{ text: 'x' }, { error: err('timeout') }]);
    const [d1, d2, d3] = [dying(), dying(), dying()];
    const events: RouteEvent[] = [];
    const h = await route([d1, d2, d3], { strategy: 'fallback', resume: { maxResumes: 1 }, onEvent: (e) => events.push(e) }).execute(batch());
    await expect(h.collect()).rejects.toMatchObject({ kind: 'timeout' });
    expect(events.filter((e) => e.type === 'resumed').length).toBe(1);
    expect(d3.calls.length).toBe(0);
  });

  it('cancelling a resumed stream stops the continuation target', async () => {
    const clock = new FakeClock();
    const a = resumable(() => [{ text: 'a' }, { error: err('server_error') }]);
    const b = new ScriptedRunner({ clock, pacing: 'microtask', capabilities: { continuation: true }, script: [{ text: 'b' }, { delayMs: 10_000 }, { text: 'never' }, { finish: 'stop' }] });
    const router = route([a, b], { strategy: 'fallback', resume: { maxResumes: 1 }, clock });
    const handle = await router.execute(batch());
    const it = handle[Symbol.asyncIterator]();
    expect((await it.next()).value?.textDelta).toBe('a');
    expect((await it.next()).value?.textDelta).toBe('b');
    handle.cancel('enough');
    await expect(it.next()).rejects.toMatchObject({ kind: 'cancelled' });
    expect(b.cancellations).toBe(1);
    expect(router.stats().map((s) => s.inFlight)).toEqual([0, 0]);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('route(): which target served a request (servedBy) and per-target counts', () => {
  it('names the target that delivered the first chunk, after failovers; counts the failovers on the target left', async () => {
    const router = route([{ runner: failing('rate_limited'), name: 'a' }, { runner: failing('server_error'), name: 'b' }, { runner: ok('from c'), name: 'c' }], { strategy: 'fallback' });
    const handle = await router.execute(batch());
    expect(router.servedBy(handle)).toEqual(['c']);
    expect((await handle.collect()).text).toBe('from c');
    expect(router.stats().map((s) => [s.name, s.failovers, s.resumes, s.served])).toEqual([['a', 1, 0, 0], ['b', 1, 0, 0], ['c', 0, 0, 1]]);
    // A handle this router did not return.
    const other = await ok().execute(batch());
    expect(router.servedBy(other)).toBeUndefined();
    await other.collect();
  });

  it('through a router that targets a router: the path of names down to the runner', async () => {
    const inner = route([{ runner: failing('runtime_crashed'), name: 'replica#0' }, { runner: ok('inner'), name: 'replica#1' }], { strategy: 'fallback', name: 'replicas' });
    const outer = route([{ runner: inner, name: 'replicas' }, { runner: ok('hosted'), name: 'hosted' }], { strategy: 'fallback', name: 'chat' });
    const handle = await outer.execute(batch());
    expect(outer.servedBy(handle)).toEqual(['replicas', 'replica#1']);
    expect(inner.servedBy(handle)).toEqual(['replica#1']);
    expect((await handle.collect()).text).toBe('inner');
    // With resume on both levels the outer handle wraps the inner one: the path is still known.
    const inner2 = route([{ runner: ok('r0'), name: 'replica#0' }], { strategy: 'fallback', resume: { maxResumes: 1 } });
    const outer2 = route([{ runner: inner2, name: 'replicas' }], { strategy: 'fallback', resume: { maxResumes: 1 } });
    const h2 = await outer2.execute(batch());
    expect(outer2.servedBy(h2)).toEqual(['replicas', 'replica#0']);
    expect((await h2.collect()).text).toBe('r0');
  });

  it('a resumed stream keeps the target it began on; the resume is counted on the target that failed', async () => {
    const a = resumable(() => [{ text: 'Hel' }, { error: err('runtime_crashed') }]);
    const b = resumable(() => [{ text: 'lo' }, { finish: 'stop' }]);
    const router = route([{ runner: a, name: 'a' }, { runner: b, name: 'b' }], { strategy: 'fallback', resume: { maxResumes: 1 } });
    const handle = await router.execute(batch());
    expect((await handle.collect()).text).toBe('Hello');
    expect(router.servedBy(handle)).toEqual(['a']);
    expect(router.stats()).toMatchObject([{ name: 'a', resumes: 1, failovers: 0, failed: 1 }, { name: 'b', resumes: 0, served: 1 }]);
  });
});

describe('route(): an abandoned resuming handle gives its slot back', () => {
  it('a handle neither read nor cancelled is cancelled after abandonedHandleMs; the target slot is free again', async () => {
    const clock = new FakeClock();
    const long = resumable(() => Array.from({ length: 200 }, (_, i) => ({ text: `t${i} ` })).concat([{ finish: 'stop' } as never]));
    const router = route([{ runner: long, name: 'long', maxConcurrent: 1 }], { strategy: 'fallback', resume: { maxResumes: 1 }, clock, abandonedHandleMs: 5_000 });
    const handle = await router.execute(batch({ sampling: { maxTokens: 300 } }));
    await clock.advanceAsync(4_999);
    expect(router.stats()[0]!.inFlight).toBe(1);
    await clock.advanceAsync(1);
    expect(router.stats()[0]!.inFlight).toBe(0);
    expect(long.cancellations).toBe(1);
    await expect(handle.collect()).rejects.toMatchObject({ kind: 'cancelled', details: { reason: 'abandoned' } });
    expect(clock.pendingTimers).toBe(0);
  });

  it('a handle that is read is never cancelled as abandoned', async () => {
    const clock = new FakeClock();
    const r = new ScriptedRunner({ clock, pacing: 'microtask', capabilities: { continuation: true }, script: [{ text: 'a' }, { delayMs: 10_000 }, { text: 'b' }, { finish: 'stop' }] });
    const router = route([r], { strategy: 'fallback', resume: { maxResumes: 1 }, clock, abandonedHandleMs: 1_000 });
    const handle = await router.execute(batch());
    const collecting = handle.collect();
    await clock.advanceAsync(10_000);
    expect((await collecting).text).toBe('ab');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('route(): spans', () => {
  interface Recorded { name: string; events: Array<{ name: string; attributes?: Record<string, unknown> }>; attributes: Record<string, unknown>; status?: { code: number }; ended: number }
  const recorder = (): { spans: Recorded[]; tracer: { startSpan(name: string, o?: { attributes?: Record<string, unknown> }): unknown } } => {
    const spans: Recorded[] = [];
    return {
      spans,
      tracer: {
        startSpan(name, o) {
          const r: Recorded = { name, events: [], attributes: { ...o?.attributes }, ended: 0 };
          spans.push(r);
          return {
            setAttribute: (k: string, v: unknown) => (r.attributes[k] = v),
            addEvent: (n: string, a?: Record<string, unknown>) => r.events.push({ name: n, attributes: a }),
            setStatus: (st: { code: number }) => (r.status = st),
            end: () => r.ended++,
          };
        },
      },
    };
  };

  it('one span per request with routed, failover and resumed events, ended once when the stream settles', async () => {
    const { spans, tracer } = recorder();
    const a = failing('server_error');
    const b = resumable(() => [{ text: 'x' }, { error: err('timeout') }]);
    const c = resumable(() => [{ text: 'y' }, { finish: 'stop' }]);
    const router = route([{ runner: a, name: 'a' }, { runner: b, name: 'b' }, { runner: c, name: 'c' }], { strategy: 'fallback', resume: { maxResumes: 1 }, tracer: tracer as never, name: 'chat' });
    const out = await (await router.execute(batch())).collect();
    expect(out.text).toBe('xy');
    expect(spans).toHaveLength(1);
    expect(spans[0]!.name).toBe('route chat');
    expect(spans[0]!.events.map((e) => e.name)).toEqual(['gen_ai.inferkit.routed', 'gen_ai.inferkit.failover', 'gen_ai.inferkit.routed', 'gen_ai.inferkit.resumed']);
    expect(spans[0]!.ended).toBe(1);
    expect(spans[0]!.status).toBeUndefined();
  });

  it('a request that fails everywhere ends its span with error.type', async () => {
    const { spans, tracer } = recorder();
    const router = route([failing('server_error'), failing('timeout')], { strategy: 'fallback', tracer: tracer as never });
    await expect(router.execute(batch())).rejects.toMatchObject({ kind: 'timeout' });
    expect(spans[0]!.ended).toBe(1);
    expect(spans[0]!.attributes['error.type']).toBe('timeout');
    expect(spans[0]!.status?.code).toBe(2);
  });

  it('a tracer that throws costs the request nothing', async () => {
    const router = route([ok('fine')], { strategy: 'fallback', tracer: { startSpan: () => { throw new Error('broken tracer'); } } });
    expect((await (await router.execute(batch())).collect()).text).toBe('fine');
  });
});

describe('route(): bad input is refused at construction, naming the field', () => {
  const r = ok();
  it.each([
    ['empty targets', () => route([], { strategy: 'fallback' }), /targets must not be empty/],
    ['a target that is not a runner', () => route([r, { runner: {} as ModelRunner }], { strategy: 'fallback' }), /targets\[1\] must be a ModelRunner/],
    ['a plain object', () => route([{ execute: 1 } as never], { strategy: 'fallback' }), /targets\[0\]/],
    ['duplicate names', () => route([{ runner: r, name: 'x' }, { runner: ok(), name: 'x' }], { strategy: 'fallback' }), /targets\[1\]\.name "x"/],
    ['unknown strategy', () => route([r], { strategy: 'random' as never }), /options\.strategy/],
    ['negative maxResumes', () => route([r], { strategy: 'fallback', resume: { maxResumes: -1 } }), /options\.resume\.maxResumes/],
    ['bad weight', () => route([{ runner: r, weight: 0 }], { strategy: 'fallback' }), /targets\[0\]\.weight/],
    ['bad fallbackOn', () => route([r], { strategy: 'fallback', fallbackOn: ['explosion' as never] }), /options\.fallbackOn\[0\]/],
    ['bad abandonedHandleMs', () => route([r], { strategy: 'fallback', abandonedHandleMs: 0 }), /options\.abandonedHandleMs/],
  ])('%s', (_, make, message) => {
    expect(make).toThrow(message);
  });
});

describe('route(): 10,000 requests with random failures and cancels leave nothing behind', () => {
  it('no slot, waiter, timer or abort listener is left', async () => {
    const clock = new FakeClock();
    let rnd = 12345;
    const random = (): number => {
      rnd = (rnd * 1103515245 + 12345) % 2147483648;
      return rnd / 2147483648;
    };
    const kinds: InferenceErrorKind[] = ['server_error', 'rate_limited', 'bad_request', 'timeout', 'runtime_crashed'];
    const flaky = (): ScriptedRunner =>
      new ScriptedRunner({
        clock,
        pacing: 'microtask',
        capabilities: { continuation: true },
        script: () => {
          const x = random();
          if (x < 0.15) return { executeError: err(kinds[Math.floor(random() * kinds.length)]!), steps: [] };
          if (x < 0.3) return [{ text: 'a' }, { error: err(kinds[Math.floor(random() * kinds.length)]!) }];
          return [{ text: 'a' }, { delayMs: Math.floor(random() * 3) }, { text: 'b' }, { finish: 'stop', usage: { outputTokens: 2 } }];
        },
      });
    const targets = [flaky(), flaky(), flaky()];
    const router = route(
      targets.map((runner, i) => ({ runner, name: `t${i}`, maxConcurrent: 16 })),
      { strategy: 'least_loaded', resume: { maxResumes: 1 }, clock, circuitBreaker: { failureThreshold: 1_000_000, windowMs: 1, openDurationMs: 1 } },
    );
    const signals: AbortSignal[] = [];
    let settled = 0;
    const run = async (): Promise<void> => {
      const ac = new AbortController();
      signals.push(ac.signal);
      const mode = random();
      try {
        const h = await router.execute(batch(), { signal: ac.signal });
        if (mode < 0.1) ac.abort();
        else if (mode < 0.2) h.cancel('user');
        else if (mode < 0.3) {
          for await (const _ of h) break;
        }
        await h.collect().catch(() => undefined);
      } catch (e) {
        if (!InferenceError.isInstance(e)) throw e;
      } finally {
        settled++;
      }
    };
    const total = 10_000;
    const batchSize = 200;
    for (let i = 0; i < total; i += batchSize) {
      const wave = Array.from({ length: batchSize }, run);
      while (settled < i + batchSize) await clock.advanceAsync(1);
      await Promise.all(wave);
    }
    await clock.runAllAsync();
    expect(router.stats().map((s) => s.inFlight)).toEqual([0, 0, 0]);
    expect(router.waiting).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(targets.map((t) => t.active)).toEqual([0, 0, 0]);
    expect(signals.filter((s) => getEventListeners(s, 'abort').length > 0).length).toBe(0);
  }, 120_000);
});

describe('route() passes the conformance kit', () => {
  const caps = { timeoutMs: 2000 };
  describe('fallback over ScriptedRunner targets', () => {
    for (const c of runnerConformanceCases({ create: () => route([failing('server_error'), new ScriptedRunner()], { strategy: 'fallback' }), capabilities: caps })) {
      it(c.name, c.run);
    }
  });
  describe('least_loaded with resume over ScriptedRunner targets (push sources, one continues)', () => {
    const create = () =>
      route(
        [
          { runner: new ScriptedRunner({ source: 'push' }), maxConcurrent: 2 },
          { runner: new ScriptedRunner({ capabilities: { continuation: true, tools: true, responseFormat: true, images: true, penalties: true } }), maxConcurrent: 2 },
        ],
        { strategy: 'least_loaded', resume: { maxResumes: 1 } },
      );
    for (const c of runnerConformanceCases({ create, capabilities: { ...caps, concurrency: 6 } })) {
      it(c.name, c.run);
    }
  });
});
