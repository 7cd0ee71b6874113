import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RouteMetrics, type RoutedModel } from './route-metrics.js';

// Seconds. TTFT spans a fast scripted runner (sub-millisecond) up to a cold local model.
const TTFT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ITL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Content type of `GatewayMetrics.render()`'s output (Prometheus text format 0.0.4). */
export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

// Process metrics (CPU, memory, handles, event-loop lag, GC) are one set per process, however
// many gateways it runs: prom-client's collectors install observers that are never removed, so
// they are installed once, on the first gateway, into a registry every gateway renders.
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The gateway's Prometheus metrics, on `prom-client` (with its default process metrics). Names
 * are part of the public surface (dashboards use them); the gateway's README lists them.
 *
 * prom-client replaced a hand-written registry (issue #15 item 4). Its cost, measured on the
 * shared 2-core development machine (noisy): one observation of a labelled histogram child is
 * ~1.1 µs against ~0.2 µs (2M observations), i.e. about 1 µs more per streamed token for the
 * inter-token histogram. End to end, `BENCH_PAIRS=3 BENCH_BASELINE=… node
 * packages/gateway/bench/run.mjs` (1,000 clients × 5 streams of 16 tokens, baseline = the
 * hand-written registry built by bench/build-baseline.mjs, runs alternating) measured
 * 0.593 / 0.618 / 0.613 ms of gateway CPU per request against 0.621 / 0.604 / 0.567 ms, with
 * requests/s and TTFT inside the run-to-run noise. Not a cost that matters next to standard
 * histograms and the process metrics users expect.
 */
export class GatewayMetrics {
  /** This gateway's own metrics (process metrics live in a registry shared by the process). */
  readonly registry = new Registry();

  /** Finished HTTP requests on the chat endpoint, by model, stream flag and HTTP status. */
  readonly requests = new Counter({
    name: 'inferkit_gateway_requests_total',
    help: 'Chat completion requests by model, stream and HTTP status.',
    labelNames: ['model', 'stream', 'status'] as const,
    registers: [this.registry],
  });
  /** Failed requests by error kind (InferenceError kind, or the gateway's own code). */
  readonly errors = new Counter({
    name: 'inferkit_gateway_errors_total',
    help: 'Failed chat completion requests by model and error kind.',
    labelNames: ['model', 'kind'] as const,
    registers: [this.registry],
  });
  /** Tokens by model and type (`prompt` / `completion`), from the usage runners report. */
  readonly tokens = new Counter({
    name: 'inferkit_gateway_tokens_total',
    help: 'Tokens reported by runners, by model and type (prompt, completion).',
    labelNames: ['model', 'type'] as const,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new Histogram({
    name: 'inferkit_gateway_time_to_first_token_seconds',
    help: 'Time from a request being accepted by the gateway to its first output delta.',
    labelNames: ['model'] as const,
    buckets: TTFT_BUCKETS,
    registers: [this.registry],
  });
  readonly interTokenLatency = new Histogram({
    name: 'inferkit_gateway_inter_token_latency_seconds',
    help: 'Time between consecutive output deltas of a stream.',
    labelNames: ['model'] as const,
    buckets: ITL_BUCKETS,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'inferkit_gateway_request_duration_seconds',
    help: 'Chat completion request duration, end to end.',
    labelNames: ['model'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  /** Requests handed to a runner whose `execute()` has not resolved yet (waiting in its queue). */
  readonly queueDepth = new Gauge({
    name: 'inferkit_gateway_queue_depth',
    help: 'Requests waiting for a runner to accept them (execute() pending).',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  /** Requests being served (accepted and streaming). */
  readonly inFlight = new Gauge({
    name: 'inferkit_gateway_requests_in_flight',
    help: 'Chat completion requests currently being served.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  /** Streams stopped because the client went away. */
  readonly clientDisconnects = new Counter({
    name: 'inferkit_gateway_client_disconnects_total',
    help: 'Requests cancelled because the client disconnected.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  /** Per-target series of every routed model, read from its router at scrape time. */
  readonly routes: RouteMetrics;

  private readonly perModel = new Map<string, ModelSeries>();

  /** `routed`: the models whose runner is a `Router` (read on every scrape). */
  constructor(routed: () => Iterable<RoutedModel> = () => []) {
    this.routes = new RouteMetrics(this.registry, routed);
    processMetrics();
  }

  /**
   * The series of one model, looked up once per request instead of hashing labels for every
   * observation. Success counters are included: they are the common case.
   */
  forModel(model: string): ModelSeries {
    let s = this.perModel.get(model);
    if (s === undefined) {
      const l = { model };
      s = {
        timeToFirstToken: this.timeToFirstToken.labels(l),
        interTokenLatency: this.interTokenLatency.labels(l),
        requestDuration: this.requestDuration.labels(l),
        queueDepth: this.queueDepth.labels(l),
        inFlight: this.inFlight.labels(l),
        promptTokens: this.tokens.labels({ model, type: 'prompt' }),
        completionTokens: this.tokens.labels({ model, type: 'completion' }),
        okUnary: this.requests.labels({ model, stream: 'false', status: '200' }),
        okStream: this.requests.labels({ model, stream: 'true', status: '200' }),
      };
      this.perModel.set(model, s);
    }
    return s;
  }

  /** Every metric in Prometheus text format: the process's, then this gateway's. */
  async render(): Promise<string> {
    const [process, own] = await Promise.all([processMetrics().metrics(), this.registry.metrics()]);
    return `${process}\n${own}`;
  }
}

type Observer = { observe(value: number): void };
type Incrementer = { inc(value?: number): void };
type UpDown = { inc(value?: number): void; dec(value?: number): void };

/** Series of one model; see `GatewayMetrics.forModel`. */
export interface ModelSeries {
  timeToFirstToken: Observer;
  interTokenLatency: Observer;
  requestDuration: Observer;
  queueDepth: UpDown;
  inFlight: UpDown;
  promptTokens: Incrementer;
  completionTokens: Incrementer;
  okUnary: Incrementer;
  okStream: Incrementer;
}
