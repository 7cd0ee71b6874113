// One benchmark client per process: `node clients.mjs <client> <mode> <baseUrl> <chunks> [streams]`.
// Prints one JSON line with what it measured. Each client first checks that it received every
// chunk (text and count), then reports wall time, CPU time and peak RSS of this process.
import { performance } from 'node:perf_hooks';

const [client, mode, baseUrl, chunksArg, streamsArg] = process.argv.slice(2);
const chunks = Number(chunksArg);
const streams = Number(streamsArg ?? 1);
const model = `bench-${chunks}`;
const messages = [{ role: 'user', content: 'Count.' }];

/** Each client returns a function that streams one request and returns the number of text deltas. */
async function makeClient(name) {
  switch (name) {
    case 'inferkit': {
      const { createOpenAIRunner } = await import('../../dist/index.js');
      const runner = createOpenAIRunner({ baseUrl, apiKey: 'sk-bench' });
      let id = 0;
      return {
        async stream() {
          const handle = await runner.execute({ requestId: `b${id++}`, model, messages, sampling: {}, stream: true, estimatedTokens: 0 });
          let n = 0;
          for await (const c of handle) if (c.textDelta !== '') n++;
          return n;
        },
        close: () => runner.close(),
      };
    }
    case 'inferkit-supervised': {
      const mod = await import('../../dist/index.js');
      const runner = mod.createRemoteRunner({ provider: 'openai', baseUrl, apiKey: 'sk-bench' });
      let id = 0;
      return {
        async stream() {
          const handle = await runner.execute({ requestId: `b${id++}`, model, messages, sampling: {}, stream: true, estimatedTokens: 0 });
          let n = 0;
          for await (const c of handle) if (c.textDelta !== '') n++;
          return n;
        },
        close: () => runner.close?.(),
      };
    }
    case 'openai-node': {
      const { default: OpenAI } = await import('openai');
      const openai = new OpenAI({ baseURL: baseUrl, apiKey: 'sk-bench', maxRetries: 0 });
      return {
        async stream() {
          const s = await openai.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
          let n = 0;
          for await (const c of s) if (c.choices[0]?.delta?.content) n++;
          return n;
        },
        close: async () => undefined,
      };
    }
    case 'ai-sdk': {
      const { streamText } = await import('ai');
      const { createOpenAICompatible } = await import('@ai-sdk/openai-compatible');
      const provider = createOpenAICompatible({ name: 'bench', baseURL: baseUrl, apiKey: 'sk-bench', includeUsage: true });
      return {
        async stream() {
          const result = streamText({ model: provider(model), messages, maxRetries: 0 });
          let n = 0;
          for await (const t of result.textStream) if (t !== '') n++;
          return n;
        },
        close: async () => undefined,
      };
    }
    case 'floor': {
      // The least a client can do: undici request, eventsource-parser, JSON.parse per event.
      const { Agent, request } = await import('undici');
      const { createParser } = await import('eventsource-parser');
      const dispatcher = new Agent({ headersTimeout: 0, bodyTimeout: 0 });
      const url = `${baseUrl}/chat/completions`;
      const body = JSON.stringify({ model, messages, stream: true, stream_options: { include_usage: true } });
      return {
        async stream() {
          const res = await request(url, {
            method: 'POST',
            dispatcher,
            headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
            body,
          });
          let n = 0;
          const parser = createParser({
            onEvent(e) {
              if (e.data === '[DONE]') return;
              const c = JSON.parse(e.data);
              if (c.choices[0]?.delta?.content) n++;
            },
          });
          const decoder = new TextDecoder();
          for await (const chunk of res.body) parser.feed(decoder.decode(chunk, { stream: true }));
          return n;
        },
        close: () => dispatcher.close(),
      };
    }
    default:
      throw new Error(`unknown client ${name}`);
  }
}

const c = await makeClient(client);
// Warm-up: JIT, connection pool, module caches; also checks the client counts correctly.
const warm = await c.stream();
if (warm !== chunks && mode === 'single') throw new Error(`${client}: warm-up received ${warm} of ${chunks} chunks`);

global.gc?.();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let received = 0;
if (mode === 'single') {
  received = await c.stream();
} else {
  const counts = await Promise.all(Array.from({ length: streams }, () => c.stream()));
  received = counts.reduce((a, b) => a + b, 0);
}
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const expected = chunks * streams;
if (received !== expected) throw new Error(`${client}: received ${received} of ${expected} chunks`);
await c.close();
process.stdout.write(
  `${JSON.stringify({
    client,
    mode,
    streams,
    chunks: expected,
    wallMs,
    chunksPerSec: expected / (wallMs / 1000),
    cpuUsPerChunk: (cpu.user + cpu.system) / expected,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  })}\n`,
);
