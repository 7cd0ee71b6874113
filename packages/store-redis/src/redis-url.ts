/** A Redis URL with `${NAME}` references replaced by environment variables, and its printable form. */
export interface ResolvedRedisUrl {
  /** The URL to connect to (may hold a password: never log it). */
  url: string;
  /** The URL with any password replaced by `***`: safe for logs and errors. */
  redacted: string;
  /** The password, if any, so messages can be scrubbed of it. */
  secret: string | undefined;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Resolves `redis://user:${REDIS_PASSWORD}@host:6379/0`: each `${NAME}` is the value of that
 * environment variable (URL-encoded), so the secret stays out of config files. Throws
 * `RedisStoreConfigError`-style `Error`s naming the variable or the (redacted) URL.
 */
export function resolveRedisUrl(raw: string, env: NodeJS.ProcessEnv = process.env): ResolvedRedisUrl {
  const missing: string[] = [];
  const url = raw.replace(ENV_REF, (_m, name: string) => {
    const v = env[name];
    if (v === undefined || v === '') {
      missing.push(name);
      return '';
    }
    return encodeURIComponent(v);
  });
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: ${redactRaw(raw)}`);
  }
  const redacted = redactParsed(parsed);
  if (missing.length > 0) throw new Error(`${redacted}: environment variable ${missing.join(', ')} is unset or empty`);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`${redacted}: the scheme must be redis: or rediss:, got ${parsed.protocol}`);
  }
  if (parsed.hostname === '') throw new Error(`${redacted}: no host`);
  const secret = parsed.password !== '' ? decodeURIComponent(parsed.password) : undefined;
  return { url, redacted, secret };
}

function redactParsed(u: URL): string {
  if (u.password === '') return u.href;
  const copy = new URL(u.href);
  copy.password = '***';
  return copy.href;
}

/** Best effort for a string that is not even a URL: hide everything between '//' and '@'. */
function redactRaw(raw: string): string {
  return raw.replace(/\/\/[^@/]*@/, '//***@').slice(0, 200);
}
