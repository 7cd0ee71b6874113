import type { ServerResponse } from 'node:http';
import { sendJson } from '../http/response-writer.js';
import type { ModelHealthSnapshot } from '../health/model-health.js';
import type { ModelEntry } from '../model-entry.js';

/** The `/healthz` body. */
export interface HealthReport {
  /** `ok`: every model is ready; `degraded`: some model is not; `draining`: shutting down. */
  status: 'ok' | 'degraded' | 'draining';
  /** Each model's state (and why it is not ready). */
  models: Record<string, ModelHealthSnapshot>;
}

/**
 * `GET /healthz`: 200 `{ status: 'ok', models }` when every model is `ready`; 503 when any is
 * loading, failed, down or rebuilding (`status: 'degraded'`), or while draining. The body lists
 * every model's state, so a probe can tell which one is down without a second call.
 */
export function health(res: ServerResponse, models: ReadonlyMap<string, ModelEntry>, draining: boolean): void {
  const report: HealthReport = { status: 'ok', models: {} };
  for (const e of models.values()) {
    const s = e.health.snapshot();
    report.models[e.name] = s.reason === undefined ? { state: s.state } : { state: s.state, reason: s.reason };
    if (s.state !== 'ready') report.status = 'degraded';
  }
  if (draining) report.status = 'draining';
  sendJson(res, report.status === 'ok' ? 200 : 503, report);
}
