import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InferenceError, type WeightLoadProgress, type WeightSource } from '@inferkit/inference-core';
import { cachedSnapshotDir, hfHubCacheDir, requiredModelFiles } from './hf-cache.js';
import { downloadToHubCache } from './download-to-hub-cache.js';

/** Options of `resolveWeightSource`. */
export interface ResolveOptions {
  signal?: AbortSignal;
  onProgress?: (progress: WeightLoadProgress) => void;
  /** Environment to read `HF_HUB_CACHE`, `HF_HOME`, `HF_TOKEN`, `HF_ENDPOINT`, `HF_HUB_OFFLINE` from. */
  env?: NodeJS.ProcessEnv;
}

/** Where the weights are once resolved: a Hugging Face checkpoint directory, or one GGUF file. */
export type ResolvedWeights = { format: 'safetensors'; dir: string } | { format: 'gguf'; file: string };

const GGUF = /\.gguf$/i;

/**
 * Turns a `WeightSource` into local weights.
 * - `local_path`: a `.gguf` file; a directory holding a safetensors checkpoint (or the directory
 *   of a given `.safetensors`/`config.json` file); or a directory holding exactly one `.gguf`
 *   file (`source.file` picks one of several).
 * - `hugging_face`: the cached snapshot when it holds what is needed; otherwise the missing files
 *   are downloaded into the same cache (unless `HF_HUB_OFFLINE` is set). `source.file` names a
 *   `.gguf` file of the repo; without it a repo with a safetensors checkpoint loads that, and a
 *   repo with a single `.gguf` file loads that one.
 * - `runtime_managed`: not meaningful for a native engine → `bad_request`.
 */
export async function resolveWeightSource(source: WeightSource, options: ResolveOptions = {}): Promise<ResolvedWeights> {
  if (source === null || typeof source !== 'object') {
    throw new InferenceError('bad_request', 'weight source must be an object with a kind', { details: { param: 'source' } });
  }
  switch (source.kind) {
    case 'local_path':
      return resolveLocalPath(source.path, checkFile(source.file));
    case 'hugging_face':
      return resolveHuggingFace(source.repo, source.revision, checkFile(source.file), options);
    case 'runtime_managed':
      throw new InferenceError(
        'bad_request',
        "runner-cuda loads weights itself: use { kind: 'local_path', path } or { kind: 'hugging_face', repo }, not 'runtime_managed'",
        { details: { param: 'source.kind' } },
      );
    default:
      throw new InferenceError('bad_request', `unknown weight source kind ${JSON.stringify((source as { kind: unknown }).kind)}`, {
        details: { param: 'source.kind' },
      });
  }
}

/** `source.file`: a relative path to a `.gguf` file that stays inside its directory or repo. */
function checkFile(file: unknown): string | undefined {
  if (file === undefined) return undefined;
  const bad = (why: string) => new InferenceError('bad_request', `source.file ${why}`, { details: { param: 'source.file' } });
  if (typeof file !== 'string' || file === '') throw bad('must be a non-empty string');
  const parts = file.split(/[\\/]/);
  if (file.startsWith('/') || file.startsWith('\\') || /^[A-Za-z]:/.test(file) || parts.includes('..') || parts.includes('')) {
    throw bad(`must be a relative path inside the model directory or repository, got ${JSON.stringify(file)}`);
  }
  if (!GGUF.test(file)) throw bad(`must name a .gguf file, got ${JSON.stringify(file)}`);
  return file;
}

function ggufFilesIn(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => GGUF.test(e.name) && (e.isFile() || e.isSymbolicLink()))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

function several(where: string, files: string[]): InferenceError {
  return new InferenceError('bad_request', `${where} holds ${files.length} GGUF files (${files.join(', ')}); set source.file to the one to load`, {
    details: { param: 'source.file' },
  });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function resolveLocalPath(path: string, file: string | undefined): ResolvedWeights {
  if (typeof path !== 'string' || path === '') {
    throw new InferenceError('bad_request', 'local_path weight source needs a non-empty path', { details: { param: 'source.path' } });
  }
  let dir = resolve(path);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new InferenceError('not_found', `model path ${dir} does not exist`, { details: { resource: dir } });
  }
  if (st.isFile()) {
    if (file !== undefined) throw new InferenceError('bad_request', 'source.file applies to a directory path, not to a file', { details: { param: 'source.file' } });
    if (GGUF.test(dir)) return { format: 'gguf', file: dir };
    dir = dirname(dir);
  }
  if (file !== undefined) {
    const picked = join(dir, file);
    if (!isFile(picked)) throw new InferenceError('not_found', `model directory ${dir} has no file ${file}`, { details: { resource: picked } });
    return { format: 'gguf', file: picked };
  }
  const { missing } = requiredModelFiles(dir);
  if (missing.length === 0) return { format: 'safetensors', dir };
  const ggufs = ggufFilesIn(dir);
  if (ggufs.length === 1) return { format: 'gguf', file: join(dir, ggufs[0]!) };
  if (ggufs.length > 1) throw several(`model directory ${dir}`, ggufs);
  throw new InferenceError('not_found', `model directory ${dir} lacks ${missing.join(', ')} and holds no .gguf file`, {
    details: { resource: `${dir}/${missing[0]}` },
  });
}

async function resolveHuggingFace(repo: string, revision: string | undefined, file: string | undefined, options: ResolveOptions): Promise<ResolvedWeights> {
  if (typeof repo !== 'string' || !/^[\w.-]+(\/[\w.-]+)?$/.test(repo) || repo.includes('..')) {
    throw new InferenceError('bad_request', `invalid Hugging Face repo id ${JSON.stringify(repo)}`, { details: { param: 'source.repo' } });
  }
  if (revision !== undefined && (typeof revision !== 'string' || revision === '' || revision.includes('..'))) {
    throw new InferenceError('bad_request', `invalid revision ${JSON.stringify(revision)}`, { details: { param: 'source.revision' } });
  }
  const env = options.env ?? process.env;
  const cacheDir = hfHubCacheDir(env);
  const snapshot = cachedSnapshotDir(cacheDir, repo, revision);
  const cached = snapshot === undefined ? undefined : fromSnapshot(snapshot, file);
  if (cached !== undefined) return cached;
  const offline = env.HF_HUB_OFFLINE === '1' || env.HF_HUB_OFFLINE === 'true' || env.TRANSFORMERS_OFFLINE === '1';
  if (offline) {
    let what: string;
    if (snapshot === undefined) what = `no cached snapshot of ${repo}@${revision ?? 'main'} in ${cacheDir}`;
    else if (file !== undefined) what = `the cached snapshot ${snapshot} has no ${file}`;
    else what = `the cached snapshot ${snapshot} lacks ${requiredModelFiles(snapshot).missing.join(', ')} and holds no .gguf file`;
    throw new InferenceError('not_found', `${what}, and HF_HUB_OFFLINE forbids downloading`, { details: { resource: repo } });
  }
  return downloadToHubCache({
    repo,
    revision,
    file,
    cacheDir,
    accessToken: env.HF_TOKEN || undefined,
    hubUrl: env.HF_ENDPOINT || undefined,
    signal: options.signal,
    onProgress: options.onProgress,
  });
}

/** What a cached snapshot directory can serve without the network, if anything. */
function fromSnapshot(snapshot: string, file: string | undefined): ResolvedWeights | undefined {
  if (file !== undefined) {
    const path = join(snapshot, file);
    return isFile(path) ? { format: 'gguf', file: path } : undefined;
  }
  if (requiredModelFiles(snapshot).missing.length === 0) return { format: 'safetensors', dir: snapshot };
  const ggufs = ggufFilesIn(snapshot);
  if (ggufs.length === 1) return { format: 'gguf', file: join(snapshot, ggufs[0]!) };
  if (ggufs.length > 1) throw several(`the cached snapshot of ${basename(dirname(dirname(snapshot)))}`, ggufs);
  return undefined;
}
