import type { ServerResponse } from 'node:http';
import type { GatewayError } from './gateway-error.js';

/** Sends a JSON body with the given status. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Sends a `GatewayError` as an OpenAI-shaped error body, with `retry-after` when it has one. */
export function sendError(res: ServerResponse, err: GatewayError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string> = {};
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  // After a 413 the unread rest of the body would be parsed as the next request: close instead.
  if (err.status === 413) headers.connection = 'close';
  sendJson(res, err.status, err.toBody(), headers);
}

/**
 * Resolves when `res` can take more data, or when the client has gone: a stream to a slow client
 * waits here instead of buffering without bound.
 */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
