// The gateway under load, in its own process so the load generator's CPU and memory do not
// count against it. Serves one model backed by the core kit's ScriptedRunner in its default
// mode: `max_tokens` chunks per request with a setImmediate turn between them (`macrotask`
// pacing, like a runner whose tokens arrive from another thread), then a finish chunk with
// usage. Reports its address, then its peak RSS and metrics on request. BENCH_GATEWAY names
// another build of the package to serve (run.mjs's baseline).
import { pathToFileURL } from 'node:url';
import { ScriptedRunner } from '@inferkit/inference-core/testing';

const { createGateway } = await import(process.env.BENCH_GATEWAY !== undefined ? pathToFileURL(process.env.BENCH_GATEWAY).href : '../dist/index.js');
// The logger option is new; an older build ignores it.
const gateway = createGateway({ models: { bench: { runner: new ScriptedRunner({ pacing: 'macrotask' }) } }, logger: () => undefined });
const addr = await gateway.listen({ host: '127.0.0.1', port: 0 });
process.send({ type: 'listening', port: addr.port });
process.on('message', async (m) => {
  if (m.type === 'stats') {
    // maxRSS is the kernel's high-water mark (KiB): exact, and free to read, unlike sampling.
    const u = process.resourceUsage();
    process.send({ type: 'stats', peakRssBytes: u.maxRSS * 1024, cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6, metrics: await gateway.metrics.render() });
  } else if (m.type === 'stop') {
    await gateway.close();
    process.exit(0);
  }
});
