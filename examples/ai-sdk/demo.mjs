#!/usr/bin/env node
// An inferkit runner as an AI SDK model: load the embedded model (models/inferkit-tiny) through
// CudaRunner, wrap it with createInferkit, and stream a reply with the AI SDK's streamText.
// Ctrl-C aborts the generation through streamText's abortSignal, which cancels the runner.
//
//   node examples/ai-sdk/demo.mjs
//   node examples/ai-sdk/demo.mjs --prompt "What color is the sky?" --system "You are a helpful assistant." --temperature 0
//   node examples/ai-sdk/demo.mjs --model ~/models/Qwen3-0.6B --max-tokens 200
import { createInferkit } from '@inferkit/ai-sdk-provider';
import { InferenceError } from '@inferkit/inference-core';
import { CudaRunner } from '@inferkit/runner-cuda';
import { streamText } from 'ai';
import { fail, readLocalChatFlags } from '../shared/cli.mjs';

const args = readLocalChatFlags();
const { maxTokens: maxOutputTokens, temperature, modelPath } = args;

const err = (s) => process.stderr.write(s);

let runner;
try {
  runner = new CudaRunner({ device: args.device });
  err(`loading ${modelPath}\n`);
  await runner.loadWeights({ kind: 'local_path', path: modelPath });
} catch (e) {
  fail(`could not load the model: ${InferenceError.isInstance(e) ? `${e.kind}: ${e.message}` : String(e)}`, 1);
}
err(`device: ${runner.modelInfo.device}\n\n`);

// Any ModelRunner works here: a remote one, or one wrapped in supervise() or route().
const inferkit = createInferkit({ models: { local: runner } });

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
let failure;
const result = streamText({
  model: inferkit('local'),
  ...(args.system !== undefined ? { system: args.system } : {}),
  prompt: args.prompt,
  maxOutputTokens,
  ...(temperature !== undefined ? { temperature } : {}),
  abortSignal: controller.signal,
  onError: ({ error }) => {
    failure = error;
  },
});
let aborted = false;
for await (const part of result.fullStream) {
  if (part.type === 'text-delta') process.stdout.write(part.text);
  else if (part.type === 'abort') aborted = true;
}
process.stdout.write('\n');
await runner.close();

if (aborted) fail('aborted', 130);
if (failure !== undefined) {
  // The provider's errors are AI SDK errors; `data.kind` is the InferenceError kind.
  const kind = failure?.data?.kind;
  fail(`generation failed${kind !== undefined ? ` (${kind})` : ''}: ${failure?.message ?? String(failure)}`, 1);
}
const usage = await result.usage;
err(
  `\nfinish: ${await result.finishReason}, input tokens: ${usage.inputTokens ?? 'unknown'}, ` +
    `output tokens: ${usage.outputTokens ?? 'unknown'}\n`,
);
