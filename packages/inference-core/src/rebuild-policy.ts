/**
 * Automatic session rebuilds done by `supervise` (`SupervisePolicy.rebuild`). An attempt failing
 * with `cuda_context_poisoned`, `runtime_crashed` or `unauthorized` makes it call
 * `runner.rebuildSession` with cause `cuda_context_poisoned`, `manual` (the cause for crashed
 * workers) or `remote_auth_failure`. Past `maxRebuilds` started within `windowMs` it gives up:
 * every request then fails fast until `rebuildSession()` is called on the supervised runner.
 */
export interface RebuildPolicy {
  /** Most automatic rebuilds started within `windowMs` (an integer >= 1). */
  maxRebuilds: number;
  /** Length of the sliding window, on the supervisor's clock (ms, > 0; `Infinity` = ever). */
  windowMs: number;
}
