// Streams 1,000,000 chunks through
//   (a) a bare async generator,
//   (b) RunHandle.streaming(generator)            — a plain iterable: guarded path (a promise per
//       chunk so cancel() can settle a pending next() even if the source is stuck),
//   (b2) RunHandle.streaming((signal) => generator) — a factory: fast path (one `then` per chunk),
//   (c) supervise(runner) whose execute() returns (b2), with every policy configured,
//   (b3) RunHandle.pushable() fed by a callback-style producer that pushes until push() returns
//       false (the high-water mark) and resumes on ready(): no generator, no chained `then`,
//   (c2) supervise(runner) whose execute() returns (b3), same policies as (c),
//   (d) route([supervise(runner)]) over that one supervised target (c), fallback strategy,
//   (d2) route([supervise(pushRunner)]) over (c2),
// and prints ns/chunk. Targets: (c) within 1.2x of (a), (c2) against the same bar; (d) within
// 1.05x of (c) and (d2) within 1.05x of (c2): routing adds nothing per chunk beyond one observer.
//
// Run: pnpm --filter @inferkit/inference-core build && pnpm --filter @inferkit/inference-core bench
// Options: CHUNKS=1000000 ROUNDS=7 node bench/run.mjs
// Rounds interleave a/b/c so that machine noise hits all three alike; the median is reported.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, '..', 'dist', 'index.js');
if (!existsSync(dist)) {
  console.error('dist/ is missing: run `pnpm --filter @inferkit/inference-core build` first');
  process.exit(1);
}
const { RunHandle, route, supervise } = await import(dist);

const CHUNKS = Number(process.env.CHUNKS ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const requestId = 'bench';

async function* generate(n) {
  for (let i = 0; i < n; i++) {
    yield i === n - 1 ? { requestId, textDelta: 'x', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: n } } : { requestId, textDelta: 'x' };
  }
}

// A callback-driven producer, as undici onData or a native batch callback would be: it pushes
// synchronously while the handle takes chunks and parks on ready() at the high-water mark.
function pushed(n, options) {
  const { handle, controller } = RunHandle.pushable(undefined, options);
  let i = 0;
  const produce = () => {
    while (i < n) {
      const chunk = i === n - 1 ? { requestId, textDelta: 'x', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: n } } : { requestId, textDelta: 'x' };
      i++;
      if (!controller.push(chunk)) {
        controller.ready().then(resume);
        return;
      }
    }
    controller.end();
  };
  const resume = (ok) => {
    if (ok) produce();
  };
  produce();
  return handle;
}

const runner = {
  runtimeKind: () => 'custom:bench',
  transportKind: () => ({ kind: 'local', device: 'cpu' }),
  rebuildSession: async () => {},
  execute: async (batch, options) => RunHandle.streaming(() => generate(batch.estimatedTokens), undefined, { signal: options?.signal, requestId }),
};
const pushRunner = {
  ...runner,
  execute: async (batch, options) => pushed(batch.estimatedTokens, { signal: options?.signal, requestId }),
};
const policies = {
  retry: { maxRetries: 2, initialDelayMs: 100, maxDelayMs: 1000 },
  circuitBreaker: { failureThreshold: 5, windowMs: 60_000, openDurationMs: 5_000 },
  rateLimits: { requestsPerMinute: 1_000, tokensPerMinute: 1e12, maxConcurrent: 8 },
  serving: { maxConcurrent: 4 },
  budget: { hourlyUsd: 100, onExceeded: 'reject' },
  timeouts: { firstChunkMs: 60_000, totalMs: 600_000 },
};
const supervised = supervise(runner, policies);
const supervisedPush = supervise(pushRunner, policies);
const routed = route([supervise(runner, policies)], { strategy: 'fallback' });
const routedPush = route([supervise(pushRunner, policies)], { strategy: 'fallback' });
const batch = (n) => ({ requestId, model: 'bench', messages: [{ role: 'user', content: 'x' }], sampling: {}, stream: true, estimatedTokens: n });

async function consume(iterable) {
  let count = 0;
  let chars = 0;
  for await (const chunk of iterable) {
    count++;
    chars += chunk.textDelta.length;
  }
  return count + chars * 0;
}

const variants = [
  { id: 'a', name: '(a) bare async generator', run: (n) => consume(generate(n)) },
  { id: 'b', name: '(b) RunHandle (iterable)', run: (n) => consume(RunHandle.streaming(generate(n))) },
  { id: 'b2', name: '(b2) RunHandle (factory)', run: (n) => consume(RunHandle.streaming(() => generate(n))) },
  { id: 'c', name: '(c) supervise(RunHandle)', run: async (n) => consume(await supervised.execute(batch(n))) },
  { id: 'b3', name: '(b3) RunHandle, push source', run: (n) => consume(pushed(n)) },
  { id: 'c2', name: '(c2) supervise(RunHandle, push source)', run: async (n) => consume(await supervisedPush.execute(batch(n))) },
  { id: 'd', name: '(d) route([supervise(RunHandle)])', run: async (n) => consume(await routed.execute(batch(n))) },
  { id: 'd2', name: '(d2) route([supervise(push source)])', run: async (n) => consume(await routedPush.execute(batch(n))) },
];

async function time(v, n) {
  const t0 = process.hrtime.bigint();
  const count = await v.run(n);
  const ns = Number(process.hrtime.bigint() - t0);
  if (count !== n) throw new Error(`${v.name}: got ${count} chunks, expected ${n}`);
  return ns / n;
}

// Warm-up: let V8 optimize every path before measuring.
for (const v of variants) await time(v, Math.min(CHUNKS, 200_000));

const samples = Object.fromEntries(variants.map((v) => [v.id, []]));
for (let r = 0; r < ROUNDS; r++) for (const v of variants) samples[v.id].push(await time(v, CHUNKS));

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const base = median(samples.a);
const baseMin = Math.min(...samples.a);
const rows = variants.map((v) => {
  const med = median(samples[v.id]);
  const min = Math.min(...samples[v.id]);
  return { variant: v.name, nsPerChunk: +med.toFixed(1), min: +min.toFixed(1), vsBare: +(med / base).toFixed(3), vsBareMin: +(min / baseMin).toFixed(3) };
});

console.log(`inference-core stream overhead — ${CHUNKS.toLocaleString('en-US')} chunks × ${ROUNDS} rounds, median (node ${process.version}, ${process.arch})`);
console.log('');
// On a busy machine the minimum is the steadier estimate of intrinsic cost; both are shown.
console.log(`${'variant'.padEnd(40)} ${'median ns'.padStart(10)} ${'× (a)'.padStart(7)} ${'min ns'.padStart(8)} ${'× (a)'.padStart(7)}`);
for (const r of rows) {
  console.log(`${r.variant.padEnd(40)} ${r.nsPerChunk.toFixed(1).padStart(10)} ${r.vsBare.toFixed(3).padStart(7)} ${r.min.toFixed(1).padStart(8)} ${r.vsBareMin.toFixed(3).padStart(7)}`);
}
const cRow = rows.find((r) => r.variant.startsWith('(c)'));
const c = cRow.vsBare;
const c2Row = rows.find((r) => r.variant.startsWith('(c2)'));
const c2 = c2Row.vsBare;
const vs = (x, y, key) => +(x[key] / y[key]).toFixed(3);
const dRow = rows.find((r) => r.variant.startsWith('(d)'));
const d2Row = rows.find((r) => r.variant.startsWith('(d2)'));
const dVsC = { median: vs(dRow, cRow, 'nsPerChunk'), min: vs(dRow, cRow, 'min') };
const d2VsC2 = { median: vs(d2Row, c2Row, 'nsPerChunk'), min: vs(d2Row, c2Row, 'min') };
console.log('');
console.log(`target (d) ≤ 1.05 × (c): ${dVsC.median <= 1.05 ? 'met' : 'NOT met'} on medians (${dVsC.median}), ${dVsC.min <= 1.05 ? 'met' : 'NOT met'} on minimums (${dVsC.min})`);
console.log(`target (d2) ≤ 1.05 × (c2): ${d2VsC2.median <= 1.05 ? 'met' : 'NOT met'} on medians (${d2VsC2.median}), ${d2VsC2.min <= 1.05 ? 'met' : 'NOT met'} on minimums (${d2VsC2.min})`);
console.log(`target (c) ≤ 1.2 × (a): ${c <= 1.2 ? 'met' : 'NOT met'} on medians (${c.toFixed(3)}), ${cRow.vsBareMin <= 1.2 ? 'met' : 'NOT met'} on minimums (${cRow.vsBareMin.toFixed(3)})`);
console.log(`target (c2) ≤ 1.2 × (a): ${c2 <= 1.2 ? 'met' : 'NOT met'} on medians (${c2.toFixed(3)}), ${c2Row.vsBareMin <= 1.2 ? 'met' : 'NOT met'} on minimums (${c2Row.vsBareMin.toFixed(3)})`);

const outDir = join(here, 'out');
mkdirSync(outDir, { recursive: true });
const result = {
  bench: 'inference-core/stream-overhead',
  date: new Date().toISOString(),
  node: process.version,
  arch: process.arch,
  cpus: (await import('node:os')).cpus().length,
  loadavg: (await import('node:os')).loadavg(),
  chunks: CHUNKS,
  rounds: ROUNDS,
  rows,
  samples,
  targetMet: { median: c <= 1.2, min: cRow.vsBareMin <= 1.2 },
  targetMetPush: { median: c2 <= 1.2, min: c2Row.vsBareMin <= 1.2 },
  routeVsSupervise: dVsC,
  routePushVsSupervisePush: d2VsC2,
};
writeFileSync(join(outDir, 'stream-overhead.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${join('bench', 'out', 'stream-overhead.json')}`);
