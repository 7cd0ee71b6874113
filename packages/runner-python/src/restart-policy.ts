/** Automatic restart of a crashed worker: opt-in, with capped exponential backoff and jitter. */

export interface AutoRestartOptions {
  /** Restarts allowed in a row before giving up (the counter resets after a healthy run). Default 5. */
  maxAttempts?: number;
  /** Delay before the first restart, ms. Default 500. */
  initialDelayMs?: number;
  /** Cap on the delay, ms. Default 30 000. */
  maxDelayMs?: number;
  /** A worker that stayed up this long resets the attempt counter, ms. Default 60 000. */
  resetAfterMs?: number;
}

export interface RestartPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  resetAfterMs: number;
}

export function restartPolicy(option: boolean | AutoRestartOptions | undefined): RestartPolicy | null {
  if (option === undefined || option === false) return null;
  const o = option === true ? {} : option;
  const policy: RestartPolicy = {
    maxAttempts: o.maxAttempts ?? 5,
    initialDelayMs: o.initialDelayMs ?? 500,
    maxDelayMs: o.maxDelayMs ?? 30_000,
    resetAfterMs: o.resetAfterMs ?? 60_000,
  };
  for (const [key, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`autoRestart.${key} must be a non-negative number`);
  }
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new TypeError('autoRestart.maxAttempts must be a positive integer');
  }
  return policy;
}

/**
 * Delay before restart number `attempt` (1-based): `initialDelayMs · 2^(attempt-1)`, capped, with
 * "equal jitter" (half fixed, half random) so that many runners that crashed together (a shared
 * GPU reset) do not restart in lockstep.
 */
export function restartDelayMs(policy: RestartPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return exp / 2 + random() * (exp / 2);
}
