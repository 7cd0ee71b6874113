// Where the benches read and write, and the BENCH_* switches they share.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The @inferkit/runner-cuda package directory. */
export const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Generated bench models and results (git-ignored). */
export const outDir = join(packageDir, 'bench', 'out');
/** BENCH_SMOKE=1: tiny models and short runs, to check a script rather than measure. */
export const SMOKE = process.env.BENCH_SMOKE === '1';

/** The variable as a number, or `fallback` when it is unset. */
export function envNumber(name, fallback) {
  return Number(process.env[name] ?? fallback);
}

/** The variable as a comma-separated list, or `fallback` split the same way when it is unset. */
export function envList(name, fallback) {
  return (process.env[name] ?? fallback).split(',').filter(Boolean);
}

/** Writes `value` as indented JSON to `fileName` under outDir and returns the file's path. */
export function writeResultJson(fileName, value) {
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, fileName);
  writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}
