import type { ServerResponse } from 'node:http';
import type { RunHandle, TokenUsage } from '@inferkit/inference-core';
import { ClientGoneError } from '../http/client-gone-error.js';
import { drained } from '../http/response-writer.js';
import type { ModelSeries } from '../metrics/gateway-metrics.js';
import {
  chunkEvent,
  DONE_EVENT,
  toOpenAIFinishReason,
  toOpenAIToolCallDelta,
  toOpenAIUsage,
  usageEvent,
  type ChunkHeader,
} from './to-openai-response.js';

/** What `writeSse` reports back for metrics. */
export interface SseOutcome {
  /** Usage the runner reported, or `undefined` when it reported none. */
  usage: TokenUsage | undefined;
}

/**
 * Streams a run as OpenAI `chat.completion.chunk` server-sent events and ends with `[DONE]`.
 * Headers go out with the first event, so an error before any output (a refused upstream call)
 * still gets its own HTTP status. Waits for the socket to drain instead of buffering for a slow
 * client; `isGone()` is checked after each write (`ClientGoneError`). A chunk with finish reason `error` throws
 * `InferenceError('server_error')` (the caller answers it).
 */
export async function writeSse(
  res: ServerResponse,
  handle: RunHandle,
  header: ChunkHeader,
  options: { includeUsage: boolean; startedAt: number; series: Pick<ModelSeries, 'timeToFirstToken' | 'interTokenLatency'>; isGone: () => boolean; onRunnerError: () => Error },
): Promise<SseOutcome> {
  const { timeToFirstToken: ttft, interTokenLatency: itl } = options.series;
  const usage: TokenUsage = {};
  let sawUsage = false;
  let roleSent = false;
  let finished = false;
  let last = -1;
  const write = async (event: string): Promise<void> => {
    if (!res.headersSent) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
    }
    if (!res.write(event)) await drained(res);
    if (options.isGone()) throw new ClientGoneError();
  };
  for await (const chunk of handle) {
    const u = chunk.usage;
    if (u !== undefined) {
      sawUsage = true;
      if (u.inputTokens !== undefined) usage.inputTokens = u.inputTokens;
      if (u.outputTokens !== undefined) usage.outputTokens = u.outputTokens;
      if (u.reasoningTokens !== undefined) usage.reasoningTokens = u.reasoningTokens;
      if (u.cachedTokens !== undefined) usage.cachedTokens = u.cachedTokens;
    }
    if (chunk.finishReason === 'error') throw options.onRunnerError();
    const hasContent = chunk.textDelta.length > 0 || chunk.toolCallDelta !== undefined || chunk.reasoningDelta !== undefined;
    if (!hasContent && chunk.finishReason === undefined) continue;
    const delta: { role?: 'assistant'; content?: string | null; tool_calls?: ReturnType<typeof toOpenAIToolCallDelta>[]; reasoning_content?: string } = {};
    if (!roleSent) {
      delta.role = 'assistant';
      roleSent = true;
    }
    if (chunk.textDelta.length > 0) delta.content = chunk.textDelta;
    else if (delta.role !== undefined) delta.content = chunk.toolCallDelta !== undefined ? null : '';
    if (chunk.toolCallDelta !== undefined) delta.tool_calls = [toOpenAIToolCallDelta(chunk.toolCallDelta)];
    if (chunk.reasoningDelta !== undefined) delta.reasoning_content = chunk.reasoningDelta;
    if (hasContent) {
      const now = performance.now();
      if (last < 0) ttft.observe((now - options.startedAt) / 1000);
      else itl.observe((now - last) / 1000);
      last = now;
    }
    const finish = chunk.finishReason !== undefined ? toOpenAIFinishReason(chunk.finishReason) : null;
    if (finish !== null) finished = true;
    await write(chunkEvent(header, delta, finish));
  }
  if (!finished) await write(chunkEvent(header, roleSent ? {} : { role: 'assistant', content: '' }, 'stop'));
  if (options.includeUsage) await write(usageEvent(header, toOpenAIUsage(sawUsage ? usage : undefined)));
  res.end(DONE_EVENT);
  return { usage: sawUsage ? usage : undefined };
}
