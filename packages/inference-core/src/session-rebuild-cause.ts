/**
 * Why `ModelRunner.rebuildSession` is being called.
 * - `cuda_context_poisoned`: a sticky CUDA error poisoned the context; reset and reload weights.
 * - `remote_auth_failure`: a remote call failed authentication; re-read credentials.
 * - `remote_config_change`: endpoint/config changed; rebuild the connection pool.
 * - `manual`: an operator asked for it (also used for crashed Python workers).
 */
export type SessionRebuildCause =
  | 'cuda_context_poisoned'
  | 'remote_auth_failure'
  | 'remote_config_change'
  | 'manual';

/** Every `SessionRebuildCause`. */
export const SESSION_REBUILD_CAUSES: readonly SessionRebuildCause[] = Object.freeze([
  'cuda_context_poisoned',
  'remote_auth_failure',
  'remote_config_change',
  'manual',
]);
