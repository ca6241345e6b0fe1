import * as ort from 'onnxruntime-node';
import type { Message } from '../shared/contracts';
import { emptyPast, int64, promptIds, type OpenModel } from '../shared/evaluation/generation/engine';
import { sampleToken } from '../shared/evaluation/generation/sampler';
import { Rng } from '../shared/util/rng';

/** One chat request's sampling settings, as the server validated them. */
export interface RequestSampling {
  temperature: number;
  topP: number;
  /** The k most likely tokens are kept before top_p (sorting a whole vocabulary per token would cost more than the model's step). */
  topK: number;
  maxTokens: number;
  /** Decoding stops before any of these strings (not sent). */
  stop: string[];
  seed: number;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

/** What the batcher tells its owner about one request. */
export interface BatcherEvents {
  /** New text of the reply (never splits a character; stop strings held back until decided). */
  delta(id: string, text: string): void;
  done(id: string, finishReason: FinishReason, usage: { promptTokens: number; completionTokens: number }): void;
  /** The request cannot run (its prompt and max tokens do not fit the model's context). */
  rejected(id: string, message: string): void;
}

interface Pending {
  id: string;
  messages: Message[];
  sampling: RequestSampling;
}

/** A prompt's cache rows (time-major, batch 1), kept for prompts that start the same way. */
interface PrefixEntry {
  ids: number[];
  keys: Float32Array[];
  values: Float32Array[];
  bytes: number;
}

/** A request in the running batch. */
interface Row {
  id: string;
  sampling: RequestSampling;
  rng: Rng;
  promptTokens: number;
  generated: number[];
  /** The token fed at the next step (the last one sampled). */
  last: number;
  /**
   * Positions of this row in the cache (its prompt and the tokens fed since): the batch's last
   * `fed` positions; the ones in front of them are padding, masked out.
   */
  fed: number;
  /** Text sent so far. */
  sent: string;
  finished?: FinishReason;
  reported?: boolean;
  /** The prefill's cache rows, until the row is laid into the batch. */
  prefill?: { keys: Float32Array[]; values: Float32Array[] };
}

/**
 * Continuous batching on a time-major inference graph (see `KvCache`): requests join and leave
 * the running batch between decode steps. A joining request is prefilled alone and its cache
 * rows laid into the batch's buffers, left-padded (masked) to the batch's length; rows that
 * finished leave at the same re-layout, and positions no remaining row uses are cut from the
 * front. Each row keeps its own positions, sampling settings and random stream (the request's
 * seed), so its reply does not depend on which requests share its steps (greedy decoding gives
 * the same tokens as decoding it alone, up to float rounding).
 */
export class ContinuousBatcher {
  private readonly waiting: Pending[] = [];
  private rows: Row[] = [];
  private keys: Float32Array[] = [];
  private values: Float32Array[] = [];
  /** Cached positions (the same for every row; padding included) and room for them. */
  private length = 0;
  private capacity = 0;
  private readonly rowWidth: number;
  private wake?: () => void;
  private stopping = false;
  readonly stats = { steps: 0, relayouts: 0, maxBatch: 0, tokens: 0, prefillTokens: 0, prefixTokensReused: 0 };
  /** Prompts' cache rows, most recently used last; at most `prefixCacheBytes` in all. */
  private readonly prefixes: PrefixEntry[] = [];
  private prefixBytes = 0;

  constructor(
    private readonly m: OpenModel,
    private readonly events: BatcherEvents,
    private readonly options: { maxBatch: number; growth?: number; prefixCacheBytes?: number; maxContext?: number },
  ) {
    if (m.fused) throw new Error('continuous batching needs the time-major cache layout, not the fused one');
    this.rowWidth = m.dims.kvHeads * m.dims.headDim;
  }

  /** Prompt and reply tokens a request may take: the model's positions, or less (`maxContext`) to bound the cache's memory. */
  get context(): number {
    return Math.min(this.m.maxPositions, this.options.maxContext ?? Number.MAX_SAFE_INTEGER);
  }

  /** Requests running or waiting. */
  get load(): number {
    return this.rows.length + this.waiting.length;
  }

  submit(id: string, messages: Message[], sampling: RequestSampling): void {
    this.waiting.push({ id, messages, sampling });
    this.wake?.();
  }

  /** Ends a request at the next step (it finishes with `cancelled`). */
  cancel(id: string): void {
    const w = this.waiting.findIndex((p) => p.id === id);
    if (w >= 0) {
      this.waiting.splice(w, 1);
      this.events.done(id, 'cancelled', { promptTokens: 0, completionTokens: 0 });
      return;
    }
    const row = this.rows.find((r) => r.id === id);
    if (row && !row.finished) row.finished = 'cancelled';
  }

  /** Stops the loop once nothing is running or waiting. */
  stopWhenIdle(): void {
    this.stopping = true;
    this.wake?.();
  }

  /** Runs until `stopWhenIdle` and nothing is left. */
  async run(): Promise<void> {
    for (;;) {
      if (this.rows.length === 0 && this.waiting.length === 0) {
        if (this.stopping) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      await this.admit();
      if (this.rows.length > 0) await this.step();
      this.finishRows();
    }
  }

  /** Prefills the waiting requests that fit and lays the batch out again with them. */
  private async admit(): Promise<void> {
    const joining: Row[] = [];
    const running = this.rows.filter((r) => !r.finished).length;
    while (this.waiting.length > 0 && running + joining.length < this.options.maxBatch) {
      const p = this.waiting.shift() as Pending;
      const budget = this.context - p.sampling.maxTokens;
      const { ids } = promptIds(this.m.tokenizer, p.messages, Number.MAX_SAFE_INTEGER, this.m.defaultSystem);
      if (budget < 1 || ids.length > budget) {
        this.events.rejected(
          p.id,
          `this model's context is ${this.context} tokens here; the messages take ${ids.length} and max_tokens asks for ${p.sampling.maxTokens} more`,
        );
        continue;
      }
      joining.push(await this.prefill(p, ids));
    }
    const leaving = this.rows.some((r) => r.finished);
    if (joining.length > 0 || leaving) this.relayout(joining);
  }

  /**
   * Runs a joining request's prompt alone. The longest start of it that an earlier prompt
   * shared (the system prompt, the earlier turns of the same conversation) comes from the
   * prefix cache and is not computed again; at least the last token is.
   */
  private async prefill(p: Pending, ids: number[]): Promise<Row> {
    const P = ids.length;
    const hit = this.longestPrefix(ids);
    const n = hit ? hit.length : 0;
    const w = this.rowWidth;
    const past: Record<string, ort.Tensor> = n === 0 ? emptyPast(this.m, 1) : {};
    for (let l = 0; l < this.m.dims.layers && hit; l++) {
      const dims = [n, 1, this.m.dims.kvHeads, this.m.dims.headDim];
      past[`past_key_values.${l}.key`] = new ort.Tensor('float32', (hit.entry.keys[l] as Float32Array).subarray(0, n * w), dims);
      past[`past_key_values.${l}.value`] = new ort.Tensor('float32', (hit.entry.values[l] as Float32Array).subarray(0, n * w), dims);
    }
    const rest = ids.slice(n);
    const result = await this.m.session.run({
      input_ids: int64(rest, [1, P - n]),
      attention_mask: int64(
        ids.map(() => 1),
        [1, P],
      ),
      position_ids: int64(
        rest.map((_, i) => n + i),
        [1, P - n],
      ),
      logits_to_keep: int64([1], []),
      ...past,
    });
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    for (let l = 0; l < this.m.dims.layers; l++) {
      const joined = (cached: Float32Array | undefined, fresh: Float32Array) => {
        if (!cached || n === 0) return fresh;
        const out = new Float32Array(P * w);
        out.set(cached.subarray(0, n * w));
        out.set(fresh, n * w);
        return out;
      };
      keys.push(joined(hit?.entry.keys[l], (result[`present.${l}.key`] as ort.Tensor).data as Float32Array));
      values.push(joined(hit?.entry.values[l], (result[`present.${l}.value`] as ort.Tensor).data as Float32Array));
    }
    this.stats.prefillTokens += P - n;
    this.stats.prefixTokensReused += n;
    this.remember(ids, keys, values);
    const row: Row = {
      id: p.id,
      sampling: p.sampling,
      rng: Rng.for(p.sampling.seed, 'chat'),
      promptTokens: P,
      generated: [],
      last: 0,
      fed: P,
      sent: '',
      prefill: { keys, values },
    };
    this.take(row, result.logits as ort.Tensor, 0);
    return row;
  }

  /** The cached prompt sharing the longest start with `ids` (leaving at least one token to run), if any shares one. */
  private longestPrefix(ids: readonly number[]): { entry: PrefixEntry; length: number } | undefined {
    let best: { entry: PrefixEntry; length: number } | undefined;
    for (const entry of this.prefixes) {
      const max = Math.min(entry.ids.length, ids.length - 1);
      let k = 0;
      while (k < max && entry.ids[k] === ids[k]) k++;
      if (k > 0 && k > (best?.length ?? 0)) best = { entry, length: k };
    }
    if (best) {
      // Most recently used last: eviction takes from the front.
      this.prefixes.splice(this.prefixes.indexOf(best.entry), 1);
      this.prefixes.push(best.entry);
    }
    return best;
  }

  /** Keeps a prompt's cache rows for later prompts that start the same way (least recently used go first). */
  private remember(ids: number[], keys: Float32Array[], values: Float32Array[]): void {
    const budget = this.options.prefixCacheBytes ?? 256 * 1024 * 1024;
    const bytes = 2 * ids.length * this.rowWidth * 4 * this.m.dims.layers;
    if (bytes > budget / 4) return;
    this.prefixes.push({ ids, keys, values, bytes });
    this.prefixBytes += bytes;
    while (this.prefixBytes > budget) this.prefixBytes -= (this.prefixes.shift() as PrefixEntry).bytes;
  }

  /**
   * New buffers for the rows that stay and the ones joining: every row right-aligned to the
   * batch's new length, positions that no row uses cut from the front.
   */
  private relayout(joining: Row[]): void {
    for (const r of [...this.rows, ...joining]) if (r.finished) this.report(r);
    const all = [...this.rows, ...joining].filter((r) => !r.finished);
    const oldB = this.rows.length;
    const oldIndex = new Map(this.rows.map((r, i) => [r, i]));
    const length = all.length === 0 ? 0 : Math.max(...all.map((r) => r.fed));
    const B = all.length;
    const capacity = length + (this.options.growth ?? 64);
    const w = this.rowWidth;
    const fresh = () => Array.from({ length: this.m.dims.layers }, () => new Float32Array(capacity * B * w));
    const keys = fresh();
    const values = fresh();
    all.forEach((r, b) => {
      const n = r.fed;
      const shift = length - n;
      // A joining row's positions come from its prefill (batch 1), a staying row's from the old buffers.
      const ob = oldIndex.get(r) as number;
      const from = this.length - n;
      const source = r.prefill ?? { keys: this.keys, values: this.values };
      const at = r.prefill ? (p: number) => p * w : (p: number) => ((from + p) * oldB + ob) * w;
      for (let l = 0; l < this.m.dims.layers; l++) {
        for (let p = 0; p < n; p++) {
          const src = at(p);
          const to = ((p + shift) * B + b) * w;
          (keys[l] as Float32Array).set((source.keys[l] as Float32Array).subarray(src, src + w), to);
          (values[l] as Float32Array).set((source.values[l] as Float32Array).subarray(src, src + w), to);
        }
      }
      r.prefill = undefined;
    });
    this.rows = all;
    this.keys = keys;
    this.values = values;
    this.length = length;
    this.capacity = capacity;
    this.stats.relayouts += 1;
    this.stats.maxBatch = Math.max(this.stats.maxBatch, B);
  }

  /** One decode step for every row. */
  private async step(): Promise<void> {
    if (this.length + 1 > this.capacity) this.relayout([]);
    const B = this.rows.length;
    if (B === 0) return;
    const dims = [this.length, B, this.m.dims.kvHeads, this.m.dims.headDim];
    const past: Record<string, ort.Tensor> = {};
    const size = this.length * B * this.rowWidth;
    for (let l = 0; l < this.m.dims.layers; l++) {
      past[`past_key_values.${l}.key`] = new ort.Tensor('float32', (this.keys[l] as Float32Array).subarray(0, size), dims);
      past[`past_key_values.${l}.value`] = new ort.Tensor('float32', (this.values[l] as Float32Array).subarray(0, size), dims);
    }
    const mask: number[] = [];
    for (const r of this.rows) for (let t = 0; t <= this.length; t++) mask.push(t < this.length - r.fed ? 0 : 1);
    const result = await this.m.session.run({
      input_ids: int64(
        this.rows.map((r) => r.last),
        [B, 1],
      ),
      attention_mask: int64(mask, [B, this.length + 1]),
      position_ids: int64(
        this.rows.map((r) => r.fed),
        [B, 1],
      ),
      logits_to_keep: int64([1], []),
      ...past,
    });
    for (let l = 0; l < this.m.dims.layers; l++) {
      (this.keys[l] as Float32Array).set((result[`present.${l}.key`] as ort.Tensor).data as Float32Array, size);
      (this.values[l] as Float32Array).set((result[`present.${l}.value`] as ort.Tensor).data as Float32Array, size);
    }
    this.length += 1;
    this.stats.steps += 1;
    this.rows.forEach((r, b) => {
      r.fed += 1;
      if (!r.finished) this.take(r, result.logits as ort.Tensor, b);
    });
  }

  /** Samples a row's next token from its logits and sends the text it adds. */
  private take(r: Row, logits: ort.Tensor, b: number): void {
    const vocab = logits.dims[2] as number;
    const seq = logits.dims[1] as number;
    const data = logits.data as Float32Array;
    const offset = (b * seq + seq - 1) * vocab;
    const token = sampleToken(
      data.subarray(offset, offset + vocab),
      r.generated,
      { temperature: r.sampling.temperature, topP: r.sampling.topP, topK: r.sampling.topK, repetitionPenalty: 1 },
      r.rng,
    );
    this.stats.tokens += 1;
    if (this.m.stopIds.has(token)) {
      r.finished = 'stop';
      return;
    }
    r.generated.push(token);
    r.last = token;
    const text = this.m.tokenizer.decode(r.generated, { skip_special_tokens: true });
    let end = text.length;
    // A character split across tokens decodes as U+FFFD until its last byte arrives.
    while (end > 0 && text.charCodeAt(end - 1) === 0xfffd) end -= 1;
    let finished: FinishReason | undefined;
    for (const s of r.sampling.stop) {
      const at = text.indexOf(s, Math.max(0, r.sent.length - s.length));
      if (at >= 0 && at < end) {
        end = at;
        finished = 'stop';
      }
    }
    if (!finished && r.generated.length >= r.sampling.maxTokens) finished = 'length';
    if (!finished && r.fed >= this.context) finished = 'length';
    // Hold back what could be the start of a stop string until the next token decides it.
    if (!finished) for (const s of r.sampling.stop) end = Math.min(end, heldBack(text.slice(0, end), s));
    if (end > r.sent.length && text.startsWith(r.sent)) {
      this.events.delta(r.id, text.slice(r.sent.length, end));
      r.sent = text.slice(0, end);
    }
    if (finished) r.finished = finished;
  }

  private report(r: Row): void {
    if (r.reported) return;
    r.reported = true;
    this.events.done(r.id, r.finished ?? 'stop', { promptTokens: r.promptTokens, completionTokens: r.generated.length });
  }

  /** Reports rows that finished (they leave the batch at the next re-layout). */
  private finishRows(): void {
    for (const r of this.rows) if (r.finished) this.report(r);
    if (this.rows.some((r) => r.finished) && this.waiting.length === 0) this.relayout([]);
  }
}

/** Where text must stop being sent so that a stop string starting at its end is not sent in part. */
export function heldBack(text: string, stop: string): number {
  for (let k = Math.min(stop.length - 1, text.length); k > 0; k--) if (text.endsWith(stop.slice(0, k))) return text.length - k;
  return text.length;
}
