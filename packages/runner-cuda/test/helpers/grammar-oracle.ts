/**
 * A second, deliberately naive reader of serialized grammars (`GrammarBuilder.build`), for tests:
 * memoized recursive descent over bytes, returning every end position a rule can reach. It
 * shares no code with the engine's matcher, so the two check each other.
 */
export function grammarAccepts(words: Int32Array, text: string | Uint8Array): boolean {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const g = decode(words);
  const memo = new Map<number, number[]>();
  const n = bytes.length + 1;
  const match = (rule: number, pos: number): number[] => {
    const key = rule * n + pos;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    const ends = new Set<number>();
    for (const alt of g.rules[rule]!) {
      let at = new Set<number>([pos]);
      for (const e of alt) {
        const next = new Set<number>();
        for (const p of at) {
          if (e >= 0) {
            if (p < bytes.length && inClass(g.classes, e, bytes[p]!)) next.add(p + 1);
          } else {
            for (const q of match(-e - 1, p)) next.add(q);
          }
        }
        at = next;
        if (at.size === 0) break;
      }
      for (const p of at) ends.add(p);
    }
    const out = [...ends];
    memo.set(key, out);
    return out;
  };
  return match(g.root, 0).includes(bytes.length);
}

/** The special token ids a serialized grammar allows. */
export function grammarSpecialTokens(words: Int32Array): number[] {
  const nClasses = words[1]!;
  const nSpecial = words[4]!;
  return [...words.slice(5 + nClasses * 8, 5 + nClasses * 8 + nSpecial)];
}

function inClass(classes: Int32Array, c: number, b: number): boolean {
  return ((classes[c * 8 + (b >> 5)]! >>> (b & 31)) & 1) === 1;
}

function decode(w: Int32Array): { classes: Int32Array; rules: number[][][]; root: number } {
  if (w[0] !== 0x314d5247) throw new Error('not a grammar');
  const nClasses = w[1]!;
  const nRules = w[2]!;
  const root = w[3]!;
  const nSpecial = w[4]!;
  let at = 5;
  const classes = w.slice(at, at + nClasses * 8);
  at += nClasses * 8 + nSpecial;
  const rules: number[][][] = [];
  for (let r = 0; r < nRules; r++) {
    const alts: number[][] = [];
    const nAlts = w[at++]!;
    for (let a = 0; a < nAlts; a++) {
      const len = w[at++]!;
      alts.push([...w.slice(at, at + len)]);
      at += len;
    }
    rules.push(alts);
  }
  if (at !== w.length) throw new Error('trailing words');
  return { classes, rules, root };
}
