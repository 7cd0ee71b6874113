#!/usr/bin/env node
// What hosting the engine in a child process costs (CudaRunner engineProcess 'child', the default
// for CUDA engines) against the engine in this process, on the CPU backend with the tiny test
// model, where tokens come fastest and the IPC hop weighs most.
//
//   pnpm --filter @inferkit/runner-cuda build && node bench/engine-hosting.mjs
//   HOSTING_STREAMS=8 HOSTING_TOKENS=200 HOSTING_REPEATS=5 node bench/engine-hosting.mjs
//
// Per hosting mode, median of the repeats: aggregate tokens/s of N concurrent streams through
// CudaRunner.execute (tokenizer, detokenizer and RunHandle included), the host process's CPU time
// per token, and (child mode) the engine process's CPU time per token from /proc.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envNumber, packageDir as pkg, writeResultJson } from './lib/bench-env.mjs';
import { median } from './lib/stats.mjs';

const STREAMS = envNumber('HOSTING_STREAMS', 8);
const TOKENS = envNumber('HOSTING_TOKENS', 200);
const REPEATS = envNumber('HOSTING_REPEATS', 5);
const MODEL = join(pkg, 'test-models', 'no-eos', 'llama-gqa');

const { CudaRunner } = await import(join(pkg, 'dist', 'index.js'));
const TICKS = 100; // USER_HZ on Linux
function processCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS; // utime + stime
}

async function measure(engineProcess) {
  const runner = new CudaRunner({ device: 'cpu', threads: 1, maxBatch: STREAMS, engineProcess });
  await runner.loadWeights({ kind: 'local_path', path: MODEL });
  const batch = (i, r) => ({
    requestId: `h-${r}-${i}`,
    model: 'tiny',
    messages: [{ role: 'user', content: `stream ${i} round ${r}` }],
    sampling: { maxTokens: TOKENS, temperature: 0 },
    stream: true,
    estimatedTokens: TOKENS,
  });
  await (await runner.execute(batch(0, -1))).collect(); // warm-up
  const rows = [];
  for (let r = 0; r < REPEATS; r++) {
    const pid = runner._engine.pid;
    const childCpu0 = pid ? processCpuSeconds(pid) : 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const outs = await Promise.all(Array.from({ length: STREAMS }, async (_, i) => (await runner.execute(batch(i, r))).collect()));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const tokens = outs.reduce((n, o) => n + o.usage.outputTokens, 0);
    rows.push({
      tokS: tokens / seconds,
      hostUsPerToken: ((cpu.user + cpu.system) / tokens),
      engineUsPerToken: pid ? ((processCpuSeconds(pid) - childCpu0) * 1e6) / tokens : null,
    });
  }
  await runner.close();
  return {
    tokS: median(rows.map((r) => r.tokS)),
    hostUsPerToken: median(rows.map((r) => r.hostUsPerToken)),
    engineUsPerToken: engineProcess === 'child' ? median(rows.map((r) => r.engineUsPerToken)) : null,
    rows,
  };
}

// Alternating, so that load from elsewhere on a shared machine hits both alike.
const results = { 'in-process': [], child: [] };
for (let round = 0; round < 2; round++) for (const mode of Object.keys(results)) results[mode].push(await measure(mode));
const pick = (mode) => results[mode].reduce((best, r) => (r.tokS > best.tokS ? r : best));
const inProc = pick('in-process');
const child = pick('child');
const f = (x, d = 1) => (x === null ? 'n/a' : x.toFixed(d));
const lines = [
  `tiny test model (llama-gqa), CPU backend, 1 engine thread, ${STREAMS} streams x ${TOKENS} tokens, median of ${REPEATS} (best of 2 rounds)`,
  '',
  `${'hosting'.padEnd(14)}${'tokens/s'.padStart(10)}${'host CPU us/token'.padStart(19)}${'engine process CPU us/token'.padStart(29)}`,
  `${'in-process'.padEnd(14)}${f(inProc.tokS).padStart(10)}${f(inProc.hostUsPerToken).padStart(19)}${'(in host)'.padStart(29)}`,
  `${'child'.padEnd(14)}${f(child.tokS).padStart(10)}${f(child.hostUsPerToken).padStart(19)}${f(child.engineUsPerToken).padStart(29)}`,
  '',
  `child / in-process throughput: ${(child.tokS / inProc.tokS).toFixed(3)}`,
];
console.log(lines.join('\n'));
writeResultJson('engine-hosting.json', { date: new Date().toISOString(), streams: STREAMS, tokens: TOKENS, repeats: REPEATS, results });
