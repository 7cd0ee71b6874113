// SSE parsing alone, three versions on the same 200,000-event OpenAI stream cut into 64 KiB
// pieces like socket reads; each must produce the same events before it is timed:
//   1. ByteSseParser (bench/http/byte-sse-parser.mjs): our byte-level parser, not shipped;
//   2. eventsource-parser 3 behind a streaming TextDecoder, bare;
//   3. SseParser as shipped (2 plus the event-size bound and id/retry bookkeeping).
// Version 1 did not clearly beat version 2, so the package ships 3.
// Run: node bench/http/sse-parser.mjs (after `pnpm build`).
import { performance } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
import { SseParser } from '../../dist/index.js';
import { ByteSseParser } from './byte-sse-parser.mjs';

const N = Number(process.env.BENCH_CHUNKS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const PIECE = 64 * 1024;

const head = '{"id":"chatcmpl-9tZXEmwtoDf6vqCqEWSvDP8jx9OXe","object":"chat.completion.chunk","created":1723031664,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_845eaabc1f","choices":[{"index":0,';
const text = [];
for (let i = 0; i < N; i++) text.push(`data: ${head}"delta":{"content":" tök${i % 100}"},"logprobs":null,"finish_reason":null}]}\n\n`);
text.push('data: [DONE]\n\n');
const bytes = Buffer.from(text.join(''));
const pieces = [];
for (let i = 0; i < bytes.length; i += PIECE) pieces.push(bytes.subarray(i, i + PIECE));

const implementations = {
  '1. ByteSseParser (not shipped)': () => {
    let n = 0;
    let last = '';
    const p = new ByteSseParser((data) => {
      n++;
      last = data;
    });
    for (const c of pieces) p.feed(c);
    return { n, last };
  },
  '3. SseParser (shipped)': () => {
    let n = 0;
    let last = '';
    const p = new SseParser((data) => {
      n++;
      last = data;
    });
    for (const c of pieces) p.feed(c);
    return { n, last };
  },
  '2. eventsource-parser + TextDecoder': () => {
    let n = 0;
    let last = '';
    const decoder = new TextDecoder();
    const p = createParser({
      onEvent: (e) => {
        n++;
        last = e.data;
      },
    });
    for (const c of pieces) p.feed(decoder.decode(c, { stream: true }));
    return { n, last };
  },
};

// Check first: same number of events and the same final event.
const reference = implementations['3. SseParser (shipped)']();
for (const [name, fn] of Object.entries(implementations)) {
  const r = fn();
  if (r.n !== N + 1 || r.last !== reference.last) throw new Error(`${name}: got ${r.n} events`);
}

const times = Object.fromEntries(Object.keys(implementations).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(implementations)) {
    const t0 = performance.now();
    fn();
    times[name].push(performance.now() - t0);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const base = median(times['2. eventsource-parser + TextDecoder']);
console.log(`${(bytes.length / 1e6).toFixed(1)} MB, ${N + 1} events, ${PIECE / 1024} KiB pieces, median of ${ROUNDS}; node ${process.version}`);
console.log('| parser | ms | MB/s | events/s | vs 2 |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, ts] of Object.entries(times)) {
  const ms = median(ts);
  console.log(`| ${name} | ${ms.toFixed(1)} | ${(bytes.length / 1e6 / (ms / 1000)).toFixed(0)} | ${Math.round((N + 1) / (ms / 1000)).toLocaleString('en-US')} | ${(base / ms).toFixed(2)}× |`);
}
