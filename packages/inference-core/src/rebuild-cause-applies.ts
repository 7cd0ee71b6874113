import type { SessionRebuildCause } from './session-rebuild-cause.js';
import type { TransportKind } from './transport-kind.js';

/**
 * Whether `rebuildSession(cause)` concerns a runner with this transport. `manual` concerns every
 * runner; `cuda_context_poisoned` only local ones; `remote_auth_failure` / `remote_config_change`
 * only remote ones. A runner answers a cause that does not concern it by resolving without doing
 * anything (ARCHITECTURE.md, "Runner shape"), so a policy may broadcast causes safely.
 */
export function rebuildCauseApplies(cause: SessionRebuildCause, transport: TransportKind): boolean {
  if (cause === 'manual') return true;
  if (cause === 'cuda_context_poisoned') return transport.kind === 'local';
  return transport.kind === 'remote';
}
