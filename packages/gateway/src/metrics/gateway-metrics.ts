import { Counter, CounterSeries, Gauge, GaugeSeries, Histogram, HistogramSeries, Registry } from './registry.js';

// Seconds. TTFT spans a fast scripted runner (sub-millisecond) up to a cold local model.
const TTFT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ITL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The gateway's Prometheus metrics. Names are part of the public surface (dashboards use them). */
export class GatewayMetrics {
  readonly registry = new Registry();

  /** Finished HTTP requests on the chat endpoint, by model, stream flag and HTTP status. */
  readonly requests = this.registry.register(
    new Counter('inferkit_gateway_requests_total', 'Chat completion requests by model, stream and HTTP status.'),
  );
  /** Failed requests by error kind (InferenceError kind, or the gateway's own code). */
  readonly errors = this.registry.register(
    new Counter('inferkit_gateway_errors_total', 'Failed chat completion requests by model and error kind.'),
  );
  /** Tokens by model and type (`prompt` / `completion`), from the usage runners report. */
  readonly tokens = this.registry.register(
    new Counter('inferkit_gateway_tokens_total', 'Tokens reported by runners, by model and type (prompt, completion).'),
  );
  readonly timeToFirstToken = this.registry.register(
    new Histogram(
      'inferkit_gateway_time_to_first_token_seconds',
      'Time from a request being accepted by the gateway to its first output delta.',
      TTFT_BUCKETS,
    ),
  );
  readonly interTokenLatency = this.registry.register(
    new Histogram('inferkit_gateway_inter_token_latency_seconds', 'Time between consecutive output deltas of a stream.', ITL_BUCKETS),
  );
  readonly requestDuration = this.registry.register(
    new Histogram('inferkit_gateway_request_duration_seconds', 'Chat completion request duration, end to end.', DURATION_BUCKETS),
  );
  /** Requests handed to a runner whose `execute()` has not resolved yet (waiting in its queue). */
  readonly queueDepth = this.registry.register(
    new Gauge('inferkit_gateway_queue_depth', 'Requests waiting for a runner to accept them (execute() pending).'),
  );
  /** Requests being served (accepted and streaming). */
  readonly inFlight = this.registry.register(
    new Gauge('inferkit_gateway_requests_in_flight', 'Chat completion requests currently being served.'),
  );
  /** Streams stopped because the client went away. */
  readonly clientDisconnects = this.registry.register(
    new Counter('inferkit_gateway_client_disconnects_total', 'Requests cancelled because the client disconnected.'),
  );

  private readonly perModel = new Map<string, ModelSeries>();

  /**
   * The series of one model, looked up once per request instead of building label keys for
   * every observation. Success counters are included: they are the common case.
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

  render(): string {
    return this.registry.render();
  }
}

/** Series of one model; see `GatewayMetrics.forModel`. */
export interface ModelSeries {
  timeToFirstToken: HistogramSeries;
  interTokenLatency: HistogramSeries;
  requestDuration: HistogramSeries;
  queueDepth: GaugeSeries;
  inFlight: GaugeSeries;
  promptTokens: CounterSeries;
  completionTokens: CounterSeries;
  okUnary: CounterSeries;
  okStream: CounterSeries;
}
