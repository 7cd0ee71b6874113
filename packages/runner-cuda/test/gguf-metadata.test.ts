import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readGgufFileInfo } from 'node-llama-cpp';
import { DEFAULT_GGUF_LIMITS, GgufType, readGgufMetadata } from '../src/weights/gguf-metadata.js';
import { errorOf } from './helpers/error-of.js';
import { ggufFile, kv, str, T, u32, u64 } from './helpers/gguf-bytes.js';
import { INFERKIT_TINY_GGUF } from './helpers/paths.js';

let dir: string;
let seq = 0;
const list = (a: unknown) => Array.from(a as ArrayLike<number>);
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inferkit-gguf-meta-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(bytes: Buffer): string {
  const p = join(dir, `f${++seq}.gguf`);
  writeFileSync(p, bytes);
  return p;
}

const VALID = ggufFile([
  kv('general.architecture', { t: 'str', v: 'llama' }),
  kv('llama.block_count', { t: 'u32', v: 4 }),
  kv('tokenizer.ggml.tokens', { t: 'strs', v: ['a', 'b', 'ü', '😀'] }),
  kv('tokenizer.ggml.token_type', { t: 'i32s', v: [1, 1, 3, -2] }),
  kv('tokenizer.ggml.scores', { t: 'f32s', v: [0, -1.5, -2.25, 1e-3] }),
  kv('tokenizer.ggml.add_bos_token', { t: 'bool', v: true }),
  kv('big', { t: 'u64', v: 2n ** 63n + 5n }),
]);

describe('readGgufMetadata', () => {
  test('reads every scalar and array type of a valid file', async () => {
    const extra = [
      kv('u8', { t: 'raw', bytes: Buffer.concat([u32(T.U8), Buffer.from([200])]) }),
      kv('i8', { t: 'raw', bytes: Buffer.concat([u32(T.I8), Buffer.from([0xfe])]) }),
      kv('u16', { t: 'raw', bytes: Buffer.concat([u32(T.U16), Buffer.from([0x34, 0x12])]) }),
      kv('i64', { t: 'raw', bytes: Buffer.concat([u32(T.I64), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]) }),
      kv('f64', { t: 'raw', bytes: Buffer.concat([u32(T.F64), Buffer.from(new Float64Array([0.1]).buffer)]) }),
      kv('u16s', { t: 'raw', bytes: Buffer.concat([u32(T.ARRAY), u32(T.U16), u64(2), Buffer.from([1, 0, 0xff, 0xff])]) }),
      kv('empty', { t: 'strs', v: [] }),
    ];
    const m = await readGgufMetadata(file(Buffer.concat([ggufFile([], { kvCount: 14n }), VALID.subarray(24), ...extra])));
    expect(m.version).toBe(3);
    expect(m.string('general.architecture')).toBe('llama');
    expect(m.uint('llama.block_count')).toBe(4);
    expect(m.stringArray('tokenizer.ggml.tokens')).toEqual(['a', 'b', 'ü', '😀']);
    expect(list(m.numericArray('tokenizer.ggml.token_type', [GgufType.INT32])!)).toEqual([1, 1, 3, -2]);
    expect(list(m.numericArray('tokenizer.ggml.scores', [GgufType.FLOAT32])!)).toEqual([0, -1.5, -2.25, Math.fround(1e-3)]);
    expect(m.bool('tokenizer.ggml.add_bos_token')).toBe(true);
    expect(m.entries.get('big')).toEqual({ type: GgufType.UINT64, value: 2n ** 63n + 5n });
    expect(m.entries.get('u8')).toEqual({ type: GgufType.UINT8, value: 200 });
    expect(m.entries.get('i8')).toEqual({ type: GgufType.INT8, value: -2 });
    expect(m.uint('u16')).toBe(0x1234);
    expect(m.entries.get('i64')).toEqual({ type: GgufType.INT64, value: -1n });
    expect(m.number('f64')).toBe(0.1);
    expect(list(m.numericArray('u16s', [GgufType.UINT16])!)).toEqual([1, 0xffff]);
    expect(m.stringArray('empty')).toEqual([]);
    expect(m.string('absent')).toBeUndefined();
  });

  test('agrees with node-llama-cpp on an exported model', async () => {
    const ours = await readGgufMetadata(INFERKIT_TINY_GGUF);
    const theirs = (await readGgufFileInfo(INFERKIT_TINY_GGUF, { readTensorInfo: false })).metadata as unknown as {
      general: { architecture: string };
      llama: { block_count: number; rope: { freq_base: number } };
      tokenizer: { chat_template: string; ggml: { tokens: string[]; merges: string[]; token_type: number[]; eos_token_id: number } };
    };
    expect(ours.string('general.architecture')).toBe(theirs.general.architecture);
    expect(ours.uint('llama.block_count')).toBe(theirs.llama.block_count);
    expect(ours.number('llama.rope.freq_base')).toBe(theirs.llama.rope.freq_base);
    expect(ours.string('tokenizer.chat_template')).toBe(theirs.tokenizer.chat_template);
    expect(ours.stringArray('tokenizer.ggml.tokens')).toEqual(theirs.tokenizer.ggml.tokens);
    expect(ours.stringArray('tokenizer.ggml.merges')).toEqual(theirs.tokenizer.ggml.merges);
    expect(list(ours.numericArray('tokenizer.ggml.token_type', [GgufType.INT32])!)).toEqual(Array.from(theirs.tokenizer.ggml.token_type));
    expect(ours.uint('tokenizer.ggml.eos_token_id')).toBe(theirs.tokenizer.ggml.eos_token_id);
    expect(ours.entries.size).toBe(Object.keys(flatten(theirs)).length);
  });

  test('a file cut at any byte of its metadata is a bad_request that says truncated', async () => {
    for (let cut = 0; cut < VALID.length; cut++) {
      const err = await errorOf(readGgufMetadata(file(VALID.subarray(0, cut))));
      expect(err.kind, `cut at ${cut}`).toBe('bad_request');
      expect(err.message, `cut at ${cut}: ${err.message}`).toMatch(cut < 4 ? /truncated|wrong magic/ : /truncated|past the end of the file|more than the (rest of the )?file/);
    }
  });

  test('wrong magic and unsupported versions', async () => {
    expect((await errorOf(readGgufMetadata(file(ggufFile([], { magic: 0x46554746 }))))).message).toMatch(/not a GGUF file/);
    expect((await errorOf(readGgufMetadata(file(Buffer.from('{"not": "gguf at all"}'))))).message).toMatch(/not a GGUF file/);
    expect((await errorOf(readGgufMetadata(file(ggufFile([], { version: 1 }))))).message).toMatch(/version 1/);
    // A big-endian file reads as version 0x03000000 here.
    expect((await errorOf(readGgufMetadata(file(ggufFile([], { version: 0x03000000 }))))).message).toMatch(/big-endian/);
  });

  test('absurd counts and lengths are refused before anything is allocated', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['key count', ggufFile([], { kvCount: 2n ** 63n }), /metadata keys/],
      ['key count beyond the file', ggufFile([kv('a', { t: 'u32', v: 1 })], { kvCount: 1000n }), /more than the file can hold/],
      ['tensor count', ggufFile([], { tensors: 2n ** 40n }), /tensors/],
      ['key length', Buffer.concat([ggufFile([], { kvCount: 1n }), u64(2n ** 62n), Buffer.alloc(16)]), /key of \d+ bytes/],
      ['string length', Buffer.concat([ggufFile([], { kvCount: 1n }), str('k'), u32(T.STRING), u64(2n ** 40n)]), /metadata key k has a string of \d+ bytes/],
      ['string past the end', Buffer.concat([ggufFile([], { kvCount: 1n }), str('k'), u32(T.STRING), u64(1000), Buffer.from('short')]), /past the end/],
      ['array length', Buffer.concat([ggufFile([], { kvCount: 1n }), str('k'), u32(T.ARRAY), u32(T.I32), u64(2n ** 50n)]), /array elements/],
      ['array past the end', Buffer.concat([ggufFile([], { kvCount: 1n }), str('k'), u32(T.ARRAY), u32(T.F64), u64(1000), u64(0)]), /more than the rest of the file/],
      ['string in an array', Buffer.concat([ggufFile([], { kvCount: 1n }), str('tokens'), u32(T.ARRAY), u32(T.STRING), u64(2), str('ok'), u64(2n ** 61n)]), /tokens has a string at index 1 of \d+ bytes/],
    ];
    for (const [label, bytes, message] of cases) {
      const err = await errorOf(readGgufMetadata(file(bytes)));
      expect(err.kind, label).toBe('bad_request');
      expect(err.message, label).toMatch(message);
    }
  });

  test('malformed entries are bad_request naming the key', async () => {
    const one = (...parts: Buffer[]) => file(Buffer.concat([ggufFile([], { kvCount: BigInt(parts.length) }), ...parts]));
    const cases: Array<[string, string, RegExp]> = [
      ['nested array', one(kv('nested', { t: 'raw', bytes: Buffer.concat([u32(T.ARRAY), u32(T.ARRAY), u64(1)]) })), /nested is an array of arrays/],
      ['unknown type', one(kv('odd', { t: 'raw', bytes: u32(13) })), /odd has unknown value type 13/],
      ['unknown element type', one(kv('odd', { t: 'raw', bytes: Buffer.concat([u32(T.ARRAY), u32(99), u64(0)]) })), /odd has an array of unknown type 99/],
      ['duplicate key', one(kv('dup', { t: 'u32', v: 1 }), kv('dup', { t: 'u32', v: 2 })), /dup appears twice/],
      ['empty key', one(kv('', { t: 'u32', v: 1 })), /empty name/],
      ['invalid UTF-8', one(kv('bad.utf8', { t: 'raw', bytes: Buffer.concat([u32(T.STRING), str(Buffer.from([0xc3, 0x28]))]) })), /bad\.utf8 has a string that is not valid UTF-8/],
    ];
    for (const [label, path, message] of cases) {
      const err = await errorOf(readGgufMetadata(path));
      expect(err.kind, label).toBe('bad_request');
      expect(err.message, label).toMatch(message);
    }
  });

  test('limits are enforced', async () => {
    const big = file(ggufFile([kv('t', { t: 'str', v: 'x'.repeat(100) }), kv('a', { t: 'i32s', v: [1, 2, 3] })]));
    expect((await errorOf(readGgufMetadata(big, { ...DEFAULT_GGUF_LIMITS, maxStringBytes: 99 }))).message).toMatch(/t has a string of 100 bytes \(at most 99\)/);
    expect((await errorOf(readGgufMetadata(big, { ...DEFAULT_GGUF_LIMITS, maxArrayLength: 2 }))).message).toMatch(/a has 3 array elements \(at most 2\)/);
    expect((await errorOf(readGgufMetadata(big, { ...DEFAULT_GGUF_LIMITS, maxKeys: 1 }))).message).toMatch(/2 metadata keys \(at most 1\)/);
    expect((await errorOf(readGgufMetadata(big, { ...DEFAULT_GGUF_LIMITS, maxMetadataBytes: 64 }))).message).toMatch(/past 64 bytes/);
  });

  test('accessors refuse values of the wrong type, naming the key', async () => {
    const m = await readGgufMetadata(file(VALID));
    const kindAndMessage = (f: () => unknown) => {
      try {
        f();
        return 'no error';
      } catch (e) {
        return `${(e as { kind: string }).kind}: ${(e as Error).message}`;
      }
    };
    expect(kindAndMessage(() => m.stringArray('tokenizer.ggml.token_type'))).toMatch(/^bad_request: .*tokenizer\.ggml\.token_type must be an array of strings, found array of i32/);
    expect(kindAndMessage(() => m.string('llama.block_count'))).toMatch(/^bad_request: .*llama\.block_count must be a string, found u32/);
    expect(kindAndMessage(() => m.uint('big'))).toMatch(/^bad_request: .*big is \d+, outside/);
    expect(kindAndMessage(() => m.numericArray('tokenizer.ggml.scores', [GgufType.INT32]))).toMatch(/scores must be an array of i32, found array of f32/);
    expect(kindAndMessage(() => m.stringArray('missing', true))).toMatch(/^bad_request: .*missing is missing/);
    // Only the base name of the file reaches the message.
    expect(kindAndMessage(() => m.string('llama.block_count'))).not.toContain(dir);
  });

  test('a missing file is not_found without the directory in the message', async () => {
    const err = await errorOf(readGgufMetadata(join(dir, 'nope.gguf')));
    expect(err.kind).toBe('not_found');
    expect(err.message).toContain('nope.gguf');
    expect(err.message).not.toContain(dir);
  });

  test('tensor infos and data are not read', async () => {
    // Metadata followed by garbage where tensor infos and data would be.
    const m = await readGgufMetadata(file(Buffer.concat([VALID, Buffer.alloc(4096, 0xee)])));
    expect(m.entries.size).toBe(7);
  });
});

function flatten(o: object, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)) Object.assign(out, flatten(v as object, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}
