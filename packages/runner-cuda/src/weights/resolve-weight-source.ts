import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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

/**
 * Turns a `WeightSource` into a local checkpoint directory.
 * - `local_path`: the directory, or the directory of a given `.safetensors`/`config.json` file.
 * - `hugging_face`: the cached snapshot when it holds every needed file; otherwise the missing
 *   files are downloaded into the same cache (unless `HF_HUB_OFFLINE` is set).
 * - `runtime_managed`: not meaningful for a native engine → `bad_request`.
 */
export async function resolveWeightSource(source: WeightSource, options: ResolveOptions = {}): Promise<string> {
  if (source === null || typeof source !== 'object') {
    throw new InferenceError('bad_request', 'weight source must be an object with a kind', { details: { param: 'source' } });
  }
  switch (source.kind) {
    case 'local_path':
      return resolveLocalPath(source.path);
    case 'hugging_face':
      return resolveHuggingFace(source.repo, source.revision, options);
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

function resolveLocalPath(path: string): string {
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
  if (st.isFile()) dir = dirname(dir);
  const { missing } = requiredModelFiles(dir);
  if (missing.length > 0) {
    throw new InferenceError('not_found', `model directory ${dir} lacks ${missing.join(', ')}`, { details: { resource: `${dir}/${missing[0]}` } });
  }
  return dir;
}

async function resolveHuggingFace(repo: string, revision: string | undefined, options: ResolveOptions): Promise<string> {
  if (typeof repo !== 'string' || !/^[\w.-]+(\/[\w.-]+)?$/.test(repo) || repo.includes('..')) {
    throw new InferenceError('bad_request', `invalid Hugging Face repo id ${JSON.stringify(repo)}`, { details: { param: 'source.repo' } });
  }
  if (revision !== undefined && (typeof revision !== 'string' || revision === '' || revision.includes('..'))) {
    throw new InferenceError('bad_request', `invalid revision ${JSON.stringify(revision)}`, { details: { param: 'source.revision' } });
  }
  const env = options.env ?? process.env;
  const cacheDir = hfHubCacheDir(env);
  const snapshot = cachedSnapshotDir(cacheDir, repo, revision);
  if (snapshot !== undefined && requiredModelFiles(snapshot).missing.length === 0) return snapshot;
  const offline = env.HF_HUB_OFFLINE === '1' || env.HF_HUB_OFFLINE === 'true' || env.TRANSFORMERS_OFFLINE === '1';
  if (offline) {
    const what = snapshot === undefined
      ? `no cached snapshot of ${repo}@${revision ?? 'main'} in ${cacheDir}`
      : `the cached snapshot ${snapshot} lacks ${requiredModelFiles(snapshot).missing.join(', ')}`;
    throw new InferenceError('not_found', `${what}, and HF_HUB_OFFLINE forbids downloading`, { details: { resource: repo } });
  }
  return downloadToHubCache({
    repo,
    revision,
    cacheDir,
    accessToken: env.HF_TOKEN || undefined,
    hubUrl: env.HF_ENDPOINT || undefined,
    signal: options.signal,
    onProgress: options.onProgress,
  });
}
