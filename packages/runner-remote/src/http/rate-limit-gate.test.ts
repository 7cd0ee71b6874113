import { FakeClock, InferenceError } from '@inferkit/inference-core';
import { afterEach, describe, expect, test } from 'vitest';
import { batch, expectIdle } from '../__testing__/batches.js';
import { dataEvents, MockServer, sendSse, waitFor } from '../__testing__/mock-server.js';
import { createRemoteRunner, type SupervisedRemoteRunner } from '../create-remote-runner.js';
import { createOpenAIRunner } from '../openai/openai-runner.js';
import type { RemoteRunner } from '../remote-runner.js';
import { RateLimitGate } from './rate-limit-gate.js';

// Issue #11.4: waits demanded by rate-limit headers are capped like Retry-After.

const okStream = dataEvents([
  { choices: [{ index: 0, delta: { content: 'ok' }, finish_reason: null }] },
  { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
]);
const EXHAUSTED_FOR_100000H = { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '100000h' };

/** `p` settled within `ms` (a deadline against hangs, not a timing assertion). */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), ms)));
  try {
    const out = await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), hang]);
    if (out === 'hang') throw new Error(`still pending after ${ms} ms: the request was parked`);
    return out;
  } finally {
    clearTimeout(timer);
  }
}

let server: MockServer | undefined;
let runners: Array<RemoteRunner | SupervisedRemoteRunner> = [];

afterEach(async () => {
  for (const r of runners) await r.close();
  runners = [];
  await server?.close();
  server = undefined;
});

describe('#11.4 rate-limit header waits are capped', () => {
  test('#11.4 a 100000h reset fails later requests fast with rate_limited + retryAfterMs (supervised: not parked)', async () => {
    server = await MockServer.start((_req, res) => sendSse(res, okStream, EXHAUSTED_FOR_100000H));
    // A fake clock that never moves: a request the limiter parks would never come back.
    const r = createRemoteRunner({ provider: 'openai', baseUrl: `${server.url}/v1`, apiKey: 'sk-test', policy: { clock: new FakeClock(0) } });
    runners.push(r);
    expect((await (await r.execute(batch())).collect()).text).toBe('ok');
    const out = await settledWithin(r.execute(batch()), 5000);
    const err = out.error as InferenceError;
    expect(InferenceError.isInstance(err)).toBe(true);
    expect(err.kind).toBe('rate_limited');
    expect(err.retryAfterMs).toBeGreaterThan(100_000 * 3_600_000 - 60_000);
    expect(err.details).toEqual({ scope: 'requests', remaining: 0 });
    // Failed in the runner, before any request: the server saw only the first call.
    expect(server.requests).toHaveLength(1);
    expect(r.limiter!.queueLength).toBe(0);
  });

  test('#11.4 an unsupervised runner fails fast too, and so does a reset too long to be a number', async () => {
    const huge = '9'.repeat(400);
    let n = 0;
    server = await MockServer.start((_req, res) =>
      sendSse(res, okStream, n++ === 0 ? { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': `${huge}h` } : {}),
    );
    const r = createOpenAIRunner({ baseUrl: `${server.url}/v1`, apiKey: 'sk-test' });
    runners.push(r);
    await (await r.execute(batch())).collect();
    const out = await settledWithin(r.execute(batch()), 5000);
    const err = out.error as InferenceError;
    expect(err.kind).toBe('rate_limited');
    expect(Number.isFinite(err.retryAfterMs)).toBe(true);
    expect(err.details).toMatchObject({ scope: 'tokens' });
    expect(JSON.parse(JSON.stringify(err.toJSON())).retryAfterMs).toBe(err.retryAfterMs);
    await expectIdle(r);
  });

  test('#11.4 the block is re-checked with the server once per maxRateLimitWaitMs, and lifted when it says so', async () => {
    let n = 0;
    server = await MockServer.start((_req, res) => sendSse(res, okStream, n++ === 0 ? EXHAUSTED_FOR_100000H : { 'x-ratelimit-remaining-requests': '42' }));
    const r = createOpenAIRunner({ baseUrl: `${server.url}/v1`, apiKey: 'sk-test', maxRateLimitWaitMs: 100 });
    runners.push(r);
    await (await r.execute(batch())).collect();
    await expect(r.execute(batch())).rejects.toMatchObject({ kind: 'rate_limited' });
    // After the cap one request goes out; its response lifts the block.
    let probe: Promise<unknown> | undefined;
    await waitFor(
      () => {
        probe ??= r.execute(batch()).then(
          (h) => h.collect(),
          (e: unknown) => {
            probe = undefined; // still inside the cap: fails fast, try again later
            return e;
          },
        );
        return server!.requests.length === 2;
      },
      5000,
      'the re-check request',
    );
    await probe;
    expect((await (await r.execute(batch())).collect()).text).toBe('ok');
  });

  test('#11.4 resets within the cap still reach the limiter (supervise waits them out)', () => {
    const gate = new RateLimitGate(60_000, 'openai');
    const obs = gate.observe({ requests: { remaining: 0, resetMs: 2000 } }, 0);
    expect(obs).toEqual({ remainingRequests: 0, resetMs: 2000 });
    expect(gate.check('r', 1)).toBeUndefined();
  });

  test('RateLimitGate: over the cap it fails fast, lets one re-check through per cap, and the next answer decides', () => {
    const gate = new RateLimitGate(1000, 'openai');
    expect(gate.observe({ tokens: { remaining: 0, resetMs: 50_000 }, requests: { remaining: 3 } }, 0)).toEqual({ remainingRequests: 3, remainingTokens: 0 });
    const e = gate.check('r1', 10)!;
    expect(e).toMatchObject({ kind: 'rate_limited', retryAfterMs: 49_990, requestId: 'r1', details: { scope: 'tokens', remaining: 0 } });
    expect(gate.check('r2', 999)).toBeDefined();
    expect(gate.check('probe', 1000)).toBeUndefined(); // the re-check
    expect(gate.check('r3', 1001)).toBeDefined(); // the others keep failing until it answers
    gate.observe({ tokens: { remaining: 500, resetMs: 100 } }, 1200);
    expect(gate.check('r4', 1201)).toBeUndefined();
    // rebuildSession clears it too.
    gate.observe({ requests: { remaining: 0, resetMs: 1e12 } }, 2000);
    expect(gate.check('r5', 2001)).toBeDefined();
    gate.clear();
    expect(gate.check('r6', 2002)).toBeUndefined();
  });
});
