import { describe, expect, test } from 'vitest';
import { IncrementalDetokenizer } from '../src/tokenizer/incremental-detokenizer.js';
import { tinyTokenizer } from './helpers/tokenizer.js';

const MULTI_BYTE = 'héllo wörld — 日本語のテキスト 😀🎉 ça va? naïve';

describe('IncrementalDetokenizer', () => {
  test('byte-level tokens split multi-byte characters, and no chunk ever breaks one', async () => {
    const tok = await tinyTokenizer();
    const ids = tok.encode(MULTI_BYTE, false);
    // The premise: decoding single tokens of this text produces broken characters.
    expect(ids.some((id) => tok.decode([id]).includes('\uFFFD'))).toBe(true);
    const detok = new IncrementalDetokenizer(tok);
    const chunks: string[] = [];
    for (const id of ids) chunks.push(detok.push([id]));
    chunks.push(detok.flush());
    for (const c of chunks) {
      expect(c).not.toContain('\uFFFD');
      // No lone surrogate: half an astral character would be a broken character too.
      expect(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(c)).toBe(false);
    }
    expect(chunks.join('')).toBe(MULTI_BYTE);
    // Held-back bytes show up as empty chunks, then the whole character at once.
    expect(chunks.filter((c) => c === '').length).toBeGreaterThan(0);
  });

  test('batches of tokens of any size give the same text', async () => {
    const tok = await tinyTokenizer();
    const ids = tok.encode(MULTI_BYTE, false);
    for (const size of [2, 3, 5, 7]) {
      const detok = new IncrementalDetokenizer(tok);
      let text = '';
      for (let i = 0; i < ids.length; i += size) text += detok.push(ids.slice(i, i + size));
      text += detok.flush();
      expect(text).toBe(MULTI_BYTE);
    }
  });

  test('an incomplete character at the end is flushed as U+FFFD, not dropped', async () => {
    const tok = await tinyTokenizer();
    // "ok", then the byte tokens of " " and the first three of the emoji's four UTF-8 bytes:
    // whatever the merges are, byte-level vocabularies hold every single byte.
    const bytes = [...Buffer.from(' 😀', 'utf8')].slice(0, 4);
    const ids = [...tok.encode('ok', false), ...bytes.map((b) => tok.tokenId(BYTE_CHARS[b]!)!)];
    expect(ids.every((id) => id !== undefined)).toBe(true);
    const detok = new IncrementalDetokenizer(tok);
    let text = '';
    for (const id of ids) text += detok.push([id]);
    expect(text).toBe('ok ');
    text += detok.flush();
    expect(text.startsWith('ok ')).toBe(true);
    expect(text.endsWith('\uFFFD')).toBe(true);
  });

  test('special tokens never reach the text', async () => {
    const tok = await tinyTokenizer();
    const eos = tok.tokenId('<|im_end|>')!;
    const detok = new IncrementalDetokenizer(tok);
    const text = detok.push([...tok.encode('done', false), eos]) + detok.flush();
    expect(text).toBe('done');
  });
});

/** GPT-2's byte -> printable character table (the byte-level BPE alphabet). */
const BYTE_CHARS: string[] = (() => {
  const printable: number[] = [];
  for (let c = 0x21; c <= 0x7e; c++) printable.push(c);
  for (let c = 0xa1; c <= 0xac; c++) printable.push(c);
  for (let c = 0xae; c <= 0xff; c++) printable.push(c);
  const table: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + n++);
  return table;
})();
