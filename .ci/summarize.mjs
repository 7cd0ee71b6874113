// Sums test results from every package's reports/ folder: vitest JSON (reports/*.json) and
// JUnit XML (reports/*.xml, written by ctest and pytest). Prints "N passed, N failed" and
// exits non-zero on any failure or when no test ran at all.
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const roots = ['packages', 'examples'];
let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];

function countJunit(xml) {
  let p = 0, f = 0, s = 0;
  for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[2] ?? '';
    if (/<(failure|error)\b/.test(body)) f++;
    else if (/<skipped\b/.test(body)) s++;
    else p++;
  }
  return [p, f, s];
}

for (const root of roots) {
  if (!existsSync(root)) continue;
  for (const pkg of readdirSync(root)) {
    const dir = join(root, pkg, 'reports');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
    for (const file of readdirSync(dir)) {
      const path = join(dir, file);
      let p = 0, f = 0, s = 0;
      try {
        if (file.endsWith('.json')) {
          const r = JSON.parse(readFileSync(path, 'utf8'));
          p = r.numPassedTests ?? 0;
          f = (r.numFailedTests ?? 0) + (r.success === false && !r.numFailedTests ? 1 : 0);
          s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
        } else if (file.endsWith('.xml')) {
          [p, f, s] = countJunit(readFileSync(path, 'utf8'));
        } else continue;
      } catch (err) {
        f = 1;
        lines.push(`${path}: unreadable report (${err.message})`);
      }
      lines.push(`${path}: ${p} passed, ${f} failed, ${s} skipped`);
      passed += p; failed += f; skipped += s;
    }
  }
}
for (const l of lines) console.log(l);
if (passed + failed === 0) {
  console.log('no test reports found');
  failed = 1;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
