#!/usr/bin/env node
// GGUF benchmark: inferkit's CPU backend vs llama.cpp (node-llama-cpp 3.21.1) on the very same
// GGUF files, same thread count, side by side in one process run.
//
//   pnpm --filter @inferkit/runner-cuda bench:gguf
//   BENCH_THREADS=2 BENCH_REPEATS=3 BENCH_MODELS=125m,1b BENCH_TYPES=q8_0,q4_k_m node bench/gguf.mjs
//   BENCH_SMOKE=1 node bench/gguf.mjs   # the tiny GGUF test models, short runs: checks the script only
//
// Models (random weights, scripts/bench_model.py, generated on first use into bench/out/gguf-*):
//   125m  llama-125m: Llama-shaped, dim 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab
//         32000 (124.7M), exported from its F32 checkpoint
//   1b    llama-3.2-1b: Llama-3.2-1B's shape, dim 2048, 16 layers, 32/8 heads, FFN 8192, vocab
//         128256, tied (1.24B), generated straight into each GGUF (--gguf-only)
// each as Q8_0 and as llama.cpp's Q4_K_M mix (Q4_K, with Q6_K for output and some attn_v/ffn_down).
//
// Per model and type, each the median of BENCH_REPEATS runs, the two engines interleaved:
//   prefill    512-token prompt, tok/s (wall time of the prompt pass, one sampled token)
//   decode     batch 1, 128 new tokens after an 8-token prompt; tok/s between the first and the
//              last generated token (prefill excluded)
//   aggregate  8 concurrent sequences x 128 new tokens (8-token prompts): all tokens / wall time
//   rss        resident memory the inferkit engine added to this process (VmRSS after its warm-up
//              and one 8-sequence run, minus before load), against file size + KV cache + 10%
// Prints one table per model and type and writes JSON to bench/out/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const outDir = join(here, 'out');
const SMOKE = process.env.BENCH_SMOKE === '1';
const THREADS = Number(process.env.BENCH_THREADS ?? Math.min(2, availableParallelism()));
const REPEATS = Number(process.env.BENCH_REPEATS ?? (SMOKE ? 1 : 3));
const MODELS = (process.env.BENCH_MODELS ?? (SMOKE ? 'tiny' : '125m,1b')).split(',').filter(Boolean);
const TYPES = (process.env.BENCH_TYPES ?? 'q8_0,q4_k_m').split(',').filter(Boolean);
const PREFILL = SMOKE ? 64 : 512;
const DECODE = SMOKE ? 16 : 128;
const SEQS = 8;
const SHORT_PROMPT = 8;
const MAX_SEQ = SMOKE ? 256 : 1024;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const now = () => performance.now() / 1000;
const rssBytes = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;

function ids(seed, n, vocab) {
  let x = seed >>> 0;
  const out = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(x % vocab);
  }
  return out;
}

function modelFile(model, type) {
  if (model === 'tiny') return join(pkg, 'test-models', 'gguf', `llama-${type}.gguf`);
  const dir = join(outDir, `gguf-${model}`);
  const args = model === '125m' ? ['--shape', 'llama-125m'] : ['--shape', 'llama-3.2-1b', '--gguf-only'];
  process.stderr.write(`generating ${model} ${TYPES.join(', ')} in ${dir} (skipped when present)\n`);
  execFileSync('python3', [join(pkg, 'scripts', 'bench_model.py'), dir, ...args, '--gguf-types', TYPES.join(',')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return join(dir, `model-${type}.gguf`);
}

// ---------------------------------------------------------------- inferkit

function submit(engine, prompt, maxTokens) {
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

async function setupInferkit(path) {
  const binding = createRequire(import.meta.url)(join(pkg, 'native', 'build', 'Release', 'inferkit.node'));
  const before = rssBytes();
  const engine = new binding.Engine();
  const info = await engine.load({ modelDir: path, device: 'cpu', threads: THREADS, maxBatch: SEQS, maxSeqLen: MAX_SEQ });
  const vocab = info.vocabSize;
  const aggregate = async (r) => {
    const t0 = now();
    const all = await Promise.all(Array.from({ length: SEQS }, (_, i) => submit(engine, ids(3000 + r * SEQS + i, SHORT_PROMPT, vocab), DECODE)));
    return all.reduce((n, x) => n + x.count, 0) / (now() - t0);
  };
  await submit(engine, ids(99, 32, vocab), 8); // warm-up: page in the weights
  await aggregate(99); // every KV slot in use once
  const rss = rssBytes() - before;
  return {
    info,
    rss,
    async prefill(r) {
      const p = await submit(engine, ids(1000 + r, PREFILL, vocab), 1);
      return PREFILL / (p.end - p.start);
    },
    // Tokens arrive in batches when the event loop is busy, so the decode rate counts only the
    // tokens after the first delivery, over the time since that delivery.
    async decode(r) {
      const d = await submit(engine, ids(2000 + r, SHORT_PROMPT, vocab), DECODE);
      return (d.count - d.firstCount) / (d.end - d.first);
    },
    aggregate,
    close: () => engine.close(),
  };
}

// ---------------------------------------------------------------- llama.cpp

// Exactly `n` tokens: by default evaluate() stops at end-of-generation tokens, which random
// weights emit now and then.
async function llamaGenerate(seq, prompt, n, onToken) {
  let count = 0;
  for await (const _ of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    count++;
    onToken?.(count);
    if (count === n) break;
  }
  if (count !== n) throw new Error(`llama.cpp stopped after ${count} of ${n} tokens`);
  return count;
}

async function setupLlamaCpp(path, vocab) {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: path });
  const single = await model.createContext({ contextSize: MAX_SEQ, batchSize: PREFILL, threads: THREADS });
  const multi = await model.createContext({ contextSize: SEQS * 256, sequences: SEQS, batchSize: 512, threads: THREADS });
  const warm = single.getSequence();
  await warm.evaluateWithoutGeneratingNewTokens(ids(99, 32, vocab));
  warm.dispose();
  return {
    async prefill(r) {
      const seq = single.getSequence();
      const t0 = now();
      await seq.evaluateWithoutGeneratingNewTokens(ids(1000 + r, PREFILL, vocab));
      const rate = PREFILL / (now() - t0);
      seq.dispose();
      return rate;
    },
    async decode(r) {
      const seq = single.getSequence();
      let first = 0;
      await llamaGenerate(seq, ids(2000 + r, SHORT_PROMPT, vocab), DECODE, (i) => {
        if (i === 1) first = now();
      });
      const rate = (DECODE - 1) / (now() - first);
      seq.dispose();
      return rate;
    },
    async aggregate(r) {
      const t0 = now();
      const counts = await Promise.all(
        Array.from({ length: SEQS }, async (_, i) => {
          const seq = multi.getSequence();
          const n = await llamaGenerate(seq, ids(3000 + r * SEQS + i, SHORT_PROMPT, vocab), DECODE);
          seq.dispose();
          return n;
        }),
      );
      return counts.reduce((a, b) => a + b, 0) / (now() - t0);
    },
    async close() {
      await single.dispose();
      await multi.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

// ---------------------------------------------------------------- main

mkdirSync(outDir, { recursive: true });
const results = [];
const f = (x) => x.toFixed(1);
const mb = (x) => (x / 1e6).toFixed(0);
const report = [`threads: ${THREADS}, repeats: ${REPEATS} (median), cpu: ${cpus()[0]?.model ?? 'unknown'}${SMOKE ? ', SMOKE RUN (tiny models): checks the script, not speed' : ''}`];
for (const model of MODELS) {
  for (const type of TYPES) {
    const path = modelFile(model, type);
    const fileBytes = statSync(path).size;
    process.stderr.write(`${model} ${type}: loading inferkit, ${THREADS} threads\n`);
    const a = await setupInferkit(path);
    const { info } = a;
    const kvBytes = 2 * info.numLayers * SEQS * MAX_SEQ * info.numKvHeads * info.headDim * 4;
    process.stderr.write(`${model} ${type}: loading llama.cpp, ${THREADS} threads\n`);
    const b = await setupLlamaCpp(path, info.vocabSize);
    // Interleaved, so that load from other processes on a shared machine hits both engines alike.
    const runs = { inferkit: { prefill: [], decode: [], aggregate: [] }, llamaCpp: { prefill: [], decode: [], aggregate: [] } };
    for (let r = 0; r < REPEATS; r++) {
      for (const metric of ['prefill', 'decode', 'aggregate']) {
        runs.inferkit[metric].push(await a[metric](r));
        runs.llamaCpp[metric].push(await b[metric](r));
        process.stderr.write(`  ${model} ${type} repeat ${r + 1}/${REPEATS} ${metric}: inferkit ${f(runs.inferkit[metric].at(-1))}, llama.cpp ${f(runs.llamaCpp[metric].at(-1))} tok/s\n`);
      }
    }
    await a.close();
    await b.close();
    const ours = { prefill: median(runs.inferkit.prefill), decode: median(runs.inferkit.decode), aggregate: median(runs.inferkit.aggregate) };
    const theirs = { prefill: median(runs.llamaCpp.prefill), decode: median(runs.llamaCpp.decode), aggregate: median(runs.llamaCpp.aggregate) };
    const bound = 1.1 * (fileBytes + kvBytes);
    results.push({ model, type, file: path, fileBytes, weightDtype: info.weightDtype, kvBytes, rssBytes: a.rss, rssBound: bound, inferkit: ours, llamaCpp: theirs, runs });
    report.push(
      '',
      `model ${model} ${type} (${info.weightDtype}, file ${mb(fileBytes)} MB)`,
      `${'metric'.padEnd(32)}${'inferkit'.padStart(10)}${'llama.cpp'.padStart(11)}${'ratio'.padStart(8)}`,
      ...[
        [`prefill ${PREFILL} tok (tok/s)`, ours.prefill, theirs.prefill],
        ['decode batch 1 (tok/s)', ours.decode, theirs.decode],
        [`aggregate ${SEQS} seqs (tok/s)`, ours.aggregate, theirs.aggregate],
      ].map(([name, x, y]) => `${name.padEnd(32)}${f(x).padStart(10)}${f(y).padStart(11)}${(x / y).toFixed(2).padStart(8)}`),
      `${`our ${SEQS}-seq aggregate / our batch 1`.padEnd(53)}${(ours.aggregate / ours.decode).toFixed(2).padStart(8)}`,
      `rss ${mb(a.rss)} MB; bound file + KV cache (${mb(kvBytes)} MB) + 10% = ${mb(bound)} MB: ${a.rss <= bound ? 'within' : 'OVER'}`,
      `targets: decode >= 1.2x llama.cpp (${(ours.decode / theirs.decode).toFixed(2)}x), prefill >= 1.0x (${(ours.prefill / theirs.prefill).toFixed(2)}x), ` +
        `${SEQS}-seq aggregate >= 3x our batch 1 (${(ours.aggregate / ours.decode).toFixed(2)}x), rss within bound (${a.rss <= bound ? 'yes' : 'no'})`,
    );
  }
}
console.log(report.join('\n'));
const result = { date: new Date().toISOString(), smoke: SMOKE, threads: THREADS, repeats: REPEATS, cpu: cpus()[0]?.model, results };
const name = SMOKE ? 'bench-gguf-smoke' : 'bench-gguf';
writeFileSync(join(outDir, `${name}.json`), JSON.stringify(result, null, 2));
writeFileSync(join(outDir, `${name}-${result.date.replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 2));
