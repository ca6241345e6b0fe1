import * as ort from 'onnxruntime-node';
import type { Message } from '../shared/contracts';
import { emptyPast, int64, promptIds, type OpenModel } from '../shared/evaluation/generation/engine';
import { sampleToken } from '../shared/evaluation/generation/sampler';
import { Rng } from '../shared/util/rng';
import { SAMPLING_CANDIDATES } from '../shared/training/artifacts/inference';

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

/** A prompt's cache rows (batch-major, batch 1: [kv_heads, length, head_dim] per layer), kept for prompts that start the same way. */
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
  /** Positions this row has in its slot's cache (its prompt and the tokens fed since). */
  fed: number;
  /** Text sent so far. */
  sent: string;
  finished?: FinishReason;
  reported?: boolean;
  /** The prefill's cache rows ([kv_heads, fed, head_dim] per layer), until the row takes a slot. */
  prefill?: { keys: Float32Array[]; values: Float32Array[] };
}

/**
 * Continuous batching on the `slots` inference graph: requests join and leave the running batch
 * between decode steps. Each running request has a slot in the batch's cache buffers
 * ([slots, kv_heads, capacity, head_dim] per layer; a slot's rows are one block), and its own
 * length in it: the attention mask hides the positions it has not filled, so rows of different
 * lengths share a step without padding, and a step writes each row's new position in place. A
 * joining request is prefilled alone and its cache copied into the next free slot; a finished
 * one leaves by the slots after it moving down one block each. Each row keeps its own positions,
 * sampling settings and random stream (the request's seed), so its reply does not depend on
 * which requests share its steps (greedy decoding gives the same tokens as decoding it alone, up
 * to float rounding).
 */
export class ContinuousBatcher {
  private readonly waiting: Pending[] = [];
  /** The running rows, in slot order. */
  private rows: Row[] = [];
  private keys: Float32Array[] = [];
  private values: Float32Array[] = [];
  /** Slots the buffers hold, and positions per slot. */
  private slotRoom = 0;
  private capacity = 0;
  private readonly kvHeads: number;
  private readonly headDim: number;
  /** The graph's candidate tokens per row. */
  private readonly candidates: number;
  private wake?: () => void;
  private stopping = false;
  readonly stats = { steps: 0, resizes: 0, maxBatch: 0, tokens: 0, prefillTokens: 0, prefixTokensReused: 0 };
  /** What a fused prefill returns: every layer's cache rows and the logits. */
  private readonly presentNames: string[];
  /** Prompts' cache rows, most recently used last; at most `prefixCacheBytes` in all. */
  private readonly prefixes: PrefixEntry[] = [];
  private prefixBytes = 0;
  /** The session that runs prompts (see `prefillModel`). */
  private readonly prefiller: OpenModel;

  constructor(
    private readonly m: OpenModel,
    private readonly events: BatcherEvents,
    private readonly options: {
      maxBatch: number;
      growth?: number;
      prefixCacheBytes?: number;
      maxContext?: number;
      /** false: always sample from the whole logits (the tests compare the two ways). */
      candidates?: boolean;
      /**
       * The same model opened for prompts' prefills, in the `fused` layout (onnxruntime's
       * attention kernel, which returns each layer's whole cache rows) or `slots`, and perhaps
       * other precision (`PREFILL_INT8`); decode steps use `m`.
       */
      prefillModel?: OpenModel;
    },
  ) {
    if (m.layout !== 'slots') throw new Error(`continuous batching needs a model opened with the slots cache layout, not ${m.layout}`);
    const p = options.prefillModel;
    if (
      p &&
      ((p.layout !== 'slots' && p.layout !== 'fused') || JSON.stringify(p.dims) !== JSON.stringify(m.dims) || p.maxPositions !== m.maxPositions)
    )
      throw new Error('the prefill model must be the same model opened with the slots or fused cache layout');
    this.prefiller = p ?? m;
    this.presentNames = [...Array.from({ length: m.dims.layers }, (_, l) => [`present.${l}.key`, `present.${l}.value`]).flat(), 'logits'];
    this.candidates = Math.min(SAMPLING_CANDIDATES, m.dims.vocab);
    this.kvHeads = m.dims.kvHeads;
    this.headDim = m.dims.headDim;
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
      // onnxruntime-node's run blocks this thread, so requests sent during a step are delivered
      // only when the event loop turns: without this turn they would wait out one more step.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await this.admit();
      if (this.rows.length > 0) await this.step();
      this.leave();
    }
  }

  /** Prefills the waiting requests that fit and gives each a slot (the buffers grow once for all of them). */
  private async admit(): Promise<void> {
    const joining: Row[] = [];
    while (this.waiting.length > 0 && this.rows.length + joining.length < this.options.maxBatch) {
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
      const row = await this.prefill(p, ids);
      if (row.finished) this.report(row);
      else joining.push(row);
    }
    if (joining.length === 0) return;
    this.ensure(this.rows.length + joining.length, Math.max(...joining.map((r) => r.fed + 1)));
    for (const row of joining) this.place(row);
  }

  /** Floats of one layer's cache in one slot. */
  private get slotSize(): number {
    return this.kvHeads * this.capacity * this.headDim;
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
    const { kvHeads: H, headDim: D } = this;
    // A cached entry's first n positions of every head: [1, kv_heads, n, head_dim].
    const head = (cached: Float32Array, length: number) => {
      if (n === length) return cached;
      const out = new Float32Array(H * n * D);
      for (let h = 0; h < H; h++) out.set(cached.subarray(h * length * D, (h * length + n) * D), h * n * D);
      return out;
    };
    const past: Record<string, ort.Tensor> = n === 0 ? emptyPast(this.prefiller, 1) : {};
    for (let l = 0; l < this.m.dims.layers && hit; l++) {
      const dims = [1, H, n, D];
      const length = hit.entry.ids.length;
      past[`past_key_values.${l}.key`] = new ort.Tensor('float32', head(hit.entry.keys[l] as Float32Array, length), dims);
      past[`past_key_values.${l}.value`] = new ort.Tensor('float32', head(hit.entry.values[l] as Float32Array, length), dims);
    }
    const rest = ids.slice(n);
    const result = await this.prefiller.session.run(
      {
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
      },
      this.prefiller.fused ? this.presentNames : this.fetches([p.sampling]),
    );
    // The whole prompt's rows per head: the cached start, then the computed rest.
    const joined = (cached: Float32Array | undefined, fresh: Float32Array) => {
      if (!cached || n === 0) return fresh;
      const length = (hit as { entry: PrefixEntry }).entry.ids.length;
      const out = new Float32Array(H * P * D);
      for (let h = 0; h < H; h++) {
        out.set(cached.subarray(h * length * D, (h * length + n) * D), h * P * D);
        out.set(fresh.subarray(h * (P - n) * D, (h + 1) * (P - n) * D), (h * P + n) * D);
      }
      return out;
    };
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    if (this.prefiller.fused) {
      // The fused kernel gives each layer's whole rows, [1, kv_heads, P, head_dim], the cached start included.
      for (let l = 0; l < this.m.dims.layers; l++) {
        keys.push((result[`present.${l}.key`] as ort.Tensor).data as Float32Array);
        values.push((result[`present.${l}.value`] as ort.Tensor).data as Float32Array);
      }
    } else {
      const kv = (result.new_kv as ort.Tensor).data as Float32Array;
      const block = H * (P - n) * D;
      for (let l = 0; l < this.m.dims.layers; l++) {
        keys.push(joined(hit?.entry.keys[l], kv.slice(2 * l * block, (2 * l + 1) * block)));
        values.push(joined(hit?.entry.values[l], kv.slice((2 * l + 1) * block, (2 * l + 2) * block)));
      }
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
    this.take(row, result, 0);
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
    const bytes = 2 * ids.length * this.kvHeads * this.headDim * 4 * this.m.dims.layers;
    if (bytes > budget / 4) return;
    this.prefixes.push({ ids, keys, values, bytes });
    this.prefixBytes += bytes;
    while (this.prefixBytes > budget) this.prefixBytes -= (this.prefixes.shift() as PrefixEntry).bytes;
  }

  /**
   * New buffers of `slots` slots and `capacity` positions per slot, each running row's cache
   * copied to the same slot. Growing the positions happens every `growth` steps of the longest
   * row; the buffers also shrink when the rows left need far fewer (the attention reads every
   * position of a slot, masked or not).
   */
  private resize(slots: number, capacity: number): void {
    const { kvHeads: H, headDim: D } = this;
    const keys = Array.from({ length: this.m.dims.layers }, () => new Float32Array(slots * H * capacity * D));
    const values = Array.from({ length: this.m.dims.layers }, () => new Float32Array(slots * H * capacity * D));
    this.rows.forEach((r, b) => {
      for (let l = 0; l < this.m.dims.layers; l++) {
        for (let h = 0; h < H; h++) {
          const from = (b * H + h) * this.capacity * D;
          const to = (b * H + h) * capacity * D;
          (keys[l] as Float32Array).set((this.keys[l] as Float32Array).subarray(from, from + r.fed * D), to);
          (values[l] as Float32Array).set((this.values[l] as Float32Array).subarray(from, from + r.fed * D), to);
        }
      }
    });
    this.keys = keys;
    this.values = values;
    this.slotRoom = slots;
    this.capacity = capacity;
    this.stats.resizes += 1;
  }

  /** Room for `slots` rows of `positions` positions (`growth` more, so that decoding does not resize every step). */
  private ensure(slots: number, positions: number): void {
    if (slots <= this.slotRoom && positions <= this.capacity) return;
    const growth = this.options.growth ?? 64;
    this.resize(
      Math.max(this.slotRoom, Math.min(this.options.maxBatch, Math.max(slots, 2 * this.slotRoom))),
      Math.max(this.capacity, positions + growth),
    );
  }

  /** Gives a prefilled row the next slot (the buffers have room) and copies its prompt's cache there. */
  private place(row: Row): void {
    const b = this.rows.length;
    const { kvHeads: H, headDim: D } = this;
    const prefill = row.prefill as { keys: Float32Array[]; values: Float32Array[] };
    for (let l = 0; l < this.m.dims.layers; l++) {
      for (let h = 0; h < H; h++) {
        const from = h * row.fed * D;
        const to = (b * H + h) * this.capacity * D;
        (this.keys[l] as Float32Array).set((prefill.keys[l] as Float32Array).subarray(from, from + row.fed * D), to);
        (this.values[l] as Float32Array).set((prefill.values[l] as Float32Array).subarray(from, from + row.fed * D), to);
      }
    }
    row.prefill = undefined;
    this.rows.push(row);
    this.stats.maxBatch = Math.max(this.stats.maxBatch, this.rows.length);
  }

  /** One decode step for every row. */
  private async step(): Promise<void> {
    const B = this.rows.length;
    const { kvHeads: H, headDim: D } = this;
    let longest = 0;
    for (const r of this.rows) longest = Math.max(longest, r.fed);
    this.ensure(B, longest + 1);
    const C = this.capacity;
    const dims = [B, H, C, D];
    const past: Record<string, ort.Tensor> = {};
    const size = B * this.slotSize;
    for (let l = 0; l < this.m.dims.layers; l++) {
      past[`past_key_values.${l}.key`] = new ort.Tensor('float32', (this.keys[l] as Float32Array).subarray(0, size), dims);
      past[`past_key_values.${l}.value`] = new ort.Tensor('float32', (this.values[l] as Float32Array).subarray(0, size), dims);
    }
    // Each row sees the positions it filled and its new one (the last); the rest of its slot is hidden.
    const mask = new BigInt64Array(B * (C + 1));
    this.rows.forEach((r, b) => {
      mask.fill(1n, b * (C + 1), b * (C + 1) + r.fed);
      mask[b * (C + 1) + C] = 1n;
    });
    const result = await this.m.session.run(
      {
        input_ids: int64(
          this.rows.map((r) => r.last),
          [B, 1],
        ),
        attention_mask: new ort.Tensor('int64', mask, [B, C + 1]),
        position_ids: int64(
          this.rows.map((r) => r.fed),
          [B, 1],
        ),
        logits_to_keep: int64([1], []),
        ...past,
      },
      this.fetches(this.rows.map((r) => r.sampling)),
    );
    // The step's own keys and values ([layers * 2, B, kv_heads, 1, head_dim]) go to each row's next position.
    const kv = (result.new_kv as ort.Tensor).data as Float32Array;
    for (let l = 0; l < this.m.dims.layers; l++) {
      const keys = this.keys[l] as Float32Array;
      const values = this.values[l] as Float32Array;
      this.rows.forEach((r, b) => {
        for (let h = 0; h < H; h++) {
          const k = ((2 * l * B + b) * H + h) * D;
          const v = k + B * H * D;
          const to = ((b * H + h) * C + r.fed) * D;
          keys.set(kv.subarray(k, k + D), to);
          values.set(kv.subarray(v, v + D), to);
        }
      });
    }
    this.stats.steps += 1;
    this.rows.forEach((r, b) => {
      r.fed += 1;
      if (!r.finished) this.take(r, result, b);
    });
  }

  /**
   * What a run returns: the new cache rows, and each row's most likely tokens when every
   * request samples among at most that many (top-k, or greedy), else the logits.
   */
  private fetches(samplings: readonly RequestSampling[]): string[] {
    const candidates = this.options.candidates !== false && samplings.every((s) => s.topK <= this.candidates);
    return ['new_kv', ...(candidates ? ['top_logits', 'top_ids'] : ['logits'])];
  }

  /**
   * Samples a row's next token and sends the text it adds. From the candidates (the graph's top
   * tokens, highest first, ties to the lower id) the draw is the one the whole row would give:
   * top-k keeps the same tokens in the same order, and so the same probabilities.
   */
  private take(r: Row, result: ort.InferenceSession.OnnxValueMapType, b: number): void {
    const sampling = { temperature: r.sampling.temperature, topP: r.sampling.topP, topK: r.sampling.topK, repetitionPenalty: 1 };
    let token: number;
    const top = result.top_logits;
    if (top) {
      const k = top.dims[2] as number;
      const index = sampleToken((top.data as Float32Array).subarray(b * k, (b + 1) * k), r.generated, sampling, r.rng);
      token = Number((result.top_ids as ort.Tensor).data[b * k + index]);
    } else {
      const logits = result.logits as ort.Tensor;
      const vocab = logits.dims[2] as number;
      const offset = b * vocab;
      token = sampleToken((logits.data as Float32Array).subarray(offset, offset + vocab), r.generated, sampling, r.rng);
    }
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

  /**
   * Reports the rows that finished and frees their slots: the rows after a finished one move
   * down (one block per layer each, in order, so nothing is overwritten before it moves). The
   * buffers shrink when the rows left need less than half their positions.
   */
  private leave(): void {
    if (!this.rows.some((r) => r.finished)) return;
    const size = this.slotSize;
    const staying: Row[] = [];
    this.rows.forEach((r, b) => {
      if (r.finished) {
        this.report(r);
        return;
      }
      const to = staying.length;
      staying.push(r);
      if (to === b) return;
      for (let l = 0; l < this.m.dims.layers; l++) {
        (this.keys[l] as Float32Array).copyWithin(to * size, b * size, (b + 1) * size);
        (this.values[l] as Float32Array).copyWithin(to * size, b * size, (b + 1) * size);
      }
    });
    this.rows = staying;
    if (staying.length === 0) {
      this.resize(0, 0);
      return;
    }
    const growth = this.options.growth ?? 64;
    const longest = Math.max(...staying.map((r) => r.fed));
    if (this.capacity > 2 * (longest + growth)) this.resize(this.slotRoom, longest + growth);
  }
}

/** Where text must stop being sent so that a stop string starting at its end is not sent in part. */
export function heldBack(text: string, stop: string): number {
  for (let k = Math.min(stop.length - 1, text.length); k > 0; k--) if (text.endsWith(stop.slice(0, k))) return text.length - k;
  return text.length;
}
