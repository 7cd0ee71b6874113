import type { SpanTracer, TraceSpan } from '@inferkit/inference-core';

/**
 * Tracing for the gateway: a SERVER span per chat request, active while the model runs, so the
 * spans `supervise` emits (one per request, GenAI conventions) nest under it. `openTelemetryTracing()`
 * builds one from `@opentelemetry/api` when it is installed.
 */
export interface GatewayTracing {
  /** Starts spans (an OpenTelemetry `Tracer`). */
  tracer: SpanTracer;
  /** Runs `fn` with `span` as the active span (OpenTelemetry: `context.with(trace.setSpan(context.active(), span), fn)`). */
  withSpan<T>(span: TraceSpan, fn: () => T): T;
}

/** The part of `@opentelemetry/api` used here. */
interface OpenTelemetryApi {
  trace: { getTracer(name: string, version?: string): SpanTracer; setSpan(context: unknown, span: TraceSpan): unknown };
  context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
}

// A variable, so that bundlers and TypeScript leave the optional peer dependency alone.
const OTEL_API = '@opentelemetry/api';

/**
 * Tracing through `@opentelemetry/api` (an optional peer dependency), or `undefined` when it is
 * not installed. Without a registered SDK the API's tracer is a no-op; with one (e.g.
 * `node --import ./otel.mjs`), spans go wherever the SDK exports them.
 */
export async function openTelemetryTracing(name = '@inferkit/gateway'): Promise<GatewayTracing | undefined> {
  let api: OpenTelemetryApi;
  try {
    api = (await import(OTEL_API)) as OpenTelemetryApi;
  } catch {
    return undefined;
  }
  return fromOpenTelemetryApi(api, name);
}

/** Tracing from an already imported `@opentelemetry/api` module. */
export function fromOpenTelemetryApi(api: OpenTelemetryApi, name = '@inferkit/gateway'): GatewayTracing {
  const tracer = api.trace.getTracer(name);
  return {
    tracer,
    withSpan: (span, fn) => api.context.with(api.trace.setSpan(api.context.active(), span), fn),
  };
}
