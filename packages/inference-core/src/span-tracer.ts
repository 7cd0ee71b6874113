/**
 * The part of an OpenTelemetry `Tracer` (`@opentelemetry/api`) that `supervise` uses, typed here
 * so the core depends on nothing: pass `trace.getTracer('my-app')` as `SupervisePolicy.tracer`.
 * Any object of this shape works.
 */
export interface SpanTracer {
  startSpan(name: string, options?: { kind?: number; attributes?: SpanAttributes }): TraceSpan;
}

/** Attribute values as OpenTelemetry takes them. */
export type SpanAttributes = Record<string, string | number | boolean | string[] | undefined>;

/** The part of an OpenTelemetry `Span` that `supervise` uses. */
export interface TraceSpan {
  setAttribute(key: string, value: string | number | boolean | string[]): unknown;
  addEvent(name: string, attributes?: SpanAttributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/** `SpanKind.CLIENT` of `@opentelemetry/api`: the span of a call to a model service. */
export const SPAN_KIND_CLIENT = 2;
/** `SpanStatusCode.ERROR` of `@opentelemetry/api`. */
export const SPAN_STATUS_ERROR = 2;
