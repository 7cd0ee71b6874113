import type { ToolDefinition } from '@inferkit/inference-core';
import type { GrammarBuilder, GrammarElement } from '../grammar/grammar-builder.js';
import { jsonSchemaRule } from '../grammar/json-schema-grammar.js';
import type { ToolCallFormat } from './tool-call-format.js';

/** What the model may write when it has tools. */
export interface ToolCallGrammarRequest {
  format: ToolCallFormat;
  tools: ToolDefinition[];
  /** `auto`: text or calls; `required`: one or more calls; a name: exactly one call of that tool. */
  choice: 'auto' | 'required' | { name: string };
  /** In `auto` mode, the rule the text must follow instead of free text (a response format). */
  text?: number;
  /** Id of the trigger as a control token of the vocabulary (Mistral's `[TOOL_CALLS]`), if it is one. */
  triggerTokenId?: number;
}

/**
 * The root rule of a reply under `req`: calls in the format's exact layout, each naming one of
 * the tools and carrying arguments that match that tool's parameter schema.
 */
export function toolCallGrammar(b: GrammarBuilder, req: ToolCallGrammarRequest): number {
  const { format } = req;
  if (req.triggerTokenId !== undefined) b.allowSpecialToken(req.triggerTokenId);
  const allowed = typeof req.choice === 'object' ? req.tools.filter((t) => t.name === (req.choice as { name: string }).name) : req.tools;
  const named = allowed.map((t) => {
    const i = req.tools.indexOf(t);
    const args = jsonSchemaRule(b, t.parameters, `tools[${i}].parameters`);
    return [...b.literal(`${JSON.stringify(t.name)}, "${format.argumentsKey}": `), b.ref(args)];
  });
  const call = [...b.literal('{"name": '), b.ref(b.choice(named)), ...b.literal('}')];
  // After the trigger: one call, or (formats with a separator, unless one tool is forced) several.
  let calls: GrammarElement[];
  if (format.separator !== undefined && typeof req.choice !== 'object') {
    const more = b.rule();
    b.define(more, [b.literal(format.close), [...b.literal(format.separator), ...call, b.ref(more)]]);
    calls = [...b.literal(format.open), ...call, b.ref(more)];
  } else {
    calls = [...b.literal(format.open), ...call, ...b.literal(format.close)];
  }
  const trigger = format.trigger ?? '';
  if (req.choice !== 'auto') return b.choice([[...b.literal(trigger), ...calls]]);
  if (req.text !== undefined) return b.choice([[b.ref(req.text)], [...b.literal(trigger), ...calls]]);
  if (format.trigger === undefined) {
    // The reply is a call exactly when it starts with '{': anything else is text.
    const anyText = b.rule();
    b.define(anyText, [[], [b.bytes([0, 255]), b.ref(anyText)]]);
    const text = b.choice([[], [b.bytes([0, 0x7a], [0x7c, 0xff]), b.ref(anyText)]]);
    return b.choice([calls, [b.ref(text)]]);
  }
  return textUntil(b, format.trigger, calls);
}

/**
 * Free text that ends either anywhere or at the first occurrence of `trigger`, followed by
 * `after`: the trigger's Knuth–Morris–Pratt automaton, one rule per matched-prefix length.
 */
export function textUntil(b: GrammarBuilder, trigger: string, after: GrammarElement[]): number {
  const t = new TextEncoder().encode(trigger);
  const m = t.length;
  const fail = new Array<number>(m).fill(0);
  for (let i = 1, k = 0; i < m; i++) {
    while (k > 0 && t[i] !== t[k]) k = fail[k - 1]!;
    if (t[i] === t[k]) k++;
    fail[i] = k;
  }
  const next = (j: number, c: number): number => {
    while (j > 0 && t[j] !== c) j = fail[j - 1]!;
    return t[j] === c ? j + 1 : 0;
  };
  const states = Array.from({ length: m }, () => b.rule());
  for (let j = 0; j < m; j++) {
    const alts: GrammarElement[][] = [[]];
    const byState = new Map<number, Array<[number, number]>>();
    for (let c = 0; c < 256; c++) {
      const k = next(j, c);
      if (k === m) {
        alts.push([b.bytes([c, c]), ...after]);
        continue;
      }
      const ranges = byState.get(k) ?? [];
      const last = ranges[ranges.length - 1];
      if (last !== undefined && last[1] === c - 1) last[1] = c;
      else ranges.push([c, c]);
      byState.set(k, ranges);
    }
    for (const [k, ranges] of byState) alts.push([b.bytes(...ranges), b.ref(states[k]!)]);
    b.define(states[j]!, alts);
  }
  return states[0]!;
}
