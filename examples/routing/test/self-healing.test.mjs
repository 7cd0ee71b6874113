// Issue #13, "must show" 5: a CudaRunner poisoned through its fault hook (a sticky backend
// failure, what a CUDA error leaves behind) is rebuilt by supervise({ rebuild }) on its own, and
// a request that arrives during the rebuild waits for it and succeeds. Four poisonings within the
// 60 s window: the fourth is not rebuilt (rebuild_gave_up), requests fail fast with a typed
// error, and nothing rebuilds by itself any more. The window runs on a fake clock.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceError, supervise } from '@inferkit/inference-core';
import { FakeClock } from '@inferkit/inference-core/testing';
import { CudaRunner } from '@inferkit/runner-cuda';
import { EMBEDDED_MODEL, REBUILD } from '../replicas.mjs';

let seq = 0;
const batch = () => ({
  requestId: `heal-${++seq}`,
  model: 'inferkit-tiny',
  messages: [{ role: 'user', content: 'What color is the sky?' }],
  sampling: { maxTokens: 32, temperature: 0 },
  stream: true,
  estimatedTokens: 32,
});

async function errorOf(promise) {
  try {
    await promise;
  } catch (e) {
    if (InferenceError.isInstance(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

let raw;
let runner;
let clock;
/** Supervise events and the test's own marks, in the order they happened. */
let log;
let baseline;
let onRebuildStarted = () => {};

beforeAll(async () => {
  raw = new CudaRunner({ device: 'cpu', threads: 1 });
  await raw.loadWeights({ kind: 'local_path', path: EMBEDDED_MODEL });
  baseline = (await (await raw.execute(batch())).collect()).text;
  clock = new FakeClock();
  log = [];
  runner = supervise(raw, {
    rebuild: REBUILD,
    clock,
    onEvent: (e) => {
      if (!e.type.startsWith('rebuild_')) return;
      log.push(e);
      if (e.type === 'rebuild_started') onRebuildStarted();
    },
  });
}, 60_000);

afterAll(async () => {
  await runner?.close();
});

const types = () => log.map((e) => e.type);
const poisoned = async () => (await raw._engine.stats()).poisoned;

/** Poisons the engine, then sends a request: it fails with cuda_context_poisoned. */
async function poisonedRequest() {
  // Armed before the request: the fault hits its first step.
  raw._engine.injectFault('sticky_failure');
  const err = await errorOf(runner.execute(batch()).then((h) => h.collect()));
  expect(err.kind).toBe('cuda_context_poisoned');
  return err;
}

describe('supervise({ rebuild }) over a CudaRunner poisoned by its fault hook', () => {
  test('rebuilds by itself; the request that arrives during the rebuild waits for it and succeeds', async () => {
    let during;
    onRebuildStarted = () => {
      // Sent as soon as the rebuild has begun (a microtask later, once supervise holds it).
      queueMicrotask(() => {
        log.push({ type: 'request_sent' });
        during = runner.execute(batch()).then((h) => h.collect());
      });
    };
    await poisonedRequest();
    onRebuildStarted = () => {};
    await expect.poll(() => during !== undefined, { timeout: 30_000 }).toBe(true);
    const out = await during;
    expect(out.text).toBe(baseline);
    expect(types()).toEqual(['rebuild_started', 'request_sent', 'rebuild_finished']);
    expect(log[0]).toMatchObject({ cause: 'cuda_context_poisoned', error: { kind: 'cuda_context_poisoned' } });
    expect(log[2].error).toBeUndefined();
    expect(await poisoned()).toBe(false);
  }, 60_000);

  test('4 poisonings within 60 s: rebuild_gave_up, a typed error, and no further automatic rebuild', async () => {
    // The first test's rebuild is the first of the window; two more are allowed.
    for (let i = 2; i <= 3; i++) {
      await poisonedRequest();
      await expect.poll(() => types().filter((t) => t === 'rebuild_finished').length, { timeout: 30_000 }).toBe(i);
      expect((await (await runner.execute(batch())).collect()).text).toBe(baseline);
    }
    clock.advance(59_000); // still inside the window of the first rebuild
    await poisonedRequest();
    expect(types().filter((t) => t === 'rebuild_started')).toHaveLength(3);
    expect(log.at(-1)).toMatchObject({ type: 'rebuild_gave_up', rebuilds: 3, windowMs: 60_000, error: { kind: 'cuda_context_poisoned' } });

    // Every request now fails fast with the last error's kind and why.
    const err = await errorOf(runner.execute(batch()));
    expect(err.kind).toBe('cuda_context_poisoned');
    expect(err.details).toMatchObject({ rebuildsGaveUp: { rebuilds: 3, windowMs: 60_000 } });
    expect(err.retryable).toBe(false);
    // Nothing rebuilds by itself, even once the window has passed.
    clock.advance(120_000);
    expect((await errorOf(runner.execute(batch()))).details).toMatchObject({ rebuildsGaveUp: { rebuilds: 3 } });
    expect(types().filter((t) => t === 'rebuild_started')).toHaveLength(3);
    expect(await poisoned()).toBe(true);

    // An operator's rebuildSession() brings it back.
    await runner.rebuildSession('cuda_context_poisoned');
    expect(await poisoned()).toBe(false);
    expect((await (await runner.execute(batch())).collect()).text).toBe(baseline);
  }, 120_000);
});
