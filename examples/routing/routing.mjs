#!/usr/bin/env node
// Streams that survive a dying backend. Two replicas of the embedded model (each engine in its
// own process, supervised with automatic rebuilds) behind a least-loaded router that resumes a
// dying stream on the other replica, and a hosted OpenAI-compatible API (a local mock here)
// as the fallback when no replica can answer:
//
//   chat ─ fallback ─┬─ local ─ least_loaded, resume ─┬─ local#0  CudaRunner (cpu, engine process)
//                    │                                └─ local#1  CudaRunner (cpu, engine process)
//                    └─ hosted  runner-remote → mock OpenAI-compatible server
//
// 1. answers once without failure (the reference);
// 2. asks again and SIGKILLs the serving replica's engine after --kill-after tokens: the router
//    continues the answer on the other replica from the exact token ids delivered, and the text
//    is the reference's, token for token;
// 3. kills both engines before a request: the request fails over to the hosted API.
//
//   node examples/routing/routing.mjs [--prompt <text>] [--max-tokens <n>] [--kill-after <n>]
import { randomUUID } from 'node:crypto';
import { InferenceError, route } from '@inferkit/inference-core';
import { runnerFactory as remoteRunnerFactory } from '@inferkit/runner-remote';
import { parseFlags, readPositiveInteger } from '../shared/cli.mjs';
import { startMockProvider } from '../shared/mock-provider.mjs';
import { EngineHold, enginePid, startReplicas } from './replicas.mjs';

const USAGE = `usage: routing.mjs [--prompt <text>] [--max-tokens <n>] [--kill-after <n>]

  --prompt       the user message (default: "Tell me a story about a dog.")
  --max-tokens   most tokens to generate (default 200)
  --kill-after   tokens streamed before the serving engine is killed (default 20)`;

const args = parseFlags(
  {
    prompt: { type: 'string', default: 'Tell me a story about a dog.' },
    'max-tokens': { type: 'string', default: '200' },
    'kill-after': { type: 'string', default: '20' },
  },
  USAGE,
);
const maxTokens = readPositiveInteger(args, 'max-tokens');
const killAfter = readPositiveInteger(args, 'kill-after');

const err = (s) => process.stderr.write(s);
const describe = (e) => {
  if (e.type === 'resumed') return `[resumed: ${e.from} failed (${e.error.kind}) after ${e.deliveredChars} characters; ${e.to} continues]`;
  if (e.type === 'failover') return `[failover: ${e.from} failed before its first token (${e.error.kind})]`;
  return undefined;
};
const onEvent = (router) => (e) => {
  const line = describe(e);
  if (line !== undefined) err(`${router}: ${line}\n`);
};

// Rebuilds finished so far, and who waits for the next one.
let rebuilt = 0;
let onRebuilt = () => {};
const hostedApi = await startMockProvider({ reply: ['This answer ', 'comes from ', 'the hosted fallback.'] });
err('loading two replicas of the embedded model (each engine in its own process)\n');
const replicas = await startReplicas(2, {
  onEvent: (name, e) => {
    if (e.type === 'rebuild_started') err(`${name}: rebuilding its engine (${e.error?.kind ?? e.cause})\n`);
    else if (e.type === 'rebuild_finished') {
      err(`${name}: engine rebuilt${e.error !== undefined ? ` with an error (${e.error.kind})` : ''}\n`);
      rebuilt++;
      onRebuilt();
    }
  },
});
// No key needed by the mock; a real deployment names its key variable here.
const hosted = remoteRunnerFactory.create({ provider: 'openai-compatible', preset: 'custom', baseUrl: hostedApi.baseUrl });
const local = route(
  replicas.map((r) => ({ runner: r.runner, name: r.name })),
  { strategy: 'least_loaded', resume: { maxResumes: 1 }, name: 'local', onEvent: onEvent('local') },
);
const chat = route(
  [
    { runner: local, name: 'local' },
    { runner: hosted, name: 'hosted', model: 'gpt-4.1-mini' },
  ],
  { strategy: 'fallback', resume: { maxResumes: 1 }, name: 'chat', onEvent: onEvent('chat') },
);

const batch = () => ({
  requestId: randomUUID(),
  model: 'inferkit-tiny',
  messages: [{ role: 'user', content: args.prompt }],
  sampling: { maxTokens, temperature: 0 },
  stream: true,
  estimatedTokens: maxTokens,
});
const tokensOf = (chunk) => chunk.tokenIds?.length ?? (chunk.textDelta === '' ? 0 : 1);

let code = 0;
try {
  err(`\n> ${args.prompt}\n\n1. without failure:\n`);
  const reference = await (await chat.execute(batch())).collect();
  process.stdout.write(`${reference.text}\n`);
  err(`(${reference.usage?.outputTokens} tokens, finish: ${reference.finishReason})\n`);

  err(`\n2. the serving replica's engine is killed after ${killAfter} tokens:\n`);
  const pids = new Map(replicas.map((r) => [r.name, enginePid(r.raw)]));
  const hold = new EngineHold(pids.values());
  let text = '';
  let finish;
  let usage;
  try {
    const handle = await hold.while(() => chat.execute(batch()));
    const servedBy = chat.servedBy(handle);
    const it = handle[Symbol.asyncIterator]();
    let tokens = 0;
    let next = await hold.while(() => it.next());
    for (; !next.done && tokens < killAfter && next.value.finishReason === undefined; next = await hold.while(() => it.next())) {
      process.stdout.write(next.value.textDelta);
      text += next.value.textDelta;
      tokens += tokensOf(next.value);
    }
    const serving = servedBy.at(-1);
    if (next.done || next.value.finishReason !== undefined) {
      err(`\n[the answer ended after ${tokens} tokens, before the kill: try a larger --max-tokens or a smaller --kill-after]\n`);
    } else {
      // `next` was read before the kill: the caller has it.
      err(`\n[SIGKILL to the engine of ${serving} (pid ${pids.get(serving)}) after ${tokens} tokens]\n`);
      hold.kill(pids.get(serving));
    }
    hold.release();
    for (; !next.done; next = await it.next()) {
      process.stdout.write(next.value.textDelta);
      text += next.value.textDelta;
      if (next.value.finishReason !== undefined) ({ finishReason: finish, usage } = next.value);
    }
    process.stdout.write('\n');
  } finally {
    hold.release();
  }
  err(`(${usage?.outputTokens} tokens, finish: ${finish})\n`);
  err(`identical to the answer without failure: ${text === reference.text && usage?.outputTokens === reference.usage?.outputTokens ? 'yes' : 'NO'}\n`);

  // The killed replica's supervisor replaces its engine process; step 3 kills the new one.
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the killed replica was not rebuilt within 60 s')), 60_000);
    onRebuilt = () => {
      if (rebuilt < 1) return;
      clearTimeout(timer);
      resolve();
    };
    onRebuilt();
  });

  err('\n3. both engines are killed before a request:\n');
  for (const r of replicas) process.kill(enginePid(r.raw), 'SIGKILL');
  const fallback = await chat.execute(batch());
  err(`(served by ${chat.servedBy(fallback).join(' → ')})\n`);
  process.stdout.write(`${(await fallback.collect()).text}\n`);
} catch (e) {
  err(`\nfailed: ${InferenceError.isInstance(e) ? `${e.kind}: ${e.message}` : (e?.stack ?? String(e))}\n`);
  code = 1;
} finally {
  await chat.close();
  await hostedApi.close();
}
process.exit(code);

