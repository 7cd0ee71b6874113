// The gateway under load, in its own process so the load generator's CPU and memory do not
// count against it. Serves one model backed by a fast in-memory runner that streams
// TOKENS chunks per request, yielding to the event loop between chunks like a real runner
// whose tokens arrive from another thread. Reports its address, then its peak RSS on request.
import { RunHandle } from '@inferkit/inference-core';
import { createGateway } from '../dist/index.js';

const TOKENS = Number(process.env.BENCH_TOKENS ?? 16);
const WORDS = ['Once', ' upon', ' a', ' time', ',', ' there', ' was', ' a', ' little', ' cat', '.'];

class FastRunner {
  async execute(batch, options) {
    const id = batch.requestId;
    async function* source(signal) {
      for (let i = 0; i < TOKENS; i++) {
        if (signal.aborted) return;
        await new Promise(setImmediate);
        const last = i === TOKENS - 1;
        yield last
          ? { requestId: id, textDelta: WORDS[i % WORDS.length], usage: { inputTokens: 12, outputTokens: TOKENS }, finishReason: 'stop' }
          : { requestId: id, textDelta: WORDS[i % WORDS.length] };
      }
    }
    return RunHandle.streaming((signal) => source(signal), undefined, { requestId: id, signal: options?.signal });
  }
  async rebuildSession() {}
  runtimeKind() {
    return 'custom:bench';
  }
  transportKind() {
    return { kind: 'local', device: 'cpu' };
  }
}

const gateway = createGateway({ models: { bench: { runner: new FastRunner() } } });
const addr = await gateway.listen({ host: '127.0.0.1', port: 0 });
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);
process.send({ type: 'listening', port: addr.port });
process.on('message', async (m) => {
  if (m.type === 'stats') {
    process.send({ type: 'stats', peakRssBytes: Math.max(peakRss, process.resourceUsage().maxRSS * 1024), metrics: gateway.metrics.render() });
  } else if (m.type === 'stop') {
    clearInterval(sampler);
    await gateway.close();
    process.exit(0);
  }
});
