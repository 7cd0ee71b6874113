import { cpSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceError, type WeightSource } from '@inferkit/inference-core';
import { cachedSnapshotDir, hfHubCacheDir, repoFolderName } from '../src/weights/hf-cache.js';
import { resolveWeightSource } from '../src/weights/resolve-weight-source.js';
import { modelDir } from './helpers/paths.js';

const COMMIT_A = 'a'.repeat(40);
const COMMIT_B = '0123456789abcdef0123456789abcdef01234567';

let root: string;

/** Lays out `models--org--name` the way huggingface_hub does: blobs, symlinked snapshots, refs. */
function addToCache(cacheDir: string, repo: string, commit: string, refs: string[], from: string, skip: string[] = []): string {
  const repoDir = join(cacheDir, repoFolderName(repo));
  const snap = join(repoDir, 'snapshots', commit);
  mkdirSync(snap, { recursive: true });
  mkdirSync(join(repoDir, 'blobs'), { recursive: true });
  for (const f of readdirSync(from)) {
    if (skip.includes(f)) continue;
    const blob = join(repoDir, 'blobs', `${commit.slice(0, 8)}-${f}`);
    cpSync(join(from, f), blob);
    symlinkSync(join('..', '..', 'blobs', `${commit.slice(0, 8)}-${f}`), join(snap, f));
  }
  mkdirSync(join(repoDir, 'refs'), { recursive: true });
  for (const r of refs) writeFileSync(join(repoDir, 'refs', r), commit);
  return snap;
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return InferenceError.isInstance(e) ? e.kind : `not an InferenceError: ${String(e)}`;
  }
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'inferkit-hf-cache-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('hfHubCacheDir', () => {
  test('HF_HUB_CACHE wins over HF_HOME, which wins over XDG_CACHE_HOME', () => {
    expect(hfHubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b', XDG_CACHE_HOME: '/c' })).toBe('/a');
    expect(hfHubCacheDir({ HF_HOME: '/b', XDG_CACHE_HOME: '/c' })).toBe(join('/b', 'hub'));
    expect(hfHubCacheDir({ XDG_CACHE_HOME: '/c' })).toBe(join('/c', 'huggingface', 'hub'));
    expect(hfHubCacheDir({})).toMatch(/\.cache[/\\]huggingface[/\\]hub$/);
  });
});

describe('resolveWeightSource: hugging_face, offline', () => {
  test('refs/main → snapshot; a tag; a commit hash directly', async () => {
    const cache = join(root, 'hub1');
    const snapA = addToCache(cache, 'tiny-org/tiny-llama', COMMIT_A, ['main'], modelDir('llama-gqa'));
    const snapB = addToCache(cache, 'tiny-org/tiny-llama', COMMIT_B, ['v1.0'], modelDir('llama-gqa'));
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' };
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'tiny-org/tiny-llama' }, { env })).toBe(snapA);
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'tiny-org/tiny-llama', revision: 'v1.0' }, { env })).toBe(snapB);
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'tiny-org/tiny-llama', revision: COMMIT_B }, { env })).toBe(snapB);
    expect(cachedSnapshotDir(cache, 'tiny-org/tiny-llama', 'no-such-branch')).toBeUndefined();
  });

  test('HF_HOME/hub is used when HF_HUB_CACHE is unset', async () => {
    const home = join(root, 'home');
    const snap = addToCache(join(home, 'hub'), 'org/sharded', COMMIT_A, ['main'], modelDir('mistral-sharded'));
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'org/sharded' }, { env: { HF_HOME: home, HF_HUB_OFFLINE: '1' } })).toBe(snap);
  });

  test('a snapshot missing a shard is not used; offline that is not_found naming the file', async () => {
    const cache = join(root, 'hub2');
    addToCache(cache, 'org/partial', COMMIT_A, ['main'], modelDir('mistral-sharded'), ['model-00002-of-00003.safetensors']);
    const p = resolveWeightSource({ kind: 'hugging_face', repo: 'org/partial' }, { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } });
    await expect(p).rejects.toThrow(/model-00002-of-00003\.safetensors/);
    expect(await kindOf(resolveWeightSource({ kind: 'hugging_face', repo: 'org/partial' }, { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } }))).toBe('not_found');
    expect(await kindOf(resolveWeightSource({ kind: 'hugging_face', repo: 'org/absent' }, { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } }))).toBe('not_found');
  });

  test('invalid repo ids and revisions are bad_request', async () => {
    const env = { HF_HUB_CACHE: join(root, 'none'), HF_HUB_OFFLINE: '1' };
    for (const repo of ['', '../etc', 'a/b/c', 'a b']) {
      expect(await kindOf(resolveWeightSource({ kind: 'hugging_face', repo }, { env }))).toBe('bad_request');
    }
    expect(await kindOf(resolveWeightSource({ kind: 'hugging_face', repo: 'a/b', revision: '../../x' }, { env }))).toBe('bad_request');
  });
});

describe('resolveWeightSource: local_path and runtime_managed', () => {
  test('a directory, or a file inside it', async () => {
    expect(await resolveWeightSource({ kind: 'local_path', path: modelDir('llama-gqa') })).toBe(modelDir('llama-gqa'));
    expect(await resolveWeightSource({ kind: 'local_path', path: join(modelDir('llama-gqa'), 'model.safetensors') })).toBe(modelDir('llama-gqa'));
  });

  test('missing directory or files → not_found', async () => {
    expect(await kindOf(resolveWeightSource({ kind: 'local_path', path: join(root, 'nope') }))).toBe('not_found');
    const dir = join(root, 'no-tokenizer');
    cpSync(modelDir('llama-gqa'), dir, { recursive: true });
    renameSync(join(dir, 'tokenizer.json'), join(dir, 'tokenizer.json.bak'));
    await expect(resolveWeightSource({ kind: 'local_path', path: dir })).rejects.toThrow(/tokenizer\.json/);
  });

  test('runtime_managed and unknown kinds are bad_request', async () => {
    expect(await kindOf(resolveWeightSource({ kind: 'runtime_managed' }))).toBe('bad_request');
    expect(await kindOf(resolveWeightSource({ kind: 'ftp' } as unknown as WeightSource))).toBe('bad_request');
    expect(await kindOf(resolveWeightSource({ kind: 'local_path', path: '' }))).toBe('bad_request');
  });
});
