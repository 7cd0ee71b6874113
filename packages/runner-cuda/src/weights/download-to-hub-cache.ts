import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { downloadFileToCacheDir, listFiles } from '@huggingface/hub';
import { InferenceError, type WeightLoadProgress } from '@inferkit/inference-core';

/** What `downloadToHubCache` needs. */
export interface DownloadOptions {
  repo: string;
  revision: string | undefined;
  cacheDir: string;
  accessToken: string | undefined;
  signal?: AbortSignal;
  onProgress?: (progress: WeightLoadProgress) => void;
}

// The files runner-cuda reads; everything else in a repo (PyTorch .bin, ONNX, GGUF) is skipped.
const WANTED = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|chat_template\.jinja|model\.safetensors|model\.safetensors\.index\.json|model-\d+-of-\d+\.safetensors)$/;

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
 */
export async function downloadToHubCache(o: DownloadOptions): Promise<string> {
  const credentials = o.accessToken !== undefined ? { accessToken: o.accessToken } : {};
  const paths: string[] = [];
  try {
    for await (const entry of listFiles({ repo: { type: 'model', name: o.repo }, revision: o.revision, ...credentials })) {
      if (entry.type === 'file' && WANTED.test(entry.path)) paths.push(entry.path);
      o.signal?.throwIfAborted();
    }
  } catch (e) {
    if (o.signal?.aborted) throw new InferenceError('cancelled', 'weight download aborted', { cause: e });
    throw classify(e, o.repo);
  }
  if (!paths.includes('config.json') || !paths.includes('tokenizer.json') || !paths.some((p) => p.endsWith('.safetensors'))) {
    throw new InferenceError('not_found', `${o.repo} has no safetensors checkpoint with config.json and tokenizer.json`, { details: { resource: o.repo } });
  }
  let snapshot = '';
  let done = 0;
  for (const path of paths) {
    if (o.signal?.aborted) throw new InferenceError('cancelled', 'weight download aborted');
    let local: string;
    try {
      local = await downloadFileToCacheDir({ repo: { type: 'model', name: o.repo }, path, revision: o.revision, cacheDir: o.cacheDir, ...credentials });
    } catch (e) {
      throw classify(e, o.repo);
    }
    snapshot = dirname(local);
    done += statSync(local).size;
    o.onProgress?.({ phase: 'download', loadedBytes: done, totalBytes: undefined, file: path });
  }
  return snapshot;
}
