import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { downloadFileToCacheDir, listFiles, modelInfo } from '@huggingface/hub';
import { InferenceError, type WeightLoadProgress } from '@inferkit/inference-core';
import { repoFolderName } from './hf-cache.js';

/** What `downloadToHubCache` needs. */
export interface DownloadOptions {
  repo: string;
  revision: string | undefined;
  cacheDir: string;
  accessToken: string | undefined;
  /** Hub endpoint (`HF_ENDPOINT`); default huggingface.co. */
  hubUrl: string | undefined;
  signal?: AbortSignal;
  onProgress?: (progress: WeightLoadProgress) => void;
}

// The files runner-cuda reads; everything else in a repo (PyTorch .bin, ONNX, GGUF) is skipped.
const WANTED = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|chat_template\.jinja|model\.safetensors|model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors)$/;
const COMMIT = /^[0-9a-f]{40}$/;

function classify(e: unknown, repo: string): InferenceError {
  if (InferenceError.isInstance(e)) return e;
  const message = (e as Error)?.message ?? String(e);
  const status = (e as { statusCode?: number }).statusCode;
  if (status === 401) return new InferenceError('unauthorized', `Hugging Face refused ${repo}: ${message} (set HF_TOKEN)`, { cause: e, status });
  if (status === 403) return new InferenceError('forbidden', `no access to ${repo}: ${message}`, { cause: e, status });
  if (status === 404) return new InferenceError('not_found', `${repo} not found on Hugging Face: ${message}`, { details: { resource: repo }, cause: e, status });
  if (status !== undefined && status >= 500) return new InferenceError('server_error', `Hugging Face error for ${repo}: ${message}`, { cause: e, status });
  return new InferenceError('network_error', `downloading ${repo} failed: ${message}`, { cause: e });
}

/**
 * Downloads the checkpoint files of `repo` into the standard hub cache (blobs, snapshots, refs),
 * the layout `cachedSnapshotDir` reads offline next time. Returns the snapshot directory.
 *
 * The revision is pinned to one commit first: `downloadFileToCacheDir` given a branch names each
 * file's snapshot after that file's own last commit, which would scatter one checkpoint over
 * several snapshot directories, and it writes no `refs/` entry. Given the commit, every file
 * lands in `snapshots/<commit>/`, and we record `refs/<revision>` as huggingface_hub does.
 */
export async function downloadToHubCache(o: DownloadOptions): Promise<string> {
  const common = { ...(o.accessToken !== undefined ? { accessToken: o.accessToken } : {}), ...(o.hubUrl !== undefined ? { hubUrl: o.hubUrl } : {}) };
  const repo = { type: 'model' as const, name: o.repo };
  const aborted = (e?: unknown) => new InferenceError('cancelled', 'weight download aborted', { cause: e });
  let commit: string;
  const paths: Array<{ path: string; size: number }> = [];
  try {
    if (o.revision !== undefined && COMMIT.test(o.revision)) {
      commit = o.revision;
    } else {
      const info = await modelInfo({ name: o.repo, revision: o.revision ?? 'main', additionalFields: ['sha'], ...common });
      commit = String(info.sha ?? '');
      if (!COMMIT.test(commit)) throw new InferenceError('server_error', `the Hub returned no commit for ${o.repo}@${o.revision ?? 'main'}`);
    }
    for await (const entry of listFiles({ repo, revision: commit, ...common })) {
      if (entry.type === 'file' && WANTED.test(entry.path)) paths.push({ path: entry.path, size: entry.size });
      if (o.signal?.aborted) throw aborted();
    }
  } catch (e) {
    if (o.signal?.aborted) throw aborted(e);
    throw classify(e, o.repo);
  }
  const names = paths.map((p) => p.path);
  if (!names.includes('config.json') || !names.includes('tokenizer.json') || !names.some((p) => p.endsWith('.safetensors'))) {
    throw new InferenceError('not_found', `${o.repo} has no safetensors checkpoint with config.json and tokenizer.json`, { details: { resource: o.repo } });
  }
  const totalBytes = paths.reduce((n, p) => n + p.size, 0);
  let done = 0;
  let snapshot = join(o.cacheDir, repoFolderName(o.repo), 'snapshots', commit);
  for (const { path } of paths) {
    if (o.signal?.aborted) throw aborted();
    let local: string;
    try {
      local = await downloadFileToCacheDir({ repo, path, revision: commit, cacheDir: o.cacheDir, ...common });
    } catch (e) {
      throw classify(e, o.repo);
    }
    snapshot = dirname(local);
    done += statSync(local).size;
    o.onProgress?.({ phase: 'download', loadedBytes: done, totalBytes, file: path });
  }
  const ref = o.revision ?? 'main';
  if (ref !== commit) {
    const refFile = join(o.cacheDir, repoFolderName(o.repo), 'refs', ref);
    mkdirSync(dirname(refFile), { recursive: true });
    writeFileSync(refFile, commit);
  }
  return snapshot;
}
