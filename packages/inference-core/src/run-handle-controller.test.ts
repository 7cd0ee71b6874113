import { describe, expect, it } from 'vitest';
import { InferenceError } from './inference-error.js';
import { RunHandle } from './run-handle.js';
import { kObserve, kUnshift, type RunObserver } from './run-handle.js';
import type { TokenChunk } from './token-chunk.js';

const c = (text: string, extra: Partial<TokenChunk> = {}): TokenChunk => ({ requestId: 'r', textDelta: text, ...extra });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Settles a promise into a tag without awaiting forever. */
async function state<T>(p: Promise<T>): Promise<'pending' | { value: T } | { error: unknown }> {
  let out: 'pending' | { value: T } | { error: unknown } = 'pending';
  p.then(
    (value) => (out = { value }),
    (error) => (out = { error }),
  );
  await turn();
  return out;
}

function bufferOf(handle: RunHandle): { buffer: TokenChunk[]; head: number } {
  return handle as unknown as { buffer: TokenChunk[]; head: number };
}

describe('RunHandle.pushable', () => {
  it('delivers pushed chunks in order, then done after end()', async () => {
    const { handle, controller } = RunHandle.pushable();
    expect(controller.push(c('a'))).toBe(true);
    expect(controller.push(c('b'))).toBe(true);
    const tokens = handle.collect();
    await turn();
    controller.push(c('c', { finishReason: 'stop' }));
    controller.end();
    const t = await tokens;
    expect(t.text).toBe('abc');
    expect(t.finishReason).toBe('stop');
  });

  it('hands a chunk straight to a waiting next()', async () => {
    const { handle, controller } = RunHandle.pushable();
    const it = handle[Symbol.asyncIterator]();
    const p = it.next();
    expect(await state(p)).toBe('pending');
    expect(controller.push(c('x'))).toBe(true);
    expect(await p).toEqual({ done: false, value: c('x') });
    expect(bufferOf(handle).buffer.length).toBe(0);
  });

  it('push returns false at the high-water mark; ready() resolves true once the consumer drains', async () => {
    const { handle, controller } = RunHandle.pushable(undefined, { highWaterMark: 3 });
    expect(controller.push(c('0'))).toBe(true);
    expect(controller.push(c('1'))).toBe(true);
    expect(controller.push(c('2'))).toBe(false);
    // Past the mark the chunk is still kept: the mark only says when to wait.
    expect(controller.push(c('3'))).toBe(false);
    const ready = controller.ready();
    expect(controller.ready()).toBe(ready);
    const it = handle[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual(c('0'));
    expect((await it.next()).value).toEqual(c('1'));
    expect((await it.next()).value).toEqual(c('2'));
    expect(await state(ready)).toBe('pending');
    expect((await it.next()).value).toEqual(c('3'));
    expect(await state(ready)).toEqual({ value: true });
    expect(await controller.ready()).toBe(true);
    expect(bufferOf(handle)).toMatchObject({ buffer: [], head: 0 });
  });

  it('a producer that respects backpressure never buffers past the mark', async () => {
    const { handle, controller } = RunHandle.pushable(undefined, { highWaterMark: 4 });
    let maxBuffered = 0;
    void (async () => {
      for (let i = 0; i < 100; i++) {
        const ok = controller.push(c(String(i % 10), i === 99 ? { finishReason: 'stop' } : {}));
        const b = bufferOf(handle);
        maxBuffered = Math.max(maxBuffered, b.buffer.length - b.head);
        if (!ok && !(await controller.ready())) return;
      }
      controller.end();
    })();
    const t = await handle.collect();
    expect(t.chunkCount).toBe(100);
    expect(maxBuffered).toBeLessThanOrEqual(4);
  });

  it('rejects an invalid highWaterMark with bad_request', () => {
    for (const highWaterMark of [0, -1, 1.5, Number.NaN]) {
      expect(() => RunHandle.pushable(undefined, { highWaterMark })).toThrow(expect.objectContaining({ kind: 'bad_request' }));
    }
  });

  it('end() while next() is pending resolves it with done; buffered chunks come first', async () => {
    const a = RunHandle.pushable();
    const it = a.handle[Symbol.asyncIterator]();
    const p = it.next();
    a.controller.end();
    expect(await p).toEqual({ done: true, value: undefined });
    expect(a.controller.push(c('late'))).toBe(false);
    expect(await a.controller.ready()).toBe(false);
    expect(await it.next()).toEqual({ done: true, value: undefined });

    const b = RunHandle.pushable();
    b.controller.push(c('x'));
    b.controller.end();
    b.controller.end();
    expect((await b.handle.collect()).text).toBe('x');
  });

  it('fail() rejects a pending next() with the lifted error; buffered chunks come first', async () => {
    const a = RunHandle.pushable();
    const it = a.handle[Symbol.asyncIterator]();
    const p = it.next();
    a.controller.fail(new Error('socket closed'));
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(InferenceError.isInstance(err)).toBe(true);
    expect((err as InferenceError).kind).toBe('internal');
    await expect(it.next()).rejects.toBe(err);

    const b = RunHandle.pushable(undefined, { requestId: 'req-1' });
    const typed = new InferenceError('server_error', 'upstream 502');
    b.controller.push(c('x'));
    b.controller.fail(typed);
    b.controller.end(); // ignored: the stream already failed
    const it2 = b.handle[Symbol.asyncIterator]();
    expect((await it2.next()).value).toEqual(c('x'));
    await expect(it2.next()).rejects.toBe(typed);
    expect(b.controller.push(c('late'))).toBe(false);
    expect(bufferOf(b.handle).buffer.length).toBe(0);
  });

  it('cancel() rejects a pending next() at once, aborts the signal, runs the hook once, wakes the producer with false', async () => {
    const reasons: InferenceError[] = [];
    const { handle, controller } = RunHandle.pushable((r) => reasons.push(r), { highWaterMark: 1 });
    controller.push(c('a'));
    const ready = controller.ready();
    const it = handle[Symbol.asyncIterator]();
    expect((await it.next()).value).toEqual(c('a'));
    expect(await ready).toBe(true);
    const p = it.next();
    handle.cancel('stop');
    handle.cancel('again');
    await expect(p).rejects.toMatchObject({ kind: 'cancelled' });
    expect(reasons.map((r) => r.kind)).toEqual(['cancelled']);
    expect(controller.signal.aborted).toBe(true);
    expect(controller.push(c('late'))).toBe(false);
    expect(await controller.ready()).toBe(false);
    controller.end();
    controller.fail(new Error('late'));
    await expect(it.next()).rejects.toMatchObject({ kind: 'cancelled' });
    expect(reasons.length).toBe(1);
  });

  it('cancel() drops the buffer and releases a producer waiting on ready()', async () => {
    const { handle, controller } = RunHandle.pushable(undefined, { highWaterMark: 2 });
    controller.push(c('a'));
    controller.push(c('b'));
    const ready = controller.ready();
    handle.cancel();
    expect(await ready).toBe(false);
    expect(bufferOf(handle)).toMatchObject({ buffer: [], head: 0 });
  });

  it('break ends quietly, runs the hook once and stops the producer', async () => {
    let hooks = 0;
    const { handle, controller } = RunHandle.pushable(() => hooks++);
    for (let i = 0; i < 5; i++) controller.push(c(`t${i}`));
    const seen: string[] = [];
    for await (const x of handle) {
      seen.push(x.textDelta);
      if (x.textDelta === 't1') break;
    }
    expect(seen).toEqual(['t0', 't1']);
    expect(hooks).toBe(1);
    expect(controller.signal.aborted).toBe(true);
    expect(bufferOf(handle).buffer.length).toBe(0);
  });

  it('no cancel hook once the stream finished, or once the producer ended or failed', async () => {
    let hooks = 0;
    const a = RunHandle.pushable(() => hooks++);
    a.controller.push(c('done', { finishReason: 'stop' }));
    for await (const x of a.handle) if (x.finishReason) break;
    a.handle.cancel();

    const b = RunHandle.pushable(() => hooks++);
    b.controller.push(c('x'));
    b.controller.end();
    const itB = b.handle[Symbol.asyncIterator]();
    b.handle.cancel();
    // The producer is done, but the caller did not see the end: it gets `cancelled`.
    await expect(itB.next()).rejects.toMatchObject({ kind: 'cancelled' });

    const d = RunHandle.pushable(() => hooks++);
    d.controller.fail(new Error('x'));
    d.handle.cancel();
    expect(hooks).toBe(0);
  });

  it('passes chunks pushed after a finish chunk through, like the other sources', async () => {
    const { handle, controller } = RunHandle.pushable();
    controller.push(c('a', { finishReason: 'stop' }));
    expect(controller.push(c('extra'))).toBe(true);
    controller.end();
    expect((await handle.collect()).text).toBe('aextra');
  });

  it("the caller's abort signal cancels with kind cancelled, or with its InferenceError reason", async () => {
    const ac = new AbortController();
    let hooks = 0;
    const { handle, controller } = RunHandle.pushable(() => hooks++, { signal: ac.signal });
    const p = handle[Symbol.asyncIterator]().next();
    ac.abort();
    await expect(p).rejects.toMatchObject({ kind: 'cancelled' });
    expect(hooks).toBe(1);
    expect(controller.signal.aborted).toBe(true);

    const ac2 = new AbortController();
    const reason = new InferenceError('timeout', 'deadline');
    ac2.abort(reason);
    const pre = RunHandle.pushable(undefined, { signal: ac2.signal });
    await expect(pre.handle.collect()).rejects.toBe(reason);
    expect(pre.controller.push(c('x'))).toBe(false);
  });

  it('a second next() while one is pending is an internal error', async () => {
    const { handle } = RunHandle.pushable();
    const it = handle[Symbol.asyncIterator]();
    void it.next();
    await expect(it.next()).rejects.toMatchObject({ kind: 'internal' });
  });

  it('feeds kObserve and honours kUnshift', async () => {
    const { handle, controller } = RunHandle.pushable();
    const seen: string[] = [];
    const settled: string[] = [];
    const observer: RunObserver = { chunk: (x) => seen.push(x.textDelta), settle: (o) => settled.push(o) };
    controller.push(c('first'));
    const it = handle[Symbol.asyncIterator]();
    const first = await it.next();
    handle[kUnshift](first);
    handle[kObserve](observer);
    controller.push(c('second', { finishReason: 'stop' }));
    controller.end();
    const out: string[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) out.push(r.value.textDelta);
    expect(out).toEqual(['first', 'second']);
    expect(seen).toEqual(['second']);
    expect(settled).toEqual(['ended']);
  });

  it('compacts the buffer when a producer that ignores backpressure never lets it drain', async () => {
    const { handle, controller } = RunHandle.pushable(undefined, { highWaterMark: 1 });
    const it = handle[Symbol.asyncIterator]();
    for (let i = 0; i < 3000; i++) controller.push(c('x'));
    for (let i = 0; i < 10_000; i++) {
      await it.next();
      controller.push(c('y'));
    }
    const b = bufferOf(handle);
    expect(b.buffer.length - b.head).toBe(3000);
    // Without compaction the array would hold all 13,000 slots; read slots are dropped once they
    // are more than half of it.
    expect(b.buffer.length).toBeLessThanOrEqual(6001);
  });
});
