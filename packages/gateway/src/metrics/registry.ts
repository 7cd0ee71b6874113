/**
 * A minimal Prometheus text-format registry (exposition format 0.0.4): counters, gauges and
 * histograms with label sets. Only what the gateway needs, so the package keeps zero runtime
 * dependencies besides the core.
 *
 * Series are looked up by a label key built once per call site and per request (not per chunk):
 * callers on the hot path keep the returned series object and call `inc`/`observe` on it.
 */

type Labels = Readonly<Record<string, string>>;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(labels: Labels, extra?: string): string {
  const parts: string[] = [];
  for (const k of Object.keys(labels)) parts.push(`${k}="${escapeLabelValue(labels[k]!)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Number.isNaN(n)) return 'NaN';
  return String(n);
}

abstract class Metric<S> {
  readonly name: string;
  readonly help: string;
  protected readonly series: Map<string, { labels: Labels; value: S }>;

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
    this.series = new Map();
  }

  protected abstract create(): S;

  /** The series for `labels`, created on first use. */
  protected get(labels: Labels): S {
    const key = renderLabels(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { labels: { ...labels }, value: this.create() };
      this.series.set(key, s);
    }
    return s.value;
  }

  abstract render(out: string[]): void;
}

/** One counter series. */
export class CounterSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class Counter extends Metric<CounterSeries> {
  protected create(): CounterSeries {
    return new CounterSeries();
  }
  labels(labels: Labels = {}): CounterSeries {
    return this.get(labels);
  }
  /** Value of one series (0 when it was never touched). */
  valueFor(labels: Labels = {}): number {
    return this.series.get(renderLabels(labels))?.value.value ?? 0;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { labels, value } of this.series.values()) out.push(`${this.name}${renderLabels(labels)} ${formatNumber(value.value)}`);
  }
}

/** One gauge series. */
export class GaugeSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
  set(v: number): void {
    this.value = v;
  }
}

export class Gauge extends Metric<GaugeSeries> {
  protected create(): GaugeSeries {
    return new GaugeSeries();
  }
  labels(labels: Labels = {}): GaugeSeries {
    return this.get(labels);
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    for (const { labels, value } of this.series.values()) out.push(`${this.name}${renderLabels(labels)} ${formatNumber(value.value)}`);
  }
}

/** One histogram series: per-bucket counts (not cumulative until rendered), sum and count. */
export class HistogramSeries {
  readonly buckets: readonly number[];
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
    this.counts = new Array<number>(buckets.length + 1).fill(0);
  }

  observe(v: number): void {
    // Linear scan: bucket lists are ~12 long, cheaper than a binary search's branches here.
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

export class Histogram extends Metric<HistogramSeries> {
  private readonly buckets: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[]) {
    super(name, help);
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i]! > buckets[i - 1]!)) throw new RangeError(`histogram ${name}: buckets must increase`);
    }
    this.buckets = buckets;
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.buckets);
  }

  labels(labels: Labels = {}): HistogramSeries {
    return this.get(labels);
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const { labels, value } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += value.counts[i]!;
        const le = i < this.buckets.length ? formatNumber(this.buckets[i]!) : '+Inf';
        out.push(`${this.name}_bucket${renderLabels(labels, `le="${le}"`)} ${cumulative}`);
      }
      out.push(`${this.name}_sum${renderLabels(labels)} ${formatNumber(value.sum)}`);
      out.push(`${this.name}_count${renderLabels(labels)} ${value.count}`);
    }
  }
}

export class Registry {
  private readonly metrics: Metric<unknown>[] = [];

  register<M extends Metric<unknown>>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }

  /** The whole registry in Prometheus text format. */
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics) m.render(out);
    return out.join('\n') + '\n';
  }
}

/** Content type of `Registry.render()`'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
