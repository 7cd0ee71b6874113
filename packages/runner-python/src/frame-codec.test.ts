import { describe, expect, test } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES, MAX_FRAME_DEPTH, nestsDeeperThan } from './frame-codec.js';

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

describe('nesting bound', () => {
  const nested = (levels: number): string => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

  test('counts objects and arrays, up to and past the limit', () => {
    expect(nestsDeeperThan(bytes(nested(MAX_FRAME_DEPTH)), MAX_FRAME_DEPTH)).toBe(false);
    expect(nestsDeeperThan(bytes(nested(MAX_FRAME_DEPTH + 1)), MAX_FRAME_DEPTH)).toBe(true);
    expect(nestsDeeperThan(bytes('['.repeat(40) + ']'.repeat(40)), 32)).toBe(true);
    expect(nestsDeeperThan(bytes('[' + '[],'.repeat(1000) + '[]]'), 2)).toBe(false); // wide is not deep
  });

  test('brackets inside strings do not count, escaped quotes included', () => {
    const text = JSON.stringify({ type: 'delta', text: '{'.repeat(100) + '\\"' + '['.repeat(100) + '\\' });
    expect(nestsDeeperThan(bytes(text), 2)).toBe(false);
    const escapedQuote = JSON.stringify({ t: 'a"b' }) + '{'.repeat(5);
    expect(nestsDeeperThan(bytes(escapedQuote), 3)).toBe(true); // the string ends at the unescaped quote
  });

  test('the decoder refuses a deep body before parsing it, and accepts the deepest legitimate frames', () => {
    const deep = bytes(nested(100_000));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(deep.length);
    expect(() => new FrameDecoder().push(Buffer.concat([header, deep]))).toThrow(/nests deeper than 32 levels/);
    let error: Record<string, unknown> = { name: 'InferenceError', kind: 'internal', message: 'x', details: { a: { b: { c: 1 } } }, retryable: false };
    for (let i = 0; i < 8; i++) error = { ...error, cause: error };
    const frame = { type: 'error', id: '1', error };
    expect(new FrameDecoder().push(encodeFrame(frame))).toEqual([frame]);
  });
});
