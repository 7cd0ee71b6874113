/**
 * The most bytes of prompt text one token can stand for, read from a `tokenizer.json` document
 * (or the one converted from a GGUF vocabulary), or `undefined` when the tokenizer can shrink or
 * drop text before it makes tokens (so no such number exists).
 *
 * It lets a runner refuse an oversized prompt before tokenizing it: a prompt of B UTF-8 bytes
 * has at least B / promptBytesPerToken(json) tokens. Derivation:
 * - a token covers at most as many bytes of the text the model sees as its vocabulary string
 *   has UTF-8 bytes (decoders only shrink: `▁` → space, `<0x41>` → one byte, `##` dropped), and
 *   a byte-level vocabulary's character stands for exactly one byte;
 * - normalizers that only add or widen text (`Prepend`, `Replace` of a string by one at least as
 *   long, NFD) keep that; Unicode compositions shrink text by at most 3x (three 3-byte Hangul
 *   jamo become one syllable; a 3-byte fullwidth or Kelvin sign becomes one ASCII byte), so NFC,
 *   NFKC, NFKD and Lowercase count 4x, a margin above that;
 * - pre-tokenizers that keep every character (ByteLevel, Metaspace, Split other than `Removed`,
 *   Digits, Punctuation, UnicodeScripts) change nothing;
 * - anything else (Strip, StripAccents, BERT cleaning, regex replacements, whitespace-dropping
 *   pre-tokenizers, WordPiece's and Unigram's one-token-for-a-whole-unknown-word, fused unknowns)
 *   can shrink text without bound: `undefined`.
 */
export function promptBytesPerToken(json: unknown): number | undefined {
  if (!isObject(json)) return undefined;
  const factor = normalizerFactor(json.normalizer);
  if (factor === undefined || !preTokenizerKeepsText(json.pre_tokenizer)) return undefined;
  const model = json.model;
  if (!isObject(model)) return undefined;
  let longest = 0;
  if (model.type === 'BPE' || (model.type === undefined && isObject(model.vocab) && Array.isArray(model.merges))) {
    if (model.fuse_unk === true) return undefined;
    if (!isObject(model.vocab)) return undefined;
    // Characters of a byte-level vocabulary stand for one byte each (fewer than their UTF-8 bytes).
    const byteLevel = usesByteLevel(json.pre_tokenizer);
    for (const token of Object.keys(model.vocab)) longest = Math.max(longest, byteLevel ? [...token].length : Buffer.byteLength(token, 'utf8'));
  } else {
    return undefined;
  }
  if (Array.isArray(json.added_tokens)) {
    for (const t of json.added_tokens) if (isObject(t) && typeof t.content === 'string') longest = Math.max(longest, Buffer.byteLength(t.content, 'utf8'));
  }
  return longest > 0 ? longest * factor : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How many times a normalizer can shrink text (1: never), or undefined when unbounded. */
function normalizerFactor(n: unknown): number | undefined {
  if (n === null || n === undefined) return 1;
  if (!isObject(n)) return undefined;
  switch (n.type) {
    case 'Sequence': {
      if (!Array.isArray(n.normalizers)) return undefined;
      let f = 1;
      for (const inner of n.normalizers) {
        const g = normalizerFactor(inner);
        if (g === undefined) return undefined;
        f *= g;
      }
      return f;
    }
    case 'Prepend':
    case 'NFD':
      return 1;
    case 'NFC':
    case 'NFKC':
    case 'NFKD':
    case 'Lowercase':
      return 4;
    case 'Replace': {
      const pattern = isObject(n.pattern) ? n.pattern.String : undefined;
      if (typeof pattern !== 'string' || typeof n.content !== 'string') return undefined;
      return Buffer.byteLength(n.content, 'utf8') >= Buffer.byteLength(pattern, 'utf8') ? 1 : undefined;
    }
    default:
      return undefined;
  }
}

function preTokenizerKeepsText(p: unknown): boolean {
  if (p === null || p === undefined) return true;
  if (!isObject(p)) return false;
  switch (p.type) {
    case 'Sequence':
      return Array.isArray(p.pretokenizers) && p.pretokenizers.every(preTokenizerKeepsText);
    case 'ByteLevel':
    case 'Metaspace':
    case 'Digits':
    case 'Punctuation':
    case 'UnicodeScripts':
      return true;
    case 'Split':
      return p.behavior !== 'Removed';
    default:
      return false;
  }
}

function usesByteLevel(p: unknown): boolean {
  if (!isObject(p)) return false;
  if (p.type === 'ByteLevel') return true;
  const inner = p.type === 'Sequence' ? p.pretokenizers : undefined;
  return Array.isArray(inner) && inner.some(usesByteLevel);
}
