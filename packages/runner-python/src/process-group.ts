/**
 * The worker's process group (the worker is started `detached`, so its pid is the group id):
 * signalled as a whole so that what the engine started dies with it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Signals a process group; a group that is already gone is not an error. */
export function killProcessGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    // ESRCH: nothing left. EPERM: a member changed credentials (setuid helper); not ours to kill.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ESRCH' && code !== 'EPERM') throw err;
  }
}

/**
 * Resolves once no running process is left in the group, or after `timeoutMs`. Signal delivery
 * is asynchronous: without this, close() could return while a killed grandchild still runs.
 * Zombies (dead, waiting for their parent or PID 1 to reap them) run nothing and do not count.
 */
export async function waitForGroupExit(pgid: number | undefined, timeoutMs: number): Promise<void> {
  if (pgid === undefined) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return; // ESRCH: the group is empty
    }
    if (groupHasLiveMember(pgid) === false) return; // only zombies left
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Whether a running (not zombie) process is in the group, from Linux /proc; `undefined` when
 * /proc cannot be read. Zombies run nothing: dead, they wait for their parent or PID 1 to reap them.
 */
export function groupHasLiveMember(pgid: number): boolean | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // Fields after "(comm)": state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return false;
}
