import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel } from 'node-llama-cpp';
import { ModelTokenizer } from '../src/tokenizer/model-tokenizer.js';
import { TOKENIZER_GGUFS, tokenizerGguf } from './helpers/paths.js';
import { TOKENIZER_TEXTS } from './helpers/tokenizer-texts.js';

// llama.cpp (through node-llama-cpp) is the reference: the vocabulary converted from a GGUF file
// must give the same ids as llama.cpp's own tokenizer reading the same file, special tokens parsed
// (what a rendered chat prompt needs).

let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
});
afterAll(() => llama?.dispose());

describe.each(TOKENIZER_GGUFS)('GGUF tokenizer matches llama.cpp: %s', (name) => {
  const file = tokenizerGguf(name);
  let ours: ModelTokenizer;
  let theirs: LlamaModel;
  beforeAll(async () => {
    ours = await ModelTokenizer.fromGguf(file);
    theirs = await llama.loadModel({ modelPath: file });
  });
  afterAll(() => theirs?.dispose());

  test.each(TOKENIZER_TEXTS)('%s', (_label, text) => {
    const want = theirs.tokenize(text, true);
    expect(ours.encode(text, false)).toEqual(want);
  });

  test('add_bos from the metadata, and text round-trips through decode', () => {
    const text = 'Hello world, καλημέρα 😀';
    const bos = theirs.tokens.bos;
    expect(ours.addBosToken).toBe(theirs.tokens.shouldPrependBosToken);
    const withSpecials = ours.encode(text, true);
    expect(withSpecials).toEqual(ours.addBosToken ? [bos, ...theirs.tokenize(text, true)] : theirs.tokenize(text, true));
    expect(ours.decode(ours.encode(text, false))).toBe(text);
  });
});
