import { cpSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceError, type WeightSource } from '@inferkit/inference-core';
import { cachedSnapshotDir, hfHubCacheDir, repoFolderName } from '../src/weights/hf-cache.js';
import { resolveWeightSource } from '../src/weights/resolve-weight-source.js';
import { modelDir, tokenizerGguf } from './helpers/paths.js';

const COMMIT_A = 'a'.repeat(40);
const COMMIT_B = '0123456789abcdef0123456789abcdef01234567';

let root: string;
const st = (dir: string) => ({ format: 'safetensors', dir });

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
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'tiny-org/tiny-llama' }, { env })).toEqual(st(snapA));
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'tiny-org/tiny-llama', revision: 'v1.0' }, { env })).toEqual(st(snapB));
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'tiny-org/tiny-llama', revision: COMMIT_B }, { env })).toEqual(st(snapB));
    expect(cachedSnapshotDir(cache, 'tiny-org/tiny-llama', 'no-such-branch')).toBeUndefined();
  });

  test('HF_HOME/hub is used when HF_HUB_CACHE is unset', async () => {
    const home = join(root, 'home');
    const snap = addToCache(join(home, 'hub'), 'org/sharded', COMMIT_A, ['main'], modelDir('mistral-sharded'));
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'org/sharded' }, { env: { HF_HOME: home, HF_HUB_OFFLINE: '1' } })).toEqual(st(snap));
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
    expect(await resolveWeightSource({ kind: 'local_path', path: modelDir('llama-gqa') })).toEqual(st(modelDir('llama-gqa')));
    expect(await resolveWeightSource({ kind: 'local_path', path: join(modelDir('llama-gqa'), 'model.safetensors') })).toEqual(st(modelDir('llama-gqa')));
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

describe('resolveWeightSource: GGUF files', () => {
  const gguf = (format: 'gguf', file: string) => ({ format, file });
  const errOf = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      if (InferenceError.isInstance(e)) return e;
    }
    throw new Error('expected an InferenceError');
  };
  const dirWith = (name: string, files: string[]) => {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    for (const f of files) cpSync(tokenizerGguf('bpe-gpt2'), join(dir, f));
    return dir;
  };

  test('a .gguf path, or a directory holding exactly one', async () => {
    expect(await resolveWeightSource({ kind: 'local_path', path: tokenizerGguf('spm') })).toEqual(gguf('gguf', tokenizerGguf('spm')));
    const one = dirWith('one-gguf', ['model-Q8_0.gguf']);
    expect(await resolveWeightSource({ kind: 'local_path', path: one })).toEqual(gguf('gguf', join(one, 'model-Q8_0.gguf')));
  });

  test('several GGUF files: bad_request listing them, unless source.file picks one', async () => {
    const dir = dirWith('two-gguf', ['b-Q4_K_M.gguf', 'a-F16.gguf', 'README.md']);
    const err = await errOf(resolveWeightSource({ kind: 'local_path', path: dir }));
    expect(err.kind).toBe('bad_request');
    expect(err.details).toEqual({ param: 'source.file' });
    expect(err.message).toContain('2 GGUF files (a-F16.gguf, b-Q4_K_M.gguf)');
    expect(await resolveWeightSource({ kind: 'local_path', path: dir, file: 'b-Q4_K_M.gguf' })).toEqual(gguf('gguf', join(dir, 'b-Q4_K_M.gguf')));
    expect((await errOf(resolveWeightSource({ kind: 'local_path', path: dir, file: 'c.gguf' }))).kind).toBe('not_found');
  });

  test('a complete safetensors checkpoint wins over GGUF files beside it when no file is named', async () => {
    const dir = join(root, 'both');
    cpSync(modelDir('llama-gqa'), dir, { recursive: true });
    cpSync(tokenizerGguf('bpe-gpt2'), join(dir, 'x.gguf'));
    expect(await resolveWeightSource({ kind: 'local_path', path: dir })).toEqual(st(dir));
    expect(await resolveWeightSource({ kind: 'local_path', path: dir, file: 'x.gguf' })).toEqual(gguf('gguf', join(dir, 'x.gguf')));
  });

  test('source.file must be a relative .gguf path inside the directory', async () => {
    const dir = dirWith('picky', ['m.gguf']);
    for (const file of ['../m.gguf', '/etc/passwd.gguf', 'a//b.gguf', 'C:\\x.gguf', 'model.safetensors', '', 7]) {
      const err = await errOf(resolveWeightSource({ kind: 'local_path', path: dir, file } as WeightSource));
      expect(err.kind, String(file)).toBe('bad_request');
      expect(err.details, String(file)).toEqual({ param: 'source.file' });
    }
    expect((await errOf(resolveWeightSource({ kind: 'local_path', path: join(dir, 'm.gguf'), file: 'm.gguf' }))).kind).toBe('bad_request');
  });

  test('a directory with neither a checkpoint nor a GGUF file is not_found', async () => {
    const err = await errOf(resolveWeightSource({ kind: 'local_path', path: dirWith('empty', []) }));
    expect(err.kind).toBe('not_found');
    expect(err.message).toMatch(/config\.json.*no \.gguf file/);
  });

  test('hugging_face offline: a cached GGUF file, named or alone in its snapshot', async () => {
    const cache = join(root, 'hub-gguf');
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' };
    const snap = addToCache(cache, 'org/gguf', COMMIT_A, ['main'], dirWith('gguf-src', ['m-Q8_0.gguf']));
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'org/gguf' }, { env })).toEqual(gguf('gguf', join(snap, 'm-Q8_0.gguf')));
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: 'org/gguf', file: 'm-Q8_0.gguf' }, { env })).toEqual(gguf('gguf', join(snap, 'm-Q8_0.gguf')));
    const missing = await errOf(resolveWeightSource({ kind: 'hugging_face', repo: 'org/gguf', file: 'm-Q4_0.gguf' }, { env }));
    expect(missing.kind).toBe('not_found');
    expect(missing.message).toMatch(/has no m-Q4_0\.gguf, and HF_HUB_OFFLINE/);
    addToCache(cache, 'org/ggufs', COMMIT_A, ['main'], dirWith('ggufs-src', ['a.gguf', 'b.gguf']));
    const two = await errOf(resolveWeightSource({ kind: 'hugging_face', repo: 'org/ggufs' }, { env }));
    expect(two.kind).toBe('bad_request');
    expect(two.message).toContain('a.gguf, b.gguf');
  });
});
