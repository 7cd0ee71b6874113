// Permits per second and the latency one permit adds, for the in-memory RateLimiter and the Redis
// store's approximate and strict modes, in one process and in three processes sharing one key.
//
// Run: pnpm --filter @inferkit/store-redis build && pnpm --filter @inferkit/store-redis bench
// Needs redis-server on PATH (a private instance is started on a free loopback port).
// Options: PERMITS=20000 CONCURRENCY=64 LATENCY_SAMPLES=5000 node bench/run.mjs
//
// Throughput: CONCURRENCY loops acquire and release a permit as fast as they can (the store's
// calls pipeline on one connection). Latency: one loop, acquire() to resolution, p50 / p99.
// Limits are set far above what is reached, so what is measured is the cost of asking.
// Targets: approximate adds <= 20 µs p50 over in-memory; strict >= 20,000 permits/s in one process.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PERMITS = Number(process.env.PERMITS ?? 20_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const LATENCY_SAMPLES = Number(process.env.LATENCY_SAMPLES ?? 5_000);
const LIMITS = { requestsPerMinute: 1e12, tokensPerMinute: 1e15 };

async function loadDist() {
  try {
    const core = await import('@inferkit/inference-core');
    const store = await import(join(here, '..', 'dist', 'index.js'));
    return { core, store };
  } catch (e) {
    console.error(`cannot load the built packages (${e.message}): run pnpm --filter @inferkit/store-redis... build first`);
    process.exit(1);
  }
}

/** One variant in this process: { permitsPerSec, p50us, p99us }. */
async function measure(variant, url, prefix) {
  const { core, store: storeMod } = await loadDist();
  const clock = core.realClock;
  let store = null;
  let gate;
  if (variant === 'memory') gate = new core.RateLimiter(LIMITS, { clock });
  else {
    store = await storeMod.createRedisStore({ url, prefix, mode: variant });
    gate = store.rateLimiter('bench', LIMITS, { clock });
    if (variant === 'approximate') await new Promise((r) => setTimeout(r, 200)); // first claims
  }
  // Warm-up, then throughput.
  for (let i = 0; i < 500; i++) (await gate.acquire({ tokens: 10 })).release({ actualTokens: 10 });
  let left = PERMITS;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (left > 0) {
        left--;
        (await gate.acquire({ tokens: 10 })).release({ actualTokens: 10 });
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // Latency, one at a time.
  const samples = new Float64Array(LATENCY_SAMPLES);
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const s = process.hrtime.bigint();
    const p = await gate.acquire({ tokens: 10 });
    samples[i] = Number(process.hrtime.bigint() - s) / 1e3;
    p.release({ actualTokens: 10 });
  }
  samples.sort();
  await store?.close();
  return { permitsPerSec: PERMITS / seconds, p50us: samples[Math.floor(LATENCY_SAMPLES * 0.5)], p99us: samples[Math.floor(LATENCY_SAMPLES * 0.99)] };
}

if (process.argv[2] === '--worker') {
  const [, , , variant, url, prefix] = process.argv;
  const r = await measure(variant, url, prefix);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function ping(port) {
  return new Promise((resolve) => {
    const sock = new Socket();
    sock.setTimeout(500, () => (sock.destroy(), resolve(false)));
    sock.once('error', () => resolve(false));
    sock.on('data', (d) => (sock.destroy(), resolve(d.toString().startsWith('+PONG'))));
    sock.connect(port, '127.0.0.1', () => sock.write('PING\r\n'));
  });
}

async function startRedis() {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server']);
  } catch {
    console.error('redis-server is not installed (apt-get install -y redis-server)');
    process.exit(1);
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'inferkit-bench-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const until = Date.now() + 15_000;
  while (!(await ping(port))) {
    if (Date.now() > until) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => (rmSync(dir, { recursive: true, force: true }), resolve()));
        child.kill('SIGTERM');
      }),
  };
}

function runWorker(variant, url, prefix) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', variant, url, prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker ${variant} exited with ${code}`))));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const redis = await startRedis();
const rows = [];
try {
  let seq = 0;
  for (const variant of ['memory', 'approximate', 'strict']) {
    const one = await runWorker(variant, redis.url, `bench${seq++}:`);
    rows.push({ variant, processes: 1, permitsPerSec: one.permitsPerSec, p50us: one.p50us, p99us: one.p99us });
    const prefix = `bench${seq++}:`;
    const three = await Promise.all([0, 1, 2].map(() => runWorker(variant, redis.url, prefix)));
    rows.push({
      variant,
      processes: 3,
      permitsPerSec: three.reduce((s, r) => s + r.permitsPerSec, 0),
      p50us: median(three.map((r) => r.p50us)),
      p99us: median(three.map((r) => r.p99us)),
    });
  }
} finally {
  await redis.stop();
}

const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const base = rows.find((r) => r.variant === 'memory' && r.processes === 1);
console.log(`rate-limit permits — ${PERMITS} permits × ${CONCURRENCY} loops, ${LATENCY_SAMPLES} latency samples (node ${process.version}, redis-server local)\n`);
console.log('variant       processes   permits/s (sum)   p50 µs   p99 µs   p50 added over in-memory');
for (const r of rows) {
  console.log(
    `${r.variant.padEnd(13)} ${String(r.processes).padStart(9)}   ${fmt(r.permitsPerSec).padStart(15)}   ${fmt(r.p50us, 1).padStart(6)}   ${fmt(r.p99us, 1).padStart(6)}   ${fmt(r.p50us - base.p50us, 1).padStart(8)}`,
  );
}
const approx = rows.find((r) => r.variant === 'approximate' && r.processes === 1);
const strict = rows.find((r) => r.variant === 'strict' && r.processes === 1);
console.log('');
console.log(`target approximate adds <= 20 µs p50: ${approx.p50us - base.p50us <= 20 ? 'met' : 'NOT met'} (${fmt(approx.p50us - base.p50us, 1)} µs)`);
console.log(`target strict >= 20,000 permits/s in one process: ${strict.permitsPerSec >= 20_000 ? 'met' : 'NOT met'} (${fmt(strict.permitsPerSec)})`);
const outDir = join(here, 'out');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'permits.json'), JSON.stringify({ permits: PERMITS, concurrency: CONCURRENCY, latencySamples: LATENCY_SAMPLES, node: process.version, rows }, null, 2));
console.log('wrote bench/out/permits.json');
