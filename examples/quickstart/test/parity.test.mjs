// The engine reproduces the training framework: runner-cuda's CPU backend computes the same
// logits as PyTorch did for the committed weights (models/inferkit-tiny/parity/expected.json,
// written by scripts/train.py with its own float32 forward), and greedy decoding through
// CudaRunner — tokenizer, chat template, KV cache — continues the prompts identically.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CudaRunner } from '@inferkit/runner-cuda';
import { MODEL_DIR, expected } from './model-fixture.mjs';

// Same float32 math in a different summation order (blocked matmuls, threads): the CPU backend
// lands within ~1e-5 of PyTorch on logits of magnitude 10-18. 5e-4 leaves room for other CPUs'
// SIMD widths while a wrong op (RoPE pairing, GQA mapping, norm epsilon) moves logits by whole
// units. The fixture's greedy margins (>= 0.007) are far above it, so the greedy checks are sound.
const LOGIT_TOLERANCE = 5e-4;

const tokenizer = new Tokenizer(JSON.parse(readFileSync(join(MODEL_DIR, 'tokenizer.json'), 'utf8')), {});

let runner;
beforeAll(async () => {
  runner = new CudaRunner({ device: 'cpu', threads: 2 });
  await runner.loadWeights({ kind: 'local_path', path: MODEL_DIR });
}, 60_000);
afterAll(async () => {
  await runner?.close();
});

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

describe('CPU backend vs PyTorch on models/inferkit-tiny', () => {
  for (const c of expected.cases) {
    test(`${c.name}: last-position logits match`, async () => {
      const vocab = c.last_logits.length;
      const all = await runner._engine.logits(Int32Array.from(c.prompt_ids));
      expect(all.length).toBe(c.prompt_ids.length * vocab);
      const last = all.subarray((c.prompt_ids.length - 1) * vocab);
      let worst = 0;
      for (let i = 0; i < vocab; i++) worst = Math.max(worst, Math.abs(last[i] - c.last_logits[i]));
      expect(worst).toBeLessThan(LOGIT_TOLERANCE);
      expect(argmax(last)).toBe(argmax(c.last_logits));
      // Position 0 too: catches an off-by-one in the RoPE position or the causal mask.
      for (const [id, value] of c.first_position_logits_top5) expect(Math.abs(all[id] - value)).toBeLessThan(LOGIT_TOLERANCE);
    });

    test(`${c.name}: greedy continuation by full recomputation matches`, async () => {
      const eos = new Set(runner.modelInfo.eosTokenIds);
      const seq = [...c.prompt_ids];
      const got = [];
      const vocab = c.last_logits.length;
      for (let i = 0; i < c.greedy_ids.length; i++) {
        const all = await runner._engine.logits(Int32Array.from(seq));
        const next = argmax(all.subarray((seq.length - 1) * vocab));
        got.push(next);
        seq.push(next);
        if (eos.has(next)) break;
      }
      expect(got, `smallest top-1/top-2 gap in PyTorch: ${c.greedy_min_margin}`).toEqual(c.greedy_ids);
    });
  }

  for (const c of expected.cases.filter((x) => x.messages !== undefined)) {
    test(`${c.name}: greedy chat completion through CudaRunner (template, KV cache, detokenizer) matches`, async () => {
      const handle = await runner.execute({
        requestId: randomUUID(),
        model: 'inferkit-tiny',
        messages: c.messages,
        sampling: { temperature: 0, maxTokens: c.greedy_ids.length },
        stream: true,
        estimatedTokens: 64,
      });
      const out = await handle.collect();
      const eos = new Set(runner.modelInfo.eosTokenIds);
      const endsWithEos = eos.has(c.greedy_ids.at(-1));
      const textIds = endsWithEos ? c.greedy_ids.slice(0, -1) : c.greedy_ids;
      expect(out.text).toBe(tokenizer.decode(textIds));
      expect(out.usage).toMatchObject({ inputTokens: c.prompt_ids.length, outputTokens: c.greedy_ids.length });
      expect(out.finishReason).toBe(endsWithEos ? 'stop' : 'length');
    });
  }
});
