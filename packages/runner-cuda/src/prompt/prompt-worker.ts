/**
 * Entry point of a prompt worker process (built to `dist/prompt-worker.js`, forked by
 * `PromptPreparer` with the tokenizer's origin as its argument): renders chat templates and
 * tokenizes prompts off the host's event loop. Both are
 * synchronous and take time that grows with the prompt (about 2.5 s for 1 MiB of text on a
 * loaded 2-core machine) or with whatever a model's template computes; here they stall only
 * this process, which the preparer can time out and kill. One job at a time; every failure
 * becomes a `done` message with an `InferenceError`.
 * @internal
 * @module
 */
import { InferenceError, liftInternal } from '@inferkit/inference-core';
import { ChatPrompt } from '../chat/chat-prompt.js';
import { ModelTokenizer } from '../tokenizer/model-tokenizer.js';
import type { TokenizerOrigin } from '../tokenizer/model-tokenizer.js';
import type { FromWorker, ToWorker } from './prompt-protocol.js';

const origin = JSON.parse(process.argv[2] ?? 'null') as TokenizerOrigin;
// The host went away (or closed the channel): nothing is left to do.
process.on('disconnect', () => process.exit(0));

function send(message: FromWorker): void {
  // The host may be gone already; then 'disconnect' ends this process.
  process.send?.(message, undefined, undefined, () => undefined);
}

async function main(): Promise<void> {
  let tokenizer: ModelTokenizer;
  let prompt: ChatPrompt;
  try {
    tokenizer = await ModelTokenizer.fromOrigin(origin);
    prompt = new ChatPrompt(tokenizer.chatTemplate, { bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken, addBos: tokenizer.addBosToken });
  } catch (e) {
    send({ op: 'failed', error: liftInternal(e).toJSON() });
    return;
  }
  process.on('message', (job: ToWorker) => {
    try {
      const ids = Int32Array.from(prepare(tokenizer, prompt, job));
      send({ op: 'done', id: job.id, ids });
    } catch (e) {
      send({ op: 'done', id: job.id, error: liftInternal(e).toJSON() });
    }
  });
  send({ op: 'ready', promptBytesPerToken: tokenizer.promptBytesPerToken });
}

function prepare(tokenizer: ModelTokenizer, prompt: ChatPrompt, job: ToWorker): number[] {
  const byIds = job.continuationTokenIds !== undefined;
  const text = byIds ? prompt.renderOpenTurn(job.messages, job.tools) : prompt.render(job.messages, job.tools);
  const bytes = Buffer.byteLength(text, 'utf8');
  send({ op: 'rendered', id: job.id, bytes });
  if (bytes > job.maxPromptBytes) {
    // Tokens are at most promptBytesPerToken bytes each: this text cannot fit, and tokenizing
    // it would only cost time.
    throw new InferenceError('context_length_exceeded', `the rendered prompt (${bytes} bytes) cannot fit the context of ${job.maxContextTokens} tokens`, {
      details: { maxContextTokens: job.maxContextTokens },
    });
  }
  const ids = tokenizer.encode(text, false);
  return byIds ? ids.concat(job.continuationTokenIds!) : ids;
}

void main();
