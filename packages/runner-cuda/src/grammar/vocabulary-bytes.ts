import type { Tokenizer } from '@huggingface/tokenizers';

/**
 * The bytes every token adds to the output, as the engine's grammar matcher needs them
 * (`AddonLoadOptions.vocabulary`): token `i` is `bytes[offsets[i], offsets[i + 1])`; `special[i]`
 * marks control tokens (EOS, `<|im_start|>`, ...), which keep their text but are allowed only where
 * a grammar names them.
 */
export interface VocabularyBytes {
  bytes: Uint8Array;
  offsets: Uint32Array;
  special: Uint8Array;
}

/** How token strings map to bytes, read from the tokenizer's decoder. */
interface DecoderKind {
  /** GPT-2 byte-level BPE: every character of a token stands for one byte. */
  byteLevel: boolean;
  /** SentencePiece byte fallback: `<0xNN>` pieces are single bytes. */
  byteFallback: boolean;
  /** String replacements applied to each token (SentencePiece: '▁' → ' '). */
  replace: Array<[string, string]>;
}

interface DecoderConfig {
  type?: string;
  decoders?: DecoderConfig[];
  pattern?: { String?: string };
  content?: string;
  replacement?: string;
}

function decoderKind(config: DecoderConfig | undefined): DecoderKind {
  const kind: DecoderKind = { byteLevel: false, byteFallback: false, replace: [] };
  const visit = (c: DecoderConfig | undefined, depth: number): void => {
    if (c === undefined || c === null || typeof c !== 'object' || depth > 8) return;
    switch (c.type) {
      case 'ByteLevel':
        kind.byteLevel = true;
        break;
      case 'ByteFallback':
        kind.byteFallback = true;
        break;
      case 'Replace':
        if (typeof c.pattern?.String === 'string' && typeof c.content === 'string') kind.replace.push([c.pattern.String, c.content]);
        break;
      case 'Metaspace':
        kind.replace.push([typeof c.replacement === 'string' ? c.replacement : '\u2581', ' ']);
        break;
      case 'Sequence':
        for (const d of c.decoders ?? []) visit(d, depth + 1);
        break;
      default:
        // Strip / Fuse / CTC / WordPiece: Strip only drops a space at the very start of a decode,
        // which a grammar never allows anyway; the others do not occur in causal LMs we load.
        break;
    }
  };
  visit(config, 0);
  return kind;
}

/** GPT-2's `bytes_to_unicode`, inverted: the byte each byte-level character stands for. */
function byteLevelTable(): Map<string, number> {
  const table = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table.set(String.fromCodePoint(printable ? b : 256 + extra++), b);
  }
  return table;
}

const FALLBACK = /^<0x([0-9A-Fa-f]{2})>$/;

/** Derives every token's bytes from a loaded tokenizer (vocabulary, added tokens, decoder). */
export function vocabularyBytes(tokenizer: Tokenizer): VocabularyBytes {
  const vocab = tokenizer.get_vocab(true);
  const added = tokenizer.get_added_tokens_decoder();
  const kind = decoderKind((tokenizer.decoder as { config?: DecoderConfig } | null)?.config);
  const table = kind.byteLevel ? byteLevelTable() : undefined;
  let n = 0;
  for (const id of vocab.values()) n = Math.max(n, id + 1);
  const pieces: Array<Uint8Array | undefined> = new Array(n);
  const special = new Uint8Array(n);
  const utf8 = new TextEncoder();
  for (const [token, id] of vocab) {
    const a = added.get(id);
    if (a?.special === true) {
      special[id] = 1;
      pieces[id] = utf8.encode(a.content);
      continue;
    }
    if (table !== undefined) {
      const out: number[] = [];
      for (const ch of token) {
        const b = table.get(ch);
        if (b !== undefined) out.push(b);
        else out.push(...utf8.encode(ch));
      }
      pieces[id] = Uint8Array.from(out);
      continue;
    }
    const m = kind.byteFallback ? FALLBACK.exec(token) : null;
    if (m !== null) {
      pieces[id] = Uint8Array.of(parseInt(m[1]!, 16));
      continue;
    }
    let text = token;
    for (const [from, to] of kind.replace) text = text.split(from).join(to);
    pieces[id] = utf8.encode(text);
  }
  const offsets = new Uint32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = total;
    total += pieces[i]?.length ?? 0;
  }
  offsets[n] = total;
  const bytes = new Uint8Array(total);
  for (let i = 0; i < n; i++) {
    const p = pieces[i];
    if (p !== undefined) bytes.set(p, offsets[i]!);
  }
  return { bytes, offsets, special };
}
