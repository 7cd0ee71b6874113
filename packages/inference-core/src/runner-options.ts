import { InferenceError } from './inference-error.js';

/**
 * Reads a runner's options the one way every runner package does (see `RunnerFactory`): the
 * options must be a plain object (or undefined), unknown keys are refused, and each getter checks
 * one key. Every failure is `InferenceError('bad_request')` with `details.param` naming the key
 * and a message saying what was expected:
 *
 * ```ts
 * const o = new RunnerOptions(options, 'CudaRunner', ['device', 'threads']);
 * const threads = o.integer('threads', { min: 1, max: 64 });
 * ```
 */
export class RunnerOptions {
  /** The options object (an empty one when `undefined` was given). */
  readonly raw: Readonly<Record<string, unknown>>;
  private readonly where: string;

  /**
   * @param options what the caller passed
   * @param where the runner's name, used in messages (`'CudaRunner'`)
   * @param known every key the runner accepts; any other key is refused
   */
  constructor(options: unknown, where: string, known: readonly string[]) {
    this.where = where;
    if (options === undefined) {
      this.raw = {};
      return;
    }
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new InferenceError('bad_request', `${where}: options must be an object`, { details: { param: 'options' } });
    }
    const knownSet = new Set(known);
    for (const key of Object.keys(options)) {
      if (!knownSet.has(key)) {
        throw new InferenceError('bad_request', `${where}: unknown option '${key}' (known: ${[...known].sort().join(', ')})`, {
          details: { param: key },
        });
      }
    }
    this.raw = options as Record<string, unknown>;
  }

  /** A `bad_request` error about `param`, for checks the getters do not cover. */
  error(param: string, why: string): InferenceError {
    return new InferenceError('bad_request', `${this.where}: option '${param}' ${why}`, { details: { param } });
  }

  /** A string; `nonEmpty` refuses `''`, `pattern` must match the whole value. */
  string(key: string, rule?: { nonEmpty?: boolean; pattern?: RegExp; describe?: string }): string | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw this.error(key, 'must be a string');
    if (rule?.nonEmpty === true && v === '') throw this.error(key, 'must not be empty');
    if (rule?.pattern !== undefined && !rule.pattern.test(v)) throw this.error(key, `must be ${rule.describe ?? `of the form ${rule.pattern}`}`);
    return v;
  }

  /** An integer within `[min, max]` (defaults: any safe integer). */
  integer(key: string, range?: { min?: number; max?: number }): number | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    const min = range?.min ?? Number.MIN_SAFE_INTEGER;
    const max = range?.max ?? Number.MAX_SAFE_INTEGER;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw this.error(key, `must be an integer${describeRange(range)}`);
    }
    return v;
  }

  /** A finite number within `[min, max]`. */
  number(key: string, range?: { min?: number; max?: number }): number | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < (range?.min ?? -Infinity) || v > (range?.max ?? Infinity)) {
      throw this.error(key, `must be a finite number${describeRange(range)}`);
    }
    return v;
  }

  /** A boolean. */
  boolean(key: string): boolean | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw this.error(key, 'must be a boolean');
    return v;
  }

  /** One of `values`. */
  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw this.error(key, `must be one of ${values.map((x) => `'${x}'`).join(', ')}`);
    }
    return v as T;
  }

  /** A function. */
  fn<F extends (...args: never[]) => unknown>(key: string): F | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'function') throw this.error(key, 'must be a function');
    return v as F;
  }

  /** A plain object (its fields are the caller's to check). */
  object(key: string): Record<string, unknown> | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.error(key, 'must be an object');
    return v as Record<string, unknown>;
  }

  /** An array of strings. */
  stringArray(key: string): string[] | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw this.error(key, 'must be an array of strings');
    return v as string[];
  }
}

function describeRange(range: { min?: number; max?: number } | undefined): string {
  const min = range?.min;
  const max = range?.max;
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}
