// Every link in every README of the repository points somewhere that exists: relative links at
// files or folders of this checkout, `#anchors` at a heading of the file they name (GitHub's
// slug rules), and external links are well-formed https URLs (nothing is fetched: CI has no
// general internet). A README is what users read on npm and GitHub first; a dead link there is
// a bug (the root README once linked a gateway README that did not exist).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SKIP = new Set(['node_modules', 'dist', '.git', '.turbo', 'build', 'reports', 'out']);

function readmes(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) out.push(...readmes(p));
    else if (/^README.*\.md$/i.test(name)) out.push(p);
  }
  return out;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file) {
  const seen = new Map();
  const anchors = new Set();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = slug(m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'));
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Markdown links outside code: `[text](target)` and `<https://…>`; code spans and fences are skipped. */
function linksOf(text) {
  const links = [];
  let fenced = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const plain = line.replace(/`[^`]*`/g, '');
    for (const m of plain.matchAll(/\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: m[1], line: i + 1 });
    for (const m of plain.matchAll(/<(https?:\/\/[^>\s]+)>/g)) links.push({ target: m[1], line: i + 1 });
  });
  return links;
}

const files = readmes(repo);

describe('README links', () => {
  test('there are READMEs to check, including every package', () => {
    expect(files.length).toBeGreaterThan(5);
    for (const pkg of readdirSync(join(repo, 'packages'))) {
      if (!existsSync(join(repo, 'packages', pkg, 'package.json'))) continue;
      expect(existsSync(join(repo, 'packages', pkg, 'README.md')), `packages/${pkg} has no README.md`).toBe(true);
    }
  });

  test.each(files.map((f) => [relative(repo, f), f]))('%s', (_, file) => {
    const broken = [];
    for (const { target, line } of linksOf(readFileSync(file, 'utf8'))) {
      if (/^mailto:/.test(target)) continue;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        try {
          const u = new URL(target);
          if (u.protocol !== 'https:' && !/^(localhost|127\.0\.0\.1)$/.test(u.hostname)) broken.push(`${line}: ${target} (not https)`);
        } catch {
          broken.push(`${line}: ${target} (not a URL)`);
        }
        continue;
      }
      const [path, anchor] = target.split('#');
      const dest = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!dest.startsWith(repo)) {
        broken.push(`${line}: ${target} (points outside the repository)`);
        continue;
      }
      if (!existsSync(dest)) {
        broken.push(`${line}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && anchor !== '' && statSync(dest).isFile() && dest.endsWith('.md') && !anchorsOf(dest).has(anchor)) {
        broken.push(`${line}: ${target} (no heading #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });
});
