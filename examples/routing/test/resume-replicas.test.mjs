// Issue #13, "must show" 3: two CudaRunner replicas of the embedded model, each engine in its own
// process, greedy, behind route() with resume. Killing the serving replica's engine (SIGKILL)
// mid-answer leaves the caller with exactly the uninterrupted text and token count, and one
// `resumed` event; a kill before the first token is a plain failover; a kill at the last token
// is resumed too.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { route } from '@inferkit/inference-core';
import { EngineHold, enginePid, startReplicas } from '../replicas.mjs';

const PROMPT = 'Tell me a story about a dog.';
const MAX_TOKENS = 200;
let seq = 0;
const batch = () => ({
  requestId: `resume-${++seq}`,
  model: 'inferkit-tiny',
  messages: [{ role: 'user', content: PROMPT }],
  sampling: { maxTokens: MAX_TOKENS, temperature: 0 },
  stream: true,
  estimatedTokens: MAX_TOKENS,
});
const tokensOf = (chunk) => chunk.tokenIds?.length ?? 0;

let replicas;
let router;
let events;
/** The uninterrupted greedy answer: text, output tokens (usage), and tokens that carry text. */
let reference;

beforeAll(async () => {
  replicas = await startReplicas(2);
  events = [];
  // Fallback order: local#0 serves first, so it is the one killed; local#1 continues.
  router = route(replicas.map((r) => ({ runner: r.runner, name: r.name })), {
    strategy: 'fallback',
    resume: { maxResumes: 1 },
    name: 'local',
    onEvent: (e) => events.push(e),
  });
  let text = '';
  let textTokens = 0;
  let final;
  for await (const c of await replicas[1].raw.execute(batch())) {
    text += c.textDelta;
    textTokens += tokensOf(c);
    if (c.finishReason !== undefined) final = c;
  }
  reference = { text, outputTokens: final.usage.outputTokens, finishReason: final.finishReason, textTokens };
  // The scenarios below need an answer long enough to be cut in the middle.
  expect(reference.textTokens).toBeGreaterThan(40);
}, 120_000);

afterAll(async () => {
  await router?.close();
});

/** A fresh engine process on each replica, so that a scenario never meets the previous one's corpse. */
async function healthy() {
  for (const r of replicas) await r.runner.rebuildSession('manual');
  events.length = 0;
}

/**
 * Streams a request with the engines held (see EngineHold) and SIGKILLs the serving engine once
 * the caller has received `killAt(tokens)` tokens. Returns what the caller got; `finishedFirst`
 * when the answer's last chunk arrived before that point (nothing was killed).
 */
async function killedRun(killAt) {
  const pids = replicas.map((r) => enginePid(r.raw));
  const hold = new EngineHold(pids);
  let text = '';
  let tokens = 0;
  let final;
  let killedAt;
  try {
    const handle = await hold.while(() => router.execute(batch()));
    const served = router.servedBy(handle);
    const it = handle[Symbol.asyncIterator]();
    let next = await hold.while(() => it.next());
    while (!next.done) {
      text += next.value.textDelta;
      tokens += tokensOf(next.value);
      if (next.value.finishReason !== undefined) final = next.value;
      if (killedAt === undefined && final === undefined && killAt(tokens)) {
        killedAt = tokens;
        hold.kill(pids[replicas.findIndex((r) => r.name === served[0])]);
        hold.release();
      }
      next = killedAt === undefined ? await hold.while(() => it.next()) : await it.next();
    }
    return { text, usage: final?.usage, finishReason: final?.finishReason, served, killedAt, finishedFirst: killedAt === undefined };
  } finally {
    hold.release();
  }
}

const resumedEvents = () => events.filter((e) => e.type === 'resumed');
const failoverEvents = () => events.filter((e) => e.type === 'failover');

function expectReference(r) {
  expect(r.text).toBe(reference.text);
  expect(r.usage?.outputTokens).toBe(reference.outputTokens);
  expect(r.finishReason).toBe(reference.finishReason);
}

describe('route() over two CudaRunner replicas (engine processes), greedy', () => {
  test('SIGKILL of the serving engine after 20 tokens: the uninterrupted text and token count, one resumed event', async () => {
    await healthy();
    const r = await killedRun((n) => n >= 20);
    expect(r.finishedFirst).toBe(false);
    expect(r.served).toEqual(['local#0']);
    expect(r.killedAt).toBeGreaterThanOrEqual(20);
    expectReference(r);
    expect(resumedEvents()).toHaveLength(1);
    expect(resumedEvents()[0]).toMatchObject({ from: 'local#0', to: 'local#1', resume: 1, error: { kind: 'runtime_crashed' } });
    expect(failoverEvents()).toHaveLength(0);
    expect(router.stats()).toMatchObject([
      { name: 'local#0', resumes: 1, inFlight: 0 },
      { name: 'local#1', inFlight: 0 },
    ]);
  }, 120_000);

  test('SIGKILL before the first token: a plain failover to the other replica, no resume', async () => {
    await healthy();
    const pids = replicas.map((r) => enginePid(r.raw));
    const hold = new EngineHold(pids);
    let handle;
    try {
      // local#0's engine never runs again: the request it was sent dies with it.
      const pending = router.execute(batch());
      hold.kill(pids[0]);
      hold.release();
      handle = await pending;
    } finally {
      hold.release();
    }
    expect(router.servedBy(handle)).toEqual(['local#1']);
    const out = await handle.collect();
    expectReference({ text: out.text, usage: out.usage, finishReason: out.finishReason });
    expect(failoverEvents()).toHaveLength(1);
    expect(failoverEvents()[0]).toMatchObject({ from: 'local#0', error: { kind: 'runtime_crashed' } });
    expect(resumedEvents()).toHaveLength(0);
  }, 120_000);

  test('SIGKILL at the last token: resumed for the rest of the answer, the same text and count', async () => {
    // The kill lands once the caller holds all but at most the last token of text, and only
    // counts if the stream had not finished by then. The engine produces a token per step while
    // a chunk is awaited; if it got the end out in that window (to the caller, or already into
    // the router's buffer, so that the kill can no longer touch the stream), the attempt shows
    // nothing and is made again (each attempt's answer is still checked).
    const attempts = [];
    let r;
    for (let i = 0; i < 8; i++) {
      await healthy();
      r = await killedRun((n) => n >= reference.textTokens - 1);
      const landed = !r.finishedFirst && resumedEvents().length > 0;
      attempts.push(r.finishedFirst ? 'finished before the kill' : landed ? `killed after ${r.killedAt} tokens` : `killed after ${r.killedAt} tokens, after the stream had ended`);
      expectReference(r);
      if (landed) break;
    }
    expect(r.finishedFirst, attempts.join('; ')).toBe(false);
    expect(r.killedAt).toBeGreaterThanOrEqual(reference.textTokens - 1);
    expect(resumedEvents()).toHaveLength(1);
    expect(resumedEvents()[0]).toMatchObject({ from: 'local#0', to: 'local#1', error: { kind: 'runtime_crashed' } });
  }, 300_000);
});
