/** Little-endian pieces of a GGUF file, for writing valid and hostile headers in tests. */
export const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
export const u64 = (n: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
export const str = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u64(b.length), b]);
};

/** GGUF type ids. */
export const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;

export type KvValue =
  | { t: 'str'; v: string }
  | { t: 'u32'; v: number }
  | { t: 'i32'; v: number }
  | { t: 'f32'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'u64'; v: bigint }
  | { t: 'strs'; v: string[] }
  | { t: 'i32s'; v: number[] }
  | { t: 'f32s'; v: number[] }
  | { t: 'raw'; bytes: Buffer };

export function kv(key: string, value: KvValue): Buffer {
  const body = (() => {
    switch (value.t) {
      case 'str':
        return Buffer.concat([u32(T.STRING), str(value.v)]);
      case 'u32':
        return Buffer.concat([u32(T.U32), u32(value.v)]);
      case 'i32': {
        const b = Buffer.alloc(4);
        b.writeInt32LE(value.v);
        return Buffer.concat([u32(T.I32), b]);
      }
      case 'f32': {
        const b = Buffer.alloc(4);
        b.writeFloatLE(value.v);
        return Buffer.concat([u32(T.F32), b]);
      }
      case 'bool':
        return Buffer.concat([u32(T.BOOL), Buffer.from([value.v ? 1 : 0])]);
      case 'u64':
        return Buffer.concat([u32(T.U64), u64(value.v)]);
      case 'strs':
        return Buffer.concat([u32(T.ARRAY), u32(T.STRING), u64(value.v.length), ...value.v.map((s) => str(s))]);
      case 'i32s':
        return Buffer.concat([u32(T.ARRAY), u32(T.I32), u64(value.v.length), ...value.v.map((n) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; })]);
      case 'f32s':
        return Buffer.concat([u32(T.ARRAY), u32(T.F32), u64(value.v.length), ...value.v.map((n) => { const b = Buffer.alloc(4); b.writeFloatLE(n); return b; })]);
      case 'raw':
        return value.bytes;
    }
  })();
  return Buffer.concat([str(key), body]);
}

/** A GGUF v3 file holding `pairs` (already encoded with `kv`) and no tensors. */
export function ggufFile(pairs: Buffer[], o: { magic?: number; version?: number; tensors?: bigint; kvCount?: bigint } = {}): Buffer {
  return Buffer.concat([u32(o.magic ?? 0x46554747), u32(o.version ?? 3), u64(o.tensors ?? 0n), u64(o.kvCount ?? BigInt(pairs.length)), ...pairs]);
}
