import { InferenceError } from '@inferkit/inference-core';
import type { ChunkStream } from './chunk-stream.js';
import type { ResponseSink } from './http-transport.js';
import { header, type ResponseHeaders } from './response-headers.js';
import { DEFAULT_MAX_EVENT_BYTES, SseEventTooLargeError, SseParser } from './sse-parser.js';

/** Turns the events of one provider's stream into `TokenChunk`s (pushed on the stream it was built with). */
export interface StreamDecoder {
  /** One SSE event; throws an `InferenceError` for error events and malformed data. */
  onEvent(data: string, event: string): void;
  /** The body ended cleanly; throws when the stream stopped before its end marker. */
  onEnd(): void;
}

/** Builds the error for a non-2xx response from its status, headers and (bounded) body text. */
export type ErrorClassifier = (status: number, headers: ResponseHeaders, bodyText: string) => InferenceError;

export interface SinkOptions {
  provider: string;
  classify: ErrorClassifier;
  /** Called with every response's status and headers (rate-limit observation). */
  onHeaders?: (status: number, headers: ResponseHeaders) => void;
  /** Largest SSE event accepted. */
  maxEventBytes?: number;
  /** Largest unary body accepted. */
  maxBodyBytes?: number;
}

/** Error bodies are read up to this size; the rest is dropped (they only feed a message). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

const MODE_PENDING = 0;
const MODE_STREAM = 1;
const MODE_ERROR = 2;

/** Collects a bounded prefix of a body. */
class BodyBuffer {
  private readonly parts: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  add(chunk: Buffer): boolean {
    if (this.size + chunk.length > this.limit) {
      const room = this.limit - this.size;
      if (room > 0) this.parts.push(chunk.subarray(0, room));
      this.size = this.limit;
      this.truncated = true;
      return false;
    }
    this.parts.push(chunk);
    this.size += chunk.length;
    return true;
  }
  text(): string {
    const text = Buffer.concat(this.parts, this.size).toString('utf8');
    // A body cut at the bound may end inside a word (a key the server echoed, say): drop that
    // partial word rather than keep a fragment of it.
    return this.truncated ? text.slice(0, wordStart(text, text.length)) : text;
  }
}

/** A `text/event-stream` response: SSE events go to the provider's decoder. */
export class SseResponseSink implements ResponseSink {
  private readonly stream: ChunkStream;
  private readonly decoder: StreamDecoder;
  private readonly options: SinkOptions;
  private readonly parser: SseParser;
  private mode: number;
  private status: number;
  private headers: ResponseHeaders;
  private errorBody: BodyBuffer | null;
  /** A 2xx whose content type was not `text/event-stream`: reported after its body is read. */
  private wrongType: string | null;

  constructor(stream: ChunkStream, decoder: StreamDecoder, options: SinkOptions) {
    this.stream = stream;
    this.decoder = decoder;
    this.options = options;
    this.parser = new SseParser(decoder.onEvent.bind(decoder), options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES);
    this.mode = MODE_PENDING;
    this.status = 0;
    this.headers = {};
    this.errorBody = null;
    this.wrongType = null;
  }

  onStart(status: number, headers: ResponseHeaders): void {
    this.status = status;
    this.headers = headers;
    this.options.onHeaders?.(status, headers);
    if (status >= 200 && status < 300) {
      const type = header(headers, 'content-type') ?? '';
      if (type.toLowerCase().startsWith('text/event-stream')) {
        this.mode = MODE_STREAM;
        return;
      }
      this.wrongType = type === '' ? '(none)' : snippet(type, 100);
    }
    this.mode = MODE_ERROR;
    this.errorBody = new BodyBuffer(MAX_ERROR_BODY_BYTES);
  }

  onData(chunk: Buffer): boolean {
    if (this.mode === MODE_STREAM) {
      try {
        this.parser.feed(chunk);
      } catch (e) {
        throw streamError(e, this.options.provider);
      }
      return true;
    }
    // An error body is read up to its bound only: the rest is never read (nor inflated).
    return this.errorBody!.add(chunk);
  }

  onEnd(): void {
    if (this.mode === MODE_STREAM) {
      this.parser.end();
      this.decoder.onEnd();
      this.stream.end();
      return;
    }
    const text = this.errorBody === null ? '' : this.errorBody.text();
    if (this.wrongType !== null) {
      this.stream.fail(
        new InferenceError('server_error', `expected text/event-stream, got ${this.wrongType}: ${snippet(text)}`, {
          provider: this.options.provider,
          status: this.status,
          retryable: false,
          details: { code: 'unexpected_content_type' },
        }),
      );
      return;
    }
    this.stream.fail(this.options.classify(this.status, this.headers, text));
  }

  onError(error: InferenceError): void {
    this.stream.fail(error);
  }
}

/** A unary JSON response, decoded whole into chunks by `decode`. */
export class JsonResponseSink implements ResponseSink {
  private readonly stream: ChunkStream;
  private readonly decode: (json: unknown) => void;
  private readonly options: SinkOptions;
  private status: number;
  private headers: ResponseHeaders;
  private body: BodyBuffer | null;
  private ok: boolean;

  constructor(stream: ChunkStream, decode: (json: unknown) => void, options: SinkOptions) {
    this.stream = stream;
    this.decode = decode;
    this.options = options;
    this.status = 0;
    this.headers = {};
    this.body = null;
    this.ok = false;
  }

  onStart(status: number, headers: ResponseHeaders): void {
    this.status = status;
    this.headers = headers;
    this.options.onHeaders?.(status, headers);
    this.ok = status >= 200 && status < 300;
    this.body = new BodyBuffer(this.ok ? (this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES) : MAX_ERROR_BODY_BYTES);
  }

  onData(chunk: Buffer): boolean {
    if (this.body!.add(chunk)) return true;
    if (!this.ok) return false; // an error body: what was kept is enough for the message
    throw new InferenceError('server_error', `response body exceeds ${this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes`, {
      provider: this.options.provider,
      status: this.status,
      retryable: false,
      details: { code: 'response_too_large' },
    });
  }

  onEnd(): void {
    const text = this.body === null ? '' : this.body.text();
    if (!this.ok) {
      this.stream.fail(this.options.classify(this.status, this.headers, text));
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.stream.fail(
        new InferenceError('server_error', `response is not JSON: ${snippet(text)}`, {
          provider: this.options.provider,
          status: this.status,
          retryable: false,
          details: { code: 'malformed_response' },
        }),
      );
      return;
    }
    this.decode(json);
    this.stream.end();
  }

  onError(error: InferenceError): void {
    this.stream.fail(error);
  }
}

function streamError(e: unknown, provider: string): unknown {
  if (e instanceof SseEventTooLargeError) {
    return new InferenceError('server_error', e.message, {
      provider,
      cause: e,
      retryable: false,
      details: { code: 'sse_event_too_large' },
    });
  }
  return e;
}

/**
 * The start of a body, for error messages: one line, at most `max` characters, cut between
 * words — never inside one, so a key the server echoed right at the cut is dropped whole
 * instead of leaving a fragment (a 300-character run with no break is dropped entirely).
 */
export function snippet(text: string, max = 300): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  if (oneLine.length <= max) return oneLine;
  return `${oneLine.slice(0, wordStart(oneLine, max)).trimEnd()}…`;
}

// Characters keys and tokens are made of (base64, base64url, hex, JWT dots): a cut between two
// of them may split a secret.
const WORD_CHAR = /[A-Za-z0-9_\-.+/=~]/;

/**
 * `end`, moved back to the start of the word it falls in: a word runs across the cut when the
 * characters on both sides are word characters (past the end of `text`, a truncated body is
 * assumed to go on).
 */
function wordStart(text: string, end: number): number {
  if (end === 0 || !WORD_CHAR.test(text[end - 1]!)) return end;
  if (end < text.length && !WORD_CHAR.test(text[end]!)) return end;
  let i = end - 1;
  while (i > 0 && WORD_CHAR.test(text[i - 1]!)) i--;
  return i;
}
