import { describe, expect, test } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from './frame-codec.js';

const samples = [
  { type: 'ping', nonce: 7 },
  { type: 'delta', id: 'r1', text: 'héllo 世界 🎉\n"quoted"\\', tokens: 3 },
  { type: 'error', error: { name: 'InferenceError', kind: 'internal', message: '', details: {}, retryable: false } },
  { type: 'delta', id: 'big', text: 'x'.repeat(200_000), tokens: 200_000 },
];

describe('frame codec', () => {
  test('round trip, whole, one byte at a time, and in uneven reads', () => {
    const bytes = Buffer.concat(samples.map((s) => encodeFrame(s)));
    expect(new FrameDecoder().push(bytes)).toEqual(samples);
    for (const step of [1, 3, 4, 5, 4093, 65536]) {
      const decoder = new FrameDecoder();
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += step) out.push(...decoder.push(bytes.subarray(i, i + step)));
      expect(out).toEqual(samples);
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  test('the layout is a 4-byte big-endian length and compact UTF-8 JSON (same bytes as Python)', () => {
    const frame = encodeFrame({ a: 'é', b: [1, 2] });
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    expect(frame.subarray(4).toString('utf8')).toBe('{"a":"é","b":[1,2]}');
  });

  test('a frame split inside a multi-byte character decodes once complete', () => {
    const frame = encodeFrame({ t: 'é🎉' });
    const decoder = new FrameDecoder();
    expect(decoder.push(frame.subarray(0, frame.length - 3))).toEqual([]);
    expect(decoder.pendingBytes).toBe(frame.length - 3);
    expect(decoder.push(frame.subarray(frame.length - 3))).toEqual([{ t: 'é🎉' }]);
  });

  test('an oversized length is refused from the header alone', () => {
    expect(() => new FrameDecoder().push(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/exceeds/);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    expect(() => new FrameDecoder().push(header)).toThrow(FrameError);
  });

  test.each([
    ['{not json', /not JSON/],
    ['[1,2]', /JSON object, got array/],
    ['42', /JSON object, got number/],
    ['null', /JSON object/],
    ['', /not JSON/],
  ])('malformed body %j', (body, message) => {
    const bytes = Buffer.from(body, 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(bytes.length);
    expect(() => new FrameDecoder().push(Buffer.concat([header, bytes]))).toThrow(message);
  });

  test('invalid UTF-8 is a corrupt frame, not replacement characters', () => {
    const body = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]); // {"a":"\xff"}
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    expect(() => new FrameDecoder().push(Buffer.concat([header, body]))).toThrow(/UTF-8/);
  });
});
