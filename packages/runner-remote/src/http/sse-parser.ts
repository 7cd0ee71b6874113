import { TextDecoder } from 'node:util';
import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';

/**
 * `text/event-stream` parsing for the runners: bytes in, `(data, event)` out, with a bound on
 * the size of one event.
 *
 * Built on eventsource-parser 3 (WHATWG rules: CR/LF/CRLF, multi-line data, comments, BOM,
 * `event`/`id`/`retry`) behind a streaming `TextDecoder`, which keeps multi-byte characters
 * split across network chunks whole. A byte-level parser of our own was measured against it
 * (bench/http/sse-parser.mjs, version 1 in bench/http/byte-sse-parser.mjs) and was no faster,
 * so this one ships. Both passed src/http/sse-parser.test.ts.
 */

/** Called once per dispatched event; `event` is `'message'` when the stream named none. */
export type SseEventHandler = (data: string, event: string) => void;

export const DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** An event (or an unterminated line) grew past the parser's limit. */
export class SseEventTooLargeError extends Error {
  readonly code = 'SSE_EVENT_TOO_LARGE';
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`server-sent event exceeds ${limitBytes} bytes`);
    this.name = 'SseEventTooLargeError';
    this.limitBytes = limitBytes;
  }
}

export class SseParser {
  /** Last `id:` value seen (persists across events, as the spec says). */
  lastEventId: string;
  /** Last valid `retry:` value in milliseconds, if any. */
  retryMs: number | undefined;
  private readonly onEvent: SseEventHandler;
  private readonly maxEventBytes: number;
  private readonly decoder: TextDecoder;
  private readonly parser: EventSourceParser;
  private tooLarge: boolean;

  /**
   * @param maxEventBytes limit of one event's buffered data plus any unterminated line
   *   (counted in UTF-16 units after decoding, which is at most the byte count).
   */
  constructor(onEvent: SseEventHandler, maxEventBytes: number = DEFAULT_MAX_EVENT_BYTES) {
    if (!(maxEventBytes > 0)) throw new RangeError('maxEventBytes must be positive');
    this.lastEventId = '';
    this.retryMs = undefined;
    this.onEvent = onEvent;
    this.maxEventBytes = maxEventBytes;
    this.decoder = new TextDecoder('utf-8');
    this.tooLarge = false;
    // Bound once: no closure per event.
    this.parser = createParser({
      onEvent: (e: EventSourceMessage) => {
        if (e.id !== undefined) this.lastEventId = e.id;
        this.onEvent(e.data, e.event ?? 'message');
      },
      onRetry: (ms: number) => {
        this.retryMs = ms;
      },
      onError: (e) => {
        if (e.type === 'max-buffer-size-exceeded') this.tooLarge = true;
      },
      maxBufferSize: maxEventBytes,
    });
  }

  /** Parses the next bytes; throws `SseEventTooLargeError` once an event outgrows the limit. */
  feed(chunk: Uint8Array): void {
    if (this.tooLarge) throw new SseEventTooLargeError(this.maxEventBytes);
    this.parser.feed(this.decoder.decode(chunk, { stream: true }));
    if (this.tooLarge) throw new SseEventTooLargeError(this.maxEventBytes);
  }

  /**
   * End of stream. An event without its closing blank line is discarded (the spec's rule);
   * the providers' decoders detect a missing end marker themselves.
   */
  end(): void {
    const rest = this.decoder.decode();
    if (rest !== '' && !this.tooLarge) this.parser.feed(rest);
    this.parser.reset({ consume: false });
  }
}
