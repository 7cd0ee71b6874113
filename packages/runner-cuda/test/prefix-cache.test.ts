import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Message, TokenChunk } from '@inferkit/inference-core';
import { CudaRunner } from '../src/cuda-runner.js';
import { resolveCudaRunnerOptions } from '../src/cuda-runner-options.js';
import { noEosModelDir } from './helpers/paths.js';
import { TEST_THREADS, userBatch } from './helpers/runner.js';

// A system prompt of over a hundred tokens (the tiny model's context is 256), shared by every
// request below.
const SYSTEM: Message = {
  role: 'system',
  content: Array.from({ length: 3 }, (_, i) => `Rule ${i + 1}: answer briefly, politely and in plain words.`).join(' '),
};

function ask(question: string, maxTokens = 12) {
  return { ...userBatch('', { maxTokens, temperature: 0 }), messages: [SYSTEM, { role: 'user' as const, content: question }] };
}

async function final(runner: CudaRunner, batch: ReturnType<typeof ask>): Promise<{ ids: number[]; last: TokenChunk }> {
  const chunks: TokenChunk[] = [];
  for await (const c of await runner.execute(batch)) chunks.push(c);
  return { ids: chunks.flatMap((c) => c.tokenIds ?? []), last: chunks[chunks.length - 1]! };
}

async function loaded(engineProcess: 'in-process' | 'child', prefixCache?: boolean): Promise<CudaRunner> {
  const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess, ...(prefixCache !== undefined ? { prefixCache } : {}) });
  await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
  return runner;
}

for (const engineProcess of ['in-process', 'child'] as const) {
  describe(`prefix cache (engine ${engineProcess})`, () => {
    let on: CudaRunner;
    let off: CudaRunner;
    beforeAll(async () => {
      [on, off] = await Promise.all([loaded(engineProcess), loaded(engineProcess, false)]);
    });
    afterAll(async () => {
      await Promise.all([on.close(), off.close()]);
    });

    test('a second request sharing the system prompt reuses its KV cache: cachedTokens in usage, same greedy output as without the cache', async () => {
      const questions = ['What is a fox?', 'Name three colours.', 'Why is the sky blue?'];
      const first = await final(on, ask(questions[0]!));
      const input = first.last.usage!.inputTokens!;
      expect(input).toBeGreaterThan(100);
      expect(first.last.usage!.cachedTokens).toBe(0);
      const before = await on._engine!.stats();
      for (const q of questions.slice(1)) {
        const a = await final(on, ask(q));
        const b = await final(off, ask(q));
        expect(a.ids).toEqual(b.ids);
        const cached = a.last.usage!.cachedTokens!;
        // The system prompt's whole blocks, at least: everything up to where the questions differ.
        expect(cached).toBeGreaterThan(input - 40);
        expect(cached % 16).toBe(0);
        expect(b.last.usage!.cachedTokens).toBe(0);
      }
      const after = await on._engine!.stats();
      expect(after.cachedPromptTokens - before.cachedPromptTokens).toBeGreaterThan(2 * (input - 40));
      // Only the rest of each prompt was computed.
      expect(after.promptTokens - before.promptTokens).toBeLessThan(2 * 40);
      expect(after.kvBlocksCached).toBeGreaterThan(0);
      expect(after.kvBlocksInUse).toBe(0);
      expect((await off._engine!.stats()).kvBlocksCached).toBe(0);
    });

    test('a repeated request is served from the cache but its last prompt token, and gives the same output', async () => {
      const a = await final(on, ask('Count to five.'));
      const b = await final(on, ask('Count to five.'));
      expect(b.ids).toEqual(a.ids);
      const input = b.last.usage!.inputTokens!;
      expect(b.last.usage!.cachedTokens).toBe(Math.floor((input - 1) / 16) * 16);
    });
  });
}

describe('prefixCache option', () => {
  test('defaults to true; a non-boolean is bad_request naming it', () => {
    expect(resolveCudaRunnerOptions({}, {}, 2).prefixCache).toBe(true);
    expect(resolveCudaRunnerOptions({ prefixCache: false }, {}, 2).prefixCache).toBe(false);
    let err: unknown;
    try {
      resolveCudaRunnerOptions({ prefixCache: 'yes' }, {}, 2);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: 'bad_request', details: { param: 'prefixCache' } });
  });
});
