import type { ServerResponse } from 'node:http';
import type { MockHandler, RecordedRequest } from './mock-server.js';

/** Words streamed by the wire servers, one per chunk. */
export const WORDS = ['One', ' two', ' three', ' four', ' five', ' six'];

/**
 * Streams WORDS in the given wire format, one event per `gapMs`, ending with the provider's
 * finish and usage events. The gaps leave room for mid-stream cancellation; a closed socket
 * stops the writer.
 */
function streamEvents(res: ServerResponse, events: string[], gapMs: number, contentType = 'text/event-stream'): void {
  res.writeHead(200, { 'content-type': contentType });
  let i = 0;
  const tick = () => {
    if (res.destroyed) return;
    if (i === events.length) {
      res.end();
      return;
    }
    res.write(events[i++]);
    setTimeout(tick, gapMs);
  };
  tick();
}

const openAIEvents = (): string[] => [
  ...WORDS.map((w) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: w }, finish_reason: null }] })}\n\n`),
  `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
  `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: WORDS.length } })}\n\n`,
  'data: [DONE]\n\n',
];

const anthropicEvents = (): string[] => {
  const ev = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
  return [
    ev('message_start', { message: { usage: { input_tokens: 7, output_tokens: 1 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...WORDS.map((w) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } })),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: WORDS.length } }),
    ev('message_stop', {}),
  ];
};

const geminiEvents = (): string[] => [
  ...WORDS.map((w) => `data: ${JSON.stringify({ candidates: [{ content: { parts: [{ text: w }], role: 'model' }, index: 0 }] })}\r\n\r\n`),
  `data: ${JSON.stringify({
    candidates: [{ content: { parts: [{ text: '' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 7, candidatesTokenCount: WORDS.length },
  })}\r\n\r\n`,
];

export type WireKind = 'openai' | 'anthropic' | 'gemini';

const EVENTS: Record<WireKind, () => string[]> = { openai: openAIEvents, anthropic: anthropicEvents, gemini: geminiEvents };

/** A handler speaking `kind`'s streaming wire (non-streaming requests get HTTP 400). */
export function wireHandler(kind: WireKind, gapMs = 2): MockHandler {
  return (req: RecordedRequest, res: ServerResponse) => {
    let body: { stream?: boolean } = {};
    try {
      body = JSON.parse(req.body) as { stream?: boolean };
    } catch {
      res.writeHead(400).end();
      return;
    }
    const streaming = kind === 'gemini' ? req.url.includes(':streamGenerateContent') : body.stream === true;
    if (!streaming) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"streaming only"}}');
      return;
    }
    streamEvents(res, EVENTS[kind](), gapMs);
  };
}
