import { isIP } from 'node:net';

/** Host names that always reach the loopback interface, whatever DNS says. */
const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** The host name of a `Host` header, lower-case, without port, brackets or a trailing dot. */
export function hostName(header: string): string {
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(1, end);
  }
  const colon = h.indexOf(':');
  if (colon !== -1) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** Whether `address` (a bound socket address) is a loopback address. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  if (a === '::1' || a === 'localhost') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * The `Host` values a gateway answers: loopback names and addresses (`localhost`, `127.x.y.z`,
 * `[::1]`, any port) plus the configured names; `'*'` among them allows every host. A browser
 * page on another site that rebinds its DNS name to 127.0.0.1 still sends its own name as `Host`,
 * so checking it stops DNS rebinding.
 */
export class HostAllowlist {
  private readonly names: ReadonlySet<string>;
  readonly any: boolean;

  constructor(extra: readonly string[] = []) {
    this.any = extra.includes('*');
    this.names = new Set([...LOOPBACK_NAMES, ...extra.map(hostName)]);
  }

  /** Whether a request with this `Host` header may be served. */
  allows(header: string | undefined): boolean {
    if (this.any) return true;
    if (header === undefined) return false;
    const name = hostName(header);
    if (this.names.has(name)) return true;
    return isIP(name) === 4 && name.startsWith('127.');
  }
}
