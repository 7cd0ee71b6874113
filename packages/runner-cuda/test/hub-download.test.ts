import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceError, type WeightLoadProgress } from '@inferkit/inference-core';
import { repoFolderName } from '../src/weights/hf-cache.js';
import { resolveWeightSource } from '../src/weights/resolve-weight-source.js';
import { modelDir } from './helpers/paths.js';

// A stand-in for the Hub's HTTP API (the endpoints @huggingface/hub calls), serving the sharded
// tiny model, so the download path runs end to end without a network.
const REPO = 'tiny-org/tiny-sharded';
const COMMIT = 'c0ffee'.padEnd(40, '0');
const SOURCE = modelDir('mistral-sharded');
const EXTRA = 'pytorch_model.bin';

let server: Server;
let hubUrl: string;
let root: string;
const requests: string[] = [];

function files(): Array<{ path: string; size: number; oid: string }> {
  const out = readdirSync(SOURCE).map((path) => {
    const data = readFileSync(join(SOURCE, path));
    return { path, size: data.length, oid: createHash('sha1').update(data).digest('hex') };
  });
  // A file the runner must not download.
  out.push({ path: EXTRA, size: 4, oid: 'f'.repeat(40) });
  return out;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  requests.push(`${req.method} ${url.pathname}`);
  const json = (v: unknown) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(v));
  };
  const base = `/api/models/${REPO}`;
  if (url.pathname === `${base}/revision/main`) return json({ _id: 'x', id: REPO, sha: COMMIT, private: false, downloads: 0, likes: 0, lastModified: new Date(0).toISOString() });
  if (url.pathname.startsWith(`/api/models/`) && url.pathname.includes('/revision/')) {
    res.statusCode = 404;
    res.setHeader('X-Error-Code', 'RepoNotFound');
    return json({ error: 'Repository not found' });
  }
  if (url.pathname === `${base}/tree/${COMMIT}`) return json(files().map((f) => ({ type: 'file', path: f.path, size: f.size, oid: f.oid })));
  if (url.pathname === `${base}/paths-info/${COMMIT}` && req.method === 'POST') {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const wanted = (JSON.parse(body) as { paths: string[] }).paths;
      json(files().filter((f) => wanted.includes(f.path)).map((f) => ({ type: 'file', path: f.path, size: f.size, oid: f.oid })));
    });
    return;
  }
  const prefix = `/${REPO}/resolve/${COMMIT}/`;
  if (url.pathname.startsWith(prefix)) {
    const path = decodeURIComponent(url.pathname.slice(prefix.length));
    const f = files().find((x) => x.path === path);
    if (f === undefined || path === EXTRA) {
      res.statusCode = 404;
      res.setHeader('X-Error-Code', 'EntryNotFound');
      res.end();
      return;
    }
    const data = readFileSync(join(SOURCE, path));
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    res.setHeader('ETag', `"${f.oid}"`);
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${data.length}`);
      res.end(data.subarray(start, end + 1));
      return;
    }
    res.end(data);
    return;
  }
  res.statusCode = 404;
  res.end();
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'inferkit-hub-'));
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

describe('hugging_face weights: download into the hub cache, then offline', () => {
  test('missing files are downloaded into snapshots/<commit> with refs/main; the next resolve needs no network', async () => {
    const cache = join(root, 'hub');
    const progress: WeightLoadProgress[] = [];
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hubUrl };
    const dir = await resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env, onProgress: (p) => progress.push(p) });
    expect(dir).toBe(join(cache, repoFolderName(REPO), 'snapshots', COMMIT));
    expect(readFileSync(join(cache, repoFolderName(REPO), 'refs', 'main'), 'utf8')).toBe(COMMIT);
    for (const f of readdirSync(SOURCE)) expect(readFileSync(join(dir, f)).equals(readFileSync(join(SOURCE, f)))).toBe(true);
    expect(readdirSync(dir)).not.toContain(EXTRA);
    expect(progress.map((p) => p.phase)).toEqual(readdirSync(SOURCE).map(() => 'download'));
    const total = readdirSync(SOURCE).reduce((n, f) => n + statSync(join(SOURCE, f)).size, 0);
    expect(progress.at(-1)).toMatchObject({ loadedBytes: total, totalBytes: total });

    requests.length = 0;
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env })).toBe(dir);
    expect(requests).toEqual([]);
    // And with the network forbidden, the cached snapshot still resolves.
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } })).toBe(dir);
  });

  test('an unknown repo is not_found; an unreachable hub is network_error', async () => {
    const env = { HF_HUB_CACHE: join(root, 'hub2'), HF_ENDPOINT: hubUrl };
    const kind = async (p: Promise<unknown>) => p.then(() => 'resolved', (e) => (InferenceError.isInstance(e) ? e.kind : String(e)));
    expect(await kind(resolveWeightSource({ kind: 'hugging_face', repo: 'nobody/nothing' }, { env }))).toBe('not_found');
    expect(await kind(resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env: { ...env, HF_ENDPOINT: 'http://127.0.0.1:1' } }))).toBe('network_error');
  });
});
