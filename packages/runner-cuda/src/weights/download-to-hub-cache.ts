import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { downloadFileToCacheDir, listFiles, modelInfo } from '@huggingface/hub';
import { InferenceError, type WeightLoadProgress } from '@inferkit/inference-core';
import { repoFolderName } from './hf-cache.js';
import type { ResolvedWeights } from './resolve-weight-source.js';

/** What `downloadToHubCache` needs. */
export interface DownloadOptions {
  repo: string;
  revision: string | undefined;
  /** A `.gguf` file of the repo to fetch alone; `undefined` picks the checkpoint (see below). */
  file?: string | undefined;
  cacheDir: string;
  accessToken: string | undefined;
  /** Hub endpoint (`HF_ENDPOINT`); default huggingface.co. */
  hubUrl: string | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: WeightLoadProgress) => void) | undefined;
}

// The files of a safetensors checkpoint runner-cuda reads; everything else (PyTorch .bin, ONNX) is skipped.
const WANTED = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|chat_template\.jinja|model\.safetensors|model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors)$/;
const GGUF = /\.gguf$/i;
const COMMIT = /^[0-9a-f]{40}$/;
// How often the size of a file being downloaded is reported (the hub client has no progress hook).
const PROGRESS_INTERVAL_MS = 250;

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

/** Which files of the repo to fetch: the named GGUF, else a safetensors checkpoint, else its only GGUF. */
function pick(o: DownloadOptions, entries: Array<{ path: string; size: number }>): { files: Array<{ path: string; size: number }>; gguf: string | undefined } {
  if (o.file !== undefined) {
    const found = entries.find((e) => e.path === o.file);
    if (found === undefined) throw new InferenceError('not_found', `${o.repo} has no file ${o.file}`, { details: { resource: `${o.repo}/${o.file}` } });
    return { files: [found], gguf: found.path };
  }
  const wanted = entries.filter((e) => WANTED.test(e.path));
  const names = wanted.map((e) => e.path);
  if (names.includes('config.json') && names.includes('tokenizer.json') && names.some((p) => p.endsWith('.safetensors'))) return { files: wanted, gguf: undefined };
  const ggufs = entries.filter((e) => GGUF.test(e.path));
  if (ggufs.length === 1) return { files: ggufs, gguf: ggufs[0]!.path };
  if (ggufs.length > 1) {
    throw new InferenceError('bad_request', `${o.repo} holds ${ggufs.length} GGUF files (${ggufs.map((e) => e.path).join(', ')}); set source.file to the one to load`, {
      details: { param: 'source.file' },
    });
  }
  throw new InferenceError('not_found', `${o.repo} has neither a safetensors checkpoint with config.json and tokenizer.json nor a .gguf file`, { details: { resource: o.repo } });
}

/** Bytes written so far to the `.incomplete` files the hub client streams into. */
function incompleteBytes(blobs: string): number {
  let n = 0;
  try {
    for (const f of readdirSync(blobs)) if (f.endsWith('.incomplete')) n += statSync(join(blobs, f)).size;
  } catch {
    // Not created yet, or renamed away between listing and stat.
  }
  return n;
}

/**
 * Downloads a checkpoint of `repo` (the files a safetensors checkpoint needs, or one GGUF file)
 * into the standard hub cache (blobs, snapshots, refs), the layout `cachedSnapshotDir` reads
 * offline next time. Progress is reported while each file streams in.
 *
 * The revision is pinned to one commit first: `downloadFileToCacheDir` given a branch names each
 * file's snapshot after that file's own last commit, which would scatter one checkpoint over
 * several snapshot directories, and it writes no `refs/` entry. Given the commit, every file
 * lands in `snapshots/<commit>/`, and we record `refs/<revision>` as huggingface_hub does.
 */
export async function downloadToHubCache(o: DownloadOptions): Promise<ResolvedWeights> {
  const signal = o.signal;
  // The hub client takes no AbortSignal; every request it makes gets ours through its fetch.
  const fetchWithSignal: typeof fetch = (input, init) =>
    fetch(input, { ...init, signal: signal === undefined ? init?.signal : init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
  const common = {
    ...(o.accessToken !== undefined ? { accessToken: o.accessToken } : {}),
    ...(o.hubUrl !== undefined ? { hubUrl: o.hubUrl } : {}),
    fetch: fetchWithSignal,
  };
  const repo = { type: 'model' as const, name: o.repo };
  const aborted = (e?: unknown) => new InferenceError('cancelled', 'weight download aborted', { cause: e });
  let commit: string;
  const entries: Array<{ path: string; size: number }> = [];
  try {
    if (o.revision !== undefined && COMMIT.test(o.revision)) {
      commit = o.revision;
    } else {
      const info = await modelInfo({ name: o.repo, revision: o.revision ?? 'main', additionalFields: ['sha'], ...common });
      commit = String(info.sha ?? '');
      if (!COMMIT.test(commit)) throw new InferenceError('server_error', `the Hub returned no commit for ${o.repo}@${o.revision ?? 'main'}`);
    }
    for await (const entry of listFiles({ repo, revision: commit, recursive: true, ...common })) {
      if (entry.type === 'file') entries.push({ path: entry.path, size: entry.size });
      if (signal?.aborted) throw aborted();
    }
  } catch (e) {
    if (signal?.aborted) throw aborted(e);
    throw classify(e, o.repo);
  }
  const { files, gguf } = pick(o, entries);
  const totalBytes = files.reduce((n, p) => n + p.size, 0);
  const blobs = join(o.cacheDir, repoFolderName(o.repo), 'blobs');
  let done = 0;
  let reported = -1;
  const report = (loadedBytes: number, file: string) => {
    const n = Math.min(totalBytes, loadedBytes);
    if (n <= reported) return;
    reported = n;
    try {
      o.onProgress?.({ phase: 'download', loadedBytes: n, totalBytes, file });
    } catch {
      // A throwing progress callback must not abort the download.
    }
  };
  let snapshot = join(o.cacheDir, repoFolderName(o.repo), 'snapshots', commit);
  let local = '';
  for (const { path, size } of files) {
    if (signal?.aborted) throw aborted();
    const timer = o.onProgress === undefined ? undefined : setInterval(() => report(done + Math.min(size, incompleteBytes(blobs)), path), PROGRESS_INTERVAL_MS);
    timer?.unref();
    try {
      local = await downloadFileToCacheDir({ repo, path, revision: commit, cacheDir: o.cacheDir, ...common });
    } catch (e) {
      if (signal?.aborted) throw aborted(e);
      throw classify(e, o.repo);
    } finally {
      if (timer !== undefined) clearInterval(timer);
    }
    // A path inside a folder of the repo lands in the same folder of the snapshot.
    snapshot = join(dirname(local), ...path.split('/').slice(1).map(() => '..'));
    done += statSync(local).size;
    report(done, path);
  }
  if (signal?.aborted) throw aborted();
  const ref = o.revision ?? 'main';
  if (ref !== commit) {
    const refFile = join(o.cacheDir, repoFolderName(o.repo), 'refs', ref);
    mkdirSync(dirname(refFile), { recursive: true });
    writeFileSync(refFile, commit);
  }
  return gguf !== undefined ? { format: 'gguf', file: local } : { format: 'safetensors', dir: snapshot };
}
