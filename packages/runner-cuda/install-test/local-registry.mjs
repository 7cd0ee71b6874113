// A minimal npm registry on 127.0.0.1 for the @inferkit scope: the packument (`GET /<name>`) and
// tarball (`GET /-/<file>`) of each given .tgz, 404 for anything else. An app whose .npmrc points
// the scope here installs `@inferkit/runner-cuda` exactly as from the public registry: optional
// platform packages resolved by name, filtered by os/cpu/libc, missing ones skipped.
// Used by install-test/fresh-app.test.ts and bench/install-time.mjs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename } from 'node:path';

export class LocalRegistry {
  /** @param {import('node:http').Server} server @param {string} url */
  constructor(server, url) {
    this.server = server;
    this.url = url;
  }

  /** @param {string[]} tarballs */
  static async start(tarballs) {
    const packuments = new Map();
    const files = new Map();
    let url = '';
    for (const tgz of tarballs) {
      const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tgz, 'package/package.json'], { encoding: 'utf8' }));
      const tarball = readFileSync(tgz);
      const file = basename(tgz);
      files.set(file, tarball);
      packuments.set(manifest.name, () => ({
        name: manifest.name,
        'dist-tags': { latest: manifest.version },
        versions: {
          [manifest.version]: {
            ...manifest,
            _id: `${manifest.name}@${manifest.version}`,
            dist: {
              tarball: `${url}/-/${encodeURIComponent(file)}`,
              shasum: createHash('sha1').update(tarball).digest('hex'),
              integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
            },
          },
        },
      }));
    }
    const server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
      if (path.startsWith('/-/')) {
        const body = files.get(path.slice(3));
        if (body === undefined) return void res.writeHead(404).end();
        return void res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
      }
      const packument = packuments.get(path.slice(1));
      if (packument === undefined) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(packument()));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${server.address().port}`;
    return new LocalRegistry(server, url);
  }

  /** @returns {Promise<void>} */
  close() {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
