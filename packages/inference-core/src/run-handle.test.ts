import { describe, expect, it } from 'vitest';
import { InferenceError } from './inference-error.js';
import { RunHandle } from './run-handle.js';
import type { TokenChunk } from './token-chunk.js';

const c = (text: string, extra: Partial<TokenChunk> = {}): TokenChunk => ({ requestId: 'r', textDelta: text, ...extra });

async function* chunks(n: number, finish = true): AsyncGenerator<TokenChunk> {
  for (let i = 0; i < n; i++) yield c(`t${i}`, finish && i === n - 1 ? { finishReason: 'stop' } : {});
}

describe('RunHandle', () => {
  it('streams and collects', async () => {
    const tokens = await RunHandle.streaming(chunks(3)).collect();
    expect(tokens.text).toBe('t0t1t2');
    expect(tokens.finishReason).toBe('stop');
  });

  it('break out of for-await runs the cancel hook exactly once and closes the source', async () => {
    let hooks = 0;
    let closed = false;
    let signal: AbortSignal | undefined;
    const h = RunHandle.streaming(
      (s) => {
        signal = s;
        return (async function* () {
          try {
            yield* chunks(10);
          } finally {
            closed = true;
          }
        })();
      },
      () => hooks++,
    );
    for await (const x of h) if (x.textDelta === 't1') break;
    h.cancel();
    await new Promise((r) => setImmediate(r));
    expect(hooks).toBe(1);
    expect(closed).toBe(true);
    expect(signal?.aborted).toBe(true);
  });

  it('cancel() rejects a pending next() at once even if the source is stuck, hook once', async () => {
    let hooks = 0;
    const reasons: InferenceError[] = [];
    const stuck = (async function* () {
      yield c('a');
      await new Promise(() => {}); // never resolves
    })();
    const h = RunHandle.streaming(stuck, (r) => (hooks++, reasons.push(r)));
    const it = h[Symbol.asyncIterator]();
    await it.next();
    const pending = it.next();
    h.cancel('user pressed stop');
    h.cancel('twice');
    await expect(pending).rejects.toMatchObject({ kind: 'cancelled', message: 'user pressed stop' });
    await expect(it.next()).rejects.toMatchObject({ kind: 'cancelled' });
    expect(hooks).toBe(1);
    expect(reasons[0]!.details).toEqual({ reason: 'user pressed stop' });
    expect(h.cancelled).toBe(true);
  });

  it('does not call the hook after the stream finished', async () => {
    let hooks = 0;
    const h = RunHandle.streaming(chunks(3), () => hooks++);
    for await (const x of h) if (x.finishReason !== undefined) break; // break after the finish chunk
    h.cancel();
    expect(hooks).toBe(0);
    const h2 = RunHandle.streaming(chunks(2), () => hooks++);
    await h2.collect();
    h2.cancel();
    expect(hooks).toBe(0);
  });

  it('an abort signal cancels with kind cancelled, or with its InferenceError reason', async () => {
    const ac = new AbortController();
    let hooks = 0;
    const h = RunHandle.streaming(chunks(5), () => hooks++, { signal: ac.signal, requestId: 'r9' });
    const it = h[Symbol.asyncIterator]();
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toMatchObject({ kind: 'cancelled', requestId: 'r9' });
    expect(hooks).toBe(1);

    const ac2 = new AbortController();
    ac2.abort(new InferenceError('timeout', 'too slow'));
    await expect(RunHandle.streaming(chunks(2), undefined, { signal: ac2.signal }).collect()).rejects.toMatchObject({ kind: 'timeout' });
  });

  it('throws runner errors as InferenceError, lifting plain errors', async () => {
    const boom = (async function* () {
      yield c('a');
      throw new RangeError('engine exploded');
    })();
    const err = await RunHandle.streaming(boom).collect().catch((e: unknown) => e);
    expect(InferenceError.isInstance(err)).toBe(true);
    expect(err).toMatchObject({ kind: 'internal', message: 'engine exploded' });
    const typed = (async function* () {
      throw new InferenceError('server_error', '503');
    })();
    await expect(RunHandle.streaming(typed).collect()).rejects.toMatchObject({ kind: 'server_error' });
    await expect(
      RunHandle.streaming(() => {
        throw new Error('factory failed');
      }).collect(),
    ).rejects.toMatchObject({ kind: 'internal' });
  });

  it('can be iterated only once', async () => {
    const h = RunHandle.streaming(chunks(2));
    await h.collect();
    await expect(h.collect()).rejects.toMatchObject({ kind: 'internal' });
  });

  it('a non-object iterator result becomes an internal error, not a crash', async () => {
    const bad = { [Symbol.asyncIterator]: () => ({ next: async () => undefined as unknown as IteratorResult<TokenChunk> }) };
    await expect(RunHandle.streaming(bad).collect()).rejects.toMatchObject({ kind: 'internal' });
  });
});

describe('RunHandle fast path (factory sources)', () => {
  it('a pending next() settles with cancelled once the signal-aware source stops', async () => {
    let hooks = 0;
    const h = RunHandle.streaming(
      (signal) =>
        (async function* () {
          yield c('a');
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          yield c('never delivered');
        })(),
      () => hooks++,
    );
    const it = h[Symbol.asyncIterator]();
    await it.next();
    const pending = it.next();
    h.cancel('stop');
    await expect(pending).rejects.toMatchObject({ kind: 'cancelled' });
    await expect(it.next()).rejects.toMatchObject({ kind: 'cancelled' });
    expect(hooks).toBe(1);
  });

  it('lifts errors and tracks the end like the guarded path', async () => {
    const failing = RunHandle.streaming(() =>
      (async function* () {
        yield c('a');
        throw new Error('boom');
      })(),
    );
    await expect(failing.collect()).rejects.toMatchObject({ kind: 'internal', message: 'boom' });
    let hooks = 0;
    const h = RunHandle.streaming(() => chunks(3), () => hooks++);
    expect((await h.collect()).text).toBe('t0t1t2');
    h.cancel();
    expect(hooks).toBe(0);
  });
});

describe('RunHandle after the finish chunk', () => {
  it('an abort or cancel after the finish chunk ends the stream quietly', async () => {
    const ac = new AbortController();
    let hooks = 0;
    const h = RunHandle.streaming(() => chunks(2), () => hooks++, { signal: ac.signal });
    const it = h[Symbol.asyncIterator]();
    await it.next();
    expect((await it.next()).value).toMatchObject({ finishReason: 'stop' });
    ac.abort();
    h.cancel();
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(hooks).toBe(0);
    expect(h.cancelled).toBe(false);
  });
});
