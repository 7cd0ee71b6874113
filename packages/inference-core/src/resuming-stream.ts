import { capabilitiesOf } from './capabilities-of.js';
import type { CircuitTicket } from './circuit-breaker.js';
import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError, liftInternal } from './inference-error.js';
import type { Message } from './message.js';
import { messageText } from './message-text.js';
import type { RouteTargetState } from './route-target-state.js';
import { endRouteSpan, estimateOf, spanEvent, withAttempts, type Needs, type RouteAttempt, type Router } from './router.js';
import type { TraceSpan } from './span-tracer.js';
import type { ClockTimer } from './clock.js';
import { kUnread, RunHandle } from './run-handle.js';
import type { RunHandleController } from './run-handle-controller.js';
import type { TokenChunk } from './token-chunk.js';
import type { TokenUsage } from './token-usage.js';

/** The attempt whose stream the caller is reading now. */
interface Attempt {
  target: RouteTargetState;
  ticket: CircuitTicket;
  handle: RunHandle;
  estimate: number;
}

/**
 * @internal One routed stream with `resume` on. The caller reads one handle; behind it, when the
 * current target's stream fails with a fallback kind after chunks were delivered, the request
 * continues on a target that declares `continuation`: the original messages plus a final
 * `{ role: 'assistant', content: <text delivered so far>, prefix: true }`, `maxTokens` reduced by
 * the tokens delivered, and the delivered token ids as `continuationTokenIds` where every chunk
 * carried them and the target declares `tokenIds` (then a local engine continues exactly).
 *
 * The caller sees no text lost or repeated, one finish chunk, usage summed over the attempts
 * (tokens of a failed attempt are counted from its chunks: token ids where given, else one per
 * non-empty chunk), and a cost only when every attempt reported one. Tool-call streams are not
 * resumed. Each continuation emits one `resumed` event.
 */
export class ResumingStream {
  readonly handle: RunHandle;
  private readonly controller: RunHandleController;
  private readonly router: Router;
  private readonly batch: ExecuteBatch;
  private readonly signal: AbortSignal | undefined;
  private readonly needs: Needs;
  private current: Attempt | null;
  private stopped: boolean;
  private resumes: number;
  // What the caller has received, over all attempts.
  private text: string;
  private ids: number[];
  private idsComplete: boolean;
  private toolCalls: boolean;
  // Tokens and usage of attempts that already ended (by failure), and of the current one.
  private doneOutputTokens: number;
  private doneUsage: TokenUsage;
  private doneCost: number | undefined;
  private costKnown: boolean;
  private attemptTokens: number;
  private attemptUsage: TokenUsage | undefined;
  private attemptCost: number | undefined;
  private abandonTimer: ClockTimer | null;
  private span: TraceSpan | null;

  constructor(router: Router, batch: ExecuteBatch, signal: AbortSignal | undefined, needs: Needs, first: Omit<Attempt, 'estimate'> & { first: TokenChunk }, span: TraceSpan | null = null) {
    this.span = span;
    this.router = router;
    this.batch = batch;
    this.signal = signal;
    this.needs = needs;
    this.current = { target: first.target, ticket: first.ticket, handle: first.handle, estimate: estimateOf(batch) };
    this.stopped = false;
    this.resumes = 0;
    this.text = '';
    this.ids = [];
    this.idsComplete = true;
    this.toolCalls = false;
    this.doneOutputTokens = 0;
    this.doneUsage = {};
    this.doneCost = 0;
    this.costKnown = true;
    this.attemptTokens = 0;
    this.attemptUsage = undefined;
    this.attemptCost = undefined;
    const { handle, controller } = RunHandle.pushable((reason) => this.stop(reason), { signal, requestId: batch.requestId });
    this.handle = handle;
    this.controller = controller;
    this.abandonTimer = null;
    const ms = router.abandonedHandleMs;
    if (ms !== Infinity && !this.stopped) {
      // The pump reads the target for the caller, so only this handle can tell a caller that left.
      this.abandonTimer = router.clock.setTimeout(() => {
        this.abandonTimer = null;
        if (handle[kUnread] !== true) return;
        handle.cancel(new InferenceError('cancelled', `the handle was neither read nor cancelled within ${ms} ms (abandoned)`, {
          details: { reason: 'abandoned' },
          requestId: batch.requestId,
        }));
      }, ms);
    }
    void this.pump(first.first);
  }

  private async pump(firstChunk: TokenChunk): Promise<void> {
    let next: TokenChunk | null = firstChunk;
    for (;;) {
      const cur = this.current;
      if (cur === null || this.stopped) return;
      let chunk: TokenChunk;
      if (next !== null) {
        chunk = next;
        next = null;
      } else {
        let r: IteratorResult<TokenChunk>;
        try {
          r = await cur.handle.next();
        } catch (e) {
          if (this.stopped) return;
          next = await this.resume(liftInternal(e, this.batch.requestId));
          if (next === null) return;
          continue;
        }
        if (this.stopped) return;
        if (r.done === true) {
          this.endAttempt('ended', null);
          this.finish();
          return;
        }
        chunk = r.value;
      }
      if (typeof chunk !== 'object' || chunk === null) {
        next = await this.resume(new InferenceError('internal', `target ${cur.target.name} streamed a chunk that is not an object`, { requestId: this.batch.requestId }));
        if (next === null) return;
        continue;
      }
      this.track(chunk);
      if (chunk.finishReason !== undefined) {
        const last = this.resumes > 0 ? this.withTotals(chunk) : this.ownId(chunk);
        this.endAttempt('ended', null);
        // The finish chunk is the last one: close the source now (its next() would only say done).
        cur.handle.cancel();
        this.controller.push(last);
        this.finish();
        return;
      }
      if (!this.controller.push(this.ownId(chunk)) && !(await this.controller.ready())) return;
    }
  }

  /** Counts what the caller received. */
  private track(chunk: TokenChunk): void {
    this.text += chunk.textDelta;
    if (chunk.toolCallDelta !== undefined) this.toolCalls = true;
    const ids = chunk.tokenIds;
    if (ids !== undefined) {
      for (const id of ids) this.ids.push(id);
      this.attemptTokens += ids.length;
    } else if (chunk.textDelta !== '') {
      this.idsComplete = false;
      this.attemptTokens++;
    }
    if (chunk.usage !== undefined) this.attemptUsage = { ...this.attemptUsage, ...definedOnly(chunk.usage) };
    if (chunk.costUsd !== undefined) this.attemptCost = chunk.costUsd;
  }

  /**
   * The current attempt failed: continue on another target, or fail the caller's stream. Returns
   * the continuation's first chunk, or null when the stream is over.
   */
  private async resume(error: InferenceError): Promise<TokenChunk | null> {
    const failed = this.current!;
    this.endAttempt('failed', error);
    const router = this.router;
    if (this.stopped) return null;
    if (!router.failsOver(error.kind) || this.toolCalls || this.resumes >= router.maxResumes || this.signal?.aborted) {
      this.failWith(error);
      return null;
    }
    const max = this.batch.sampling?.maxTokens;
    if (max !== undefined && this.doneOutputTokens >= max) {
      // The failed attempt had delivered every token asked for: the answer is complete.
      this.controller.push(this.withTotals({ requestId: this.batch.requestId, textDelta: '', finishReason: 'length' }));
      this.finish();
      return null;
    }
    const requestId = this.batch.requestId;
    const cont = this.continuation();
    const needs: Needs = { ...this.needs, continuation: this.text !== '' || this.needs.continuation, tokenIds: false };
    const attempts: RouteAttempt[] = [{ target: failed.target.name, kind: error.kind }];
    // Other targets first; the one that failed only as a last resort.
    for (const tried of [new Set([failed.target]), new Set<RouteTargetState>()]) {
      for (const t of attempts.slice(1)) tried.add(router.targets.find((x) => x.name === t.target)!);
      for (;;) {
        let picked: Awaited<ReturnType<Router['acquire']>>;
        try {
          picked = await router.acquire(cont, needs, tried, this.signal);
        } catch (e) {
          this.failWith(liftInternal(e, requestId));
          return null;
        }
        if (!('target' in picked)) {
          for (const o of picked.open) attempts.push({ target: o.target.name, kind: o.error.kind });
          break;
        }
        const { target, ticket } = picked;
        tried.add(target);
        const batch = this.forTarget(cont, target);
        const r = await router.attempt(target, ticket, batch, this.signal, this.resumes + 2);
        if (this.stopped) {
          // The caller left while the continuation started: give its slot back at once.
          if (!('error' in r)) {
            r.handle.cancel('the caller stopped reading');
            ticket.record();
            router.release(target, estimateOf(batch));
          }
          return null;
        }
        if ('error' in r) {
          attempts.push({ target: target.name, kind: r.error.kind });
          if (!router.failsOver(r.error.kind) || this.signal?.aborted) {
            this.failWith(withAttempts(r.error, attempts));
            return null;
          }
          continue;
        }
        this.resumes++;
        failed.target.resumes++;
        router.emit({
          type: 'resumed',
          requestId,
          atMs: router.clock.now(),
          from: failed.target.name,
          to: target.name,
          resume: this.resumes,
          deliveredChars: this.text.length,
          error,
        });
        spanEvent(this.span, 'gen_ai.inferkit.resumed', { 'gen_ai.inferkit.route.from': failed.target.name, 'gen_ai.inferkit.route.target': target.name, 'error.type': error.kind });
        this.current = { target, ticket, handle: r.handle, estimate: estimateOf(batch) };
        if (r.first.done === true) {
          this.endAttempt('ended', null);
          this.controller.push(this.withTotals({ requestId, textDelta: '', finishReason: 'stop' }));
          this.finish();
          return null;
        }
        return r.first.value;
      }
    }
    this.failWith(withAttempts(error, attempts));
    return null;
  }

  /** The continuation request: the delivered text as an open assistant message, fewer tokens left. */
  private continuation(): ExecuteBatch {
    const b = this.batch;
    const msgs = b.messages;
    const last = msgs[msgs.length - 1]!;
    let messages: Message[];
    if (this.text === '') messages = msgs;
    else if (last.prefix === true) {
      messages = [...msgs.slice(0, -1), { ...last, content: messageText(last.content, `messages[${msgs.length - 1}].content`) + this.text }];
    } else {
      messages = [...msgs, { role: 'assistant', content: this.text, prefix: true }];
    }
    const max = b.sampling?.maxTokens;
    const sampling = max === undefined ? b.sampling : { ...b.sampling, maxTokens: max - this.doneOutputTokens };
    const out: ExecuteBatch = { ...b, messages };
    if (sampling !== undefined) out.sampling = sampling;
    delete out.continuationTokenIds;
    return out;
  }

  /** Hands the delivered token ids to a target that takes them (exact continuation). */
  private forTarget(cont: ExecuteBatch, target: RouteTargetState): ExecuteBatch {
    const b = target.batchFor(cont);
    if (this.text === '' || !this.idsComplete || !capabilitiesOf(target.runner).tokenIds) return b;
    const before = this.batch.messages[this.batch.messages.length - 1]?.prefix === true ? this.batch.continuationTokenIds : [];
    if (before === undefined) return b; // the original prefix had no ids: re-tokenizing is all we can do
    return { ...b, continuationTokenIds: [...before, ...this.ids] };
  }

  /** Closes the current attempt: slot, breaker, counts; folds its tokens and usage into the totals. */
  private endAttempt(outcome: 'ended' | 'failed' | 'cancelled', error: InferenceError | null): void {
    const cur = this.current;
    if (cur === null) return;
    this.current = null;
    cur.ticket.record(outcome === 'failed' ? (error ?? undefined) : undefined);
    if (outcome === 'ended') cur.target.served++;
    else if (outcome === 'failed') cur.target.failed++;
    this.router.release(cur.target, cur.estimate);
    if (outcome === 'ended') return;
    // A failed attempt's tokens are the ones the caller saw, whatever its usage said.
    this.doneOutputTokens += this.attemptTokens;
    const u = this.attemptUsage;
    if (u !== undefined) {
      addTo(this.doneUsage, 'inputTokens', u.inputTokens);
      addTo(this.doneUsage, 'reasoningTokens', u.reasoningTokens);
      addTo(this.doneUsage, 'cachedTokens', u.cachedTokens);
    }
    if (this.attemptCost === undefined) this.costKnown = false;
    else this.doneCost = (this.doneCost ?? 0) + this.attemptCost;
    this.attemptTokens = 0;
    this.attemptUsage = undefined;
    this.attemptCost = undefined;
  }

  /** The final chunk with usage and cost summed over every attempt. */
  private withTotals(chunk: TokenChunk): TokenChunk {
    const u = this.attemptUsage;
    const usage: TokenUsage = { ...this.doneUsage };
    addTo(usage, 'inputTokens', u?.inputTokens);
    addTo(usage, 'reasoningTokens', u?.reasoningTokens);
    addTo(usage, 'cachedTokens', u?.cachedTokens);
    usage.outputTokens = this.doneOutputTokens + (u?.outputTokens ?? this.attemptTokens);
    const out: TokenChunk = { ...chunk, requestId: this.batch.requestId, usage };
    if (this.costKnown && this.attemptCost !== undefined) out.costUsd = (this.doneCost ?? 0) + this.attemptCost;
    else delete out.costUsd;
    return out;
  }

  /** The stream is complete: no more abandonment check (the caller reads what is buffered). */
  private finish(): void {
    this.endSpan(undefined);
    this.clearAbandonTimer();
    this.controller.end();
  }

  private failWith(error: InferenceError): void {
    this.endSpan(error);
    this.clearAbandonTimer();
    this.controller.fail(error);
  }

  private endSpan(error: InferenceError | undefined): void {
    const span = this.span;
    this.span = null;
    endRouteSpan(span, error);
  }

  private clearAbandonTimer(): void {
    if (this.abandonTimer === null) return;
    this.router.clock.clearTimeout(this.abandonTimer);
    this.abandonTimer = null;
  }

  private ownId(chunk: TokenChunk): TokenChunk {
    return chunk.requestId === this.batch.requestId ? chunk : { ...chunk, requestId: this.batch.requestId };
  }

  /** The caller stopped reading (cancel, break, abort): stop the current attempt too. */
  private stop(reason: InferenceError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.endSpan(undefined);
    this.clearAbandonTimer();
    const cur = this.current;
    if (cur === null) return;
    this.endAttempt('cancelled', null);
    cur.handle.cancel(reason);
  }
}

function definedOnly(u: TokenUsage): TokenUsage {
  const out: TokenUsage = {};
  if (u.inputTokens !== undefined) out.inputTokens = u.inputTokens;
  if (u.outputTokens !== undefined) out.outputTokens = u.outputTokens;
  if (u.reasoningTokens !== undefined) out.reasoningTokens = u.reasoningTokens;
  if (u.cachedTokens !== undefined) out.cachedTokens = u.cachedTokens;
  return out;
}

function addTo(usage: TokenUsage, key: 'inputTokens' | 'reasoningTokens' | 'cachedTokens', value: number | undefined): void {
  if (value === undefined) return;
  usage[key] = (usage[key] ?? 0) + value;
}
