import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { CudaRunner } from '../src/cuda-runner.js';
import { errorOf } from './helpers/error-of.js';
import { noEosModelDir } from './helpers/paths.js';
import { editJson, TEST_THREADS, userBatch } from './helpers/runner.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

/** The tiny no-EOS model with its own chat template and a context of 2^20 positions. */
function modelWith(edit: { template?: string; longContext?: boolean }): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferkit-prompt-'));
  temps.push(dir);
  cpSync(noEosModelDir('llama-gqa'), dir, { recursive: true });
  if (edit.longContext) editJson(join(dir, 'config.json'), (c) => (c.max_position_embeddings = 1 << 20));
  if (edit.template !== undefined) editJson(join(dir, 'tokenizer_config.json'), (t) => (t.chat_template = edit.template));
  return dir;
}

/** English-like text of `bytes` bytes. */
function text(bytes: number): string {
  const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'hello', 'world'];
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = words[(i * 7) % words.length]! + ' ';
    parts.push(w);
    n += w.length;
  }
  return parts.join('').slice(0, bytes);
}

/**
 * Runs `work` while a chain of zero-delay timers measures the event loop: how many timers ran
 * while `work` was pending, and the longest gap between two of them (a stall).
 */
async function whileMeasuringTheLoop<T>(work: () => Promise<T>): Promise<{ result: PromiseSettledResult<T>; ticksWhilePending: number; longestStallMs: number; tookMs: number }> {
  let pending = true;
  let ticks = 0;
  let last = performance.now();
  let longest = 0;
  let stop = false;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (pending) ticks++;
    if (!stop) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  const t0 = performance.now();
  const [result] = await Promise.allSettled([work()]);
  pending = false;
  const tookMs = performance.now() - t0;
  // One more turn, so a stall that ended with the work is measured too.
  await new Promise((r) => setTimeout(r, 0));
  stop = true;
  return { result, ticksWhilePending: ticks, longestStallMs: longest, tookMs };
}

describe('issue #11 item 7: a large prompt does not block the event loop', () => {
  test('a 1 MiB prompt over the context is refused with context_length_exceeded before any tokenizing', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxBatch: 1 });
    await runner.loadWeights({ kind: 'local_path', path: modelWith({}) });
    try {
      const before = (await runner._engine!.stats()).promptTokens;
      const m = await whileMeasuringTheLoop(() => runner.execute(userBatch(text(1 << 20), { maxTokens: 1 })));
      expect(m.result.status).toBe('rejected');
      const err = await errorOf(Promise.reject((m.result as PromiseRejectedResult).reason));
      expect(err.kind).toBe('context_length_exceeded');
      expect(err.details).toMatchObject({ maxContextTokens: 256 });
      expect(err.message).toMatch(/bytes of text/);
      expect((await runner._engine!.stats()).promptTokens).toBe(before);
    } finally {
      await runner.close();
    }
  });

  test('a 1 MiB prompt that fits by its length is rendered and tokenized off the event loop', async () => {
    // A context long enough that the byte-length check lets the prompt through to the tokenizer
    // (1 MiB of this text is about 600,000 tokens: refused after tokenizing).
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxBatch: 1, maxSeqLen: 300_000 });
    await runner.loadWeights({ kind: 'local_path', path: modelWith({ longContext: true }) });
    try {
      const m = await whileMeasuringTheLoop(() => runner.execute(userBatch(text(1 << 20), { maxTokens: 1 })));
      expect(m.result.status).toBe('rejected');
      const err = await errorOf(Promise.reject((m.result as PromiseRejectedResult).reason));
      expect(err.kind).toBe('context_length_exceeded');
      expect(err.message).toMatch(/^prompt \(\d+ tokens\)/);
      // Tokenizing 1 MiB takes seconds; before, it ran on the event loop and no timer ran until it
      // was done. Now timers keep running while it does, and no stall is more than half of it.
      expect(m.ticksWhilePending).toBeGreaterThan(0);
      expect(m.longestStallMs).toBeLessThan(m.tookMs / 2);
      // The runner still serves.
      expect((await (await runner.execute(userBatch('hi', { maxTokens: 2 }))).collect()).usage!.outputTokens).toBe(2);
    } finally {
      await runner.close();
    }
  });

  test('an abort while the prompt is prepared rejects with cancelled; close() fails pending preparations', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxBatch: 1, maxSeqLen: 300_000 });
    await runner.loadWeights({ kind: 'local_path', path: modelWith({ longContext: true }) });
    const ac = new AbortController();
    const aborted = runner.execute(userBatch(text(1 << 20), { maxTokens: 1 }), { signal: ac.signal });
    setTimeout(() => ac.abort(), 0);
    expect((await errorOf(aborted)).kind).toBe('cancelled');
    const closing = errorOf(runner.execute(userBatch(text(1 << 20), { maxTokens: 1 })));
    await runner.close();
    expect((await closing).kind).toBe('cancelled');
  });
});

// Issue #11 item 13: `range(100000000)` rendered 3.2 GB and never answered.
const HUGE_RANGE = "{% for i in range(100000000) %}x{% endfor %}{% for m in messages %}{{ m['content'] }}{% endfor %}";
const HUGE_RANGE_ON_REPLY =
  "{% if messages | length > 1 %}{% for i in range(100000000) %}x{% endfor %}{% endif %}" +
  "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const BUSY_LOOP_ON_REPLY =
  "{% if messages | length > 1 %}{% for i in range(30000) %}{% for j in range(30000) %}{% endfor %}{% endfor %}{% endif %}" +
  "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

describe('issue #11 item 13: chat template rendering is bounded', () => {
  test('a template that runs away on any conversation fails loadWeights with bad_request, the event loop live all along', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxBatch: 1 });
    try {
      const m = await whileMeasuringTheLoop(() => runner.loadWeights({ kind: 'local_path', path: modelWith({ template: HUGE_RANGE }) }));
      expect(m.result.status).toBe('rejected');
      const err = await errorOf(Promise.reject((m.result as PromiseRejectedResult).reason));
      expect(err.kind).toBe('bad_request');
      expect(err.details).toMatchObject({ param: 'chat_template' });
      expect(err.message).toMatch(/chat template/);
      expect(m.ticksWhilePending).toBeGreaterThan(0);
      expect(runner.modelInfo).toBeUndefined();
    } finally {
      await runner.close();
    }
  });

  test('a template that runs away on one conversation fails that request with bad_request; the next one is served', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxBatch: 1 });
    await runner.loadWeights({ kind: 'local_path', path: modelWith({ template: HUGE_RANGE_ON_REPLY }) });
    try {
      const batch = { ...userBatch('hi', { maxTokens: 2 }), messages: [{ role: 'user' as const, content: 'hi' }, { role: 'assistant' as const, content: 'hello' }, { role: 'user' as const, content: 'again' }] };
      const m = await whileMeasuringTheLoop(() => runner.execute(batch));
      const err = await errorOf(Promise.reject((m.result as PromiseRejectedResult).reason));
      expect(err.kind).toBe('bad_request');
      // Whichever limit it reaches first on this machine: time (2 s) or memory (512 MB).
      expect(['chat_template_time_limit', 'chat_template_memory_limit']).toContain((err.details as { code?: string }).code);
      expect(err.requestId).toBe(batch.requestId);
      expect(m.ticksWhilePending).toBeGreaterThan(0);
      expect((await (await runner.execute(userBatch('hi', { maxTokens: 2 }))).collect()).usage!.outputTokens).toBe(2);
    } finally {
      await runner.close();
    }
  });

  test('a template that loops without allocating is stopped at its time limit', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxBatch: 1 });
    await runner.loadWeights({ kind: 'local_path', path: modelWith({ template: BUSY_LOOP_ON_REPLY }) });
    try {
      const batch = { ...userBatch('hi', { maxTokens: 2 }), messages: [{ role: 'user' as const, content: 'hi' }, { role: 'assistant' as const, content: 'hello' }, { role: 'user' as const, content: 'again' }] };
      const m = await whileMeasuringTheLoop(() => runner.execute(batch));
      const err = await errorOf(Promise.reject((m.result as PromiseRejectedResult).reason));
      expect(err.kind).toBe('bad_request');
      expect(err.details).toMatchObject({ code: 'chat_template_time_limit' });
      expect(m.ticksWhilePending).toBeGreaterThan(0);
      expect((await (await runner.execute(userBatch('hi', { maxTokens: 2 }))).collect()).usage!.outputTokens).toBe(2);
    } finally {
      await runner.close();
    }
  });
});
