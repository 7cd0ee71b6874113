// Throughput and per-token latency of the Python bridge, side by side with the alternatives:
//   1. in-process: the bench engine consumed directly in Python (bench/inprocess.py), the floor;
//   2. bridge: PythonRunner -> python3 -m inferkit_bridge -> the same engine;
//   3. http: the same engine behind a stdlib OpenAI-compatible SSE server
//      (bench/openai_sse_server.py), consumed with @inferkit/runner-remote's
//      createOpenAICompatibleRunner.
// Run: pnpm --filter @inferkit/runner-python build && pnpm --filter @inferkit/runner-python bench
// (needs @inferkit/runner-remote built too). Prints one table; writes bench/out/bench-<time>.json.
// BENCH_BASELINE=<another build's dist/index.js> adds rows for that build of PythonRunner, run in
// the same process right after the current one (old vs new side by side, same machine state).
//
// Throughput: "fast N" streams (the engine never waits), tokens/s = all tokens / wall time,
// best of RUNS. Latency: "stamp" streams paced at INTERVAL_US per token per stream; each token's
// text is the engine's CLOCK_MONOTONIC time when it was yielded; latency = consumer's
// CLOCK_MONOTONIC at receipt - stamp (Node's hrtime and Python's monotonic_ns read the same
// clock). "added" = bridge or http percentile minus the in-process percentile.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { PythonRunner } from '../dist/index.js';
import { createOpenAICompatibleRunner } from '@inferkit/runner-remote';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.PYTHON ?? 'python3';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const INTERVAL_US = 1000;
// [streams, tokens per stream]
const THROUGHPUT = [
  [1, 400_000],
  [64, 8_000],
];
const HTTP_THROUGHPUT = [
  [1, 100_000],
  [64, 2_000],
];
// [streams, tokens per stream, interval µs]
const LATENCY = [
  [1, 2_000, INTERVAL_US],
  [64, 300, INTERVAL_US],
];

function batch(requestId, content) {
  return { requestId, model: 'bench', messages: [{ role: 'user', content }], sampling: {}, stream: true, estimatedTokens: 1 };
}

/** One throughput run: all streams at once, tokens/s over the wall time. */
async function throughputRun(runner, tag, streams, perStream, countOf) {
  const start = performance.now();
  const counts = await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const handle = await runner.execute(batch(`t${tag}-${i}`, `fast ${perStream}`));
      let n = 0;
      for await (const chunk of handle) n += countOf(chunk);
      return n;
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const tokens = counts.reduce((a, b) => a + b, 0);
  if (tokens !== streams * perStream) throw new Error(`expected ${streams * perStream} tokens, got ${tokens}`);
  return { streams, tokens, seconds, tokensPerSecond: tokens / seconds };
}

/**
 * Best of RUNS per runner. With several runners (BENCH_BASELINE) their runs alternate, so that a
 * change in the machine's load during the bench hits them alike.
 */
async function throughput(runners, streams, perStream, countOf) {
  const best = runners.map(() => null);
  for (let run = 0; run < RUNS; run++) {
    for (const [i, runner] of runners.entries()) {
      const r = await throughputRun(runner, `${run}-${i}`, streams, perStream, countOf);
      if (best[i] === null || r.tokensPerSecond > best[i].tokensPerSecond) best[i] = r;
    }
  }
  return best;
}

async function latency(runner, streams, perStream, intervalUs) {
  const samples = [];
  await Promise.all(
    Array.from({ length: streams }, async (_, i) => {
      const handle = await runner.execute(batch(`l${i}`, `stamp ${perStream} ${intervalUs}`));
      for await (const chunk of handle) {
        const now = process.hrtime.bigint();
        for (const stamp of chunk.textDelta.split(',')) if (stamp !== '') samples.push(Number(now - BigInt(stamp)));
      }
    }),
  );
  if (samples.length !== streams * perStream) throw new Error(`expected ${streams * perStream} stamps, got ${samples.length}`);
  return summarize(samples);
}

function summarize(ns) {
  const sorted = Float64Array.from(ns).sort();
  const pick = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] / 1000;
  return { samples: sorted.length, p50Us: pick(0.5), p99Us: pick(0.99) };
}

// Tokens per chunk: the bridge batches ("tok " x k), SSE sends one token per event.
const countTok = (chunk) => (chunk.textDelta.length === 0 ? 0 : chunk.textDelta.length / 4);

async function startSseServer() {
  const child = spawn(PYTHON, [path.join(HERE, 'openai_sse_server.py')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve(Number(line)));
    child.once('exit', (code) => reject(new Error(`SSE server exited with ${code}`)));
  });
  return { child, port };
}

function fmt(n, digits = 0) {
  return n === undefined ? '' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main() {
  const rows = [];
  const spec = JSON.stringify({ throughput: THROUGHPUT, latency: LATENCY });
  const inproc = JSON.parse(execFileSync(PYTHON, [path.join(HERE, 'inprocess.py'), spec], { encoding: 'utf8', maxBuffer: 1 << 28 }));
  const inprocLatency = inproc.latency.map((l) => summarize(l.latenciesNs));
  THROUGHPUT.forEach(([streams], i) => {
    const t = inproc.throughput[i];
    rows.push({ path: 'in-process (python)', streams, tokens: t.tokens, tokensPerSecond: t.tokens / t.seconds, latency: inprocLatency[i] });
  });

  const builds = [['bridge (PythonRunner)', PythonRunner]];
  if (process.env.BENCH_BASELINE) {
    const baseline = await import(pathToFileURL(path.resolve(process.env.BENCH_BASELINE)).href);
    builds.push([`bridge (baseline: ${path.relative(process.cwd(), process.env.BENCH_BASELINE)})`, baseline.PythonRunner]);
  }
  const bridges = [];
  for (const [label, Runner] of builds) {
    const runner = new Runner({ engine: 'inferkit_bench_engine:create', name: 'bench', pythonPath: [HERE], python: PYTHON });
    await runner.loadWeights({ kind: 'runtime_managed' });
    bridges.push([label, runner]);
  }
  for (const [i, [streams, perStream]] of THROUGHPUT.entries()) {
    const t = await throughput(bridges.map(([, runner]) => runner), streams, perStream, countTok);
    for (const [j, [label, runner]] of bridges.entries()) {
      const l = await latency(runner, ...LATENCY[i]);
      rows.push({ path: label, ...t[j], latency: l, added: added(l, inprocLatency[i]) });
    }
  }
  for (const [, runner] of bridges) await runner.close();

  const server = await startSseServer();
  const http = createOpenAICompatibleRunner({
    preset: 'vllm',
    baseUrl: `http://127.0.0.1:${server.port}/v1`,
    maxConnections: 64,
    timeouts: { totalMs: 600_000, idleMs: 60_000 },
  });
  try {
    for (const [i, [streams, perStream]] of HTTP_THROUGHPUT.entries()) {
      const [t] = await throughput([http], streams, perStream, countTok);
      const l = await latency(http, ...LATENCY[i]);
      rows.push({ path: 'http SSE (runner-remote)', ...t, latency: l, added: added(l, inprocLatency[i]) });
    }
  } finally {
    await http.close?.();
    server.child.kill('SIGTERM');
  }

  const header = ['path', 'streams', 'tokens', 'tokens/s', 'lat p50 µs', 'lat p99 µs', 'added p50 µs', 'added p99 µs'];
  const table = rows.map((r) => [
    r.path,
    String(r.streams),
    fmt(r.tokens),
    fmt(r.tokensPerSecond),
    fmt(r.latency.p50Us, 1),
    fmt(r.latency.p99Us, 1),
    r.added ? fmt(r.added.p50Us, 1) : '—',
    r.added ? fmt(r.added.p99Us, 1) : '—',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => row[c].length)));
  const line = (cells) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  console.log(`\nrunner-python bench — ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg()[0].toFixed(1)}, node ${process.version}, best of ${RUNS} runs for tokens/s, latency at ${INTERVAL_US} µs/token/stream\n`);
  console.log(line(header));
  for (const row of table) console.log(line(row));

  const rate = (p, s) => rows.find((r) => r.path.startsWith(p) && r.streams === s)?.tokensPerSecond;
  const checks = [];
  for (const s of [1, 64]) {
    checks.push({ target: `bridge ≥ 200,000 tokens/s (${s} stream${s > 1 ? 's' : ''})`, value: rate('bridge', s), ok: rate('bridge', s) >= 200_000 });
    const ratio = rate('bridge', s) / rate('http', s);
    checks.push({ target: `bridge ≥ 3× http tokens/s (${s} stream${s > 1 ? 's' : ''})`, value: ratio, ok: ratio >= 3 });
    const base = rate('bridge (baseline', s);
    if (base !== undefined) {
      const vsBase = rate('bridge', s) / base;
      checks.push({ target: `bridge ≥ 0.95× baseline tokens/s (${s} stream${s > 1 ? 's' : ''})`, value: vsBase, ok: vsBase >= 0.95 });
    }
  }
  console.log('');
  for (const c of checks) console.log(`${c.ok ? 'MET ' : 'MISS'}  ${c.target}: ${fmt(c.value, c.value < 100 ? 2 : 0)}`);

  const out = path.join(HERE, 'out');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, load: os.loadavg(), runs: RUNS, intervalUs: INTERVAL_US, rows, checks }, null, 2));
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
}

function added(l, base) {
  return { p50Us: l.p50Us - base.p50Us, p99Us: l.p99Us - base.p99Us };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
