import { InferenceError } from '@inferkit/inference-core';
import type { GrammarBuilder, GrammarElement } from './grammar-builder.js';

/** Keywords that constrain the output, all enforced by the grammar. */
export const SUPPORTED_SCHEMA_KEYWORDS = [
  'type', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'maxItems',
  'enum', 'const', 'minLength', 'maxLength', 'anyOf', '$ref', '$defs', 'definitions',
] as const;

/** Keywords that describe without constraining: accepted and ignored. */
const ANNOTATIONS = new Set(['$schema', '$comment', 'title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly']);
const SUPPORTED = new Set<string>(SUPPORTED_SCHEMA_KEYWORDS);
// Keywords allowed next to `$ref` / `anyOf` (which must stand alone, as constraints go).
const BESIDE_COMBINATOR = new Set([...ANNOTATIONS, '$defs', 'definitions']);
const TYPES = new Set(['null', 'boolean', 'integer', 'number', 'string', 'array', 'object']);

/** Longest string / array bound enforced (every position up to it is a grammar rule). */
export const MAX_SCHEMA_LENGTH_BOUND = 4096;
/**
 * Digits a generated number may have: integer part, fraction, exponent. Bounded so a number
 * always ends (and stays finite in JavaScript) even when the model would go on.
 */
export const NUMBER_DIGITS = { integer: 16, fraction: 15, exponent: 2 } as const;

type Schema = Record<string, unknown>;

/**
 * Compiles a JSON Schema into grammar rules matching exactly the JSON texts that are valid
 * under it, on one line: no whitespace except at most one space after `,` and `:` (so the output
 * always ends; properties come in the schema's order).
 *
 * Supported: `type` (one or a list), `properties` / `required` (missing required names take any
 * value), `additionalProperties` (`false`; a schema when the object declares no properties: a
 * map), `items`, `minItems` / `maxItems`, `enum`, `const`, `minLength` / `maxLength` (code
 * points), `anyOf`, local `$ref` into `$defs` / `definitions` / anywhere in the document
 * (recursion included); annotations (`title`, `description`, `default`, ...) are ignored. Any
 * other keyword — `pattern`, `format`, `minimum`, `oneOf`, ... — is refused with `bad_request`
 * naming it and where it is, rather than ignored.
 *
 * Where the schema allows more than the grammar produces, the output is still valid: objects
 * carry only declared properties (`additionalProperties` next to `properties` adds none), and
 * numbers have at most 16 integer, 15 fraction and 2 exponent digits.
 */
export function jsonSchemaRule(b: GrammarBuilder, schema: unknown, param: string = b.param): number {
  return new SchemaCompiler(b, schema, param).compile(schema, '#');
}

/** Any JSON value (compact). */
export function jsonValueRule(b: GrammarBuilder): number {
  return new SchemaCompiler(b, true, b.param).anyValue();
}

/** Any JSON object (compact): `responseFormat: { type: 'json_object' }`. */
export function jsonObjectRule(b: GrammarBuilder): number {
  return new SchemaCompiler(b, true, b.param).anyObject();
}

function isSchemaObject(v: unknown): v is Schema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class SchemaCompiler {
  private readonly rules = new Map<object, number>();

  constructor(
    private readonly b: GrammarBuilder,
    private readonly root: unknown,
    private readonly param: string,
  ) {}

  private bad(path: string, why: string): InferenceError {
    return new InferenceError('bad_request', `${this.param} ${why} (at ${path})`, { details: { param: this.param } });
  }

  compile(schema: unknown, path: string): number {
    if (schema === true) return this.anyValue();
    if (schema === false) return this.b.choice([]);
    if (!isSchemaObject(schema)) throw this.bad(path, 'must be a JSON Schema object or a boolean');
    const known = this.rules.get(schema);
    if (known !== undefined) return known;
    this.checkKeywords(schema, path);
    const rule = this.b.rule();
    this.rules.set(schema, rule);
    return this.b.define(rule, this.alternatives(schema, path));
  }

  private checkKeywords(s: Schema, path: string): void {
    for (const k of Object.keys(s)) {
      if (SUPPORTED.has(k) || ANNOTATIONS.has(k)) continue;
      if (k === 'uniqueItems' && s[k] === false) continue;
      if (k === '$id' && s === this.root) continue;
      throw this.bad(path, `uses '${k}', which constrained decoding does not support (supported: ${SUPPORTED_SCHEMA_KEYWORDS.join(', ')})`);
    }
    const combinator = '$ref' in s ? '$ref' : 'anyOf' in s ? 'anyOf' : undefined;
    if (combinator !== undefined) {
      const other = Object.keys(s).find((k) => k !== combinator && !BESIDE_COMBINATOR.has(k));
      if (other !== undefined) throw this.bad(path, `combines '${combinator}' with '${other}', which is not supported (put '${other}' inside the referenced or listed schemas)`);
    }
    for (const k of ['minLength', 'maxLength', 'minItems', 'maxItems'] as const) {
      const v = s[k];
      if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 0)) throw this.bad(`${path}/${k}`, `'${k}' must be an integer >= 0`);
    }
  }

  private alternatives(s: Schema, path: string): GrammarElement[][] {
    const b = this.b;
    if ('$ref' in s) {
      const { target, at } = this.resolve(s.$ref, path);
      return [[b.ref(this.compile(target, at))]];
    }
    if ('anyOf' in s) {
      const list = s.anyOf;
      if (!Array.isArray(list) || list.length === 0) throw this.bad(`${path}/anyOf`, "'anyOf' must be a non-empty array");
      return list.map((x, i) => [b.ref(this.compile(x, `${path}/anyOf/${i}`))]);
    }
    if ('enum' in s || 'const' in s) {
      let values: unknown[];
      if ('enum' in s) {
        if (!Array.isArray(s.enum) || s.enum.length === 0) throw this.bad(`${path}/enum`, "'enum' must be a non-empty array");
        values = s.enum;
        if ('const' in s) values = values.filter((v) => deepEqual(v, s.const));
      } else {
        values = [s.const];
      }
      const rest: Schema = { ...s };
      delete rest.enum;
      delete rest.const;
      const fit = values.filter((v) => this.matches(v, rest, 0));
      if (fit.length === 0) return [];
      return [[b.ref(b.literalChoice(fit.map((v) => JSON.stringify(v))))]];
    }
    return this.types(s, path).map((t) => [b.ref(this.typeRule(t, s, path))]);
  }

  private types(s: Schema, path: string): string[] {
    const t = s.type;
    let list: string[];
    if (t === undefined) {
      const has = (...ks: string[]) => ks.some((k) => k in s);
      if (has('properties', 'required', 'additionalProperties')) list = ['object'];
      else if (has('items', 'minItems', 'maxItems')) list = ['array'];
      else if (has('minLength', 'maxLength')) list = ['string'];
      else list = ['object', 'array', 'string', 'number', 'boolean', 'null'];
    } else if (typeof t === 'string') {
      list = [t];
    } else if (Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string')) {
      list = t as string[];
    } else {
      throw this.bad(`${path}/type`, "'type' must be a type name or a non-empty array of them");
    }
    for (const x of list) if (!TYPES.has(x)) throw this.bad(`${path}/type`, `has unknown type '${x}'`);
    // A number covers the integers.
    if (list.includes('number')) list = list.filter((x) => x !== 'integer');
    return [...new Set(list)];
  }

  private typeRule(type: string, s: Schema, path: string): number {
    const b = this.b;
    switch (type) {
      case 'null':
        return b.shared('json.null', () => [b.literal('null')]);
      case 'boolean':
        return b.shared('json.boolean', () => [b.literal('true'), b.literal('false')]);
      case 'integer':
        return this.integer();
      case 'number':
        return this.number();
      case 'string': {
        const min = (s.minLength as number | undefined) ?? 0;
        const max = (s.maxLength as number | undefined) ?? Infinity;
        if (min > max) throw this.bad(path, `has minLength ${min} > maxLength ${max}`);
        if (min > MAX_SCHEMA_LENGTH_BOUND || (max !== Infinity && max > MAX_SCHEMA_LENGTH_BOUND)) {
          throw this.bad(path, `has a string length bound above ${MAX_SCHEMA_LENGTH_BOUND}, which constrained decoding does not enforce`);
        }
        return this.string(min, max);
      }
      case 'array':
        return this.array(s, path);
      default:
        return this.object(s, path);
    }
  }

  // ---------------------------------------------------------------- strings

  /** The elements of one JSON string character (a UTF-8 code point or an escape), then `next`. */
  private charAlternatives(next: number): GrammarElement[][] {
    const b = this.b;
    const cont = b.bytes([0x80, 0xbf]);
    const esc = b.shared('json.escape', () => {
      const hex = b.bytes([0x30, 0x39], [0x41, 0x46], [0x61, 0x66]);
      return [
        [b.bytes([0x22, 0x22], [0x5c, 0x5c], [0x2f, 0x2f], [0x62, 0x62], [0x66, 0x66], [0x6e, 0x6e], [0x72, 0x72], [0x74, 0x74])],
        // \uXXXX outside the surrogates: one escape is one code point, as JSON Schema counts.
        [b.bytes([0x75, 0x75]), b.bytes([0x30, 0x39], [0x41, 0x43], [0x61, 0x63], [0x45, 0x46], [0x65, 0x66]), hex, hex, hex],
        [b.bytes([0x75, 0x75]), b.bytes([0x44, 0x44], [0x64, 0x64]), b.bytes([0x30, 0x37]), hex, hex],
      ];
    });
    const n = b.ref(next);
    return [
      [b.bytes([0x20, 0x21], [0x23, 0x5b], [0x5d, 0x7f]), n],
      [b.bytes([0xc2, 0xdf]), cont, n],
      [b.bytes([0xe0, 0xe0]), b.bytes([0xa0, 0xbf]), cont, n],
      [b.bytes([0xe1, 0xec], [0xee, 0xef]), cont, cont, n],
      [b.bytes([0xed, 0xed]), b.bytes([0x80, 0x9f]), cont, n],
      [b.bytes([0xf0, 0xf0]), b.bytes([0x90, 0xbf]), cont, cont, n],
      [b.bytes([0xf1, 0xf3]), cont, cont, cont, n],
      [b.bytes([0xf4, 0xf4]), b.bytes([0x80, 0x8f]), cont, cont, n],
      [b.bytes([0x5c, 0x5c]), b.ref(esc), n],
    ];
  }

  /** `"` then between `min` and `max` characters then `"`. */
  string(min: number, max: number): number {
    const b = this.b;
    const quote = b.literal('"');
    // tail(k): at most k more characters, then the closing quote. Built bottom-up (no recursion
    // in JS for long bounds).
    let tail: number;
    const room = max === Infinity ? Infinity : max - min;
    if (room === Infinity) {
      tail = b.shared('json.string.tail.inf', (self) => [quote, ...this.charAlternatives(self)]);
    } else {
      tail = b.shared('json.string.tail.0', () => [quote]);
      for (let k = 1; k <= room; k++) {
        const prev = tail;
        tail = b.shared(`json.string.tail.${k}`, () => [quote, ...this.charAlternatives(prev)]);
      }
    }
    let body = tail;
    for (let m = 1; m <= min; m++) {
      const prev = body;
      body = b.shared(`json.string.req.${m}.${room}`, () => this.charAlternatives(prev));
    }
    const head = body;
    return b.shared(`json.string.${min}.${room}`, () => [[...quote, b.ref(head)]]);
  }

  // ---------------------------------------------------------------- numbers

  private digits(k: number): number {
    const b = this.b;
    const d = b.bytes([0x30, 0x39]);
    let r = b.shared('json.digits.0', () => [[]]);
    for (let i = 1; i <= k; i++) {
      const prev = r;
      r = b.shared(`json.digits.${i}`, () => [[], [d, b.ref(prev)]]);
    }
    return r;
  }

  private integer(): number {
    const b = this.b;
    return b.shared('json.integer', () => {
      const part = b.choice([b.literal('0'), [b.bytes([0x31, 0x39]), b.ref(this.digits(NUMBER_DIGITS.integer - 1))]]);
      return [[b.ref(part)], [...b.literal('-'), b.ref(part)]];
    });
  }

  private number(): number {
    const b = this.b;
    return b.shared('json.number', () => {
      const d = b.bytes([0x30, 0x39]);
      const exp = b.choice([
        [b.bytes([0x45, 0x45], [0x65, 0x65]), d, b.ref(this.digits(NUMBER_DIGITS.exponent - 1))],
        [b.bytes([0x45, 0x45], [0x65, 0x65]), b.bytes([0x2b, 0x2b], [0x2d, 0x2d]), d, b.ref(this.digits(NUMBER_DIGITS.exponent - 1))],
      ]);
      const expTail = b.choice([[], [b.ref(exp)]]);
      const frac = [...b.literal('.'), d, b.ref(this.digits(NUMBER_DIGITS.fraction - 1))];
      const tail = b.choice([[], [b.ref(exp)], [...frac, b.ref(expTail)]]);
      return [[b.ref(this.integer()), b.ref(tail)]];
    });
  }

  // ---------------------------------------------------------------- arrays

  private array(s: Schema, path: string): number {
    const b = this.b;
    const min = (s.minItems as number | undefined) ?? 0;
    const max = (s.maxItems as number | undefined) ?? Infinity;
    if (min > max) throw this.bad(path, `has minItems ${min} > maxItems ${max}`);
    if (min > MAX_SCHEMA_LENGTH_BOUND || (max !== Infinity && max > MAX_SCHEMA_LENGTH_BOUND)) {
      throw this.bad(path, `has an array length bound above ${MAX_SCHEMA_LENGTH_BOUND}, which constrained decoding does not enforce`);
    }
    const open = b.literal('[');
    const close = b.literal(']');
    if (s.items === false || max === 0) return min === 0 ? b.choice([[...open, ...close]]) : b.choice([]);
    if (Array.isArray(s.items)) throw this.bad(`${path}/items`, "has 'items' as an array (tuple form), which is not supported");
    const item = b.ref(s.items === undefined ? this.anyValue() : this.compile(s.items, `${path}/items`));
    const comma = [b.ref(this.comma())];
    // rest(k): what may follow the k-th item (k >= 1).
    const rest = new Map<number, number>();
    const top = max === Infinity ? Math.max(min, 1) : max;
    for (let k = top; k >= 1; k--) {
      const alts: GrammarElement[][] = [];
      if (k >= min) alts.push([]);
      if (max === Infinity && k === top) {
        const r = b.rule();
        b.define(r, [...alts, [...comma, item, b.ref(r)]]);
        rest.set(k, r);
        continue;
      }
      if (k < max) alts.push([...comma, item, b.ref(rest.get(k + 1)!)]);
      rest.set(k, b.choice(alts));
    }
    const alts: GrammarElement[][] = [];
    if (min === 0) alts.push([...open, ...close]);
    alts.push([...open, item, b.ref(rest.get(1)!), ...close]);
    return b.choice(alts);
  }

  // ---------------------------------------------------------------- objects

  private object(s: Schema, path: string): number {
    const b = this.b;
    const props = s.properties ?? {};
    if (!isSchemaObject(props)) throw this.bad(`${path}/properties`, "'properties' must be an object");
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) throw this.bad(`${path}/required`, "'required' must be an array of strings");
    const need = new Set(required as string[]);
    const members: Array<{ name: string; required: boolean; schema: unknown; at: string }> = Object.entries(props).map(([name, schema]) => ({
      name,
      required: need.has(name),
      schema,
      at: `${path}/properties/${escapePointer(name)}`,
    }));
    for (const name of need) if (!Object.prototype.hasOwnProperty.call(props, name)) members.push({ name, required: true, schema: true, at: `${path}/required` });
    const open = b.literal('{');
    const close = b.literal('}');
    const ap = s.additionalProperties;
    if (ap !== undefined && typeof ap !== 'boolean' && !isSchemaObject(ap)) throw this.bad(`${path}/additionalProperties`, "'additionalProperties' must be a boolean or a schema");
    if (members.length === 0) {
      if (ap === false) return b.choice([[...open, ...close]]);
      // No declared properties: a map from any key to values of `additionalProperties`.
      const value = ap === undefined || ap === true ? this.anyValue() : this.compile(ap, `${path}/additionalProperties`);
      return this.map(value);
    }
    const comma = [b.ref(this.comma())];
    const colon = b.ref(this.colon());
    const member = members.map((m) => [...b.literal(JSON.stringify(m.name)), colon, b.ref(this.compile(m.schema, m.at))]);
    // first(i): properties i.. with none written yet; rest(i): after at least one was written.
    let first = b.choice([[]]);
    let rest = first;
    for (let i = members.length - 1; i >= 0; i--) {
      const nextRest = rest;
      const nextFirst = first;
      rest = b.choice(members[i]!.required ? [[...comma, ...member[i]!, b.ref(nextRest)]] : [[...comma, ...member[i]!, b.ref(nextRest)], [b.ref(nextRest)]]);
      first = b.choice(members[i]!.required ? [[...member[i]!, b.ref(nextRest)]] : [[...member[i]!, b.ref(nextRest)], [b.ref(nextFirst)]]);
    }
    return b.choice([[...open, b.ref(first), ...close]]);
  }

  private map(value: number): number {
    const b = this.b;
    return b.shared(`json.map.${value}`, () => {
      const entry = [b.ref(this.string(0, Infinity)), b.ref(this.colon()), b.ref(value)];
      const more = b.rule();
      b.define(more, [[], [b.ref(this.comma()), ...entry, b.ref(more)]]);
      return [[...b.literal('{}')], [...b.literal('{'), ...entry, b.ref(more), ...b.literal('}')]];
    });
  }

  anyValue(): number {
    const b = this.b;
    return b.shared('json.value', () => [
      [b.ref(this.anyObject())],
      [b.ref(this.anyArray())],
      [b.ref(this.string(0, Infinity))],
      [b.ref(this.number())],
      b.literal('true'),
      b.literal('false'),
      b.literal('null'),
    ]);
  }

  anyObject(): number {
    return this.b.shared('json.object', () => [[this.b.ref(this.map(this.anyValue()))]]);
  }

  private anyArray(): number {
    const b = this.b;
    return b.shared('json.array', () => {
      const more = b.rule();
      const value = b.ref(this.anyValue());
      b.define(more, [[], [b.ref(this.comma()), value, b.ref(more)]]);
      return [[...b.literal('[]')], [...b.literal('['), value, b.ref(more), ...b.literal(']')]];
    });
  }

  /** `,` or `, `: compact JSON, or the one space after separators that templates and models write. */
  private comma(): number {
    return this.b.shared('json.comma', () => [this.b.literal(','), this.b.literal(', ')]);
  }

  private colon(): number {
    return this.b.shared('json.colon', () => [this.b.literal(':'), this.b.literal(': ')]);
  }

  // ---------------------------------------------------------------- $ref

  private resolve(ref: unknown, path: string): { target: unknown; at: string } {
    if (typeof ref !== 'string' || !ref.startsWith('#')) {
      throw this.bad(`${path}/$ref`, `has $ref ${JSON.stringify(ref)}: only references within the schema ('#/...') are supported`);
    }
    let node: unknown = this.root;
    const pointer = ref.slice(1);
    if (pointer !== '') {
      if (!pointer.startsWith('/')) throw this.bad(`${path}/$ref`, `has $ref ${JSON.stringify(ref)}, which is not a JSON pointer`);
      for (const raw of pointer.slice(1).split('/')) {
        let key: string;
        try {
          key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
        } catch {
          throw this.bad(`${path}/$ref`, `has a malformed $ref ${JSON.stringify(ref)}`);
        }
        if (typeof node !== 'object' || node === null || !Object.prototype.hasOwnProperty.call(node, key)) {
          throw this.bad(`${path}/$ref`, `has $ref ${JSON.stringify(ref)}, which points to nothing`);
        }
        node = (node as Record<string, unknown>)[key];
      }
    }
    return { target: node, at: ref };
  }

  // ---------------------------------------------------------------- values (enum / const)

  /** Whether `v` is valid under `s` for the supported keywords (enum values are filtered by it). */
  private matches(v: unknown, s: unknown, depth: number): boolean {
    if (s === true) return true;
    if (s === false || !isSchemaObject(s) || depth > 64) return false;
    if ('$ref' in s) return this.matches(v, this.resolve(s.$ref, '#').target, depth + 1);
    if ('anyOf' in s) return Array.isArray(s.anyOf) && s.anyOf.some((x) => this.matches(v, x, depth + 1));
    if ('const' in s && !deepEqual(v, s.const)) return false;
    if ('enum' in s && !(Array.isArray(s.enum) && s.enum.some((x) => deepEqual(v, x)))) return false;
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => typeOk(v, t))) return false;
    }
    if (typeof v === 'string') {
      const n = [...v].length;
      if (typeof s.minLength === 'number' && n < s.minLength) return false;
      if (typeof s.maxLength === 'number' && n > s.maxLength) return false;
    }
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems) return false;
      if (typeof s.maxItems === 'number' && v.length > s.maxItems) return false;
      if (s.items !== undefined && !v.every((x) => this.matches(x, s.items, depth + 1))) return false;
    }
    if (isSchemaObject(v)) {
      const props = isSchemaObject(s.properties) ? s.properties : {};
      if (Array.isArray(s.required) && s.required.some((r) => !(typeof r === 'string' && r in v))) return false;
      for (const [k, x] of Object.entries(v)) {
        if (k in props) {
          if (!this.matches(x, props[k], depth + 1)) return false;
        } else if (s.additionalProperties !== undefined && !this.matches(x, s.additionalProperties, depth + 1)) {
          return false;
        }
      }
    }
    return true;
  }
}

function typeOk(v: unknown, t: string): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'string':
      return typeof v === 'string';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isSchemaObject(v);
    default:
      return false;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function escapePointer(name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1');
}
