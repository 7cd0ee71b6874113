import { describe, expect, test } from 'vitest';
import { ModelTokenizer } from '../src/tokenizer/model-tokenizer.js';
import { INFERKIT_TINY_DIR, tokenizerGguf, type TokenizerGguf } from './helpers/paths.js';

/**
 * The grammar matcher must see exactly the bytes the detokenizer will show: for random token
 * sequences, the concatenated bytes decode (as UTF-8) to what the tokenizer decodes.
 */
function checkAgainstDecode(tokenizer: ModelTokenizer, stripLeadingSpace: boolean): void {
  const { bytes, offsets, special } = tokenizer.vocabularyBytes();
  const n = offsets.length - 1;
  const piece = (id: number) => bytes.subarray(offsets[id]!, offsets[id + 1]!);
  const strict = new TextDecoder('utf-8', { fatal: true });
  const whole = (b: Uint8Array) => {
    try {
      strict.decode(b);
      return true;
    } catch {
      return false;
    }
  };
  // Tokens that are whole characters on their own, and those that are parts of one: sequences
  // mix both, so some split characters complete across tokens.
  const plain: number[] = [];
  const parts: number[] = [];
  for (let id = 0; id < n; id++) {
    if (special[id] !== 0 || piece(id).length === 0) continue;
    (whole(piece(id)) ? plain : parts).push(id);
  }
  expect(plain.length + parts.length).toBeGreaterThan(n * 0.9);
  let x = 12345;
  let compared = 0;
  for (let trial = 0; trial < 400; trial++) {
    const ids: number[] = [];
    for (let k = 0; k < 6; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const pool = parts.length > 0 && x % 5 === 0 ? parts : plain;
      ids.push(pool[(x >>> 3) % pool.length]!);
    }
    const all = new Uint8Array(ids.reduce((s, id) => s + piece(id).length, 0));
    let at = 0;
    for (const id of ids) {
      all.set(piece(id), at);
      at += piece(id).length;
    }
    let text: string;
    try {
      text = strict.decode(all);
    } catch {
      continue; // a split multi-byte character: the detokenizer holds such text back
    }
    if (stripLeadingSpace && text.startsWith(' ')) text = text.slice(1);
    expect(tokenizer.decode(ids), JSON.stringify(ids)).toBe(text);
    compared++;
  }
  expect(compared).toBeGreaterThan(100);
  // Control tokens keep their text, flagged.
  const specials = [...special.keys()].filter((id) => special[id] === 1);
  expect(specials.length).toBeGreaterThan(0);
  for (const id of specials) expect(piece(id).length).toBeGreaterThan(0);
}

describe('vocabularyBytes', () => {
  test('byte-level BPE (inferkit-tiny)', async () => {
    const t = await ModelTokenizer.fromDirectory(INFERKIT_TINY_DIR);
    checkAgainstDecode(t, false);
    const { bytes, offsets, special } = t.vocabularyBytes();
    const im = t.tokenId('<|im_end|>')!;
    expect(special[im]).toBe(1);
    expect(new TextDecoder().decode(bytes.subarray(offsets[im]!, offsets[im + 1]!))).toBe('<|im_end|>');
  });

  test.each(['spm', 'bpe-llama3', 'bpe-qwen2'] satisfies TokenizerGguf[])('GGUF vocabulary %s', async (name) => {
    const t = await ModelTokenizer.fromGguf(tokenizerGguf(name));
    // SentencePiece decoders drop the space a leading '▁' stands for at the start of a text.
    checkAgainstDecode(t, name === 'spm');
    if (name === 'spm') {
      const { bytes, offsets } = t.vocabularyBytes();
      const id = t.tokenId('<0x0A>')!;
      expect([...bytes.subarray(offsets[id]!, offsets[id + 1]!)]).toEqual([0x0a]);
    }
  });
});
