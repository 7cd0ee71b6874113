// Load test: CLIENTS concurrent streaming clients on loopback, each sending ROUNDS requests
// back to back over keep-alive, through the gateway (a child process) to a fast in-memory
// runner (the core kit's ScriptedRunner). Prints requests/s, time to first token (first content event, client side) p50/p99,
// the gateway's peak RSS and the error count; writes JSON to bench/out/.
//
//   pnpm --filter @inferkit/gateway build && node packages/gateway/bench/run.mjs
//   BENCH_CLIENTS=1000 BENCH_ROUNDS=5 BENCH_TOKENS=16 (defaults)
//
// Side by side with an earlier version of the gateway (same run, same machine):
//   node packages/gateway/bench/build-baseline.mjs <commit>
//   BENCH_BASELINE=packages/gateway/bench/baseline/dist/index.js [BENCH_PAIRS=3] node packages/gateway/bench/run.mjs
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 16);

/** One load test against the gateway build at `gateway` (default: this package's dist). */
async function loadTest(gateway) {
  const server = fork(join(here, 'server.mjs'), { stdio: 'inherit', env: gateway === undefined ? process.env : { ...process.env, BENCH_GATEWAY: gateway }, execArgv: process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_PROF] : [] });
  const [hello] = await once(server, 'message');
  const port = hello.port;
  // One keep-alive socket per client. Node's defaults would add handshakes to the timed phase:
  // an unbounded maxSockets opens a new connection when a client's next request starts before its
  // previous socket is back in the pool, and maxFreeSockets (256) closes the rest of the idle pool
  // between the warm-up and the timed phase.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS, maxFreeSockets: CLIENTS, scheduling: 'fifo' });
  const body = JSON.stringify({ model: 'bench', messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: TOKENS, stream: true });

  function request() {
    return new Promise((resolve) => {
      const start = performance.now();
      let ttft = -1;
      let text = '';
      let buf = '';
      let done = false;
      const req = http.request(
        { host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            resolve({ ok: false, error: `HTTP ${res.statusCode}` });
            return;
          }
          res.setEncoding('utf8');
          res.on('data', (d) => {
            buf += d;
            let i;
            while ((i = buf.indexOf('\n\n')) !== -1) {
              const ev = buf.slice(0, i);
              buf = buf.slice(i + 2);
              if (ev === 'data: [DONE]') {
                done = true;
                continue;
              }
              const chunk = JSON.parse(ev.slice(6));
              const c = chunk.choices[0]?.delta?.content;
              if (c) {
                if (ttft < 0) ttft = performance.now() - start;
                text += c;
              }
            }
          });
          res.on('end', () => {
            const expectedLen = TOKENS;
            resolve(done && ttft >= 0 && text.length > expectedLen ? { ok: true, ttft } : { ok: false, error: done ? 'short output' : 'no [DONE]' });
          });
          res.on('error', (e) => resolve({ ok: false, error: e.message }));
        },
      );
      req.on('error', (e) => resolve({ ok: false, error: e.code ?? e.message }));
      req.end(body);
    });
  }

  async function client(results) {
    for (let r = 0; r < ROUNDS; r++) results.push(await request());
  }

  // Warm-up: one request per client opens every keep-alive socket and JIT-compiles both sides,
  // so the timed phase measures streaming, not a thousand simultaneous TCP handshakes.
  const warm = await Promise.all(Array.from({ length: CLIENTS }, () => request()));
  const warmErrors = warm.filter((r) => !r.ok).length;

  const results = [];
  server.send({ type: 'stats' });
  const [before] = await once(server, 'message');
  const clientCpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, () => client(results)));
  const seconds = (performance.now() - t0) / 1000;
  const clientCpu = process.cpuUsage(clientCpu0);

  server.send({ type: 'stats' });
  const [stats] = await once(server, 'message');
  server.send({ type: 'stop' });
  agent.destroy();
  await once(server, 'exit');

  const ttfts = results.filter((r) => r.ok).map((r) => r.ttft).sort((a, b) => a - b);
  const pct = (p) => (ttfts.length === 0 ? NaN : ttfts[Math.min(ttfts.length - 1, Math.floor((p / 100) * ttfts.length))]);
  const errors = results.filter((r) => !r.ok);
  const errorKinds = {};
  for (const e of errors) errorKinds[e.error] = (errorKinds[e.error] ?? 0) + 1;
  const out = {
    clients: CLIENTS,
    roundsPerClient: ROUNDS,
    tokensPerResponse: TOKENS,
    requests: results.length,
    seconds: +seconds.toFixed(3),
    requestsPerSecond: +(results.length / seconds).toFixed(1),
    tokensPerSecond: +((results.length * TOKENS) / seconds).toFixed(0),
    ttftP50Ms: +pct(50).toFixed(2),
    ttftP99Ms: +pct(99).toFixed(2),
    gatewayPeakRssMiB: +(stats.peakRssBytes / 1024 / 1024).toFixed(1),
    // CPU the gateway process spent in the timed phase, and per request: throughput here is
    // bounded by the cores the gateway and this load generator share.
    gatewayCpuSeconds: +(stats.cpuSeconds - before.cpuSeconds).toFixed(2),
    gatewayCpuMsPerRequest: +((1000 * (stats.cpuSeconds - before.cpuSeconds)) / results.length).toFixed(3),
    clientCpuSeconds: +((clientCpu.user + clientCpu.system) / 1e6).toFixed(2),
    loadAverage1m: +os.loadavg()[0].toFixed(2),
    cpus: os.cpus().length,
    errors: errors.length,
    errorKinds,
    warmupErrors: warmErrors,
    node: process.version,
    date: new Date().toISOString(),
  };
  return out;
}

// With a baseline, BENCH_PAIRS pairs of runs alternate which build goes first (baseline, current,
// current, baseline, …): the machine's load drifts during a run, and whichever build always went
// second would get the drift's benefit or cost.
const runs = [];
const baseline = process.env.BENCH_BASELINE;
const pairs = baseline === undefined ? 1 : Number(process.env.BENCH_PAIRS ?? 1);
if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`BENCH_PAIRS must be an integer >= 1, got ${process.env.BENCH_PAIRS}`);
for (let i = 0; i < pairs; i++) {
  const order = baseline === undefined ? ['current'] : i % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline'];
  for (const build of order) {
    const out = await loadTest(build === 'baseline' ? resolve(baseline) : undefined);
    runs.push({ name: pairs > 1 ? `${build} #${i + 1}` : build, out });
  }
}

const row = (label, get) => [label, ...runs.map((r) => String(get(r.out)))];
const rows = [
  row('concurrent streaming clients', (o) => o.clients),
  row('requests (clients × rounds)', (o) => o.requests),
  row('tokens per response', (o) => o.tokensPerResponse),
  row('wall time (s)', (o) => o.seconds),
  row('requests/s', (o) => o.requestsPerSecond),
  row('streamed tokens/s', (o) => o.tokensPerSecond),
  row('TTFT p50 (ms)', (o) => o.ttftP50Ms),
  row('TTFT p99 (ms)', (o) => o.ttftP99Ms),
  row('gateway peak RSS (MiB)', (o) => o.gatewayPeakRssMiB),
  row('gateway CPU (s) / per request (ms)', (o) => `${o.gatewayCpuSeconds} / ${o.gatewayCpuMsPerRequest}`),
  row('load generator CPU (s)', (o) => o.clientCpuSeconds),
  row('machine: cores / 1-min load average', (o) => `${o.cpus} / ${o.loadAverage1m}`),
  row('errors (timed phase)', (o) => o.errors),
  row('errors (warm-up)', (o) => o.warmupErrors),
];
const w = Math.max(...rows.map((r) => r[0].length));
const widths = runs.map((r, i) => Math.max(r.name.length, ...rows.map((x) => x[i + 1].length)));
console.log('\n@inferkit/gateway load test (loopback, gateway in a child process)\n');
console.log(`| ${'metric'.padEnd(w)} | ${runs.map((r, i) => r.name.padEnd(widths[i])).join(' | ')} |`);
console.log(`|${'-'.repeat(w + 2)}|${widths.map((x) => '-'.repeat(x + 2)).join('|')}|`);
for (const [k, ...v] of rows) console.log(`| ${k.padEnd(w)} | ${v.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`);
const outDir = join(here, 'out');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `load-${Date.now()}.json`);
writeFileSync(file, JSON.stringify(runs.length === 1 ? runs[0].out : Object.fromEntries(runs.map((r) => [r.name, r.out])), null, 2) + '\n');
console.log(`\nJSON: ${file}`);
for (const { name, out } of runs) {
  if (out.errors > 0 || out.warmupErrors > 0) {
    console.error(`errors (${name}):`, out.errorKinds);
    process.exitCode = 1;
  }
}
