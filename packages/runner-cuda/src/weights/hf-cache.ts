import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The Hugging Face hub cache directory, as `huggingface_hub` computes it: `HF_HUB_CACHE`, else
 * `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
 */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  const xdg = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'huggingface', 'hub');
}

/** `org/name` → `models--org--name`. */
export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

const COMMIT = /^[0-9a-f]{40}$/;

/**
 * The snapshot directory of `repo` at `revision` (default `main`) in the cache, without touching
 * the network: a commit hash names `snapshots/<hash>` directly; a branch or tag is looked up in
 * `refs/<revision>`. `undefined` when the cache has no such snapshot.
 */
export function cachedSnapshotDir(cacheDir: string, repo: string, revision = 'main'): string | undefined {
  const repoDir = join(cacheDir, repoFolderName(repo));
  let commit: string | undefined;
  if (COMMIT.test(revision)) {
    commit = revision;
  } else {
    try {
      commit = readFileSync(join(repoDir, 'refs', revision), 'utf8').trim();
    } catch {
      return undefined;
    }
    if (!COMMIT.test(commit)) return undefined;
  }
  const snap = join(repoDir, 'snapshots', commit);
  try {
    return statSync(snap).isDirectory() ? snap : undefined;
  } catch {
    return undefined;
  }
}

/** Files the runner needs from a checkpoint; shards are read from the index when there is one. */
export function requiredModelFiles(dir: string): { present: string[]; missing: string[] } {
  const need = ['config.json', 'tokenizer.json'];
  const optional = ['generation_config.json', 'tokenizer_config.json'];
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    need.push('model.safetensors.index.json');
    try {
      const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
      for (const shard of new Set(Object.values(map))) need.push(shard);
    } catch {
      // A broken index is reported by the engine with the file name; nothing to list here.
    }
  } else {
    need.push('model.safetensors');
  }
  const present: string[] = [];
  const missing: string[] = [];
  for (const f of need) (existsSync(join(dir, f)) ? present : missing).push(f);
  for (const f of optional) if (existsSync(join(dir, f))) present.push(f);
  return { present, missing };
}
