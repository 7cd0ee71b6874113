import type { ChildProcess } from 'node:child_process';

/**
 * Whether a forked child (the process, its IPC channel and a piped stderr) keeps this process's
 * event loop alive: held while it has work the host awaits, released while it idles, so an idle
 * runner never keeps an application from exiting.
 * @internal
 */
export function holdEventLoop(child: ChildProcess, hold: boolean): void {
  const stderr = child.stderr as unknown as { ref?(): void; unref?(): void } | null;
  if (hold) {
    child.ref();
    child.channel?.ref();
    stderr?.ref?.();
  } else {
    child.unref();
    child.channel?.unref();
    stderr?.unref?.();
  }
}
