import { isUtf8 } from 'node:buffer';
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { InferenceError } from '@inferkit/inference-core';

/** GGUF value types, numbered as in the GGUF specification. */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufType = (typeof GgufType)[keyof typeof GgufType];

const TYPE_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
// Bytes per element of the fixed-size types; a string takes at least its 8-byte length.
const TYPE_SIZES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 0, 8, 8, 8];

/** A numeric or boolean array, read into the matching typed array (booleans as 0/1 bytes). */
export type GgufNumericArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array | BigUint64Array | BigInt64Array;

/** One metadata value: scalars as JS values (64-bit integers as bigint), arrays with their element type. */
export type GgufValue =
  | { type: Exclude<GgufType, 7 | 8 | 9 | 10 | 11>; value: number }
  | { type: 10 | 11; value: bigint }
  | { type: 7; value: boolean }
  | { type: 8; value: string }
  | { type: 9; elementType: 8; value: string[] }
  | { type: 9; elementType: Exclude<GgufType, 8 | 9>; value: GgufNumericArray };

/** Limits of `readGgufMetadata`; every count and length in a file is checked against them. */
export interface GgufLimits {
  /** Most key/value pairs (real files have fewer than 100). */
  maxKeys: number;
  /** Most bytes of one string value (a chat template is tens of kB). */
  maxStringBytes: number;
  /** Most elements of one array (the largest vocabularies hold ~260k tokens). */
  maxArrayLength: number;
  /** Most bytes of the whole metadata section. */
  maxMetadataBytes: number;
}

export const DEFAULT_GGUF_LIMITS: GgufLimits = {
  maxKeys: 65_536,
  maxStringBytes: 16 << 20,
  maxArrayLength: 1 << 24,
  maxMetadataBytes: 512 << 20,
};

const MAX_KEY_BYTES = 65_535;
const MAX_TENSORS = 1 << 24;
const READ_CHUNK = 1 << 20;
const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32

/**
 * The header and key/value section of a GGUF file. Tensor infos and data are never read here:
 * the engine reads those.
 */
export class GgufMetadata {
  /** The path the file was read from. */
  readonly path: string;
  /** The file's base name, used in error messages (never the full path). */
  readonly file: string;
  readonly version: number;
  readonly tensorCount: bigint;
  readonly entries: ReadonlyMap<string, GgufValue>;

  constructor(path: string, version: number, tensorCount: bigint, entries: ReadonlyMap<string, GgufValue>) {
    this.path = path;
    this.file = basename(path);
    this.version = version;
    this.tensorCount = tensorCount;
    this.entries = entries;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** A typed `bad_request` naming `key`. */
  error(key: string, why: string): InferenceError {
    return new InferenceError('bad_request', `${this.file}: GGUF metadata key ${key} ${why}`, { details: { param: 'source.path' } });
  }

  private get(key: string, required: boolean): GgufValue | undefined {
    const v = this.entries.get(key);
    if (v === undefined && required) throw this.error(key, 'is missing');
    return v;
  }

  private wrongType(key: string, v: GgufValue, want: string): InferenceError {
    const found = v.type === GgufType.ARRAY ? `array of ${TYPE_NAMES[v.elementType]}` : TYPE_NAMES[v.type];
    return this.error(key, `must be ${want}, found ${found}`);
  }

  string(key: string, required: true): string;
  string(key: string, required?: boolean): string | undefined;
  string(key: string, required = false): string | undefined {
    const v = this.get(key, required);
    if (v === undefined) return undefined;
    if (v.type !== GgufType.STRING) throw this.wrongType(key, v, 'a string');
    return v.value;
  }

  bool(key: string): boolean | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    if (v.type !== GgufType.BOOL) throw this.wrongType(key, v, 'a bool');
    return v.value;
  }

  /** Any integer type whose value lies in [0, max]. */
  uint(key: string, max = 0xffff_ffff): number | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    let n: number | bigint;
    if (v.type === GgufType.UINT64 || v.type === GgufType.INT64) n = v.value;
    else if (v.type <= GgufType.INT32) n = v.value as number;
    else throw this.wrongType(key, v, 'an unsigned integer');
    if (n < 0 || n > max) throw this.error(key, `is ${n}, outside [0, ${max}]`);
    return Number(n);
  }

  /** f32, f64 or any integer type, as a finite number. */
  number(key: string): number | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    if (v.type === GgufType.STRING || v.type === GgufType.ARRAY || v.type === GgufType.BOOL) throw this.wrongType(key, v, 'a number');
    const n = Number(v.value);
    if (!Number.isFinite(n)) throw this.error(key, 'is not finite');
    return n;
  }

  stringArray(key: string, required: true): string[];
  stringArray(key: string, required?: boolean): string[] | undefined;
  stringArray(key: string, required = false): string[] | undefined {
    const v = this.get(key, required);
    if (v === undefined) return undefined;
    if (v.type !== GgufType.ARRAY || v.elementType !== GgufType.STRING) throw this.wrongType(key, v, 'an array of strings');
    return v.value;
  }

  /** An array of one of `types` (numeric element types only). */
  numericArray(key: string, types: readonly GgufType[]): GgufNumericArray | undefined {
    const v = this.get(key, false);
    if (v === undefined) return undefined;
    if (v.type !== GgufType.ARRAY || v.elementType === GgufType.STRING || !types.includes(v.elementType)) {
      throw this.wrongType(key, v, `an array of ${types.map((t) => TYPE_NAMES[t]).join(' or ')}`);
    }
    return v.value as GgufNumericArray;
  }
}

/** Buffered little-endian reads from a file, each checked against the file size. */
class BoundedReader {
  private buf: Buffer;
  private bufStart: number;
  /** Absolute file offset just past the buffered bytes. */
  bufEnd: number;
  /** Absolute file offset of the next byte. */
  pos: number;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly fail: (why: string) => InferenceError,
  ) {
    this.buf = Buffer.alloc(0);
    this.bufStart = 0;
    this.bufEnd = 0;
    this.pos = 0;
  }

  get remaining(): number {
    return this.size - this.pos;
  }

  /** Makes `n` bytes at `pos` available; `what` names the field for the truncation error. */
  async need(n: number, what: string): Promise<void> {
    if (this.pos + n <= this.bufEnd) return;
    if (this.pos + n > this.size) throw this.fail(`is truncated: ${what} needs ${n} bytes at offset ${this.pos}, the file has ${this.size}`);
    const len = Math.min(Math.max(n, READ_CHUNK), this.size - this.pos);
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(buf, got, len - got, this.pos + got);
      if (bytesRead === 0) throw this.fail(`is truncated: ${what} at offset ${this.pos + got} (the file shrank while being read)`);
      got += bytesRead;
    }
    this.buf = buf;
    this.bufStart = this.pos;
    this.bufEnd = this.pos + len;
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  u32(): number {
    return this.buf.readUInt32LE(this.at(4));
  }

  u64(): bigint {
    return this.buf.readBigUInt64LE(this.at(8));
  }

  /** The u64 at `pos` without consuming it; the caller checked that 8 bytes are buffered. */
  peekU64(): bigint {
    return this.buf.readBigUInt64LE(this.pos - this.bufStart);
  }

  bytes(n: number): Buffer {
    const o = this.at(n);
    return this.buf.subarray(o, o + n);
  }
}

/**
 * Reads the header and the key/value metadata of the GGUF file at `path` (versions 2 and 3),
 * bounded by `limits`: every length and count is checked against the limits and against the
 * bytes left in the file before anything is allocated, arrays of arrays are refused (as
 * llama.cpp does), and anything malformed is a `bad_request` naming the key.
 * @throws InferenceError `not_found` when the file cannot be opened.
 */
export async function readGgufMetadata(path: string, limits: GgufLimits = DEFAULT_GGUF_LIMITS): Promise<GgufMetadata> {
  const file = basename(path);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new InferenceError('not_found', `cannot open ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { details: { resource: file }, cause: e });
  }
  try {
    const { size } = await fh.stat();
    let where = 'header';
    const bad = (why: string) => new InferenceError('bad_request', `${file}: not a valid GGUF file: ${where} ${why}`, { details: { param: 'source.path' } });
    const r = new BoundedReader(fh, size, (why) => bad(why));

    await r.need(8, 'the magic and version');
    if (r.u32() !== MAGIC) throw new InferenceError('bad_request', `${file} is not a GGUF file (wrong magic)`, { details: { param: 'source.path' } });
    const version = r.u32();
    if (version !== 2 && version !== 3) throw bad(`has version ${version}; versions 2 and 3 are supported (a byte-swapped version means a big-endian file)`);
    await r.need(16, 'the tensor and key counts');
    const tensorCount = r.u64();
    const kvCount = r.u64();
    if (tensorCount > BigInt(MAX_TENSORS)) throw bad(`declares ${tensorCount} tensors (at most ${MAX_TENSORS})`);
    if (kvCount > BigInt(limits.maxKeys)) throw bad(`declares ${kvCount} metadata keys (at most ${limits.maxKeys})`);
    // Each pair takes at least 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes.
    if (kvCount * 14n > BigInt(r.remaining)) throw bad(`declares ${kvCount} metadata keys, more than the file can hold`);

    // `index` names an element of a string array in errors; the label is built only then.
    const label = (what: string, index: number | undefined) => (index === undefined ? what : `${what} at index ${index}`);
    const stringLength = (n: bigint, left: number, what: string, index: number | undefined, max: number): number => {
      if (n > BigInt(max)) throw bad(`has a ${label(what, index)} of ${n} bytes (at most ${max})`);
      if (Number(n) > left) throw bad(`has a ${label(what, index)} of ${n} bytes, past the end of the file`);
      return Number(n);
    };
    const decode = (bytes: Buffer, what: string, index: number | undefined): string => {
      if (!isUtf8(bytes)) throw bad(`has a ${label(what, index)} that is not valid UTF-8`);
      return bytes.toString('utf8');
    };
    // Strings already in the buffer are read without a promise per string: vocabularies hold
    // hundreds of thousands of them.
    const bufferedString = (what: string, index: number | undefined, max: number): string | undefined => {
      if (r.pos + 8 > r.bufEnd) return undefined;
      const len = stringLength(r.peekU64(), r.remaining - 8, what, index, max);
      if (r.pos + 8 + len > r.bufEnd) return undefined;
      r.u64();
      return decode(r.bytes(len), what, index);
    };
    const readString = async (what: string, max: number, index?: number): Promise<string> => {
      const fast = bufferedString(what, index, max);
      if (fast !== undefined) return fast;
      await r.need(8, label(what, index));
      const len = stringLength(r.u64(), r.remaining, what, index, max);
      await r.need(len, label(what, index));
      return decode(r.bytes(len), what, index);
    };

    const entries = new Map<string, GgufValue>();
    for (let i = 0; i < Number(kvCount); i++) {
      where = `metadata key #${i}`;
      const key = await readString('key', MAX_KEY_BYTES);
      if (key === '') throw bad('has an empty name');
      where = `metadata key ${key}`;
      if (entries.has(key)) throw bad('appears twice');
      await r.need(4, 'the value type');
      const type = r.u32();
      let value: GgufValue;
      if (type === GgufType.ARRAY) {
        await r.need(12, 'the array header');
        const elementType = r.u32();
        const count = r.u64();
        if (elementType === GgufType.ARRAY) throw bad('is an array of arrays (not supported, as in llama.cpp)');
        if (elementType >= TYPE_NAMES.length) throw bad(`has an array of unknown type ${elementType}`);
        if (count > BigInt(limits.maxArrayLength)) throw bad(`has ${count} array elements (at most ${limits.maxArrayLength})`);
        const n = Number(count);
        if (n * TYPE_SIZES[elementType]! > r.remaining) throw bad(`has ${n} array elements, more than the rest of the file holds`);
        if (r.pos + n * TYPE_SIZES[elementType]! > limits.maxMetadataBytes) throw bad(`ends past ${limits.maxMetadataBytes} bytes of metadata`);
        if (elementType === GgufType.STRING) {
          const out = new Array<string>(n);
          for (let j = 0; j < n; j++) out[j] = bufferedString('string', j, limits.maxStringBytes) ?? (await readString('string', limits.maxStringBytes, j));
          value = { type: GgufType.ARRAY, elementType: GgufType.STRING, value: out };
        } else {
          const bytes = n * TYPE_SIZES[elementType]!;
          await r.need(bytes, `${n} array elements`);
          const et = elementType as Exclude<GgufType, 8 | 9>;
          value = { type: GgufType.ARRAY, elementType: et, value: typedArray(et, r.bytes(bytes), n) };
        }
      } else if (type === GgufType.STRING) {
        value = { type, value: await readString('string', limits.maxStringBytes) };
      } else if (type < TYPE_NAMES.length) {
        const t = type as Exclude<GgufType, 8 | 9>;
        await r.need(TYPE_SIZES[t]!, 'the value');
        value = scalar(t, r.bytes(TYPE_SIZES[t]!));
      } else {
        throw bad(`has unknown value type ${type}`);
      }
      if (r.pos > limits.maxMetadataBytes) throw bad(`ends past ${limits.maxMetadataBytes} bytes of metadata`);
      entries.set(key, value);
    }
    return new GgufMetadata(path, version, tensorCount, entries);
  } finally {
    await fh.close();
  }
}

function scalar(type: Exclude<GgufType, 8 | 9>, b: Buffer): GgufValue {
  switch (type) {
    case GgufType.UINT8:
      return { type, value: b.readUInt8(0) };
    case GgufType.INT8:
      return { type, value: b.readInt8(0) };
    case GgufType.UINT16:
      return { type, value: b.readUInt16LE(0) };
    case GgufType.INT16:
      return { type, value: b.readInt16LE(0) };
    case GgufType.UINT32:
      return { type, value: b.readUInt32LE(0) };
    case GgufType.INT32:
      return { type, value: b.readInt32LE(0) };
    case GgufType.FLOAT32:
      return { type, value: b.readFloatLE(0) };
    case GgufType.BOOL:
      return { type, value: b.readUInt8(0) !== 0 };
    case GgufType.UINT64:
      return { type, value: b.readBigUInt64LE(0) };
    case GgufType.INT64:
      return { type, value: b.readBigInt64LE(0) };
    case GgufType.FLOAT64:
      return { type, value: b.readDoubleLE(0) };
  }
}

/** Copies little-endian elements into a fresh (aligned) typed array. */
function typedArray(type: Exclude<GgufType, 8 | 9>, b: Buffer, n: number): GgufNumericArray {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (type) {
    case GgufType.UINT8:
    case GgufType.BOOL:
      return Uint8Array.from(b);
    case GgufType.INT8:
      return Int8Array.from(b, (x) => (x << 24) >> 24);
    case GgufType.UINT16:
      return Uint16Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true));
    case GgufType.INT16:
      return Int16Array.from({ length: n }, (_, i) => view.getInt16(2 * i, true));
    case GgufType.UINT32:
      return Uint32Array.from({ length: n }, (_, i) => view.getUint32(4 * i, true));
    case GgufType.INT32:
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
    case GgufType.FLOAT32:
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
    case GgufType.FLOAT64:
      return Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
    case GgufType.UINT64:
      return BigUint64Array.from({ length: n }, (_, i) => view.getBigUint64(8 * i, true));
    case GgufType.INT64:
      return BigInt64Array.from({ length: n }, (_, i) => view.getBigInt64(8 * i, true));
  }
}
