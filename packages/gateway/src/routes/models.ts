import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate } from '../http/authenticate.js';
import { GatewayError } from '../http/gateway-error.js';
import { sendError, sendJson } from '../http/response-writer.js';
import type { ModelEntry } from '../model-entry.js';
import { unknownModel } from './chat-completions.js';

function modelObject(e: ModelEntry): { id: string; object: 'model'; created: number; owned_by: string } {
  return { id: e.name, object: 'model', created: e.created, owned_by: e.model.ownedBy ?? 'inferkit' };
}

/** `GET /v1/models` and `GET /v1/models/{id}` (ids may contain `/`, encoded or not). */
export function listModels(req: IncomingMessage, res: ServerResponse, path: string, models: ReadonlyMap<string, ModelEntry>, apiKeys: readonly Buffer[]): void {
  req.resume();
  const authErr = authenticate(req, apiKeys);
  if (authErr !== null) return sendError(res, authErr);
  if (path === '/v1/models') {
    sendJson(res, 200, { object: 'list', data: [...models.values()].filter((e) => !e.hidden).map(modelObject) });
    return;
  }
  let id: string;
  try {
    id = decodeURIComponent(path.slice('/v1/models/'.length));
  } catch {
    return sendError(res, new GatewayError(400, 'invalid_request_error', 'invalid_url', 'the model id in the URL is not valid percent-encoding'));
  }
  const entry = models.get(id);
  if (entry === undefined || entry.hidden) return sendError(res, unknownModel(id));
  sendJson(res, 200, modelObject(entry));
}
