#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { SupervisePolicy } from '@inferkit/inference-core';
import { loadGatewayModels } from './config/load-gateway-models.js';
import { loadPolicyStore, type ClosablePolicyStore } from './config/load-policy-store.js';
import { GatewayConfigError, parseGatewayConfig } from './config/parse-gateway-config.js';
import { createGateway } from './gateway.js';
import type { GatewayLogRecord } from './log/gateway-logger.js';
import { Redactor } from './log/redactor.js';
import { openTelemetryTracing } from './telemetry/gateway-tracing.js';

const USAGE = `usage: inferkit-gateway --config <file.json> [--host <addr>] [--port <n>] [--allowed-hosts <name,...>]

  --allowed-hosts   Host header values served besides localhost/127.0.0.1/[::1] ('*': any);
                    overrides the config's allowedHosts

Serves the models of the config file over an OpenAI-compatible HTTP API:
  POST /v1/chat/completions   GET /v1/models   GET /healthz   GET /metrics

With "store" in the config, the models' rate limits, breakers and budgets are shared with every
gateway using the same store. With @opentelemetry/api installed, requests emit spans (register an
SDK with node --import to export them).
`;

function log(msg: string): void {
  process.stderr.write(`[inferkit-gateway] ${msg}\n`);
}

/** The gateway's records as the CLI's text lines (already redacted by the gateway). */
function formatRecord(r: GatewayLogRecord): string {
  const where = [r.status !== undefined ? `${r.status} ${r.code ?? ''}`.trim() : undefined, r.model !== undefined ? `model=${r.model}` : undefined, r.requestId !== undefined ? `request=${r.requestId}` : undefined]
    .filter((x) => x !== undefined)
    .join(' ');
  return `${r.level} ${r.event}${where.length > 0 ? ` ${where}` : ''}: ${r.message}${r.details !== undefined ? ` ${r.details}` : ''}`;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        'allowed-hosts': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.config === undefined) {
    process.stderr.write(`--config is required\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    const text = await readFile(args.config, 'utf8');
    config = parseGatewayConfig(JSON.parse(text), args.config);
  } catch (e) {
    log(`cannot use config ${args.config}: ${(e as Error).message}`);
    return 2;
  }
  if (args.host !== undefined) config.host = args.host;
  if (args.port !== undefined) {
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      log(`--port must be an integer from 0 to 65535, got '${args.port}'`);
      return 2;
    }
    config.port = port;
  }
  const allowedHostsArg = args['allowed-hosts'];
  if (allowedHostsArg !== undefined) {
    const hosts = allowedHostsArg.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
    if (hosts.length === 0) {
      log('--allowed-hosts needs at least one name');
      return 2;
    }
    config.allowedHosts = hosts;
  }
  let apiKeys: string[] | undefined;
  if (config.apiKeysEnv !== undefined) {
    apiKeys = (process.env[config.apiKeysEnv] ?? '').split(',').map((k) => k.trim()).filter((k) => k.length > 0);
    if (apiKeys.length === 0) {
      log(`config.apiKeysEnv names ${config.apiKeysEnv}, which is unset or empty; refusing to start without keys`);
      return 2;
    }
  }

  let store: ClosablePolicyStore | undefined;
  if (config.store !== undefined) {
    try {
      store = await loadPolicyStore(config.store, config.baseDir, {
        onEvent: (e: { type: string; policy?: string; key?: string; action?: string; message?: string }) => {
          // The store's messages never hold its password.
          const what = [e.policy, e.key !== undefined ? `model=${e.key}` : undefined, e.action].filter((x) => x !== undefined).join(' ');
          log(`store ${e.type}${what.length > 0 ? ` ${what}` : ''}${e.message !== undefined ? `: ${e.message}` : ''}`);
        },
      });
    } catch (e) {
      log((e as Error).message);
      return e instanceof GatewayConfigError ? 2 : 1;
    }
    log(`policy store: ${store.description}`);
  }
  const tracing = await openTelemetryTracing();
  const shared: Pick<SupervisePolicy, 'store' | 'tracer'> = {};
  if (store !== undefined) shared.store = store;
  if (tracing !== undefined) shared.tracer = tracing.tracer;

  let loaded;
  try {
    loaded = await loadGatewayModels(config, {
      shared,
      onProgress: (model, p) => {
        const pct = p.totalBytes !== undefined && p.totalBytes > 0 ? ` ${Math.floor((100 * p.loadedBytes) / p.totalBytes)}%` : '';
        log(`${model}: ${p.phase}${pct}${p.file !== undefined ? ` ${p.file}` : ''}`);
      },
      onEvent: (model, e) => {
        if (e.type === 'rebuild_started') log(`${model}: rebuilding the session (${e.cause}) after ${e.error?.kind ?? 'a request'}`);
        else if (e.type === 'rebuild_finished') log(`${model}: session rebuild ${e.error === undefined ? 'done' : `failed (${e.error.kind})`} in ${Math.round(e.durationMs)} ms`);
        else if (e.type === 'rebuild_gave_up') log(`${model}: ${e.rebuilds} rebuilds within ${e.windowMs} ms; giving up until restarted`);
      },
      onRouteEvent: (model, e) => {
        if (e.type === 'resumed') log(`${model}: a stream failed on ${e.from} (${e.error.kind}) after ${e.deliveredChars} characters; resumed on ${e.to}`);
        else if (e.type === 'target_down') log(`${model}: target ${e.target} is down (circuit open)`);
        else if (e.type === 'target_up') log(`${model}: target ${e.target} is up again`);
      },
    });
  } catch (e) {
    log(e instanceof GatewayConfigError ? e.message : `cannot create runners: ${Redactor.fromEnvironment().redact((e as Error).message)}`);
    await store?.close?.().catch(() => undefined);
    return 1;
  }
  for (const [name, m] of Object.entries(loaded.models)) {
    // A failure is reported (redacted) by the gateway's logger as model_load_failed.
    m.ready?.then(
      () => log(`${name}: ready`),
      () => undefined,
    );
  }
  const gateway = createGateway({
    models: loaded.models,
    ...(apiKeys !== undefined ? { apiKeys } : {}),
    ...(config.allowedHosts !== undefined ? { allowedHosts: config.allowedHosts } : {}),
    ...(config.maxBodyBytes !== undefined ? { maxBodyBytes: config.maxBodyBytes } : {}),
    ...(config.shutdownGraceMs !== undefined ? { shutdownGraceMs: config.shutdownGraceMs } : {}),
    logger: (r) => log(formatRecord(r)),
    ...(tracing !== undefined ? { tracing } : {}),
  });
  let address;
  try {
    address = await gateway.listen({ host: config.host, port: config.port });
  } catch (e) {
    log(`cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`);
    await loaded.close().catch(() => undefined);
    await store?.close?.().catch(() => undefined);
    return 1;
  }
  const names = Object.entries(loaded.models);
  const served = names.filter(([, m]) => m.hidden !== true).map(([n]) => n);
  const targetsOnly = names.filter(([, m]) => m.hidden === true).map(([n]) => n);
  log(`listening on http://${address.address}:${address.port}/v1 (models: ${served.join(', ')}${targetsOnly.length > 0 ? `; route targets only: ${targetsOnly.join(', ')}` : ''})`);

  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: draining`);
      gateway
        .close()
        .then(() => loaded.close())
        .then(() => store?.close?.())
        .catch((e: unknown) => log(`shutdown: ${(e as Error).message}`))
        .finally(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`fatal: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  },
);
