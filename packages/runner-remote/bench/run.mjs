// Streaming benchmark: inferkit's OpenAI runner against openai-node 6, the Vercel AI SDK 5
// (@ai-sdk/openai-compatible 1) and a floor (raw undici + eventsource-parser + JSON.parse).
//
//   pnpm --filter @inferkit/runner-remote build && pnpm --filter @inferkit/runner-remote bench
//   BENCH_ROUNDS=5 BENCH_CHUNKS=200000 BENCH_STREAMS=1000 BENCH_STREAM_CHUNKS=200 node bench/run.mjs
//
// A loopback server (bench/openai/stream-server.mjs) runs in its own process. Every client run
// is a fresh child process (bench/openai/clients.mjs), so CPU time and peak RSS belong to that
// client alone. Clients run one after another, interleaved over rounds; the table shows
// medians. Each run first checks that every chunk arrived. Results: bench/out/run-<time>.json.
import { execFile, fork } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 200_000);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 1000);
const STREAM_CHUNKS = Number(process.env.BENCH_STREAM_CHUNKS ?? 200);

if (!existsSync(join(here, '..', 'dist', 'index.js'))) {
  console.error('bench: build first (pnpm --filter @inferkit/runner-remote build)');
  process.exit(1);
}
const dist = await import('../dist/index.js');
const clients = ['floor', 'inferkit', ...(typeof dist.createRemoteRunner === 'function' ? ['inferkit-supervised'] : []), 'openai-node', 'ai-sdk'];

const server = fork(join(here, 'openai', 'stream-server.mjs'), [], { stdio: 'inherit' });
const port = await new Promise((resolve) => server.once('message', (m) => resolve(m.port)));
const baseUrl = `http://127.0.0.1:${port}/v1`;

async function measure(client, mode) {
  const args = [join(here, 'openai', 'clients.mjs'), client, mode, baseUrl, String(mode === 'single' ? CHUNKS : STREAM_CHUNKS), String(mode === 'single' ? 1 : STREAMS)];
  const { stdout } = await run(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop());
}

const results = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const mode of ['single', 'concurrent']) {
    for (const client of clients) {
      const r = await measure(client, mode);
      results.push({ round, ...r });
      process.stderr.write(`round ${round} ${mode.padEnd(10)} ${client.padEnd(20)} ${Math.round(r.chunksPerSec).toString().padStart(8)} chunks/s  ${r.cpuUsPerChunk.toFixed(2)} µs CPU/chunk  ${r.peakRssMb.toFixed(0)} MB\n`);
    }
  }
}
server.kill();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = {};
for (const client of clients) {
  const pick = (mode, key) => median(results.filter((r) => r.client === client && r.mode === mode).map((r) => r[key]));
  summary[client] = {
    singleChunksPerSec: pick('single', 'chunksPerSec'),
    singleCpuUsPerChunk: pick('single', 'cpuUsPerChunk'),
    singlePeakRssMb: pick('single', 'peakRssMb'),
    concurrentWallMs: pick('concurrent', 'wallMs'),
    concurrentChunksPerSec: pick('concurrent', 'chunksPerSec'),
    concurrentCpuUsPerChunk: pick('concurrent', 'cpuUsPerChunk'),
    concurrentPeakRssMb: pick('concurrent', 'peakRssMb'),
  };
}

const ik = summary.inferkit;
const fmt = (n, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const rows = clients.map((c) => {
  const s = summary[c];
  return [
    c,
    fmt(s.singleChunksPerSec),
    fmt(s.singleCpuUsPerChunk, 2),
    `${(ik.singleChunksPerSec / s.singleChunksPerSec).toFixed(2)}×`,
    `${(s.singleCpuUsPerChunk / ik.singleCpuUsPerChunk).toFixed(2)}×`,
    fmt(s.concurrentWallMs / 1000, 2),
    fmt(s.concurrentChunksPerSec),
    fmt(s.concurrentCpuUsPerChunk, 2),
    fmt(s.concurrentPeakRssMb),
    `${(ik.concurrentChunksPerSec / s.concurrentChunksPerSec).toFixed(2)}×`,
  ];
});
const header = [
  'client',
  `1×${CHUNKS / 1000}k chunks/s`,
  'CPU µs/chunk',
  'inferkit ×',
  'CPU vs inferkit',
  `${STREAMS}×${STREAM_CHUNKS} wall s`,
  'chunks/s',
  'CPU µs/chunk',
  'peak RSS MB',
  'inferkit ×',
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
console.log(`\nmedian of ${ROUNDS} rounds; node ${process.version}; ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}); server in a separate process`);
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
for (const r of rows) console.log(line(r));

const targets = {
  vsOpenAINode: ik.singleChunksPerSec / summary['openai-node'].singleChunksPerSec,
  vsAiSdk: ik.singleChunksPerSec / summary['ai-sdk'].singleChunksPerSec,
  floorOverInferkitThroughput: summary.floor.singleChunksPerSec / ik.singleChunksPerSec,
  inferkitOverFloorCpu: ik.singleCpuUsPerChunk / summary.floor.singleCpuUsPerChunk,
  concurrentPeakRssMb: ik.concurrentPeakRssMb,
};
console.log(
  `\ntargets: ≥1.5× openai-node: ${targets.vsOpenAINode.toFixed(2)}× | ≥1.5× AI SDK: ${targets.vsAiSdk.toFixed(2)}× | ` +
    `within 1.25× of floor: throughput ${targets.floorOverInferkitThroughput.toFixed(2)}×, CPU/chunk ${targets.inferkitOverFloorCpu.toFixed(2)}× | ` +
    `${STREAMS} streams < 512 MB: ${targets.concurrentPeakRssMb.toFixed(0)} MB`,
);

const outDir = join(here, 'out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `run-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify({ node: process.version, cpus: cpus().length, rounds: ROUNDS, chunks: CHUNKS, streams: STREAMS, streamChunks: STREAM_CHUNKS, summary, targets, results }, null, 2),
);
console.log(`wrote ${file}`);
