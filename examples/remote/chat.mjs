#!/usr/bin/env node
// Streams one chat completion from a remote provider chosen by environment variables.
//
//   OPENAI_API_KEY=sk-... node examples/remote/chat.mjs --prompt "Say hello"
//   OPENAI_BASE_URL=http://localhost:8000/v1 INFERKIT_MODEL=Qwen/Qwen3-0.6B node examples/remote/chat.mjs
//   ANTHROPIC_API_KEY=... node examples/remote/chat.mjs
//   GEMINI_API_KEY=...    node examples/remote/chat.mjs
import { randomUUID } from 'node:crypto';
import { InferenceError } from '@inferkit/inference-core';
import { parseFlags, readPositiveInteger, readTemperature } from '../shared/cli.mjs';
import { MissingConfigError, runnerFromEnv } from './runner-from-env.mjs';

const USAGE = `usage: chat.mjs [--prompt <text>] [--max-tokens <n>] [--temperature <t>]

  --prompt       the user message (default: "Write a two-line poem about streams.")
  --max-tokens   most tokens to generate (default 200)
  --temperature  from 0 to 2; default: the provider's

The provider comes from the environment: OPENAI_API_KEY, OPENAI_BASE_URL (any OpenAI-compatible
server), ANTHROPIC_API_KEY or GEMINI_API_KEY; INFERKIT_MODEL names the model.`;

const args = parseFlags(
  {
    prompt: { type: 'string', default: 'Write a two-line poem about streams.' },
    'max-tokens': { type: 'string', default: '200' },
    temperature: { type: 'string' },
  },
  USAGE,
);
const maxTokens = readPositiveInteger(args, 'max-tokens');
const temperature = readTemperature(args);

let selected;
try {
  selected = runnerFromEnv();
} catch (e) {
  if (e instanceof MissingConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  throw e;
}
const { provider, model, runner } = selected;
console.error(`provider: ${provider}, model: ${model}${selected.baseUrl ? ` at ${selected.baseUrl}` : ''}`);

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
try {
  const handle = await runner.execute(
    {
      requestId: randomUUID(),
      model,
      messages: [{ role: 'user', content: args.prompt }],
      sampling: { maxTokens, ...(temperature !== undefined ? { temperature } : {}) },
      stream: true,
      estimatedTokens: Math.ceil(args.prompt.length / 4) + maxTokens,
    },
    { signal: controller.signal },
  );
  let usage;
  let finish;
  let cost;
  for await (const chunk of handle) {
    process.stdout.write(chunk.textDelta);
    if (chunk.usage) usage = { ...usage, ...chunk.usage };
    if (chunk.finishReason) finish = chunk.finishReason;
    if (chunk.costUsd !== undefined) cost = chunk.costUsd;
  }
  process.stdout.write('\n');
  const fmt = (n) => (n === undefined ? 'unknown' : String(n));
  console.error(
    `finish: ${finish ?? 'none'}; tokens: ${fmt(usage?.inputTokens)} prompt, ${fmt(usage?.outputTokens)} completion; ` +
      `cost: ${cost === undefined ? 'unknown' : `$${cost.toFixed(6)}`}`,
  );
} catch (e) {
  if (InferenceError.isInstance(e)) {
    console.error(`\n${provider} error (${e.kind}): ${e.message}`);
    process.exitCode = 1;
  } else {
    throw e;
  }
} finally {
  await runner.close?.();
}
