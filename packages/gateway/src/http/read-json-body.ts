import type { IncomingMessage } from 'node:http';
import { GatewayError, invalidRequest } from './gateway-error.js';

function tooLarge(limitBytes: number): GatewayError {
  return new GatewayError(413, 'invalid_request_error', 'request_too_large', `request body exceeds the limit of ${limitBytes} bytes`);
}

/** Thrown when the client goes away while its body is being read; nothing is sent back. */
export class ClientGoneError extends Error {
  constructor() {
    super('client disconnected while sending the request body');
    this.name = 'ClientGoneError';
  }
}

/**
 * Reads and parses a JSON request body of at most `limitBytes`. A declared `content-length` over
 * the limit is refused before reading; a body that grows past it stops being buffered at once
 * (the rest is drained and discarded so the 413 can still be delivered).
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
