import { openSync, readFileSync, readSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The embedded model, committed at the repository root. */
export const MODEL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'models', 'inferkit-tiny');

/** Logits and greedy continuations written by models/inferkit-tiny/scripts/train.py. */
export const expected = JSON.parse(readFileSync(join(MODEL_DIR, 'parity', 'expected.json'), 'utf8'));

/** The JSON header of a safetensors file (u64 little-endian length, then JSON). */
export function readSafetensorsHeader(path) {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    return JSON.parse(buf.toString('utf8'));
  } finally {
    closeSync(fd);
  }
}
