/**
 * Frame codec shared with `python/inferkit_bridge/codec.py`: a 4-byte big-endian unsigned length,
 * then that many bytes of UTF-8 JSON (one object). Both sides refuse frames over
 * `MAX_FRAME_BYTES`, so a corrupted length prefix is reported at once instead of waiting for
 * gigabytes that never come. The decoder also refuses bodies that nest deeper than its depth
 * limit, from the raw bytes and before `JSON.parse`: a frame is another process's output, and a
 * few megabytes of `[[[[…` would otherwise become millions of nested objects in the host's heap
 * (and overflow the stack of whatever walks them recursively later).
 */
import { TextDecoder } from 'node:util';

/** Largest frame body either side accepts (64 MiB). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Deepest object/array nesting accepted in a frame from the worker. The deepest legitimate frame
 * is an error whose cause chain core keeps (`FROM_JSON_LIMITS.causeDepth`, 8) with bounded
 * details: well under this.
 */
export const MAX_FRAME_DEPTH = 32;

/** The byte stream is not a valid sequence of frames; the connection cannot be trusted. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

// Strict: invalid UTF-8 is a corrupt frame, not text with U+FFFD in it (Python refuses it too).
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Encodes one message as a frame. */
export function encodeFrame(message: object): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > MAX_FRAME_BYTES) {
    throw new FrameError(`frame of ${body.length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  }
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether JSON text nests objects/arrays deeper than `max`. No allocation. Most frames hold a
 * handful of brackets, which a few native `indexOf` calls count; only a body with more than `max`
 * of them is walked byte by byte (string contents skipped: short ones stepped over, long ones
 * jumped with `indexOf`). Invalid JSON is left for `JSON.parse` to report.
 */
export function nestsDeeperThan(body: Uint8Array, max: number): boolean {
  const n = body.length;
  if (n <= 2 * max) return false; // every level takes an opening and a closing byte
  if (occurrencesUpTo(body, OPEN_BRACE, max + 1) + occurrencesUpTo(body, OPEN_BRACKET, max + 1) <= max) return false;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = body[i]!;
    if (c === QUOTE) {
      i = stringEnd(body, i, n);
      if (i === -1) return false;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** How many times `byte` occurs in `body`, counting no further than `limit`. */
function occurrencesUpTo(body: Uint8Array, byte: number, limit: number): number {
  let count = 0;
  for (let at = body.indexOf(byte); at !== -1 && count < limit; at = body.indexOf(byte, at + 1)) count++;
  return count;
}

/** Index of the quote closing the string opened at `start`, or -1 when it is not closed. */
function stringEnd(body: Uint8Array, start: number, n: number): number {
  // Keys and ids are short: stepping over them costs less than a native call.
  let j = start + 1;
  const stepped = Math.min(n, j + 32);
  while (j < stepped) {
    const d = body[j]!;
    if (d === QUOTE) return j;
    j += d === BACKSLASH ? 2 : 1;
  }
  // A long string (the text of a delta): jump from quote to quote.
  for (;;) {
    if (j >= n) return -1;
    const q = body.indexOf(QUOTE, j);
    if (q === -1) return -1;
    let backslashes = 0;
    while (body[q - 1 - backslashes] === BACKSLASH) backslashes++;
    if ((backslashes & 1) === 0) return q; // not escaped: the string ends here
    j = q + 1;
  }
}

/**
 * Incremental decoder for a stream that arrives in arbitrary chunks. Chunks are kept as a list
 * and joined only once a whole frame is there, so a large frame split into many reads costs one
 * copy, not one per read.
 */
export class FrameDecoder {
  private chunks: Buffer[];
  private length: number;
  /** Bytes needed before the next frame can complete (header + body), once its header is known. */
  private needed: number;
  private received: number;
  private readonly maxDepth: number;

  /** @param maxDepth deepest nesting accepted in a body (default `MAX_FRAME_DEPTH`) */
  constructor(maxDepth: number = MAX_FRAME_DEPTH) {
    this.chunks = [];
    this.length = 0;
    this.needed = 4;
    this.received = 0;
    this.maxDepth = maxDepth;
  }

  /** Bytes of an incomplete frame held back; non-zero at end of stream means truncation. */
  get pendingBytes(): number {
    return this.length;
  }

  /** Bytes pushed so far (a stalled partial frame is one whose count stops moving). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Frames completed by `chunk`, in order. Throws `FrameError` on corruption. */
  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.received += chunk.length;
    if (this.length < this.needed) return [];
    const buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    const frames: unknown[] = [];
    let offset = 0;
    this.needed = 4;
    while (buffer.length - offset >= 4) {
      const length = buffer.readUInt32BE(offset);
      if (length > MAX_FRAME_BYTES) {
        throw new FrameError(`frame length ${length} exceeds the ${MAX_FRAME_BYTES}-byte limit`);
      }
      const end = offset + 4 + length;
      if (buffer.length < end) {
        this.needed = 4 + length;
        break;
      }
      frames.push(decodeBody(buffer.subarray(offset + 4, end), this.maxDepth));
      offset = end;
    }
    const rest = buffer.length - offset;
    this.chunks = rest === 0 ? [] : [buffer.subarray(offset)];
    this.length = rest;
    return frames;
  }
}

function decodeBody(body: Buffer, maxDepth: number): unknown {
  if (nestsDeeperThan(body, maxDepth)) throw new FrameError(`frame body nests deeper than ${maxDepth} levels`);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new FrameError('frame body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FrameError(`frame body is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError(`frame body must be a JSON object, got ${Array.isArray(value) ? 'array' : typeof value}`);
  }
  return value;
}
