/**
 * Messages between `PromptPreparer` (the host) and a prompt worker process
 * (`prompt-worker.ts`), told apart by `op`.
 * @internal
 * @module
 */
import type { InferenceErrorJSON } from '@inferkit/inference-core';
import type { ChatMessage, TemplateTool } from '../chat/chat-prompt.js';

/** One prompt to build: render the conversation, check its size, tokenize. */
export interface PrepareJob {
  op: 'prepare';
  id: number;
  messages: ChatMessage[];
  /** Tools for the template's `tools` variable. */
  tools?: TemplateTool[];
  /** Token ids to put after the open assistant turn instead of tokenizing the prefix message. */
  continuationTokenIds?: number[];
  /** Rendered text above this many UTF-8 bytes is refused with `context_length_exceeded`. */
  maxPromptBytes: number;
  /** The context, for the refusal's details. */
  maxContextTokens: number;
}

export type ToWorker = PrepareJob;

export type FromWorker =
  /** The tokenizer and template are loaded. */
  | { op: 'ready'; promptBytesPerToken: number | undefined }
  /** Loading failed; the worker exits. */
  | { op: 'failed'; error: InferenceErrorJSON }
  /** The template has rendered job `id` (`bytes` UTF-8 bytes); tokenization starts. */
  | { op: 'rendered'; id: number; bytes: number }
  /** Job `id` is done: its token ids, or why it failed. */
  | { op: 'done'; id: number; ids: Int32Array }
  | { op: 'done'; id: number; error: InferenceErrorJSON };
