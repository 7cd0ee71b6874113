import type { IncomingMessage } from 'node:http';
import { MAX_SCHEMA_DEPTH } from '@inferkit/inference-core';
import { ClientGoneError } from './client-gone-error.js';
import { GatewayError, invalidRequest } from './gateway-error.js';

/**
 * Deepest nesting of arrays and objects accepted in a request body: room for a tool's parameters
 * or a response schema at the core's `MAX_SCHEMA_DEPTH` (checked with the field named by
 * `validateBatch`) inside the request's own few levels. Anything deeper is refused before it is
 * parsed, so no later walk (a runner's `JSON.stringify`, a log) can overflow the stack on it.
 */
export const MAX_BODY_DEPTH = 2 * MAX_SCHEMA_DEPTH;

function tooLarge(limitBytes: number): GatewayError {
  return new GatewayError(413, 'invalid_request_error', 'request_too_large', `request body exceeds the limit of ${limitBytes} bytes`);
}

/**
 * The deepest nesting of `[`/`{` in JSON text, or `Infinity` once it passes `limit`. Skips
 * string contents (and their escapes). One pass, no allocation.
 */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return Infinity;
      }
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return max;
}

/** Whether a `content-type` header names JSON (`application/json`, any parameters, any case). */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase() === 'application/json';
}

/**
 * Reads and parses a JSON request body of at most `limitBytes` and `MAX_BODY_DEPTH` levels. A
 * declared `content-length` over the limit is refused before reading; a body that grows past it
 * stops being buffered at once (the rest is drained and discarded so the 413 can still be
 * delivered).
 */
export function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limitBytes) {
      req.resume();
      reject(tooLarge(limitBytes));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        settled = true;
        chunks.length = 0;
        req.off('data', onData);
        req.resume();
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (settled) return;
      settled = true;
      const text = Buffer.concat(chunks, size).toString('utf8');
      if (text.trim().length === 0) {
        reject(invalidRequest('the request body is empty; send a JSON object'));
        return;
      }
      if (jsonDepth(text, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
        reject(invalidRequest(`the request body nests arrays and objects deeper than ${MAX_BODY_DEPTH} levels`, undefined, 'nesting_too_deep'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(invalidRequest(`the request body is not valid JSON: ${(e as Error).message}`, undefined, 'invalid_json'));
      }
    });
    req.once('error', () => {
      if (settled) return;
      settled = true;
      reject(new ClientGoneError());
    });
    req.once('close', () => {
      if (settled) return;
      settled = true;
      reject(new ClientGoneError());
    });
  });
}
