import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Rng } from '../../util/rng';
import type { ExampleLoss, GeneratedResponse, Message, SamplingConfig } from '../../contracts';
import {
  ENGINE_IN_MEMORY_BYTES,
  buildInference,
  fusedAttentionSupported,
  inferencePositions,
  type InferenceCacheLayout,
  type InferenceQuantization,
} from '../../training/artifacts/inference';
import { graphWeightBytes, toOnnx, writeOnnxFile } from '../../training/graph/onnx-writer';
import type { ModelDims } from '../../training/model/config';
import { rotaryCaches } from '../../training/model/llama';
import { openModelFolder } from '../../training/model/folder';
import { defaultSystemPrompt, tokenizeConversation, withSystemPrompt } from '../../training/data/chat-tokens';
import { loadTokenizer } from '../../training/tokenizer/load';
import { sampleToken, tokenNll } from './sampler';

type Tokenizer = Awaited<ReturnType<typeof loadTokenizer>>;

/** A model folder opened for generation and scoring: its inference graph in an onnxruntime session. */
export interface OpenModel {
  session: ort.InferenceSession;
  dims: ModelDims;
  tokenizer: Tokenizer;
  /** Longest prompt plus response the graph's position table covers. */
  maxPositions: number;
  /** Tokens that end a response (`<|im_end|>`, `<|endoftext|>`). */
  stopIds: Set<number>;
  padId: number;
  executionProvider: string;
  /** Given to conversations without a system turn, as in training (see `defaultSystemPrompt`). */
  defaultSystem?: string;
  /** How the graph takes and gives its KV cache (see `InferenceCacheLayout`). */
  layout: EngineCacheLayout;
  /** Attention as onnxruntime's fused kernel: one stream at a time (`layout` is `fused`). */
  fused: boolean;
  /** The graph's rotary tables (fused: the engine rotates the keys it caches). */
  rope: { cos: Float32Array; sin: Float32Array };
}

/**
 * Weights for one-stream decoding on a CPU (serving, the base-model benchmark), which reads
 * every weight once per token. 4 bits: symmetric blocks of 64 (no zero points, onnxruntime's
 * fastest int8-compute kernel) for the layers, and 8 bits for the LM head, which is SmolLM2's
 * tied embedding and which its GGUF keeps at 8 bits (Q8_0): measured on counsel-chat answers,
 * perplexity 30.4 (float32), 33.0 with this, 38.5 with asymmetric 4-bit blocks of 32 everywhere
 * (the LM head alone is most of that loss), at about 7% more tokens/s than the latter.
 */
export const ONE_STREAM_INT4: InferenceQuantization = { bits: 4, blockSize: 64, scheme: 'symmetric', headBits: 8, accuracyLevel: 4 };
/** 8-bit blocks of 32 (perplexity within 0.5% of float32), half of float32's bytes. */
export const ONE_STREAM_INT8: InferenceQuantization = { bits: 8, accuracyLevel: 4 };
/**
 * Weights for the serving batcher's prompt prefills, which are compute-bound (about 1.2 ms a token
 * in float32 here, near the measured float32 peak): every Linear layer in int8 columns with its
 * input quantized per token as it comes (`perTokenInt8MatMul`: integer dot products), the LM
 * head float32. Measured 2026-12-06 on 80 counsel-chat test conversations, each answer decoded in
 * float32 after its prompt: prompts prefilled 1.5 times faster (fused layout) than in float32;
 * answers' perplexity on SmolLM2 after 60 LoRA steps 20.39 against 20.23 after a float32 prefill
 * (+0.8%). Decoding stays float32: on the base model, scoring the answers in int8 too (one scale
 * per input) gave 25.9 against 24.9.
 */
export const PREFILL_INT8: InferenceQuantization = { bits: 8, activations: 'dynamic' };

/**
 * The cache layouts the engine opens a model with: `time-major` (`KvCache`, batches of prompts
 * in the evaluation), `fused` (one stream, `KvCache`) and `slots` (the serving batcher's).
 */
export type EngineCacheLayout = Exclude<InferenceCacheLayout, 'batch-major'>;

/**
 * Opens a model folder: builds its inference graph (KV cache, the same graph the fine-tune
 * stage exports) from the folder's weights for every position the config allows, and starts a
 * session on the first execution provider that loads (CUDA, else CPU).
 */
export async function openModel(
  modelDir: string,
  executionProviders: readonly string[] = ['cpu'],
  options: {
    quantize?: InferenceQuantization;
    threads?: number;
    cache?: EngineCacheLayout;
    /** The layout to use instead when `cache` is `fused` and the model cannot take it (see `fusedAttentionSupported`). */
    fallback?: EngineCacheLayout;
    /** Intra-op threads spin while waiting for work (default: for the fused one-stream layout only). */
    spinning?: boolean;
  } = {},
): Promise<OpenModel> {
  const folder = await openModelFolder(modelDir);
  const maxPositions = inferencePositions(folder.config);
  const wanted = options.cache ?? 'time-major';
  const layout = wanted === 'fused' && options.fallback && !fusedAttentionSupported(folder.dims) ? options.fallback : wanted;
  const graph = buildInference(folder.dims, folder.weights, maxPositions, {
    quantize: options.quantize,
    cache: layout,
  });
  // A graph with large weights (protobuf holds at most 2 GB) goes through a temporary folder with
  // its data file beside it, written one tensor at a time; small ones stay in memory.
  let bytes: Uint8Array | string;
  let scratch: string | undefined;
  if (graphWeightBytes(graph) < ENGINE_IN_MEMORY_BYTES) bytes = toOnnx(graph);
  else {
    scratch = await mkdtemp(path.join(tmpdir(), 'pixel-model-'));
    bytes = path.join(scratch, 'model.onnx');
    await writeOnnxFile(graph, bytes, { externalBytes: 0 });
  }
  let session: ort.InferenceSession | undefined;
  let executionProvider = 'cpu';
  for (const ep of executionProviders) {
    try {
      const sessionOptions: ort.InferenceSession.SessionOptions = {
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
        ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
        ...(process.env.PIXEL_ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.PIXEL_ORT_PROFILE } : {}),
        // The fused one-stream layout runs a step every ~10 ms and each step about 300 small
        // parallel kernels: an intra-op thread that waits spinning instead of asleep saves the
        // wake-ups (measured 9.5 against 10.8 ms per step at a 300-token context). Batched
        // sessions share the cores with other work, and sleep.
        extra: { session: { intra_op: { allow_spinning: (options.spinning ?? layout === 'fused') ? '1' : '0' } } },
      };
      session =
        typeof bytes === 'string'
          ? await ort.InferenceSession.create(bytes, sessionOptions)
          : await ort.InferenceSession.create(bytes, sessionOptions);
      executionProvider = ep;
      break;
    } catch (err) {
      if (ep === executionProviders[executionProviders.length - 1]) {
        if (scratch) await rm(scratch, { recursive: true, force: true });
        throw err;
      }
    }
  }
  // The session holds the weights now (read, or mapped, which outlives the file's name).
  if (scratch) await rm(scratch, { recursive: true, force: true });
  const tokenizer = await loadTokenizer(modelDir);
  const id = (t: string): number | undefined => {
    const v = tokenizer.convert_tokens_to_ids(t) as number | null | undefined;
    return typeof v === 'number' && v >= 0 ? v : undefined;
  };
  const stopIds = new Set<number>([id('<|im_end|>'), id('<|endoftext|>')].filter((x): x is number => x !== undefined));
  const defaultSystem = defaultSystemPrompt(tokenizer);
  return {
    session: session!,
    dims: folder.dims,
    tokenizer,
    maxPositions,
    stopIds,
    padId: id('<|endoftext|>') ?? 0,
    executionProvider,
    ...(defaultSystem ? { defaultSystem } : {}),
    layout,
    fused: layout === 'fused',
    rope: layout === 'fused' ? rotaryCaches(folder.dims, maxPositions) : { cos: new Float32Array(0), sin: new Float32Array(0) },
  };
}

/**
 * The KV cache of a batch in buffers of its own, allocated once for the whole generation.
 * Time-major graphs: [position, batch, kv_heads, head_dim]; each step appends the new positions
 * the graph returns, and the next step's past is a view of the first rows, so nothing already
 * cached is copied again. Fused graphs: one [1, kv_heads, capacity, head_dim] buffer per layer
 * and kind, given whole as the past (onnxruntime reads it in place, and the kernel reads only
 * the cached length); the step's own rows come back as one small `new_rows` output and are
 * written after the cached ones. The `present.*` outputs are never fetched: onnxruntime-node
 * copies every fetched output into a new JavaScript buffer, pre-allocated or not, and a copy of
 * the whole cache per layer and step cost more than the step's attention (measured: a 50-token
 * context decoded at 8.6 ms per step with a 120-position cache and 45 ms with 1,200).
 */
export class KvCache {
  private keys: Float32Array[];
  private values: Float32Array[];
  private readonly row: number;
  private capacity: number;
  private length = 0;
  /** The fused layout's past inputs: tensors over `keys` / `values`, made again only when the buffers grow. */
  private past: Record<string, ort.Tensor> = {};

  /**
   * `maxCapacity` positions at most; the fused layout starts with room for `initial` and grows in
   * steps of {@link KvCache.GROWTH} (the kernel's cost grows a little with the buffer's length,
   * measured about 0.5 ms per step per 100 unused positions, so a generous limit is not paid up front).
   */
  constructor(
    private readonly m: OpenModel,
    private readonly batch: number,
    private readonly maxCapacity: number,
    initial = maxCapacity,
  ) {
    if (m.layout === 'slots') throw new Error("the slots cache layout is the serving batcher's, not KvCache's");
    if (m.fused && batch !== 1) throw new Error('the fused attention kernel decodes one stream at a time (batch 1)');
    this.row = batch * m.dims.kvHeads * m.dims.headDim;
    this.capacity = m.fused ? Math.min(maxCapacity, Math.max(1, initial)) : maxCapacity;
    const size = this.capacity * this.row;
    this.keys = Array.from({ length: m.dims.layers }, () => new Float32Array(size));
    this.values = Array.from({ length: m.dims.layers }, () => new Float32Array(size));
    if (m.fused) this.wrap();
  }

  static readonly GROWTH = 64;

  /** The fused layout's past tensors over the current buffers. */
  private wrap(): void {
    const dims = [this.batch, this.m.dims.kvHeads, this.capacity, this.m.dims.headDim];
    this.past = {};
    for (let i = 0; i < this.m.dims.layers; i++) {
      this.past[`past_key_values.${i}.key`] = new ort.Tensor('float32', this.keys[i] as Float32Array, dims);
      this.past[`past_key_values.${i}.value`] = new ort.Tensor('float32', this.values[i] as Float32Array, dims);
    }
  }

  /** Fused layout: room for `needed` positions, each head's cached rows moved to the larger buffers. */
  private grow(needed: number): void {
    if (needed > this.maxCapacity) throw new Error('KV cache capacity exceeded');
    const capacity = Math.min(this.maxCapacity, Math.max(needed, this.capacity + KvCache.GROWTH));
    const { kvHeads, headDim } = this.m.dims;
    const move = (old: Float32Array) => {
      const next = new Float32Array(capacity * this.row);
      for (let h = 0; h < kvHeads; h++)
        next.set(old.subarray(h * this.capacity * headDim, (h * this.capacity + this.length) * headDim), h * capacity * headDim);
      return next;
    };
    this.keys = this.keys.map(move);
    this.values = this.values.map(move);
    this.capacity = capacity;
    this.wrap();
  }

  /** The past for the next step. */
  feeds(): Record<string, ort.Tensor> {
    if (this.m.fused) return this.past;
    const dims = [this.length, this.batch, this.m.dims.kvHeads, this.m.dims.headDim];
    const feeds: Record<string, ort.Tensor> = {};
    for (let i = 0; i < this.m.dims.layers; i++) {
      feeds[`past_key_values.${i}.key`] = new ort.Tensor('float32', (this.keys[i] as Float32Array).subarray(0, this.length * this.row), dims);
      feeds[`past_key_values.${i}.value`] = new ort.Tensor('float32', (this.values[i] as Float32Array).subarray(0, this.length * this.row), dims);
    }
    return feeds;
  }

  /** What a step returns: every output (time-major), or the logits and the step's own cache rows (fused). */
  fetches(): Record<string, null> | undefined {
    return this.m.fused ? { logits: null, new_rows: null } : undefined;
  }

  /** Appends the positions a step computed (time-major: its `present.*` outputs; fused: its `new_rows`). */
  append(result: Record<string, ort.Tensor>): void {
    if (this.m.fused) {
      // new_rows: [layers, seq, (heads + 2 * kv_heads) * head_dim], each layer's packed q|k|v
      // projection; its keys get the rotary embedding of their position (rotate-half, the graph's
      // own tables), and each head's rows go after its cached ones in [1, kv_heads, capacity, head_dim].
      const t = result.new_rows as ort.Tensor;
      const data = t.data as Float32Array;
      const added = t.dims[1] as number;
      if (this.length + added > this.capacity) this.grow(this.length + added);
      const { heads, kvHeads, headDim } = this.m.dims;
      const half = headDim / 2;
      const width = (heads + 2 * kvHeads) * headDim;
      const { cos, sin } = this.m.rope;
      for (let i = 0; i < this.m.dims.layers; i++) {
        const keys = this.keys[i] as Float32Array;
        const values = this.values[i] as Float32Array;
        for (let s = 0; s < added; s++) {
          const row = (i * added + s) * width;
          const position = this.length + s;
          for (let h = 0; h < kvHeads; h++) {
            const k = row + (heads + h) * headDim;
            const v = row + (heads + kvHeads + h) * headDim;
            const at = (h * this.capacity + position) * headDim;
            values.set(data.subarray(v, v + headDim), at);
            for (let j = 0; j < half; j++) {
              const c = cos[position * half + j] as number;
              const sn = sin[position * half + j] as number;
              const x = data[k + j] as number;
              const y = data[k + j + half] as number;
              keys[at + j] = x * c - y * sn;
              keys[at + j + half] = y * c + x * sn;
            }
          }
        }
      }
      this.length += added;
      return;
    }
    let added = 0;
    for (let i = 0; i < this.m.dims.layers; i++) {
      for (const [kind, buffers] of [
        ['key', this.keys],
        ['value', this.values],
      ] as const) {
        const buffer = buffers[i] as Float32Array;
        const data = (result[`present.${i}.${kind}`] as ort.Tensor).data as Float32Array;
        if (this.length * this.row + data.length > buffer.length) throw new Error('KV cache capacity exceeded');
        buffer.set(data, this.length * this.row);
        added = data.length / this.row;
      }
    }
    this.length += added;
  }
}

/** An empty past of `batch` rows (in the model's cache layout). */
export function emptyPast(m: OpenModel, batch: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < m.dims.layers; i++) {
    for (const kind of ['key', 'value'])
      feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor(
        'float32',
        new Float32Array(0),
        m.layout === 'time-major' ? [0, batch, m.dims.kvHeads, m.dims.headDim] : [batch, m.dims.kvHeads, 0, m.dims.headDim],
      );
  }
  return feeds;
}

/** An int64 tensor of `values` (token ids, masks, positions) for the inference graphs' inputs. */
export const int64 = (values: readonly number[], dims: number[]) =>
  new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );

/** The prompt's token ids: the conversation in ChatML and the opening of the assistant's turn, cut from the left to `budget`. */
export function promptIds(
  tokenizer: Tokenizer,
  messages: readonly Message[],
  budget: number,
  defaultSystem?: string,
): { ids: number[]; truncated: boolean } {
  const ids = [
    ...tokenizeConversation(tokenizer, withSystemPrompt(messages, defaultSystem)).ids,
    ...tokenizer.encode('<|im_start|>assistant\n', { add_special_tokens: false }),
  ];
  return ids.length > budget ? { ids: ids.slice(ids.length - budget), truncated: true } : { ids, truncated: false };
}

/**
 * Generates a response for each prompt, `sampling.batch` at a time (prompts of similar length
 * together, left-padded), with the KV cache. Each prompt draws from its own random stream
 * (the seed and its id), so its text does not depend on which other prompts share its batch's
 * draws. A response ends at `<|im_end|>` or after `maxNewTokens`.
 */
export async function generateResponses(
  m: OpenModel,
  prompts: readonly { id: string; messages: readonly Message[] }[],
  sampling: SamplingConfig,
  onProgress?: (done: number) => void,
  shouldStop?: () => boolean,
  /** Called after each decode step with the step's index (0: the prompt's prefill): timing for benchmarks. */
  onStep?: (step: number) => void,
): Promise<GeneratedResponse[]> {
  const budget = Math.max(1, m.maxPositions - sampling.maxNewTokens);
  const encoded = prompts.map((p, index) => ({ index, id: p.id, ids: promptIds(m.tokenizer, p.messages, budget, m.defaultSystem).ids }));
  const order = [...encoded].sort((a, b) => a.ids.length - b.ids.length || a.index - b.index);
  const out = new Array<GeneratedResponse>(prompts.length);
  let done = 0;
  for (let start = 0; start < order.length; start += sampling.batch) {
    if (shouldStop?.()) throw new Error('generation cancelled');
    const rows = order.slice(start, start + sampling.batch);
    const B = rows.length;
    const width = Math.max(...rows.map((r) => r.ids.length));
    const ids: number[] = [];
    const mask: number[] = [];
    const positions: number[] = [];
    for (const r of rows) {
      const pad = width - r.ids.length;
      for (let i = 0; i < width; i++) {
        ids.push(i < pad ? m.padId : (r.ids[i - pad] as number));
        mask.push(i < pad ? 0 : 1);
        positions.push(i < pad ? 0 : i - pad);
      }
    }
    const rngs = rows.map((r) => Rng.for(sampling.seed, 'generate', r.id));
    const generated: number[][] = rows.map(() => []);
    const finished = rows.map(() => false);
    const next = rows.map((r) => r.ids.length);
    const cache = new KvCache(m, B, width + sampling.maxNewTokens, width + KvCache.GROWTH);
    let feeds: Record<string, ort.Tensor> = {
      input_ids: int64(ids, [B, width]),
      attention_mask: int64(mask, [B, width]),
      position_ids: int64(positions, [B, width]),
      logits_to_keep: int64([1], []),
      ...cache.feeds(),
    };
    let total = width;
    for (let step = 0; step < sampling.maxNewTokens; step++) {
      const fetches = cache.fetches();
      const result = fetches ? await m.session.run(feeds, fetches) : await m.session.run(feeds);
      const logits = result.logits as ort.Tensor;
      const [, seqLen, vocab] = logits.dims as [number, number, number];
      const data = logits.data as Float32Array;
      const last: number[] = [];
      for (let b = 0; b < B; b++) {
        if (finished[b]) {
          last.push(m.padId);
          continue;
        }
        const offset = (b * seqLen + seqLen - 1) * vocab;
        const token = sampleToken(data.subarray(offset, offset + vocab), generated[b]!, sampling, rngs[b]!);
        if (m.stopIds.has(token)) finished[b] = true;
        else generated[b]!.push(token);
        last.push(token);
      }
      onStep?.(step);
      if (finished.every(Boolean)) break;
      cache.append(result);
      total += 1;
      for (let b = 0; b < B; b++) mask.splice((b + 1) * total - 1, 0, 1);
      feeds = {
        input_ids: int64(last, [B, 1]),
        attention_mask: int64(mask, [B, total]),
        position_ids: int64(
          next.map((n, b) => n + generated[b]!.length - (finished[b] ? 0 : 1)),
          [B, 1],
        ),
        logits_to_keep: int64([1], []),
        ...cache.feeds(),
      };
    }
    rows.forEach((r, b) => {
      out[r.index] = {
        itemId: r.id,
        response: generated[b]!.length === 0 ? '' : m.tokenizer.decode(generated[b]!, { skip_special_tokens: true }).trim(),
        tokens: generated[b]!.length,
        finished: finished[b]!,
      };
    });
    done += B;
    onProgress?.(done);
  }
  return out;
}

/**
 * The negative log-likelihood of each conversation's assistant tokens (the tokens the model is
 * trained to produce) under the model, `batch` conversations at a time, each cut to the
 * model's positions. Conversations with no assistant token within that length are left out.
 */
export async function conversationLosses(
  m: OpenModel,
  records: readonly { id: string; messages: readonly Message[] }[],
  batch: number,
  onProgress?: (done: number) => void,
  shouldStop?: () => boolean,
): Promise<ExampleLoss[]> {
  const out: ExampleLoss[] = [];
  const encoded = records.map((r) => {
    const t = tokenizeConversation(m.tokenizer, withSystemPrompt(r.messages, m.defaultSystem));
    return { id: r.id, ids: t.ids.slice(0, m.maxPositions), learn: t.assistant.slice(0, m.maxPositions) };
  });
  for (let start = 0; start < encoded.length; start += batch) {
    if (shouldStop?.()) throw new Error('scoring cancelled');
    const rows = encoded.slice(start, start + batch);
    const width = Math.max(...rows.map((r) => r.ids.length));
    const ids: number[] = [];
    const mask: number[] = [];
    const positions: number[] = [];
    for (const r of rows) {
      for (let i = 0; i < width; i++) {
        ids.push(i < r.ids.length ? (r.ids[i] as number) : m.padId);
        mask.push(i < r.ids.length ? 1 : 0);
        positions.push(i < r.ids.length ? i : 0);
      }
    }
    const result = await m.session.run({
      input_ids: int64(ids, [rows.length, width]),
      attention_mask: int64(mask, [rows.length, width]),
      position_ids: int64(positions, [rows.length, width]),
      logits_to_keep: int64([width], []),
      ...emptyPast(m, rows.length),
    });
    const logits = result.logits as ort.Tensor;
    const vocab = logits.dims[2] as number;
    const data = logits.data as Float32Array;
    rows.forEach((r, b) => {
      let nll = 0;
      let tokens = 0;
      for (let i = 0; i + 1 < r.ids.length; i++) {
        if (r.learn[i + 1] !== 1) continue;
        nll += tokenNll(data, (b * width + i) * vocab, vocab, r.ids[i + 1] as number);
        tokens += 1;
      }
      if (tokens > 0) out.push({ recordId: r.id, nll, tokens });
    });
    onProgress?.(Math.min(start + batch, encoded.length));
  }
  return out;
}
