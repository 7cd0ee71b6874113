import { describe, expect, test } from 'vitest';
import type { ExecuteBatch, Message, TokenChunk } from '@inferkit/inference-core';
import { CudaRunner } from '../src/cuda-runner.js';
import { errorOf } from './helpers/error-of.js';
import { noEosModelDir } from './helpers/paths.js';
import { engineGreedy, TEST_THREADS, userBatch } from './helpers/runner.js';

async function chunksOf(runner: CudaRunner, batch: ExecuteBatch): Promise<TokenChunk[]> {
  const out: TokenChunk[] = [];
  for await (const c of await runner.execute(batch)) out.push(c);
  return out;
}

const QUESTION: Message = { role: 'user', content: 'Tell me a long story about a fox.' };
const TOTAL = 48;

function continuation(text: string, ids: number[] | undefined, maxTokens: number): ExecuteBatch {
  return {
    ...userBatch('', { maxTokens, temperature: 0 }),
    messages: [QUESTION, { role: 'assistant', content: text, prefix: true }],
    ...(ids !== undefined ? { continuationTokenIds: ids } : {}),
  };
}

for (const engineProcess of ['in-process', 'child'] as const) {
  describe(`continuation (engine ${engineProcess})`, () => {
    test('declares continuation and tokenIds; every chunk carries the ids of its text', async () => {
      const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess });
      await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
      try {
        expect(runner.capabilities()).toEqual({ continuation: true, tokenIds: true, penalties: true, repetitionPenalty: true, responseFormat: true });
        const chunks = await chunksOf(runner, { ...userBatch('', { maxTokens: TOTAL, temperature: 0 }), messages: [QUESTION] });
        const ids = chunks.flatMap((c) => c.tokenIds ?? []);
        expect(ids).toHaveLength(TOTAL);
        expect(chunks.every((c) => Array.isArray(c.tokenIds))).toBe(true);
        expect(runner._tokenizer!.decode(ids)).toBe(chunks.map((c) => c.textDelta).join(''));
      } finally {
        await runner.close();
      }
    });

    test('greedy: N chunks, then a continuation by their token ids, is exactly the uninterrupted run', async () => {
      const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess });
      await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
      try {
        const whole = await chunksOf(runner, { ...userBatch('', { maxTokens: TOTAL, temperature: 0 }), messages: [QUESTION] });
        const wholeText = whole.map((c) => c.textDelta).join('');
        const wholeIds = whole.flatMap((c) => c.tokenIds ?? []);
        const promptTokens = whole[whole.length - 1]!.usage!.inputTokens!;
        for (const n of [1, 3, Math.floor(whole.length / 2), whole.length - 2]) {
          const head = whole.slice(0, n);
          const headText = head.map((c) => c.textDelta).join('');
          const headIds = head.flatMap((c) => c.tokenIds ?? []);
          const rest = await chunksOf(runner, continuation(headText, headIds, TOTAL - headIds.length));
          expect(headText + rest.map((c) => c.textDelta).join(''), `after ${n} chunks`).toBe(wholeText);
          expect([...headIds, ...rest.flatMap((c) => c.tokenIds ?? [])], `after ${n} chunks`).toEqual(wholeIds);
          const final = rest[rest.length - 1]!;
          expect(final.finishReason).toBe('length');
          // The prompt is the uninterrupted run's context: its whole blocks come from the prefix
          // cache, generated tokens included (all but the last prompt token, in blocks of 16).
          const cachedTokens = Math.floor((promptTokens + headIds.length - 1) / 16) * 16;
          expect(final.usage).toEqual({ inputTokens: promptTokens + headIds.length, outputTokens: TOTAL - headIds.length, cachedTokens });
        }
      } finally {
        await runner.close();
      }
    });
  });
}

describe('continuation by text and bad continuations', () => {
  test('by text: the assistant turn is left open after the content and the output extends it', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
    try {
      const tok = runner._tokenizer!;
      const t = await (await runner.execute(continuation('Once upon a time', undefined, 8))).collect();
      expect(t.finishReason).toBe('length');
      // The prompt is the conversation with the assistant turn open after its content (no <|im_end|>).
      const prompt = tok.encode('<|begin_of_text|><|im_start|>user\nTell me a long story about a fox.<|im_end|>\n<|im_start|>assistant\nOnce upon a time', false);
      expect(t.usage).toEqual({ inputTokens: prompt.length, outputTokens: 8, cachedTokens: 0 });
      expect(t.text).toBe(tok.decode(await engineGreedy(runner._engine!, prompt, 8)));
    } finally {
      await runner.close();
    }
  });

  test('continuationTokenIds outside the vocabulary, or without a prefix message, are bad_request', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
    try {
      const before = (await runner._engine!.stats()).promptTokens;
      const out = await errorOf(runner.execute(continuation('x', [1, 320], 4)));
      expect(out.kind).toBe('bad_request');
      expect(out.details).toMatchObject({ param: 'continuationTokenIds' });
      const noPrefix = await errorOf(runner.execute({ ...userBatch('x', { maxTokens: 4 }), continuationTokenIds: [1] }));
      expect(noPrefix.kind).toBe('bad_request');
      const negative = await errorOf(runner.execute(continuation('x', [-1], 4)));
      expect(negative.kind).toBe('bad_request');
      // Continuation ids count against the context.
      const long = await errorOf(runner.execute(continuation('x', Array.from({ length: 300 }, () => 7), 4)));
      expect(long.kind).toBe('context_length_exceeded');
      expect((await runner._engine!.stats()).promptTokens).toBe(before);
    } finally {
      await runner.close();
    }
  });
});
