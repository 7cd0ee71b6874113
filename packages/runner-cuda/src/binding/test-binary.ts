import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the child-process probe learnt about one binary. @internal */
export interface BinaryVerdict {
  /** The binary loads and an engine can be created and closed. */
  usable: boolean;
  /** Compiled with the CUDA backend. */
  builtWithCuda: boolean;
  /** `cudaDeviceCount()` returned at least one device without crashing the probe. */
  cudaUsable: boolean;
  /** Devices `cudaDeviceCount()` reported (0 when CUDA is unusable). */
  cudaDeviceCount: number;
  /** Why CUDA is not usable (`''` when it is). */
  cudaReason: string;
  /** When not usable: what went wrong, for the error message. */
  failure?: { exitCode: number | null; signal: string | null; message: string; stderrTail: string };
}

const PROBE_TIMEOUT_MS = 60_000;

// Runs inside `node -e` with the binary path as argv[1]. It reports after each phase, so a
// crash in CUDA initialisation still tells us the CPU path works.
const PROBE_SOURCE = `
const send = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let b;
try { b = require(process.argv[1]); }
catch (e) { send({ phase: 'require', ok: false, message: String((e && e.message) || e) }); process.exit(3); }
if (!b || typeof b.Engine !== 'function' || typeof b.cudaDeviceCount !== 'function') {
  send({ phase: 'require', ok: false, message: 'the module does not export Engine and cudaDeviceCount' });
  process.exit(3);
}
send({ phase: 'require', ok: true, builtWithCuda: !!b.builtWithCuda });
Promise.resolve(new b.Engine().close()).then(() => {
  send({ phase: 'engine', ok: true });
  const c = b.builtWithCuda ? b.cudaDeviceCount() : { count: 0, reason: 'built without CUDA' };
  send({ phase: 'cuda', ok: true, count: c.count, reason: c.reason });
  process.exit(0);
}, (e) => { send({ phase: 'engine', ok: false, message: String((e && e.message) || e) }); process.exit(3); });
`;

interface ProbeLine {
  phase: 'require' | 'engine' | 'cuda';
  ok: boolean;
  message?: string;
  builtWithCuda?: boolean;
  count?: number;
  reason?: string;
}

const memo = new Map<string, Promise<BinaryVerdict>>();

/**
 * Loads `binaryPath` in a short-lived child process before the caller loads it in-process, so a
 * binary that crashes (wrong ABI, missing driver symbols, a segfault in a static initialiser)
 * cannot take the host down. The verdict is cached per binary (path, size, mtime) in memory and in
 * the temp directory, so the probe costs one child process per build, not per runner.
 * @internal
 */
export function testBinary(binaryPath: string): Promise<BinaryVerdict> {
  let key: string;
  try {
    const st = statSync(binaryPath);
    // The verdict's own format version is part of the key, so a cached verdict of an older
    // format is never read back.
    key = `v2\0${binaryPath}\0${st.size}\0${st.mtimeMs}\0${process.versions.modules}`;
  } catch (e) {
    return Promise.resolve(missing(binaryPath, e));
  }
  let verdict = memo.get(key);
  if (verdict === undefined) {
    verdict = probeCached(binaryPath, key);
    memo.set(key, verdict);
  }
  return verdict;
}

function missing(binaryPath: string, e: unknown): BinaryVerdict {
  const message = `native addon not found at ${binaryPath} (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
  return { usable: false, builtWithCuda: false, cudaUsable: false, cudaDeviceCount: 0, cudaReason: message, failure: { exitCode: null, signal: null, message, stderrTail: '' } };
}

function cacheFile(key: string): string {
  return join(tmpdir(), 'inferkit-binary-verdicts', createHash('sha256').update(key).digest('hex').slice(0, 32) + '.json');
}

async function probeCached(binaryPath: string, key: string): Promise<BinaryVerdict> {
  const file = cacheFile(key);
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as { key: string; verdict: BinaryVerdict };
    if (cached.key === key) return cached.verdict;
  } catch {
    // No usable cache entry: probe.
  }
  const verdict = await probe(binaryPath);
  // A timeout says more about a loaded machine than about the binary: do not persist it.
  if (verdict.failure?.signal !== 'SIGKILL') {
    try {
      mkdirSync(join(tmpdir(), 'inferkit-binary-verdicts'), { recursive: true });
      writeFileSync(file, JSON.stringify({ key, verdict }));
    } catch {
      // The cache is an optimisation; an unwritable temp dir only costs a probe next time.
    }
  }
  return verdict;
}

function probe(binaryPath: string): Promise<BinaryVerdict> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', PROBE_SOURCE, binaryPath],
      { timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL', windowsHide: true, maxBuffer: 1 << 20, env: process.env },
      (err, stdout, stderr) => {
        const lines: ProbeLine[] = [];
        for (const raw of String(stdout).split('\n')) {
          if (raw.trim() === '') continue;
          try {
            lines.push(JSON.parse(raw) as ProbeLine);
          } catch {
            // The addon printed something of its own; ignore it.
          }
        }
        const byPhase = (p: ProbeLine['phase']) => lines.find((l) => l.phase === p);
        const req = byPhase('require');
        const eng = byPhase('engine');
        const cuda = byPhase('cuda');
        const exitCode = err && typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : err ? null : 0;
        const signal = (err as { signal?: string } | null)?.signal ?? null;
        const stderrTail = String(stderr).split('\n').slice(-20).join('\n').trim();
        if (!req?.ok || !eng?.ok) {
          const why = (!req?.ok ? req?.message : eng?.message) ??
            (signal === 'SIGKILL' ? `the probe timed out after ${PROBE_TIMEOUT_MS} ms` : `the probe process exited (code ${exitCode}, signal ${signal})`);
          resolve({
            usable: false,
            builtWithCuda: req?.builtWithCuda ?? false,
            cudaUsable: false,
            cudaDeviceCount: 0,
            cudaReason: why,
            failure: { exitCode, signal, message: why, stderrTail },
          });
          return;
        }
        const cudaUsable = cuda?.ok === true && (cuda.count ?? 0) > 0;
        const cudaReason = cudaUsable
          ? ''
          : cuda === undefined
            ? `CUDA initialisation crashed the probe process (code ${exitCode}, signal ${signal})`
            : cuda.reason || 'no CUDA device';
        resolve({ usable: true, builtWithCuda: req.builtWithCuda === true, cudaUsable, cudaDeviceCount: cudaUsable ? (cuda?.count ?? 0) : 0, cudaReason });
      },
    );
  });
}
