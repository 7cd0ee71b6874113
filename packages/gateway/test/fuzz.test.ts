import { afterAll, beforeAll, expect, test } from 'vitest';
import { StepRunner, startGateway, type Harness } from './helpers.js';

// Seeded mutations of a valid request: every field replaced by values of the wrong type, out of
// range, or missing. Whatever arrives, the gateway answers with a status it documents and an
// OpenAI-shaped body — never a 500, a hang or a crash.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIRD: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, '', 'x', '🚀', [], [1, 'a'], {}, { a: 1 }, [[[]]], 'null', '__proto__', { __proto__: { polluted: 1 } }];
const FIELDS = ['model', 'messages', 'stream', 'stream_options', 'temperature', 'top_p', 'top_k', 'max_tokens', 'max_completion_tokens', 'stop', 'seed', 'presence_penalty', 'frequency_penalty', 'repetition_penalty', 'tools', 'tool_choice', 'response_format', 'n', 'logprobs', 'user'];
const MESSAGE_FIELDS = ['role', 'content', 'name', 'tool_calls', 'tool_call_id'];

function mutate(r: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const body: Record<string, unknown> = {
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    stream: r() < 0.5,
  };
  const edits = 1 + Math.floor(r() * 3);
  for (let i = 0; i < edits; i++) {
    if (r() < 0.6) {
      const f = pick(FIELDS);
      if (r() < 0.2) delete body[f];
      else body[f] = pick(WEIRD);
    } else {
      const msg: Record<string, unknown> = { role: pick(['user', 'assistant', 'tool', 'system', 'developer', 'x']), content: 'c' };
      msg[pick(MESSAGE_FIELDS)] = pick(WEIRD);
      body.messages = r() < 0.5 ? [msg] : [msg, pick(WEIRD)];
    }
  }
  return r() < 0.05 ? pick(WEIRD) : body;
}

let h: Harness;
beforeAll(async () => {
  h = await startGateway({ models: { m: { runner: new StepRunner({ kind: 'chunks', chunks: [{ textDelta: 'ok', finishReason: 'stop' }] }) } } });
});
afterAll(async () => {
  await h.close();
});

test('300 mutated request bodies get documented statuses and OpenAI-shaped errors', { timeout: 60_000 }, async () => {
  const r = rng(20261127);
  const seen = new Map<number, number>();
  for (let i = 0; i < 300; i++) {
    const body = mutate(r);
    const res = await fetch(`${h.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
    expect([200, 400, 404], JSON.stringify(body)).toContain(res.status);
    if (res.status !== 200) {
      const j = (await res.json()) as { error: { message: unknown; type: unknown; code: unknown } };
      expect(typeof j.error.message).toBe('string');
      expect(typeof j.error.type).toBe('string');
      expect(typeof j.error.code).toBe('string');
    } else {
      await res.arrayBuffer();
    }
  }
  // The mutations exercise both sides: some stay valid, most are refused.
  expect(seen.get(200) ?? 0).toBeGreaterThan(0);
  expect(seen.get(400) ?? 0).toBeGreaterThan(100);
  expect(({} as { polluted?: number }).polluted).toBeUndefined();
});
