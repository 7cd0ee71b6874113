// For the examples' tests: runs an example program the way a user does, in its own Node process.
import { execFile } from 'node:child_process';

/**
 * Runs `node <file> ...args` with `env` (default: this process's environment) and resolves with
 * its exit code, stdout and stderr; a program that fails or runs past `timeoutMs` (killed) still
 * resolves, with a non-zero code, since tests check how programs fail too.
 */
export function runProgram(file, args = [], { env = process.env, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { env, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}
