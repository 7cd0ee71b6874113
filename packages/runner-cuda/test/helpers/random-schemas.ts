/**
 * Seeded random JSON Schemas over the keywords constrained decoding supports: nested objects with
 * required and optional properties, arrays with min/max items, enums, const, strings with length
 * limits, numbers and integers, booleans, null, anyOf, and $ref into $defs.
 *
 * Every free string has a maxLength and every array a maxItems: the test models write stories,
 * and a model that never closes a string would run into maxTokens (finish `length`, incomplete
 * JSON — the documented outcome, not what these tests measure). `maxOutputBytes` bounds the
 * longest valid output, so a token budget that covers it guarantees completion.
 */
export type Schema = Record<string, unknown>;

class Rng {
  constructor(private x: number) {}
  next(): number {
    this.x = (Math.imul(this.x ^ (this.x >>> 15), 0x2c1b3c6d) + 0x6b43a9b5) >>> 0;
    this.x = (this.x ^ (this.x >>> 12)) >>> 0;
    return this.x / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}

const WORDS = ['red', 'green', 'blue', 'cat', 'dog', 'sun', 'moon', 'tree', 'river', 'apple', 'big', 'small', 'x', 'é', 'ok'];
const NAMES = ['name', 'age', 'color', 'tags', 'size', 'owner', 'items', 'count', 'ok', 'note', 'kind', 'score', 'city', 'id'];

/** The largest number of bytes a valid compact output of `s` can take (one space per separator). */
export function maxOutputBytes(s: unknown, defs: Record<string, Schema>, depth = 0): number {
  if (depth > 20 || typeof s !== 'object' || s === null) return Infinity;
  const o = s as Schema;
  if ('$ref' in o) return maxOutputBytes(defs[(o.$ref as string).split('/').pop()!], defs, depth + 1);
  if ('anyOf' in o) return Math.max(...(o.anyOf as unknown[]).map((x) => maxOutputBytes(x, defs, depth + 1)));
  if ('const' in o) return JSON.stringify(o.const).length;
  if ('enum' in o) return Math.max(...(o.enum as unknown[]).map((v) => Buffer.byteLength(JSON.stringify(v))));
  switch (o.type) {
    case 'null':
      return 4;
    case 'boolean':
      return 5;
    case 'integer':
      return 17;
    case 'number':
      return 37;
    case 'string':
      return 2 + 6 * (o.maxLength as number); // an escape \uXXXX is 6 bytes for one character
    case 'array':
      return 2 + (o.maxItems as number) * (maxOutputBytes(o.items, defs, depth + 1) + 2);
    case 'object': {
      let n = 2;
      for (const [k, v] of Object.entries(o.properties as Record<string, unknown>)) n += Buffer.byteLength(JSON.stringify(k)) + 4 + maxOutputBytes(v, defs, depth + 1);
      return n;
    }
    default:
      return Infinity;
  }
}

function scalar(r: Rng): Schema {
  switch (r.int(0, 7)) {
    case 0:
      return { type: 'integer' };
    case 1:
      return { type: 'number' };
    case 2:
      return { type: 'boolean' };
    case 3:
      return { type: 'null' };
    case 4: {
      const n = r.int(1, 4);
      return { enum: Array.from({ length: n }, () => r.pick(WORDS)).filter((v, i, a) => a.indexOf(v) === i) };
    }
    case 5:
      return { const: r.pick([r.pick(WORDS), r.int(-5, 99), true]) };
    default: {
      const max = r.int(1, 16);
      return r.next() < 0.3 ? { type: 'string', minLength: r.int(0, max), maxLength: max } : { type: 'string', maxLength: max };
    }
  }
}

function value(r: Rng, depth: number, defs: Record<string, Schema>): Schema {
  const roll = r.next();
  if (depth >= 3 || roll < 0.35) return scalar(r);
  if (roll < 0.6) return object(r, depth + 1, defs);
  if (roll < 0.8) {
    const max = r.int(0, 3);
    return { type: 'array', items: value(r, depth + 1, defs), minItems: r.int(0, max), maxItems: max };
  }
  if (roll < 0.92) return { anyOf: [value(r, depth + 1, defs), scalar(r)] };
  const name = `def${Object.keys(defs).length}`;
  defs[name] = object(r, depth + 1, defs);
  return { $ref: `#/$defs/${name}` };
}

function object(r: Rng, depth: number, defs: Record<string, Schema>): Schema {
  const n = r.int(1, 4);
  const properties: Record<string, Schema> = {};
  const names = [...NAMES];
  for (let i = names.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [names[i], names[j]] = [names[j]!, names[i]!];
  }
  names.length = n;
  for (const k of names) properties[k] = value(r, depth, defs);
  const required = names.filter(() => r.next() < 0.6);
  const s: Schema = { type: 'object', properties, required };
  if (r.next() < 0.5) s.additionalProperties = false;
  if (r.next() < 0.3) s.description = 'an object';
  return s;
}

/** `count` schemas from `seed`, each with a root object whose longest output is at most `maxBytes`. */
export function randomSchemas(seed: number, count: number, maxBytes: number): Schema[] {
  const r = new Rng(seed);
  const out: Schema[] = [];
  while (out.length < count) {
    const defs: Record<string, Schema> = {};
    const root = object(r, 0, defs);
    if (Object.keys(defs).length > 0) root.$defs = defs;
    if (maxOutputBytes(root, defs) <= maxBytes) out.push(root);
  }
  return out;
}
