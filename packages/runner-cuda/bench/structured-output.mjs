#!/usr/bin/env node
// Constrained decoding overhead: decode speed with a JSON-schema constraint vs unconstrained, on
// the ~125M-parameter Llama-shaped F32 bench model (random weights, vocabulary 32000, generated
// by scripts/bench_model.py), CPU backend, in one process run.
//
//   node bench/structured-output.mjs                       # threads = available cores
//   BENCH_THREADS=2 BENCH_REPEATS=3 node bench/structured-output.mjs
//   BENCH_SMOKE=1 node bench/structured-output.mjs         # models/inferkit-tiny, short: checks the script
//
// For batch 1 and batch 8 (8 concurrent requests), each as the median of BENCH_REPEATS runs:
//   free        no constraint
//   schema      a JSON schema whose mask cache is warm (the same schema ran before: the steady
//               state of an application sending one schema with every request)
//   schema cold a schema never seen before (every parser state's mask computed on first use)
// Requests go to the engine directly (as bench/run.mjs does), with the grammar CudaRunner
// compiles for the schema, so detokenizing on the JS side is not part of the measure; no stop
// token, and the schema's list cannot end before the budget, so every request decodes exactly
// BENCH_DECODE tokens. Speed is generated tokens / wall time from the batch's submit to its
// last finish (8-token prompts: their prefill is in both modes alike), and the process's CPU time
// per token (steadier than wall time on a machine shared with other work). Prints one table and
// writes JSON to bench/out/.
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { envNumber, outDir, packageDir as pkg, SMOKE, writeResultJson } from './lib/bench-env.mjs';
import { generateBenchModel } from './lib/bench-model.mjs';
import { median, now } from './lib/stats.mjs';
import { tokenIds } from './lib/token-ids.mjs';

const THREADS = envNumber('BENCH_THREADS', availableParallelism());
const REPEATS = envNumber('BENCH_REPEATS', SMOKE ? 1 : 3);
const DECODE = envNumber('BENCH_DECODE', SMOKE ? 32 : 128);
const MODEL_DIR = SMOKE ? join(pkg, '..', '..', 'models', 'inferkit-tiny') : join(outDir, 'model', 'hf');

/**
 * A list of records that cannot end before the token budget (minItems), so constrained requests
 * decode exactly as many tokens as free ones while moving through strings, integers, booleans,
 * enums and anyOf. `salt` renames the keys: a fresh salt is a schema whose masks were never
 * computed.
 */
function schema(salt) {
  return {
    type: 'object',
    properties: {
      [`items${salt}`]: {
        type: 'array',
        minItems: 64,
        items: {
          type: 'object',
          properties: {
            [`name${salt}`]: { type: 'string', maxLength: 24 },
            [`qty${salt}`]: { type: 'integer' },
            [`ok${salt}`]: { type: 'boolean' },
            [`tag${salt}`]: { enum: ['red', 'green', 'blue', 'none'] },
            [`note${salt}`]: { anyOf: [{ type: 'string', maxLength: 16 }, { type: 'null' }] },
          },
          required: [`name${salt}`, `qty${salt}`],
        },
      },
    },
    required: [`items${salt}`],
  };
}

function timed(engine, grammar, seed, vocab) {
  return new Promise((resolve, reject) => {
    const start = now();
    const request = { tokens: Int32Array.from(tokenIds(seed, 8, vocab)), temperature: 1, seed, maxTokens: DECODE, stopTokenIds: new Int32Array(0) };
    if (grammar !== undefined) request.grammar = grammar;
    let count = 0;
    engine.submit(request, (e) => {
      count += e.tokens.length;
      if (e.finishReason === 'length' && count === DECODE) resolve({ tokens: count, start, end: now() });
      else if (e.finishReason) reject(new Error(`finished ${e.finishReason} after ${count} tokens ${e.error?.message ?? ''}`));
    });
  });
}

/** Tokens per second of wall time, and milliseconds of this process's CPU time per token. */
async function batchSpeed(runner, batch, mode, repeat) {
  const grammar = (k) => {
    if (mode === 'free') return undefined;
    const schemaName = mode === 'warm' ? 'W' : `C${repeat}_${k}`;
    const plan = runner._output.plan({ requestId: 'bench', model: 'bench', messages: [{ role: 'user', content: '' }], stream: true, estimatedTokens: 0, responseFormat: { type: 'json_schema', name: 'inventory', schema: schema(schemaName) } });
    return plan.grammar;
  };
  const grammars = Array.from({ length: batch }, (_, k) => grammar(k));
  const vocab = runner.modelInfo.vocabSize;
  const cpu0 = process.cpuUsage();
  const runs = await Promise.all(grammars.map((g, k) => timed(runner._engine, g, 1000 * repeat + k, vocab)));
  const cpu = process.cpuUsage(cpu0);
  const tokens = runs.reduce((s, r) => s + r.tokens, 0);
  const seconds = Math.max(...runs.map((r) => r.end)) - Math.min(...runs.map((r) => r.start));
  return { tokPerS: tokens / seconds, cpuMsPerTok: (cpu.user + cpu.system) / 1000 / tokens };
}

if (!SMOKE) generateBenchModel(join(outDir, 'model'), []);
const { CudaRunner } = await import(join(pkg, 'dist', 'index.js'));
const runner = new CudaRunner({ device: 'cpu', threads: THREADS, maxBatch: 8, maxSeqLen: 512, engineProcess: 'in-process' });
await runner.loadWeights({ kind: 'local_path', path: MODEL_DIR });
process.stderr.write(`loaded ${MODEL_DIR} (vocabulary ${runner.modelInfo.vocabSize}), ${THREADS} threads\n`);
// Warm-up: page in the weights, and fill the warm schema's mask cache at both batch sizes.
await batchSpeed(runner, 1, 'free', 99);
await batchSpeed(runner, 8, 'warm', 99);

const results = {};
for (const batch of [1, 8]) {
  const runs = { free: [], warm: [], cold: [] };
  for (let r = 0; r < REPEATS; r++) {
    // Interleaved, so load from other processes on a shared machine hits all modes alike.
    for (const mode of ['free', 'warm', 'cold']) {
      const x = await batchSpeed(runner, batch, mode, r);
      runs[mode].push(x);
      process.stderr.write(`  batch ${batch} repeat ${r + 1}/${REPEATS} ${mode}: ${x.tokPerS.toFixed(1)} tok/s, ${x.cpuMsPerTok.toFixed(1)} CPU ms/token\n`);
    }
  }
  const med = (xs, k) => median(xs.map((x) => x[k]));
  results[batch] = {};
  for (const mode of ['free', 'warm', 'cold']) results[batch][mode] = { tokPerS: med(runs[mode], 'tokPerS'), cpuMsPerTok: med(runs[mode], 'cpuMsPerTok') };
  results[batch].runs = runs;
}
await runner.close();

const f = (x) => x.toFixed(1);
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const rows = [];
for (const batch of [1, 8]) {
  const r = results[batch];
  for (const [mode, label] of [['free', 'free'], ['warm', 'JSON schema, warm cache'], ['cold', 'JSON schema, new schema']]) {
    const x = r[mode];
    const vs = mode === 'free' ? ['', ''] : [pct((r.free.tokPerS - x.tokPerS) / r.free.tokPerS), pct((x.cpuMsPerTok - r.free.cpuMsPerTok) / r.free.cpuMsPerTok)];
    rows.push([`batch ${batch}: ${label}`, f(x.tokPerS), f(x.cpuMsPerTok), ...vs]);
  }
}
const head = ['metric', 'tok/s', 'CPU ms/token', 'slower (tok/s)', 'more CPU/token'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(head));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const row of rows) console.log(line(row));
const file = writeResultJson(`structured-output-${SMOKE ? 'smoke' : 'run'}.json`, { model: MODEL_DIR, threads: THREADS, repeats: REPEATS, decodeTokens: DECODE, cpu: cpus()[0]?.model, results });
process.stderr.write(`wrote ${file}\n`);
