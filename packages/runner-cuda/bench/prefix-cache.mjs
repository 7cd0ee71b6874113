#!/usr/bin/env node
// Prefix cache benchmark on the CPU backend: time to first token (TTFT) of a request whose
// 1,000-token system prompt a previous request already computed, against the first (cold) one;
// the same pair with the prefix cache off, and llama.cpp (node-llama-cpp 3.21.1, same weights as
// GGUF) reusing its context state the way its server does (adaptStateToTokens, then the new
// tokens only). Then 1,000 requests with random prefixes through the cache, resident memory
// sampled as they go.
//
//   pnpm --filter @inferkit/runner-cuda bench:prefix
//   BENCH_THREADS=2 BENCH_REPEATS=3 BENCH_MEMORY_REQUESTS=1000 node bench/prefix-cache.mjs
//   BENCH_SMOKE=1 node bench/prefix-cache.mjs   # the tiny test model, short: checks the script only
//
// Model: the ~125M-parameter Llama-shaped F32 model of bench/run.mjs (scripts/bench_model.py).
// Each repeat uses a fresh random system prompt, so its first request is cold for every engine;
// the second request shares the system prompt and differs in its last 24 tokens. Greedy, one
// output token, engines driven by token ids (no chat template). Prints a table and writes JSON
// to bench/out/.
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { envNumber, outDir, packageDir as pkg, SMOKE, writeResultJson } from './lib/bench-env.mjs';
import { generateBenchModel, vocabSizeOf } from './lib/bench-model.mjs';
import { loadLlamaCpp } from './lib/llama-cpp.mjs';
import { median, now, rssBytes } from './lib/stats.mjs';
import { tokenIds } from './lib/token-ids.mjs';

const THREADS = envNumber('BENCH_THREADS', availableParallelism());
const REPEATS = envNumber('BENCH_REPEATS', SMOKE ? 1 : 3);
const SYSTEM = SMOKE ? 200 : 1000;
const QUESTION = 24;
const MEMORY_REQUESTS = envNumber('BENCH_MEMORY_REQUESTS', SMOKE ? 100 : 1000);
const MAX_SEQ_LEN = SMOKE ? 256 : 1280;
const HF_DIR = SMOKE ? join(pkg, 'test-models', 'no-eos', 'llama-gqa') : join(outDir, 'model', 'hf');
const GGUF = SMOKE ? join(pkg, 'test-models', 'llama-gqa.gguf') : join(outDir, 'model', 'model.gguf');
// Read after the model is generated (main, below): a fresh clone has no model yet.
let VOCAB = 0;

const ids = (seed, n) => tokenIds(seed, n, VOCAB);
const rssMiB = () => rssBytes() / 1048576;

// ---------------------------------------------------------------- inferkit

/** Resolves with the seconds from submit to the first token event, and the cached tokens. */
function ttft(engine, prompt) {
  return new Promise((resolve, reject) => {
    const start = now();
    let first = 0;
    let cached = -1;
    engine.submit({ tokens: Int32Array.from(prompt), temperature: 0, maxTokens: 1, stopTokenIds: new Int32Array(0) }, (e) => {
      if (e.tokens.length > 0 && first === 0) first = now();
      if (e.cachedTokens !== undefined) cached = e.cachedTokens;
      if (e.finishReason === 'length') resolve({ seconds: first - start, cached });
      else if (e.finishReason) reject(new Error(`inferkit: ${e.finishReason} ${e.error?.message ?? ''}`));
    });
  });
}

async function inferkit(prefixCache) {
  const { CudaRunner } = await import(join(pkg, 'dist', 'index.js'));
  // In this process, as the CPU engine runs by default: RSS below is the engine's too.
  const runner = new CudaRunner({ device: 'cpu', threads: THREADS, maxBatch: 8, maxSeqLen: MAX_SEQ_LEN, prefixCache, engineProcess: 'in-process' });
  await runner.loadWeights({ kind: 'local_path', path: HF_DIR });
  const engine = runner._engine;
  await ttft(engine, ids(99, 32)); // warm-up: page in the weights
  return {
    async pair(r) {
      const system = ids(1000 + r, SYSTEM);
      const cold = await ttft(engine, [...system, ...ids(5000 + r, QUESTION)]);
      const warm = await ttft(engine, [...system, ...ids(6000 + r, QUESTION)]);
      return { cold: cold.seconds, warm: warm.seconds, cachedWarm: warm.cached };
    },
    engine,
    close: () => runner.close(),
  };
}

// ---------------------------------------------------------------- llama.cpp

async function llamaCpp() {
  const peer = await loadLlamaCpp(GGUF);
  const context = await peer.model.createContext({ contextSize: MAX_SEQ_LEN, batchSize: 512, threads: THREADS });
  const seq = context.getSequence();
  // Time to the first generated token after aligning the state with `prompt`: only the tokens
  // after the longest common prefix with what the sequence holds are evaluated.
  async function first(prompt) {
    const t0 = now();
    await seq.adaptStateToTokens(prompt, false);
    const rest = prompt.slice(seq.nextTokenIndex);
    for await (const _ of seq.evaluate(rest, { temperature: 0 })) break;
    return now() - t0;
  }
  await first(ids(99, 32));
  return {
    async pair(r) {
      await seq.clearHistory();
      const system = ids(1000 + r, SYSTEM);
      const cold = await first([...system, ...ids(5000 + r, QUESTION)]);
      const warm = await first([...system, ...ids(6000 + r, QUESTION)]);
      return { cold, warm };
    },
    async close() {
      await context.dispose();
      await peer.dispose();
    },
  };
}

// ---------------------------------------------------------------- memory

async function memory(engine) {
  const samples = [];
  let x = 12345;
  const rand = (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  const systems = Array.from({ length: 4 }, (_, i) => ids(70000 + i, 48 + 16 * i));
  for (let done = 0; done < MEMORY_REQUESTS; ) {
    const batch = [];
    for (let j = 0; j < 8 && done < MEMORY_REQUESTS; j++, done++) {
      const prefix = rand(3) === 0 ? systems[rand(systems.length)] : [];
      batch.push(ttft(engine, [...prefix, ...ids(80000 + done, 8 + rand(72))]));
    }
    await Promise.all(batch);
    if (done % 100 === 0 || done === MEMORY_REQUESTS) {
      const s = await engine.stats();
      samples.push({ requests: done, rssMiB: rssMiB(), kvBlocksCached: s.kvBlocksCached, kvBlocksInUse: s.kvBlocksInUse, kvEvictions: s.kvEvictions });
    }
  }
  const s = await engine.stats();
  return { samples, kvBlocks: s.kvBlocks, cachedPromptTokens: s.cachedPromptTokens, promptTokens: s.promptTokens };
}

// ---------------------------------------------------------------- main

if (!SMOKE) generateBenchModel(join(outDir, 'model'), ['--gguf']);
VOCAB = vocabSizeOf(HF_DIR);
process.stderr.write(`loading inferkit (prefix cache on, off) and llama.cpp, ${THREADS} threads each\n`);
const on = await inferkit(true);
const off = await inferkit(false);
const peer = await llamaCpp();
const runs = { on: [], off: [], llama: [] };
for (let r = 0; r < REPEATS; r++) {
  runs.on.push(await on.pair(r));
  runs.off.push(await off.pair(r));
  runs.llama.push(await peer.pair(r));
  const f = (p) => `${(p.cold * 1e3).toFixed(0)} -> ${(p.warm * 1e3).toFixed(0)} ms`;
  process.stderr.write(`  repeat ${r + 1}/${REPEATS}: cache ${f(runs.on.at(-1))} (${runs.on.at(-1).cachedWarm} cached), no cache ${f(runs.off.at(-1))}, llama.cpp ${f(runs.llama.at(-1))}\n`);
}
await off.close();
await peer.close();
process.stderr.write(`memory: ${MEMORY_REQUESTS} requests with random prefixes through the prefix cache\n`);
const rssBefore = rssMiB();
const mem = await memory(on.engine);
await on.close();

const col = (rs) => ({ cold: median(rs.map((p) => p.cold)), warm: median(rs.map((p) => p.warm)) });
const cols = [
  ['inferkit, prefix cache', col(runs.on)],
  ['inferkit, prefixCache: false', col(runs.off)],
  ['llama.cpp, state reuse', col(runs.llama)],
];
const ms = (s) => (s * 1e3).toFixed(1);
const ratio = col(runs.on).warm / col(runs.on).cold;
const lines = [
  SMOKE
    ? `SMOKE RUN (tiny test model, ${SYSTEM}-token system prompt): checks the script, not speed`
    : `model: Llama-shaped F32, dim 768, 12 layers, 12 heads, 4 KV heads, FFN 2048, vocab 32000 (124.7M params)`,
  `prompt: ${SYSTEM}-token system prompt + ${QUESTION} tokens; threads: ${THREADS}; repeats: ${REPEATS} (median); cpu: ${cpus()[0]?.model ?? 'unknown'}`,
  '',
  `${'engine'.padEnd(30)}${'TTFT cold (ms)'.padStart(16)}${'TTFT warm (ms)'.padStart(16)}${'warm / cold'.padStart(13)}`,
  ...cols.map(([name, c]) => `${name.padEnd(30)}${ms(c.cold).padStart(16)}${ms(c.warm).padStart(16)}${(c.warm / c.cold).toFixed(3).padStart(13)}`),
  '',
  `target: warm TTFT <= 0.2x cold with the prefix cache (${ratio.toFixed(3)}x: ${ratio <= 0.2 ? 'met' : 'NOT met'}); warm request reused ${runs.on.at(-1).cachedWarm} of ${SYSTEM + QUESTION} prompt tokens`,
  '',
  `memory, ${MEMORY_REQUESTS} requests with random prefixes (a third share one of 4 system prompts), 8 at a time, pool of ${mem.kvBlocks} blocks:`,
  `RSS before ${rssBefore.toFixed(1)} MiB; ${mem.samples.map((s) => `${s.requests}: ${s.rssMiB.toFixed(1)}`).join(', ')} MiB`,
  `cached blocks ${mem.samples.at(-1).kvBlocksCached} of ${mem.kvBlocks}, evictions ${mem.samples.at(-1).kvEvictions}, prompt tokens reused ${mem.cachedPromptTokens} / computed ${mem.promptTokens}`,
];
console.log(lines.join('\n'));
const result = {
  date: new Date().toISOString(),
  smoke: SMOKE,
  threads: THREADS,
  repeats: REPEATS,
  systemTokens: SYSTEM,
  questionTokens: QUESTION,
  cpu: cpus()[0]?.model ?? 'unknown',
  ttft: Object.fromEntries(cols.map(([name, c]) => [name, c])),
  runs,
  warmOverCold: ratio,
  memory: { ...mem, rssBeforeMiB: rssBefore },
};
const file = writeResultJson(`prefix-cache-${Date.now()}.json`, result);
process.stderr.write(`wrote ${file}\n`);
