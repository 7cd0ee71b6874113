import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { InferenceError } from '@inferkit/inference-core';

/**
 * Where an API key or token comes from. A function is called on first use and again on
 * every `rebuildSession`, so rotated keys and short-lived OAuth tokens are picked up.
 */
export type CredentialInput =
  | string
  | { from: 'env'; /** Environment variable name. */ name: string }
  | { from: 'file'; /** File holding the secret (surrounding whitespace is trimmed). */ path: string }
  | { from: 'inline'; /** The secret itself. */ value: string }
  | (() => string | Promise<string>);

const REDACTED = '[redacted]';

/** Shortest run of a secret's characters that `Secret.redactFrom` removes wherever it appears. */
export const MIN_SECRET_FRAGMENT = 8;

/** Every substring of `value` of length `MIN_SECRET_FRAGMENT`. */
function fragmentsOf(value: string): Set<string> {
  const grams = new Set<string>();
  for (let i = 0; i + MIN_SECRET_FRAGMENT <= value.length; i++) grams.add(value.substring(i, i + MIN_SECRET_FRAGMENT));
  return grams;
}

/**
 * Holds a secret so that printing it is hard to do by accident: `String()`, `JSON.stringify`
 * and `util.inspect` all give `[redacted]`; only `reveal()` returns the value.
 */
export class Secret {
  readonly #value: string;
  #grams: Set<string> | undefined;
  constructor(value: string) {
    this.#value = value;
    this.#grams = undefined;
  }
  reveal(): string {
    return this.#value;
  }
  /**
   * Removes the secret from `text` (a server echoing the key in an error page, a header, an
   * event): every occurrence of the whole value, and every run of `MIN_SECRET_FRAGMENT` or more
   * characters that also appears in the value, so a key cut by a truncation, wrapped over lines
   * or echoed in part is caught too. Shorter fragments are left: they cannot single out a key
   * (the public prefixes `sk-proj-`, `sk-ant-`, `AIza` are about that long). Values shorter than
   * 4 characters are not searched for at all.
   */
  redactFrom(text: string): string {
    const v = this.#value;
    if (v.length < 4 || text.length === 0) return text;
    let out = text.includes(v) ? text.split(v).join(REDACTED) : text;
    if (v.length < MIN_SECRET_FRAGMENT || out.length < MIN_SECRET_FRAGMENT) return out;
    const grams = (this.#grams ??= fragmentsOf(v));
    // Mark every window of MIN_SECRET_FRAGMENT characters found in the secret; overlapping and
    // touching windows merge into one run, replaced once.
    let result = '';
    let copied = 0;
    let runStart = -1;
    let runEnd = -1;
    for (let i = 0; i + MIN_SECRET_FRAGMENT <= out.length; i++) {
      if (!grams.has(out.substring(i, i + MIN_SECRET_FRAGMENT))) continue;
      if (runStart >= 0 && i <= runEnd) {
        runEnd = i + MIN_SECRET_FRAGMENT;
        continue;
      }
      if (runStart >= 0) {
        result += out.substring(copied, runStart) + REDACTED;
        copied = runEnd;
      }
      runStart = i;
      runEnd = i + MIN_SECRET_FRAGMENT;
    }
    if (runStart < 0) return out;
    result += out.substring(copied, runStart) + REDACTED;
    out = result + out.substring(runEnd);
    return out;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** A credential reference that reads (and re-reads) the secret on demand. */
export class CredentialSource {
  readonly #input: CredentialInput | undefined;
  readonly #label: string;
  #current: Secret | undefined;

  /**
   * @param input the user's credential, or `undefined` for servers that need none.
   * @param label what it is for, used in error messages (never the value).
   */
  constructor(input: CredentialInput | undefined, label: string) {
    if (input !== undefined && typeof input !== 'string' && typeof input !== 'function') {
      const from = (input as { from?: unknown }).from;
      if (from !== 'env' && from !== 'file' && from !== 'inline') {
        throw new InferenceError('bad_request', `${label}: credential must be a string, a function or { from: 'env' | 'file' | 'inline' }`);
      }
    }
    this.#input = input;
    this.#label = label;
    this.#current = undefined;
  }

  get configured(): boolean {
    return this.#input !== undefined;
  }

  /** The secret, read once and cached until `refresh()`. */
  async get(): Promise<Secret | undefined> {
    if (this.#current === undefined && this.#input !== undefined) this.#current = await this.read();
    return this.#current;
  }

  /** The cached secret without reading (for redaction in synchronous paths). */
  peek(): Secret | undefined {
    return this.#current;
  }

  /** Drops the cached value and reads the source again. */
  async refresh(): Promise<Secret | undefined> {
    this.#current = undefined;
    return this.get();
  }

  private async read(): Promise<Secret> {
    const input = this.#input!;
    let value: unknown;
    try {
      if (typeof input === 'string') value = input;
      else if (typeof input === 'function') value = await input();
      else if (input.from === 'inline') value = input.value;
      else if (input.from === 'env') {
        value = process.env[input.name];
        if (value === undefined || value === '') {
          throw new InferenceError('unauthorized', `${this.#label}: environment variable ${input.name} is not set`, {
            details: { code: 'missing_credential' },
          });
        }
      } else value = (await readFile(input.path, 'utf8')).trim();
    } catch (e) {
      if (InferenceError.isInstance(e)) throw e;
      // The cause's message is dropped: a provider function may have put the secret in it.
      const code = (e as { code?: unknown })?.code;
      throw new InferenceError('unauthorized', `${this.#label}: reading the credential failed${typeof code === 'string' ? ` (${code})` : ''}`, {
        details: { code: 'credential_unreadable' },
      });
    }
    if (typeof value !== 'string' || value === '') {
      throw new InferenceError('unauthorized', `${this.#label}: the credential is empty or not a string`, {
        details: { code: 'missing_credential' },
      });
    }
    return new Secret(value);
  }

  toJSON(): string {
    return describeInput(this.#input);
  }
  [inspect.custom](): string {
    return `CredentialSource(${describeInput(this.#input)})`;
  }
}

/** A printable description of where a credential comes from, without its value. */
function describeInput(input: CredentialInput | undefined): string {
  if (input === undefined) return 'none';
  if (typeof input === 'string') return REDACTED;
  if (typeof input === 'function') return 'provider function';
  if (input.from === 'env') return `env:${input.name}`;
  if (input.from === 'file') return `file:${input.path}`;
  return REDACTED;
}
