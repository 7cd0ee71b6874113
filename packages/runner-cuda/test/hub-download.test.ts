import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceError, type WeightLoadProgress } from '@inferkit/inference-core';
import { repoFolderName } from '../src/weights/hf-cache.js';
import { errorOf } from './helpers/error-of.js';
import { resolveWeightSource } from '../src/weights/resolve-weight-source.js';
import { modelDir, tokenizerGguf } from './helpers/paths.js';

// A stand-in for the Hub's HTTP API (the endpoints @huggingface/hub calls), serving the sharded
// tiny model and repos of GGUF files, so the download path runs end to end without a network.
const REPO = 'tiny-org/tiny-sharded';
const COMMIT = 'c0ffee'.padEnd(40, '0');
const SOURCE = modelDir('mistral-sharded');
const EXTRA = 'pytorch_model.bin';
const ONE_GGUF = 'tiny-org/one-gguf';
const MANY_GGUF = 'tiny-org/many-gguf';
// A file larger than the client reads in one piece, so that progress is seen while it streams.
let bigGguf: Buffer;

let server: Server;
let hubUrl: string;
let root: string;
const requests: string[] = [];
/** Delay before each chunk of a file body, to make a download last (abort tests). */
let chunkDelayMs = 0;

function repoFiles(repo: string): Array<{ path: string; data: Buffer; served: boolean }> {
  if (repo === REPO) {
    const out = readdirSync(SOURCE).map((path) => ({ path, data: readFileSync(join(SOURCE, path)), served: true }));
    // A file the runner must not download.
    out.push({ path: EXTRA, data: Buffer.from('junk'), served: false });
    return out;
  }
  if (repo === ONE_GGUF) return [{ path: 'README.md', data: Buffer.from('# one'), served: true }, { path: 'tiny-F32.gguf', data: bigGguf, served: true }];
  if (repo === MANY_GGUF) {
    return [
      { path: 'tiny-F32.gguf', data: readFileSync(tokenizerGguf('bpe-gpt2')), served: true },
      { path: 'quant/tiny-Q8_0.gguf', data: readFileSync(tokenizerGguf('spm')), served: true },
    ];
  }
  return [];
}

function files(repo: string): Array<{ path: string; size: number; oid: string; data: Buffer; served: boolean }> {
  return repoFiles(repo).map((f) => ({ ...f, size: f.data.length, oid: createHash('sha1').update(f.data).digest('hex') }));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  requests.push(`${req.method} ${url.pathname}`);
  const json = (v: unknown) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(v));
  };
  const repo = [REPO, ONE_GGUF, MANY_GGUF].find((r) => url.pathname.startsWith(`/api/models/${r}/`) || url.pathname.startsWith(`/${r}/resolve/`));
  if (repo === undefined) {
    res.statusCode = 404;
    res.setHeader('X-Error-Code', 'RepoNotFound');
    return json({ error: 'Repository not found' });
  }
  const base = `/api/models/${repo}`;
  if (url.pathname === `${base}/revision/main`) return json({ _id: 'x', id: repo, sha: COMMIT, private: false, downloads: 0, likes: 0, lastModified: new Date(0).toISOString() });
  if (url.pathname === `${base}/tree/${COMMIT}`) return json(files(repo).map((f) => ({ type: 'file', path: f.path, size: f.size, oid: f.oid })));
  if (url.pathname === `${base}/paths-info/${COMMIT}` && req.method === 'POST') {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const wanted = (JSON.parse(body) as { paths: string[] }).paths;
      json(files(repo).filter((f) => wanted.includes(f.path)).map((f) => ({ type: 'file', path: f.path, size: f.size, oid: f.oid })));
    });
    return;
  }
  const prefix = `/${repo}/resolve/${COMMIT}/`;
  if (url.pathname.startsWith(prefix)) {
    const path = decodeURIComponent(url.pathname.slice(prefix.length));
    const f = files(repo).find((x) => x.path === path);
    if (f === undefined || !f.served) {
      res.statusCode = 404;
      res.setHeader('X-Error-Code', 'EntryNotFound');
      res.end();
      return;
    }
    const data = f.data;
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    res.setHeader('ETag', `"${f.oid}"`);
    let body = data;
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${data.length}`);
      body = data.subarray(start, end + 1);
    }
    res.setHeader('Content-Length', String(body.length));
    // Streamed in chunks so a client sees the body arrive over time.
    const CHUNK = 64 << 10;
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      if (at >= body.length) return void res.end();
      const piece = body.subarray(at, at + CHUNK);
      at += CHUNK;
      res.write(piece, () => (chunkDelayMs > 0 ? setTimeout(next, chunkDelayMs) : setImmediate(next)));
    };
    next();
    return;
  }
  res.statusCode = 404;
  res.end();
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'inferkit-hub-'));
  // 3 MiB: the GGUF header of a real file followed by filler the resolver never parses.
  bigGguf = Buffer.concat([readFileSync(tokenizerGguf('bpe-gpt2')), Buffer.alloc(3 << 20, 7)]);
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
    const resolved = await resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env, onProgress: (p) => progress.push(p) });
    const dir = join(cache, repoFolderName(REPO), 'snapshots', COMMIT);
    expect(resolved).toEqual({ format: 'safetensors', dir });
    expect(readFileSync(join(cache, repoFolderName(REPO), 'refs', 'main'), 'utf8')).toBe(COMMIT);
    for (const f of readdirSync(SOURCE)) expect(readFileSync(join(dir, f)).equals(readFileSync(join(SOURCE, f)))).toBe(true);
    expect(readdirSync(dir)).not.toContain(EXTRA);
    const total = readdirSync(SOURCE).reduce((n, f) => n + statSync(join(SOURCE, f)).size, 0);
    expectProgress(progress, total);

    requests.length = 0;
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env })).toEqual(resolved);
    expect(requests).toEqual([]);
    // And with the network forbidden, the cached snapshot still resolves.
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } })).toEqual(resolved);
  });

  test('an unknown repo is not_found; an unreachable hub is network_error', async () => {
    const env = { HF_HUB_CACHE: join(root, 'hub2'), HF_ENDPOINT: hubUrl };
    const kind = async (p: Promise<unknown>) => p.then(() => 'resolved', (e) => (InferenceError.isInstance(e) ? e.kind : String(e)));
    expect(await kind(resolveWeightSource({ kind: 'hugging_face', repo: 'nobody/nothing' }, { env }))).toBe('not_found');
    expect(await kind(resolveWeightSource({ kind: 'hugging_face', repo: REPO }, { env: { ...env, HF_ENDPOINT: 'http://127.0.0.1:1' } }))).toBe('network_error');
  });
});

/** Download progress: all 'download', never decreasing, ending at the total. */
function expectProgress(progress: WeightLoadProgress[], total: number): void {
  expect(progress.length).toBeGreaterThan(0);
  expect(new Set(progress.map((p) => p.phase))).toEqual(new Set(['download']));
  for (let i = 1; i < progress.length; i++) expect(progress[i]!.loadedBytes).toBeGreaterThan(progress[i - 1]!.loadedBytes);
  expect(progress.every((p) => p.totalBytes === total)).toBe(true);
  expect(progress.at(-1)).toMatchObject({ loadedBytes: total, totalBytes: total });
}

describe('hugging_face GGUF files', () => {
  test('a repo with one GGUF file: only that file is fetched, with progress while it streams', async () => {
    const cache = join(root, 'hub-one');
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hubUrl };
    const progress: WeightLoadProgress[] = [];
    chunkDelayMs = 20;
    let resolved;
    try {
      resolved = await resolveWeightSource({ kind: 'hugging_face', repo: ONE_GGUF }, { env, onProgress: (p) => progress.push(p) });
    } finally {
      chunkDelayMs = 0;
    }
    const file = join(cache, repoFolderName(ONE_GGUF), 'snapshots', COMMIT, 'tiny-F32.gguf');
    expect(resolved).toEqual({ format: 'gguf', file });
    expect(readFileSync(file).equals(bigGguf)).toBe(true);
    expect(readdirSync(dirname(file))).toEqual(['tiny-F32.gguf']);
    expectProgress(progress, bigGguf.length);
    // The file took about a second to arrive: at least one report came while it did.
    expect(progress.some((p) => p.loadedBytes > 0 && p.loadedBytes < bigGguf.length)).toBe(true);
    requests.length = 0;
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: ONE_GGUF }, { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } })).toEqual(resolved);
    expect(requests).toEqual([]);
  });

  test('several GGUF files: bad_request listing them; source.file picks one, in a folder too', async () => {
    const cache = join(root, 'hub-many');
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hubUrl };
    const err = await errorOf(resolveWeightSource({ kind: 'hugging_face', repo: MANY_GGUF }, { env }));
    expect(err.kind).toBe('bad_request');
    expect(err.details).toEqual({ param: 'source.file' });
    expect(err.message).toContain('tiny-F32.gguf, quant/tiny-Q8_0.gguf');
    const resolved = await resolveWeightSource({ kind: 'hugging_face', repo: MANY_GGUF, file: 'quant/tiny-Q8_0.gguf' }, { env });
    const file = join(cache, repoFolderName(MANY_GGUF), 'snapshots', COMMIT, 'quant', 'tiny-Q8_0.gguf');
    expect(resolved).toEqual({ format: 'gguf', file });
    expect(readFileSync(file).equals(readFileSync(tokenizerGguf('spm')))).toBe(true);
    expect(readFileSync(join(cache, repoFolderName(MANY_GGUF), 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(await resolveWeightSource({ kind: 'hugging_face', repo: MANY_GGUF, file: 'quant/tiny-Q8_0.gguf' }, { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } })).toEqual(resolved);
    const missing = await errorOf(resolveWeightSource({ kind: 'hugging_face', repo: MANY_GGUF, file: 'tiny-Q2_K.gguf' }, { env }));
    expect(missing.kind).toBe('not_found');
    expect(missing.message).toContain('has no file tiny-Q2_K.gguf');
  });

  test('aborting stops a download in the middle of a file: cancelled, and no complete blob is left', async () => {
    const cache = join(root, 'hub-abort');
    const env = { HF_HUB_CACHE: cache, HF_ENDPOINT: hubUrl };
    const controller = new AbortController();
    chunkDelayMs = 50;
    try {
      const err = await errorOf(
        resolveWeightSource({ kind: 'hugging_face', repo: ONE_GGUF }, { env, signal: controller.signal, onProgress: (p) => p.loadedBytes > 0 && controller.abort() }),
      );
      expect(err.kind).toBe('cancelled');
    } finally {
      chunkDelayMs = 0;
    }
    const blobs = join(cache, repoFolderName(ONE_GGUF), 'blobs');
    const complete = existsSync(blobs) ? readdirSync(blobs).filter((f) => !f.endsWith('.incomplete')) : [];
    expect(complete).toEqual([]);
    expect(existsSync(join(cache, repoFolderName(ONE_GGUF), 'snapshots', COMMIT, 'tiny-F32.gguf'))).toBe(false);
  });
});
