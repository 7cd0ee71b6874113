/**
 * Frame codec shared with `python/inferkit_bridge/codec.py`: a 4-byte big-endian unsigned length,
 * then that many bytes of UTF-8 JSON (one object). Both sides refuse frames over
 * `MAX_FRAME_BYTES`, so a corrupted length prefix is reported at once instead of waiting for
 * gigabytes that never come.
 */

/** Largest frame body either side accepts (64 MiB). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** The byte stream is not a valid sequence of frames; the connection cannot be trusted. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

import { TextDecoder } from 'node:util';

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

  constructor() {
    this.chunks = [];
    this.length = 0;
    this.needed = 4;
  }

  /** Bytes of an incomplete frame held back; non-zero at end of stream means truncation. */
  get pendingBytes(): number {
    return this.length;
  }

  /** Frames completed by `chunk`, in order. Throws `FrameError` on corruption. */
  push(chunk: Buffer): unknown[] {
    this.chunks.push(chunk);
    this.length += chunk.length;
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
      frames.push(decodeBody(buffer.subarray(offset + 4, end)));
      offset = end;
    }
    const rest = buffer.length - offset;
    this.chunks = rest === 0 ? [] : [buffer.subarray(offset)];
    this.length = rest;
    return frames;
  }
}

function decodeBody(body: Buffer): unknown {
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
