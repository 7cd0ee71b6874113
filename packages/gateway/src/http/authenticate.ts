import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from './gateway-error.js';

/**
 * Checks `Authorization: Bearer <key>` against `keys` in constant time per key; `null` when the
 * request may pass (or no keys are configured), else the 401 to answer.
 */
export function authenticate(req: IncomingMessage, keys: readonly Buffer[]): GatewayError | null {
  if (keys.length === 0) return null;
  const header = req.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  if (m !== null) {
    const given = Buffer.from(m[1]!);
    for (const key of keys) {
      if (key.length === given.length && timingSafeEqual(key, given)) return null;
    }
  }
  return new GatewayError(
    401,
    'invalid_request_error',
    'invalid_api_key',
    m === null ? 'Missing bearer token in the Authorization header' : 'Incorrect API key provided',
  );
}
