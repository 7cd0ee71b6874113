import type { ProviderKind } from './provider-kind.js';

/**
 * Where a runner's work happens.
 * - `local`: in this process or a child process, on `device` (`'cpu'`, `'cuda'`, or a more specific
 *   string such as `'cuda:1'`).
 * - `remote`: over the network, speaking `provider`'s protocol.
 */
export type TransportKind =
  | { kind: 'local'; /** Device the runner computes on, e.g. `'cpu'`, `'cuda'`, `'cuda:0'`. */ device: 'cpu' | 'cuda' | (string & {}) }
  | { kind: 'remote'; /** Wire protocol family of the remote endpoint. */ provider: ProviderKind };
