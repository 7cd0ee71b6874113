// Which undici API to stream a response body through: the transport (src/http/http-transport.ts)
// drives `Pool.dispatch` with a handler object. This compares it with `Pool.request` (body as a
// Readable, iterated with for-await) and `Pool.stream` (body into a Writable), reading the same
// 200,000-chunk SSE body (~50 MB) from the loopback server in its own process. Only bytes are
// counted, so the numbers are the transport's own cost. Each API is checked (byte count) before
// it is timed; rounds are interleaved; medians are shown.
// Run: node bench/http/dispatch.mjs
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.BENCH_CHUNKS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const server = fork(join(here, '..', 'openai', 'stream-server.mjs'));
const port = await new Promise((resolve) => server.once('message', (m) => resolve(m.port)));
const origin = `http://127.0.0.1:${port}`;
const pool = new Pool(origin, { headersTimeout: 60_000, bodyTimeout: 60_000 });
const req = {
  origin,
  path: '/v1/chat/completions',
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: `bench-${N}`, stream: true }),
};

const apis = {
  'dispatch (handler object)': () =>
    new Promise((resolve, reject) => {
      let bytes = 0;
      pool.dispatch(req, {
        onRequestStart() {},
        onResponseStart() {},
        onResponseData(_c, chunk) {
          bytes += chunk.length;
        },
        onResponseEnd() {
          resolve(bytes);
        },
        onResponseError(_c, err) {
          reject(err);
        },
      });
    }),
  'request (for await body)': async () => {
    const res = await pool.request(req);
    let bytes = 0;
    for await (const chunk of res.body) bytes += chunk.length;
    return bytes;
  },
  'stream (Writable)': () => {
    let bytes = 0;
    return pool
      .stream(req, () => new Writable({ write(chunk, _e, cb) { bytes += chunk.length; cb(); } }))
      .then(() => bytes);
  },
};

const expected = await apis['request (for await body)']();
for (const [name, fn] of Object.entries(apis)) {
  const got = await fn();
  if (got !== expected) throw new Error(`${name}: read ${got} bytes, expected ${expected}`);
}

const results = Object.fromEntries(Object.keys(apis).map((k) => [k, { ms: [], cpu: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(apis)) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    results[name].ms.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    results[name].cpu.push((cpu.user + cpu.system) / 1000);
  }
}
await pool.close();
server.kill();

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const baseCpu = median(results['request (for await body)'].cpu);
console.log(`${(expected / 1e6).toFixed(1)} MB per body, median of ${ROUNDS}; node ${process.version}`);
console.log('| undici API | wall ms | client CPU ms | CPU vs request |');
console.log('|---|---:|---:|---:|');
for (const [name, r] of Object.entries(results)) {
  const cpu = median(r.cpu);
  console.log(`| ${name} | ${median(r.ms).toFixed(1)} | ${cpu.toFixed(1)} | ${(cpu / baseCpu).toFixed(2)}× |`);
}
