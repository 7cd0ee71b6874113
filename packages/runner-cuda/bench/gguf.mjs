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
//   rss        resident memory the inferkit engine added to this process (RSS after its warm-up
//              and one 8-sequence run, minus before load), against file size + KV cache + 10%
// Prints one table per model and type and writes JSON to bench/out/.
import { statSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { envList, envNumber, outDir, packageDir as pkg, SMOKE, writeResultJson } from './lib/bench-env.mjs';
import { generateBenchModel } from './lib/bench-model.mjs';
import { loadLlamaCpp } from './lib/llama-cpp.mjs';
import { rssBytes } from './lib/stats.mjs';
import { compareInterleaved, inferkitThroughput, llamaCppThroughput, medians, throughputTable } from './lib/throughput.mjs';
import { tokenIds } from './lib/token-ids.mjs';

const THREADS = envNumber('BENCH_THREADS', Math.min(2, availableParallelism()));
const REPEATS = envNumber('BENCH_REPEATS', SMOKE ? 1 : 3);
const MODELS = envList('BENCH_MODELS', SMOKE ? 'tiny' : '125m,1b');
const TYPES = envList('BENCH_TYPES', 'q8_0,q4_k_m');
const PREFILL = SMOKE ? 64 : 512;
const DECODE = SMOKE ? 16 : 128;
const SEQS = 8;
const SHORT_PROMPT = 8;
const MAX_SEQ = SMOKE ? 256 : 1024;

function modelFile(model, type) {
  if (model === 'tiny') return join(pkg, 'test-models', 'gguf', `llama-${type}.gguf`);
  const dir = join(outDir, `gguf-${model}`);
  const args = model === '125m' ? ['--shape', 'llama-125m'] : ['--shape', 'llama-3.2-1b', '--gguf-only'];
  generateBenchModel(dir, [...args, '--gguf-types', TYPES.join(',')], `${model} ${TYPES.join(', ')}`);
  return join(dir, `model-${type}.gguf`);
}

const shapeFor = (vocab) => ({ ids: (seed, n) => tokenIds(seed, n, vocab), prefill: PREFILL, decode: DECODE, seqs: SEQS, shortPrompt: SHORT_PROMPT });

// ---------------------------------------------------------------- inferkit

async function setupInferkit(path) {
  const binding = createRequire(import.meta.url)(join(pkg, 'native', 'build', 'Release', 'inferkit.node'));
  const before = rssBytes();
  const engine = new binding.Engine();
  const info = await engine.load({ modelDir: path, device: 'cpu', threads: THREADS, maxBatch: SEQS, maxSeqLen: MAX_SEQ });
  const measures = await inferkitThroughput(engine, shapeFor(info.vocabSize));
  await measures.aggregate(99); // every KV slot in use once
  const rss = rssBytes() - before;
  return { ...measures, info, rss, close: () => engine.close() };
}

// ---------------------------------------------------------------- llama.cpp

async function setupLlamaCpp(path, vocab) {
  const peer = await loadLlamaCpp(path);
  const single = await peer.model.createContext({ contextSize: MAX_SEQ, batchSize: PREFILL, threads: THREADS });
  const multi = await peer.model.createContext({ contextSize: SEQS * 256, sequences: SEQS, batchSize: 512, threads: THREADS });
  const measures = await llamaCppThroughput(single, multi, shapeFor(vocab));
  return {
    ...measures,
    async close() {
      await single.dispose();
      await multi.dispose();
      await peer.dispose();
    },
  };
}

// ---------------------------------------------------------------- main

const results = [];
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
    const runs = await compareInterleaved(a, b, REPEATS, `${model} ${type} `);
    await a.close();
    await b.close();
    const ours = medians(runs.inferkit);
    const theirs = medians(runs.llamaCpp);
    const bound = 1.1 * (fileBytes + kvBytes);
    results.push({ model, type, file: path, fileBytes, weightDtype: info.weightDtype, kvBytes, rssBytes: a.rss, rssBound: bound, inferkit: ours, llamaCpp: theirs, runs });
    report.push(
      '',
      `model ${model} ${type} (${info.weightDtype}, file ${mb(fileBytes)} MB)`,
      ...throughputTable(ours, theirs, { prefill: PREFILL, seqs: SEQS, nameWidth: 32 }),
      `rss ${mb(a.rss)} MB; bound file + KV cache (${mb(kvBytes)} MB) + 10% = ${mb(bound)} MB: ${a.rss <= bound ? 'within' : 'OVER'}`,
      `targets: decode >= 1.2x llama.cpp (${(ours.decode / theirs.decode).toFixed(2)}x), prefill >= 1.0x (${(ours.prefill / theirs.prefill).toFixed(2)}x), ` +
        `${SEQS}-seq aggregate >= 3x our batch 1 (${(ours.aggregate / ours.decode).toFixed(2)}x), rss within bound (${a.rss <= bound ? 'yes' : 'no'})`,
    );
  }
}
console.log(report.join('\n'));
const result = { date: new Date().toISOString(), smoke: SMOKE, threads: THREADS, repeats: REPEATS, cpu: cpus()[0]?.model, results };
const name = SMOKE ? 'bench-gguf-smoke' : 'bench-gguf';
writeResultJson(`${name}.json`, result);
writeResultJson(`${name}-${result.date.replace(/[:.]/g, '-')}.json`, result);
