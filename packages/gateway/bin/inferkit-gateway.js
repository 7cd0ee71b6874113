#!/usr/bin/env node
// The `inferkit-gateway` command. A committed file rather than dist/cli.js itself: package
// managers link bins at install time, before a workspace build has written dist/, and a link
// to a missing file is skipped (a fresh clone then had no `inferkit-gateway`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('inferkit-gateway: dist/cli.js is missing; build the package first (in this repository: pnpm build)\n');
  process.exit(1);
}
await import(cli.href);
