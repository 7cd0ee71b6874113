#!/usr/bin/env node
// Streams one reply from the template runner: `pnpm --filter @inferkit/example-custom-runner build && node examples/custom-runner/demo.mjs "hi there"`
import { randomUUID } from 'node:crypto';
import { EchoRunner } from './dist/index.js';

const runner = new EchoRunner({ wordDelayMs: 60 });
const handle = await runner.execute({
  requestId: randomUUID(),
  model: 'echo',
  messages: [{ role: 'user', content: process.argv.slice(2).join(' ') || 'Hello from a custom runner!' }],
  sampling: {},
  stream: true,
  estimatedTokens: 16,
});
let usage;
for await (const chunk of handle) {
  process.stdout.write(chunk.textDelta);
  usage = chunk.usage ?? usage;
}
process.stdout.write(`\n(${usage.inputTokens} input / ${usage.outputTokens} output tokens)\n`);
await runner.close();
