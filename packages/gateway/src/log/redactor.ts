/** Longest text a log record field keeps; upstream error bodies and stderr tails can be large. */
export const MAX_LOGGED_CHARS = 8192;
/** Longest runner message passed on to a client (`bad_request`, `context_length_exceeded`). */
export const MAX_CLIENT_MESSAGE_CHARS = 512;

const REDACTED = '[REDACTED]';
// Environment variables whose values are secrets by name. Shorter values are left alone: they
// would match ordinary words in messages.
const SECRET_ENV_NAME = /(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)(?:_|$)/i;
const MIN_SECRET_LENGTH = 8;

// Shapes of credentials and of `name=value` pairs that carry one, whatever their source.
const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  [/\b(?:sk|pk|rk)-[A-Za-z0-9_-]{12,}/g, REDACTED], // OpenAI, Anthropic (sk-ant-…), Stripe-style
  [/\bhf_[A-Za-z0-9]{16,}/g, REDACTED], // Hugging Face
  [/\bAIza[0-9A-Za-z_-]{30,}/g, REDACTED], // Google
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, REDACTED], // GitHub
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED], // AWS access key ids
  [/([?&](?:key|api[_-]?key|token|access_token|sig|signature)=)[^&\s"']+/gi, `$1${REDACTED}`],
  [
    /\b((?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|apikey|key|token|secret|password|passwd|credentials?|authorization))(["']?\s*[=:]\s*["']?)[^\s"',;&)}]+/gi,
    `$1$2${REDACTED}`,
  ],
];

// Absolute file paths (two segments or more) and Windows drive paths: for client-bound text only.
const UNIX_PATH = /(?<![\w:/.~-])(?:~|\.{1,2})?\/[\w.@+~-]+(?:\/[\w.@+~-]*)+/g;
const WINDOWS_PATH = /\b[A-Za-z]:\\[^\s'"`;,]+/g;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…[${text.length - max} more characters]`;
}

/**
 * Removes secrets from text before it is logged or sent: the literal values it was given (the
 * gateway's API keys, values of environment variables named like secrets) and credential shapes
 * (`Bearer …`, `sk-…`, `hf_…`, `?key=…`, `api_key=…`, `HF_TOKEN=…`).
 */
export class Redactor {
  private readonly secrets: string[];

  /** `secrets`: literal values to remove wherever they appear (shorter than 8 characters are ignored). */
  constructor(secrets: readonly string[] = []) {
    // Longest first, so a secret containing another is removed whole.
    this.secrets = [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= MIN_SECRET_LENGTH))].sort(
      (a, b) => b.length - a.length,
    );
  }

  /** A redactor for `extra` plus every value of `env` whose variable is named like a secret. */
  static fromEnvironment(env: NodeJS.ProcessEnv = process.env, extra: readonly string[] = []): Redactor {
    const values: string[] = [...extra];
    for (const [name, value] of Object.entries(env)) {
      if (value !== undefined && SECRET_ENV_NAME.test(name)) values.push(value);
    }
    return new Redactor(values);
  }

  /** `text` without secrets, cut to `max` characters (default `MAX_LOGGED_CHARS`). */
  redact(text: string, max = MAX_LOGGED_CHARS): string {
    // Cut first (with room for secrets cut in half to still match their shape), so the
    // patterns never scan a megabyte of upstream body.
    let out = text.length > max * 2 ? text.slice(0, max * 2) : text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    for (const [re, to] of SECRET_PATTERNS) out = out.replace(re, to);
    return truncate(out, max);
  }

  /**
   * Text a client may see, from a runner's message that is useful to it (a `bad_request`
   * naming a field): secrets and file paths removed, at most `MAX_CLIENT_MESSAGE_CHARS`.
   */
  forClient(text: string): string {
    return truncate(this.redact(text, MAX_CLIENT_MESSAGE_CHARS * 2).replace(UNIX_PATH, '<path>').replace(WINDOWS_PATH, '<path>'), MAX_CLIENT_MESSAGE_CHARS);
  }
}
