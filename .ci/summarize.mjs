// Sums test results from every package's reports/ folder: vitest JSON (reports/*.json) and
// JUnit XML (reports/*.xml, written by ctest and pytest). A test script that exited non-zero
// (pnpm's exec summaries in reports/exec-*.json, written by .ci/test) while its package's reports
// hold no failure counts as one failed test: vitest reports success and exits 1 on an unhandled
// error or a worker that died. Prints "N passed, N failed" last and exits non-zero on any
// failure or when no test ran at all.
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

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
          // Counted per test, not from the totals: a test that never finished because its worker
          // died is 'pending' there while the totals and `success` call the run a pass.
          const r = JSON.parse(readFileSync(path, 'utf8'));
          for (const file of r.testResults ?? []) {
            for (const a of file.assertionResults ?? []) {
              if (a.status === 'passed') p++;
              else if (a.status === 'skipped' || a.status === 'todo' || a.status === 'disabled') s++;
              else f++;
            }
            if (file.status === 'failed' && !(file.assertionResults ?? []).some((a) => a.status === 'failed')) {
              f++;
              lines.push(`${path}: ${file.name}: ${String(file.message ?? 'failed').split('\n')[0].slice(0, 200)}`);
            }
          }
          if (r.success === false && f === 0) f = 1;
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
const failedByPackage = new Map();
for (const l of lines) {
  const m = /^(\S+)\/reports\/[^:]+: \d+ passed, (\d+) failed/.exec(l);
  if (m) failedByPackage.set(m[1], (failedByPackage.get(m[1]) ?? 0) + Number(m[2]));
}
if (existsSync('reports')) {
  for (const file of readdirSync('reports').filter((f) => /^exec-.*\.json$/.test(f)).sort()) {
    let status;
    try {
      status = JSON.parse(readFileSync(join('reports', file), 'utf8')).executionStatus ?? {};
    } catch (err) {
      lines.push(`reports/${file}: unreadable exec summary (${err.message})`);
      failed += 1;
      continue;
    }
    for (const [dir, s] of Object.entries(status)) {
      if (s?.status !== 'failure') continue;
      const pkg = relative(process.cwd(), dir) || '.';
      const script = s.error?.stage ?? file.slice(5, -5);
      if ((failedByPackage.get(pkg) ?? 0) > 0) continue;
      lines.push(`${pkg}: "${script}" exited with status ${s.error?.errno ?? '?'} but its reports hold no failed test (an unhandled error or a crashed worker: see its output above): 1 failed`);
      failed += 1;
    }
  }
}
for (const l of lines) console.log(l);
if (passed + failed === 0) {
  console.log('no test reports found');
  failed = 1;
}
console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
