// The prefill / decode / aggregate comparison of bench/run.mjs and bench/gguf.mjs: inferkit's
// engine and llama.cpp driven by the same token ids, interleaved, medians in one table.
//
// `shape` is { ids(seed, n), prefill, decode, seqs, shortPrompt }: the prompt source, the prefill
// length, the new tokens per decode, the concurrent sequences of the aggregate run and their
// prompt length.
import { llamaGenerate } from './llama-cpp.mjs';
import { median, now } from './stats.mjs';

const METRICS = ['prefill', 'decode', 'aggregate'];

/**
 * Greedy generation of exactly `maxTokens` on an addon Engine (no stop tokens). Resolves with the
 * submit, first-delivery and finish times, and the tokens in the first delivery and in all.
 */
export function submit(engine, prompt, maxTokens) {
  return new Promise((resolve, reject) => {
    const start = now();
    let first = 0;
    let firstCount = 0;
    let count = 0;
    engine.submit({ tokens: Int32Array.from(prompt), temperature: 0, maxTokens, stopTokenIds: new Int32Array(0) }, (e) => {
      if (e.tokens.length > 0) {
        if (count === 0) {
          first = now();
          firstCount = e.tokens.length;
        }
        count += e.tokens.length;
      }
      if (e.finishReason === 'length') resolve({ start, first, firstCount, end: now(), count });
      else if (e.finishReason) reject(new Error(`inferkit: ${e.finishReason} ${e.error?.message ?? ''}`));
    });
  });
}

/** The three measures (tok/s, repeat `r` of each) on an addon Engine, after a warm-up that pages in the weights. */
export async function inferkitThroughput(engine, { ids, prefill, decode, seqs, shortPrompt }) {
  await submit(engine, ids(99, 32), 8);
  return {
    async prefill(r) {
      const p = await submit(engine, ids(1000 + r, prefill), 1);
      return prefill / (p.end - p.start);
    },
    // Tokens arrive in batches when the event loop is busy, so the decode rate counts only the
    // tokens after the first delivery, over the time since that delivery.
    async decode(r) {
      const d = await submit(engine, ids(2000 + r, shortPrompt), decode);
      return (d.count - d.firstCount) / (d.end - d.first);
    },
    async aggregate(r) {
      const t0 = now();
      const all = await Promise.all(Array.from({ length: seqs }, (_, i) => submit(engine, ids(3000 + r * seqs + i, shortPrompt), decode)));
      return all.reduce((n, x) => n + x.count, 0) / (now() - t0);
    },
  };
}

/**
 * The same measures on llama.cpp: `single` is a one-sequence context for prefill and decode,
 * `multi` one with `seqs` sequences for the aggregate run.
 */
export async function llamaCppThroughput(single, multi, { ids, prefill, decode, seqs, shortPrompt }) {
  const warm = single.getSequence();
  await warm.evaluateWithoutGeneratingNewTokens(ids(99, 32));
  warm.dispose();
  return {
    async prefill(r) {
      const seq = single.getSequence();
      const t0 = now();
      await seq.evaluateWithoutGeneratingNewTokens(ids(1000 + r, prefill));
      const rate = prefill / (now() - t0);
      seq.dispose();
      return rate;
    },
    async decode(r) {
      const seq = single.getSequence();
      let first = 0;
      await llamaGenerate(seq, ids(2000 + r, shortPrompt), decode, (i) => {
        if (i === 1) first = now();
      });
      const rate = (decode - 1) / (now() - first);
      seq.dispose();
      return rate;
    },
    async aggregate(r) {
      const t0 = now();
      const counts = await Promise.all(
        Array.from({ length: seqs }, async (_, i) => {
          const seq = multi.getSequence();
          const n = await llamaGenerate(seq, ids(3000 + r * seqs + i, shortPrompt), decode);
          seq.dispose();
          return n;
        }),
      );
      return counts.reduce((a, b) => a + b, 0) / (now() - t0);
    },
  };
}

/**
 * `repeats` rounds of every measure on both engines, interleaved so that load from other
 * processes on a shared machine hits both alike. Progress goes to stderr, prefixed by `label`.
 */
export async function compareInterleaved(inferkit, llamaCpp, repeats, label = '') {
  const runs = { inferkit: { prefill: [], decode: [], aggregate: [] }, llamaCpp: { prefill: [], decode: [], aggregate: [] } };
  for (let r = 0; r < repeats; r++) {
    for (const metric of METRICS) {
      runs.inferkit[metric].push(await inferkit[metric](r));
      runs.llamaCpp[metric].push(await llamaCpp[metric](r));
      process.stderr.write(`  ${label}repeat ${r + 1}/${repeats} ${metric}: inferkit ${runs.inferkit[metric].at(-1).toFixed(1)}, llama.cpp ${runs.llamaCpp[metric].at(-1).toFixed(1)} tok/s\n`);
    }
  }
  return runs;
}

/** The median of each measure's runs. */
export function medians(runs) {
  return { prefill: median(runs.prefill), decode: median(runs.decode), aggregate: median(runs.aggregate) };
}

/** The comparison table's lines: a header, a row per measure with the ratio, our aggregate over our decode. */
export function throughputTable(ours, theirs, { prefill, seqs, nameWidth }) {
  const f = (x) => x.toFixed(1);
  const rows = [
    [`prefill ${prefill} tok (tok/s)`, ours.prefill, theirs.prefill],
    ['decode batch 1 (tok/s)', ours.decode, theirs.decode],
    [`aggregate ${seqs} seqs (tok/s)`, ours.aggregate, theirs.aggregate],
  ];
  return [
    `${'metric'.padEnd(nameWidth)}${'inferkit'.padStart(10)}${'llama.cpp'.padStart(11)}${'ratio'.padStart(8)}`,
    ...rows.map(([name, x, y]) => `${name.padEnd(nameWidth)}${f(x).padStart(10)}${f(y).padStart(11)}${(x / y).toFixed(2).padStart(8)}`),
    `${`our ${seqs}-seq aggregate / our batch 1`.padEnd(nameWidth + 21)}${(ours.aggregate / ours.decode).toFixed(2).padStart(8)}`,
  ];
}
