import { InferenceError } from '@inferkit/inference-core';

/**
 * One element of a rule's alternative: a byte of a class (a value >= 0, from `GrammarBuilder.bytes`)
 * or a reference to a rule (a value < 0, from `GrammarBuilder.ref`).
 */
export type GrammarElement = number;

/**
 * Grammars larger than this are refused while they are built, before they cost more memory
 * (the engine's own limit is 4M words). The bench schema (a list of records with strings,
 * integers, enums and anyOf) takes about 2,200.
 */
export const MAX_GRAMMAR_WORDS = 1_000_000;
const MAGIC = 0x314d5247; // "GRM1", engine/grammar/grammar.h

/**
 * Builds a byte-level context-free grammar and serializes it into the form the engine reads
 * (`native/engine/grammar/grammar.h`). Byte classes are interned; rules are numbered in creation
 * order. `build()` drops alternatives that can never complete (so a sampled prefix can always be
 * finished) and refuses left recursion, which the engine would refuse too.
 */
export class GrammarBuilder {
  private readonly classes: number[][] = [];
  private readonly classIds = new Map<string, number>();
  private readonly rules: GrammarElement[][][] = [];
  private readonly memo = new Map<string, number>();
  private readonly special = new Set<number>();
  private words = 0;

  /** Why a request's grammar failed, for errors: the request parameter it came from. */
  constructor(readonly param: string) {}

  /** A new rule with no alternatives yet. */
  rule(): number {
    this.rules.push([]);
    return this.rules.length - 1;
  }

  /** Adds alternatives to `rule`. An empty alternative matches the empty string. */
  define(rule: number, alternatives: GrammarElement[][]): number {
    for (const alt of alternatives) this.words += alt.length + 1;
    if (this.words > MAX_GRAMMAR_WORDS) {
      throw new InferenceError('bad_request', `${this.param} is too large to enforce (more than ${MAX_GRAMMAR_WORDS} grammar words)`, { details: { param: this.param } });
    }
    this.rules[rule]!.push(...alternatives);
    return rule;
  }

  /** A rule with these alternatives. */
  choice(alternatives: GrammarElement[][]): number {
    return this.define(this.rule(), alternatives);
  }

  /**
   * The rule for `key`, built once: `build` gets the rule's id before it returns, so a recursive
   * definition can refer to itself.
   */
  shared(key: string, build: (rule: number) => GrammarElement[][]): number {
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    const rule = this.rule();
    this.memo.set(key, rule);
    return this.define(rule, build(rule));
  }

  ref(rule: number): GrammarElement {
    return -rule - 1;
  }

  /** One byte from the inclusive ranges `[lo, hi]`. */
  bytes(...ranges: Array<[number, number]>): GrammarElement {
    const words = [0, 0, 0, 0, 0, 0, 0, 0];
    for (const [lo, hi] of ranges) for (let b = lo; b <= hi; b++) words[b >> 5]! |= 1 << (b & 31);
    const key = words.join(',');
    let id = this.classIds.get(key);
    if (id === undefined) {
      id = this.classes.length;
      this.classes.push(words);
      this.classIds.set(key, id);
    }
    return id;
  }

  /** The UTF-8 bytes of `text`, one element each. */
  literal(text: string): GrammarElement[] {
    return [...new TextEncoder().encode(text)].map((b) => this.bytes([b, b]));
  }

  /**
   * One of several literal strings, as a byte trie (shared prefixes are matched once, so the
   * parser follows one path instead of every string side by side).
   */
  literalChoice(texts: string[]): number {
    interface Node {
      end: boolean;
      next: Map<number, Node>;
    }
    const root: Node = { end: false, next: new Map() };
    const enc = new TextEncoder();
    for (const t of new Set(texts)) {
      let n = root;
      for (const b of enc.encode(t)) {
        let c = n.next.get(b);
        if (c === undefined) {
          c = { end: false, next: new Map() };
          n.next.set(b, c);
        }
        n = c;
      }
      n.end = true;
    }
    // Rules bottom-up with an explicit stack (a staircase of nested literals must not recurse
    // once per level).
    const ruleOf = new Map<Node, number>();
    const pending: Array<{ node: Node; expanded: boolean }> = [{ node: root, expanded: false }];
    // The node a chain of single-way nodes from `c` (reached by byte `b`) ends at, and its bytes.
    const chainFrom = (b: number, c: Node): { seq: GrammarElement[]; end: Node } => {
      const seq: GrammarElement[] = [this.bytes([b, b])];
      let m = c;
      while (!m.end && m.next.size === 1) {
        const [nb, nc] = [...m.next][0]!;
        seq.push(this.bytes([nb, nb]));
        m = nc;
      }
      return { seq, end: m };
    };
    while (pending.length > 0) {
      const top = pending[pending.length - 1]!;
      const chains = [...top.node.next].map(([b, c]) => chainFrom(b, c));
      if (!top.expanded) {
        top.expanded = true;
        for (const { end } of chains) if (end.next.size > 0 && !ruleOf.has(end)) pending.push({ node: end, expanded: false });
        continue;
      }
      pending.pop();
      if (ruleOf.has(top.node)) continue;
      const alts: GrammarElement[][] = [];
      if (top.node.end) alts.push([]);
      for (const { seq, end } of chains) alts.push(end.next.size === 0 ? seq : [...seq, this.ref(ruleOf.get(end)!)]);
      ruleOf.set(top.node, this.choice(alts));
    }
    return ruleOf.get(root)!;
  }

  /** Lets the model emit special token `id` where its text fits the grammar (e.g. `[TOOL_CALLS]`). */
  allowSpecialToken(id: number): void {
    this.special.add(id);
  }

  /** Serializes the grammar rooted at `root`. @throws InferenceError `bad_request` */
  build(root: number): Int32Array {
    const bad = (why: string) => new InferenceError('bad_request', `${this.param} ${why}`, { details: { param: this.param } });
    const n = this.rules.length;
    // Productive rules: those that can derive some finite string.
    const productive = new Uint8Array(n);
    for (let changed = true; changed; ) {
      changed = false;
      for (let r = 0; r < n; r++) {
        if (productive[r]) continue;
        if (this.rules[r]!.some((alt) => alt.every((e) => e >= 0 || productive[-e - 1]))) {
          productive[r] = 1;
          changed = true;
        }
      }
    }
    if (!productive[root]) throw bad('can never be satisfied (no value matches it)');
    const rules = this.rules.map((alts) => alts.filter((alt) => alt.every((e) => e >= 0 || productive[-e - 1])));
    this.checkLeftRecursion(rules, bad);

    let size = 5 + this.classes.length * 8 + this.special.size;
    for (const alts of rules) {
      size += 1;
      for (const alt of alts) size += 1 + alt.length;
    }
    if (size > MAX_GRAMMAR_WORDS) throw bad(`is too large to enforce (${size} grammar words, at most ${MAX_GRAMMAR_WORDS})`);
    const out = new Int32Array(size);
    let at = 0;
    out[at++] = MAGIC;
    out[at++] = this.classes.length;
    out[at++] = n;
    out[at++] = root;
    out[at++] = this.special.size;
    for (const c of this.classes) for (const w of c) out[at++] = w;
    for (const id of this.special) out[at++] = id;
    for (const alts of rules) {
      out[at++] = alts.length;
      for (const alt of alts) {
        out[at++] = alt.length;
        for (const e of alt) out[at++] = e;
      }
    }
    return out;
  }

  /** Left recursion comes from a `$ref` / `anyOf` cycle that consumes nothing. */
  private checkLeftRecursion(rules: GrammarElement[][][], bad: (why: string) => InferenceError): void {
    const n = rules.length;
    const nullable = new Uint8Array(n);
    for (let changed = true; changed; ) {
      changed = false;
      for (let r = 0; r < n; r++) {
        if (!nullable[r] && rules[r]!.some((alt) => alt.every((e) => e < 0 && nullable[-e - 1]))) {
          nullable[r] = 1;
          changed = true;
        }
      }
    }
    const edges: number[][] = rules.map((alts) => {
      const out: number[] = [];
      for (const alt of alts) {
        for (const e of alt) {
          if (e >= 0) break;
          out.push(-e - 1);
          if (!nullable[-e - 1]) break;
        }
      }
      return out;
    });
    const color = new Uint8Array(n);
    for (let start = 0; start < n; start++) {
      if (color[start]) continue;
      const stack: Array<[number, number]> = [[start, 0]];
      color[start] = 1;
      while (stack.length > 0) {
        const top = stack[stack.length - 1]!;
        const out = edges[top[0]]!;
        if (top[1] === out.length) {
          color[top[0]] = 2;
          stack.pop();
          continue;
        }
        const next = out[top[1]++]!;
        if (color[next] === 1) throw bad('refers to itself without any value in between (a $ref or anyOf cycle)');
        if (color[next] === 0) {
          color[next] = 1;
          stack.push([next, 0]);
        }
      }
    }
  }
}
