#!/usr/bin/env node
// How long one large prompt blocks the event loop while CudaRunner prepares it (chat template,
// tokenization, length checks), on the tiny test model and the CPU engine.
//
//   pnpm --filter @inferkit/runner-cuda build && node bench/prompt-blocking.mjs
//   PROMPT_MIB=1 node bench/prompt-blocking.mjs
//
// Two cases, each a PROMPT_MIB MiB user message (default 1) of English-like words:
//   context 4096    the prompt is far larger than the context: refused with context_length_exceeded
//   context 300000  the prompt fits by its byte length, so it is rendered and tokenized (and then
//                   refused: it is more tokens than that)
// For each: the time until execute() settled, and the longest gap between two ticks of a 5 ms
// interval timer while it ran (the event loop's longest stall). Prints a table and writes
// bench/out/prompt-blocking.json. The figures depend on the machine and its load.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CudaRunner } from '../dist/index.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const MIB = Number(process.env.PROMPT_MIB ?? 1);
const source = join(pkg, 'test-models', 'no-eos', 'llama-gqa');

// A copy whose config allows a long context (the tiny model declares 256 positions).
const dir = mkdtempSync(join(tmpdir(), 'inferkit-blocking-'));
cpSync(source, dir, { recursive: true });
const cfgPath = join(dir, 'config.json');
const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
cfg.max_position_embeddings = 1 << 20;
writeFileSync(cfgPath, JSON.stringify(cfg));

const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'hello', 'world', 'test', 'store'];
let prompt = '';
for (let i = 0; prompt.length < MIB * 1024 * 1024; i++) prompt += words[(i * 7) % words.length] + ' ';

async function measure(maxSeqLen) {
  const runner = new CudaRunner({ device: 'cpu', threads: 1, maxBatch: 1, maxSeqLen, engineProcess: 'in-process' });
  await runner.loadWeights({ kind: 'local_path', path: dir });
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  let outcome;
  try {
    const handle = await runner.execute({
      requestId: 'blocking', model: 'tiny', stream: true, estimatedTokens: 0,
      messages: [{ role: 'user', content: prompt }], sampling: { maxTokens: 1 },
    });
    await handle.collect();
    outcome = 'served';
  } catch (e) {
    outcome = e.kind ?? String(e);
  }
  const settled = performance.now() - t0;
  // One more tick, so a stall that ended with the call is counted.
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(timer);
  await runner.close();
  return { maxSeqLen, outcome, settledMs: Math.round(settled), longestStallMs: Math.round(maxGap) };
}

const rows = [];
for (const ctx of [4096, 300_000]) rows.push(await measure(ctx));
rmSync(dir, { recursive: true, force: true });
console.log(`prompt: ${MIB} MiB (${prompt.length} characters)`);
console.log('| context | outcome | execute() settled after (ms) | longest event-loop stall (ms) |');
console.log('|---:|---|---:|---:|');
for (const r of rows) console.log(`| ${r.maxSeqLen} | ${r.outcome} | ${r.settledMs} | ${r.longestStallMs} |`);
mkdirSync(join(pkg, 'bench', 'out'), { recursive: true });
writeFileSync(join(pkg, 'bench', 'out', 'prompt-blocking.json'), JSON.stringify({ promptMiB: MIB, rows }, null, 2));
