#!/usr/bin/env node
// The README's first command ends here: load a local Llama-family checkpoint through CudaRunner
// (CUDA when the addon has it and a GPU works, the CPU otherwise), stream one chat completion to
// the terminal, then print token counts and speed.
//
//   node examples/quickstart/demo.mjs                         # the embedded model, models/inferkit-tiny
//   node examples/quickstart/demo.mjs --prompt "Tell me a story about a frog." --max-tokens 120
//   node examples/quickstart/demo.mjs --model ~/models/Qwen3-0.6B --temperature 0.7
//   INFERKIT_DEVICE=cpu node examples/quickstart/demo.mjs     # force the CPU backend
import { randomUUID } from 'node:crypto';
import { InferenceError } from '@inferkit/inference-core';
import { CudaRunner } from '@inferkit/runner-cuda';
import { fail, readLocalChatFlags } from '../shared/cli.mjs';

const args = readLocalChatFlags();
const { maxTokens, temperature, modelPath } = args;

const err = (s) => process.stderr.write(s);
const mib = (b) => (b / 1024 / 1024).toFixed(1);

let runner;
try {
  runner = new CudaRunner({ device: args.device });
} catch (e) {
  fail(InferenceError.isInstance(e) ? e.message : String(e));
}

// Progress on one terminal line when stderr is a TTY; a few plain lines otherwise (CI logs).
let lastPct = -1;
const loadStart = performance.now();
err(`loading ${modelPath}\n`);
try {
  await runner.loadWeights(
    { kind: 'local_path', path: modelPath },
    {
      onProgress: (p) => {
        if (p.totalBytes === undefined || p.totalBytes === 0) return;
        const pct = Math.floor((100 * p.loadedBytes) / p.totalBytes);
        if (pct === lastPct || (!process.stderr.isTTY && pct % 25 !== 0 && pct !== 100)) return;
        lastPct = pct;
        const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, ' ');
        const line = `  ${p.phase} [${bar}] ${String(pct).padStart(3)}%  ${mib(p.loadedBytes)}/${mib(p.totalBytes)} MiB`;
        err(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
      },
    },
  );
} catch (e) {
  if (process.stderr.isTTY) err('\n');
  fail(`could not load the model: ${InferenceError.isInstance(e) ? `${e.kind}: ${e.message}` : String(e)}`, 1);
}
if (process.stderr.isTTY && lastPct >= 0) err('\n');
const info = runner.modelInfo;
err(
  `loaded in ${((performance.now() - loadStart) / 1000).toFixed(2)} s: ${info.modelType}, ${info.numLayers} layers, ` +
    `hidden ${info.hiddenSize}, vocab ${info.vocabSize}, ${info.weightDtype} weights\n` +
    `device: ${info.device} (${info.deviceDescription})\n\n`,
);

const messages = [];
if (args.system !== undefined) messages.push({ role: 'system', content: args.system });
messages.push({ role: 'user', content: args.prompt });
err(`> ${args.prompt}\n\n`);

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
const sampling = { maxTokens, ...(temperature !== undefined ? { temperature } : {}) };
const start = performance.now();
let firstAt;
let usage;
let finish;
try {
  const handle = await runner.execute(
    { requestId: randomUUID(), model: 'local', messages, sampling, stream: true, estimatedTokens: maxTokens },
    { signal: controller.signal },
  );
  for await (const chunk of handle) {
    if (chunk.textDelta.length > 0) {
      firstAt ??= performance.now();
      process.stdout.write(chunk.textDelta);
    }
    if (chunk.usage !== undefined) usage = { ...usage, ...chunk.usage };
    if (chunk.finishReason !== undefined) finish = chunk.finishReason;
  }
} catch (e) {
  process.stdout.write('\n');
  await runner.close();
  fail(InferenceError.isInstance(e) ? `generation failed (${e.kind}): ${e.message}` : String(e), 1);
}
const end = performance.now();
process.stdout.write('\n');
await runner.close();

const prompt = usage?.inputTokens;
const completion = usage?.outputTokens;
const ttft = firstAt !== undefined ? (firstAt - start) / 1000 : undefined;
// Decode speed excludes the prompt: tokens after the first, over the time after the first.
const decodeTps =
  completion !== undefined && completion > 1 && firstAt !== undefined && end > firstAt ? (completion - 1) / ((end - firstAt) / 1000) : undefined;
err(
  `\nprompt tokens: ${prompt ?? 'unknown'}, completion tokens: ${completion ?? 'unknown'}, finish: ${finish ?? 'none'}\n` +
    `time to first token: ${ttft !== undefined ? `${(ttft * 1000).toFixed(0)} ms` : 'n/a'}, ` +
    `speed: ${decodeTps !== undefined ? `${decodeTps.toFixed(1)} tokens/s` : 'n/a'} (${info.device})\n`,
);
