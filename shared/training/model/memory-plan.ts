import { hostOptimizerFits } from '../host-adamw';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { LoraSpecSchema } from '../../contracts/model-artifacts';
import { readInputFile } from '../../util/files';
import { ENGINE_IN_MEMORY_BYTES } from '../artifacts/inference';
import { EXTERNAL_DATA_BYTES } from '../graph/onnx-writer';
import { LlamaConfigSchema, modelDims, parameterShapes, type ModelDims } from './config';

/**
 * How much memory a training run and a generation run need, from the model's shape alone (its
 * `config.json`), before anything is loaded: every term below is a tensor or a copy of one that
 * Pixel's training path really holds, sized from the dims. The few terms that are onnxruntime's
 * own behaviour (how many copies of a frozen weight a session keeps, its arena, its per-node
 * overhead) were measured: `scripts/measure-memory.ts` measures peak RSS of the real trainer and
 * generation engine on the CPU, and memory-plan.test.ts holds those figures and checks the plan
 * against them. CUDA figures use the same terms with the GPU's copies; they were not measured.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Bytes per element: activations, LoRA adapters, optimizer state and the inference graph are float32. */
const F32 = 4;

// ---------------------------------------------------------------------------------------------
// Devices

export type DeviceKind = 'cpu' | 'cuda';

/** Where a run goes and how much memory it may use there. */
export interface DeviceSpec {
  kind: DeviceKind;
  /** Memory of the device: RAM for `cpu`, the GPU's memory for `cuda`. */
  bytes: number;
  /** As given (`cpu`, `cpu:24GB`, `cuda:80GB`). */
  text: string;
  /** `cpu` without a size: this machine's RAM (os.totalmem()). */
  fromMachine: boolean;
}

/**
 * Memory sizes count in powers of two, as memory makers do (JEDEC): an "80GB" GPU has 80 GiB,
 * "24GB" of RAM is 24 GiB. MiB, GiB and TiB are accepted too.
 */
const UNITS: Record<string, number> = { MB: MiB, GB: GiB, TB: 1024 * GiB, MIB: MiB, GIB: GiB, TIB: 1024 * GiB };

export class DeviceSpecError extends Error {
  constructor(text: string, problem: string) {
    super(`device "${text.slice(0, 60)}": ${problem} (examples: cpu, cpu:24GB, cuda:80GB)`);
    this.name = 'DeviceSpecError';
  }
}

/**
 * Parses `cpu` (this machine's RAM), `cpu:<size>` or `cuda:<size>`, a size being a number and
 * a unit (MB, GB or TB, binary; or MiB, GiB, TiB), e.g. `cuda:80GB`.
 */
export function parseDevice(text: string, totalMemory: number = os.totalmem()): DeviceSpec {
  const t = text.trim();
  const [kind, size, ...rest] = t.split(':');
  if (rest.length > 0) throw new DeviceSpecError(t, 'has more than one ":"');
  if (kind !== 'cpu' && kind !== 'cuda') throw new DeviceSpecError(t, `the kind must be cpu or cuda, not "${(kind ?? '').slice(0, 20)}"`);
  if (size === undefined) {
    if (kind === 'cuda') throw new DeviceSpecError(t, "give the GPU's memory, as in cuda:80GB");
    return { kind, bytes: totalMemory, text: t, fromMachine: true };
  }
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(size.trim());
  if (!m) throw new DeviceSpecError(t, `the memory "${size.slice(0, 20)}" is not a number with a unit`);
  const unit = UNITS[(m[2] ?? '').toUpperCase()];
  if (!m[2]) throw new DeviceSpecError(t, `the memory "${size}" needs a unit: MB, GB, TB, MiB, GiB or TiB`);
  if (unit === undefined) throw new DeviceSpecError(t, `unknown unit "${(m[2] ?? '').slice(0, 10)}": use MB, GB, TB, MiB, GiB or TiB`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!(bytes > 0)) throw new DeviceSpecError(t, 'the memory must be more than 0');
  return { kind, bytes, text: t, fromMachine: false };
}

/** A device string as a zod schema (for option and input validation). */
export const DeviceTextSchema = z.string().transform((text, ctx): DeviceSpec => {
  try {
    return parseDevice(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

// ---------------------------------------------------------------------------------------------
// Measured constants of onnxruntime (CPU execution provider, onnxruntime-node 1.30; see the test)

/**
 * The process before it loads anything: node, tsx, onnxruntime-node and their libraries
 * (measured: 92 to 106 MiB of RSS in the measuring children). A worker process with Temporal
 * holds more; this is the floor.
 */
export const RUNTIME_BYTES = 100 * MiB;
/**
 * The CUDA context with cuBLAS and cuDNN workspaces on the GPU: assumed, not measured (no GPU
 * where these figures were taken); typical of CUDA 12 on an H100.
 */
export const CUDA_CONTEXT_BYTES = 1 * GiB;
/**
 * A train-step session's own memory besides tensors (its graph after optimization, a kernel and
 * a plan per node: about 300 nodes per layer), per layer. Measured 8 to 9 MiB per layer; an eval
 * session has a third of the nodes (no backward pass).
 */
export const TRAIN_SESSION_BYTES_PER_LAYER = 9 * MiB;
export const EVAL_SESSION_BYTES_PER_LAYER = 2 * MiB;
/** Each session's fixed part (thread pool, allocator, execution plan), measured on 2-layer models. */
export const SESSION_BYTES = 6 * MiB;
/**
 * The tokenizer (transformers.js and the parsed tokenizer.json), which training and generation
 * both load: measured 23 MiB with a 300-token vocabulary and 39 MiB with SmolLM2's 49,152.
 */
export const tokenizerBytes = (vocab: number) => 23 * MiB + 340 * vocab;
/**
 * V8 collects garbage ArrayBuffers once this much more external memory has been allocated since
 * its last collection (its external allocation soft limit): JS copies that became garbage stay
 * resident until then.
 */
const V8_EXTERNAL_GC_BYTES = 64 * MiB;
/**
 * Copies of the frozen base weights a LoRA session holds. Every frozen matrix W is read as it is
 * by both of its products (x Wᵀ as FusedMatMul with transB, dY W in the backward pass), so no
 * folded Wᵀ exists. Small graphs keep their weights inline and let MLAS pack each product's
 * constant operand (measured: a decoder layer's matrix held 3 times in the train step, the untied
 * LM head twice, and once in the eval session; a tied embedding 3 times and twice). Graphs whose
 * frozen base is in a data file (generate.ts, from 256 MiB) run without packing: onnxruntime maps
 * the file, both sessions read the same pages, and each weight is resident once (measured on the
 * Nemo-wide 2-layer model: 7.0 GB of frozen weights, training peak 9.7 GB). The GPU copies each
 * weight into each session once (assumed, not measured: no GPU was lent).
 */
export function frozenCopies(kind: DeviceKind, tied: boolean, mapped: boolean) {
  if (mapped) return { embedding: { trainStep: 1, eval: tied ? 1 : 0 }, head: { trainStep: 1, eval: 1 }, layerMatrices: { trainStep: 1, eval: 1 } };
  if (kind === 'cuda') return { embedding: { trainStep: 1, eval: 1 }, head: { trainStep: 1, eval: 1 }, layerMatrices: { trainStep: 1, eval: 1 } };
  return {
    embedding: tied ? { trainStep: 3, eval: 2 } : { trainStep: 1, eval: 1 },
    head: { trainStep: 2, eval: 1 },
    layerMatrices: { trainStep: 3, eval: 1 },
  };
}

/**
 * onnxruntime's arena and memory pattern: the first run allocates each intermediate tensor from
 * the arena, and from the second run on the planned pattern is one block, allocated while the
 * first run's blocks stay cached in the arena (it never returns memory). So a session's
 * intermediate memory is held twice (measured: the peak grows by as much again at the second
 * step, and does not with `enableMemPattern: false`).
 */
export const ARENA_PATTERN_FACTOR = 2;
/**
 * Copies of the logits [batch, seq, vocab] alive at once in a train step: the log-softmax
 * (computed in place over the logits), the gradient GatherElements' backward scatters into a
 * [batch, seq, vocab] tensor, exp(log p), and their product in the log-softmax's backward pass
 * (measured: 4.0 copies at a 131,072 vocabulary). The eval graph holds one (in-place log-softmax).
 */
const LOGITS_COPIES_TRAIN = 4;
const LOGITS_COPIES_EVAL = 1;

// ---------------------------------------------------------------------------------------------
// The plan

export type FrozenDtype = 'float32' | 'float16';
const FROZEN_BYTES: Record<FrozenDtype, number> = { float32: 4, float16: 2 };
const STORED_BYTES = { float32: 4, float16: 2, bfloat16: 2 } as const;
/** Frozen weights' dtype (LoRA): float32 on the CPU, float16 on CUDA unless chosen. */
export const defaultFrozenDtype = (kind: DeviceKind): FrozenDtype => (kind === 'cuda' ? 'float16' : 'float32');

export const LORA_TARGETS = LoraSpecSchema.shape.targets.unwrap().element.options;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export const MemoryPlanOptionsSchema = z
  .object({
    mode: z.enum(['full', 'lora']),
    batch: z.number().int().min(1).max(65_536),
    seq: z.number().int().min(1).max(1_048_576),
    lora: z.object({ rank: LoraSpecSchema.shape.rank.unwrap(), targets: z.array(z.enum(LORA_TARGETS)).min(1) }).prefault(() => {
      const d = LoraSpecSchema.parse({});
      return { rank: d.rank, targets: d.targets };
    }),
    /** Frozen base weights (LoRA): float32 on the CPU, float16 on CUDA unless given. */
    frozenDtype: z.enum(['float32', 'float16']).optional(),
    /** Tokens in the tokenizer (its memory): the model's vocabulary unless given. */
    tokenizerVocab: z.number().int().min(1).max(16_777_216).optional(),
    /** How the model folder stores its weights (config.json's `torch_dtype`): what loading reads. */
    storedDtype: z.enum(['float32', 'float16', 'bfloat16']).default('float32'),
    generation: z
      .object({
        batch: z.number().int().min(1).max(4096),
        /** New tokens per response. */
        maxTokens: z.number().int().min(1).max(1_048_576),
        /** Prompt tokens (the longest in a batch); the training `seq` unless given. */
        promptTokens: z.number().int().min(1).max(1_048_576).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type MemoryPlanOptions = z.input<typeof MemoryPlanOptionsSchema> & { device: DeviceSpec };

/** One term of a plan. */
export interface MemoryItem {
  key: string;
  /** What it is, in words. */
  what: string;
  bytes: number;
  /** Device memory (the GPU's on cuda) or host RAM (on cpu both are the same memory). */
  on: 'device' | 'host';
  /**
   * `steady`: held for the whole run. `load`: only while sessions open (the graph bytes, and the
   * copies made from them). `run`: only while steps run. The peak is steady + the larger of load and run.
   */
  phase: 'steady' | 'load' | 'run';
}

export interface MemoryTotal {
  items: MemoryItem[];
  /** Peak bytes that count against the device (on cpu: everything). */
  bytes: number;
  /** On cuda: peak bytes in host RAM besides (JS copies, graph bytes while loading); 0 on cpu. */
  hostBytes: number;
  fits: boolean;
}

export interface MemoryPlan {
  device: { kind: DeviceKind; bytes: number; text: string };
  mode: 'full' | 'lora';
  batch: number;
  seq: number;
  frozenDtype: FrozenDtype;
  lora?: { rank: number; targets: LoraTarget[] };
  parameters: number;
  /** The model's weights: float32, or the frozen dtype in LoRA mode. */
  weightBytes: number;
  trainableParameters: number;
  training: MemoryTotal;
  generation?: MemoryTotal & { batch: number; promptTokens: number; maxTokens: number };
  /** Training fits (and generation, when planned). */
  fits: boolean;
  /** The plan as a table a person reads ({@link formatPlan}). */
  table: string;
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The base weight a LoRA target adapts, by its name (`model.layers.3.self_attn.q_proj.weight` -> `q_proj`). */
const targetOf = (name: string): LoraTarget | undefined => LORA_TARGETS.find((t) => name.endsWith(`.${t}.weight`));

/**
 * Parameter counts by how the graphs use them: the embedding table (looked up; also the LM head
 * when tied), the untied LM head, the decoder layers' matrices, the vectors (norms, biases); and
 * the LoRA adapters' (rank x (in + out) per adapted matrix) and the largest single weight.
 */
export function parameterCounts(d: ModelDims, lora?: { rank: number; targets: readonly string[] }) {
  let all = 0;
  let layerMatrices = 0;
  let vectors = 0;
  let adapters = 0;
  let largest = 0;
  for (const [name, shape] of parameterShapes(d)) {
    const n = count(shape);
    all += n;
    largest = Math.max(largest, n);
    if (shape.length === 1) vectors += n;
    else if (name.startsWith('model.layers.')) layerMatrices += n;
    const t = targetOf(name);
    if (lora && t && lora.targets.includes(t)) adapters += lora.rank * ((shape[0] as number) + (shape[1] as number));
  }
  const embedding = d.vocab * d.hidden;
  return {
    all,
    embedding,
    head: d.tied ? 0 : embedding,
    layerMatrices,
    vectors,
    linear: all - vectors - (d.tied ? 0 : embedding),
    adapters,
    largest,
  };
}

/**
 * Float32 elements one decoder layer keeps from its forward pass for its backward pass, for
 * `tokens` = batch x seq (see llama.ts and the gradient rules in graph/ops.ts; transposes and
 * expands are copies in onnxruntime), apart from the attention probabilities (`scores`,
 * [batch, heads, seq, seq], which softmax's backward needs):
 * - the residual stream at the layer's input and after attention (RMSNorm's backward needs x,
 *   and 1 / rms per token, which it recomputes x / rms from);
 * - each RMSNorm's output when a projection reading it is trained (a weight's or adapter's
 *   gradient needs its input);
 * - the rotated q, and the rotated keys expanded to every query head and transposed, and v
 *   expanded (the two attention products need each other's operands; the rotary kernel's
 *   backward rotates the gradient back and needs nothing saved);
 * - o_proj's input when it is trained; the MLP's gate, silu(gate) and up (SiLU's backward
 *   recomputes sigmoid(gate)), and their product when down_proj is trained; Qwen3's q/k heads
 *   before their norms;
 * - per LoRA adapter, x Aᵀ [tokens, rank] (B's gradient).
 */
export function layerSavedElements(
  d: ModelDims,
  batch: number,
  seq: number,
  trained: (t: LoraTarget) => boolean,
  full: boolean,
  rank = 0,
): { other: number; scores: number } {
  const T = batch * seq;
  const qd = d.heads * d.headDim;
  const kvd = d.kvHeads * d.headDim;
  let n = 2 * T * d.hidden;
  if (trained('q_proj') || trained('k_proj') || trained('v_proj')) n += T * d.hidden;
  if (trained('gate_proj') || trained('up_proj')) n += T * d.hidden;
  n += 2 * T;
  n += 3 * T * qd;
  if (trained('o_proj')) n += T * qd;
  n += 3 * T * d.intermediate;
  if (trained('down_proj')) n += T * d.intermediate;
  if (d.qkNorm) n += T * (qd + kvd);
  if (!full) n += rank * T * LORA_TARGETS.filter(trained).length;
  return { other: n, scores: batch * d.heads * seq * seq };
}

/**
 * Float32 elements of one layer's pass when nothing is kept for a backward pass (the eval graph,
 * the inference graph's prompt pass): the attention scores and their softmax, the MLP's gate, up
 * and product, the residual stream with the norm's output and q, k, v.
 */
export function layerForwardElements(d: ModelDims, batch: number, seq: number, context = seq): number {
  const T = batch * seq;
  return 2 * batch * d.heads * seq * context + 3 * T * d.intermediate + 4 * T * d.hidden + 2 * T * d.heads * d.headDim;
}

/**
 * Float32 elements a layer's own pass needs on top of what is saved, at the peak (the backward
 * pass of one layer): two more [batch, heads, seq, seq] tensors (the probabilities' gradient
 * and its product with them) and two [tokens, intermediate] ones.
 */
export function layerScratchElements(d: ModelDims, batch: number, seq: number): { other: number; scores: number } {
  return { other: 2 * batch * seq * d.intermediate, scores: 2 * batch * d.heads * seq * seq };
}

/**
 * Float32 elements of the inference graph's prompt pass at its largest layer (inference.ts): the
 * scores QKᵀ, with the attention bias added, and their softmax (three [batch, heads, seq, context]
 * tensors), the stacked gate|up product [tokens, 2 x intermediate] with silu and the product, the
 * residual stream, norm output and q, k, v, and the attention bias tiled to every query head, which
 * lives for the whole pass.
 */
export function inferenceLayerElements(d: ModelDims, batch: number, seq: number, context = seq): number {
  const T = batch * seq;
  const bias = batch * (d.heads === d.kvHeads ? 1 : d.heads) * seq * context;
  return 3 * batch * d.heads * seq * context + 4 * T * d.intermediate + 4 * T * d.hidden + 2 * T * d.heads * d.headDim + bias;
}

/** Constants of a training graph: the causal mask [seq, seq] and the rotary tables (cos and sin, [seq, headDim / 2] each). */
const graphConstantBytes = (d: ModelDims, seq: number) => (seq * seq + seq * d.headDim) * F32;

/** Added to every peak: see {@link total}. */
export const PLAN_MARGIN = 0.04;

function total(items: MemoryItem[], device: DeviceSpec): MemoryTotal {
  const peak = (on: (i: MemoryItem) => boolean) => {
    const sum = (phase: MemoryItem['phase']) => items.filter((i) => i.phase === phase && on(i)).reduce((n, i) => n + i.bytes, 0);
    return sum('steady') + Math.max(sum('load'), sum('run'));
  };
  const terms = device.kind === 'cpu' ? peak(() => true) : peak((i) => i.on === 'device');
  const hostBytes = device.kind === 'cpu' ? 0 : peak((i) => i.on === 'host');
  // The terms alone came within -16% / +17% of the measured peaks (memory-plan.test.ts): a margin
  // keeps the plan on the side that refuses a run rather than lets it die out of memory.
  const margin = Math.round(terms * PLAN_MARGIN);
  const kept = [
    ...items.filter((i) => i.bytes > 0),
    { key: 'margin', what: `margin for what the terms miss (${PLAN_MARGIN * 100}%)`, bytes: margin, on: 'device' as const, phase: 'steady' as const },
  ];
  return { items: kept, bytes: terms + margin, hostBytes, fits: terms + margin <= device.bytes };
}

/**
 * The memory plan of a run: training (both sessions the trainer opens, JS-side state, the
 * optimizer's outputs and the activations) and, when `generation` is given, generation with the
 * KV cache (as the evaluation engine opens and runs a model). Bytes, from the dims alone.
 */
export function planMemory(dims: ModelDims, options: MemoryPlanOptions): MemoryPlan {
  const { device, ...rest } = options;
  const o = MemoryPlanOptionsSchema.parse(rest);
  const d = dims;
  const full = o.mode === 'full';
  const lora = full ? undefined : { rank: o.lora.rank, targets: o.lora.targets };
  // Full mode trains every weight in float32: nothing is frozen.
  const frozenDtype = full ? 'float32' : (o.frozenDtype ?? defaultFrozenDtype(device.kind));
  const gpu = device.kind === 'cuda';
  const p = parameterCounts(d, lora);
  const trainable = full ? p.all : p.adapters;
  const T = o.batch * o.seq;
  const trained = (t: LoraTarget) => full || (lora?.targets.includes(t) ?? false);
  const items: MemoryItem[] = [];
  const add = (key: string, what: string, bytes: number, on: MemoryItem['on'], phase: MemoryItem['phase']) =>
    items.push({ key, what, bytes: Math.round(bytes), on, phase });

  add('runtime', 'node and onnxruntime (libraries, heaps)', RUNTIME_BYTES, 'host', 'steady');
  if (gpu) add('cudaContext', 'CUDA context and cuBLAS/cuDNN workspaces (assumed)', CUDA_CONTEXT_BYTES, 'device', 'steady');
  add(
    'sessions',
    'train-step and eval sessions: graphs, kernels, plans, causal mask and rotary constants',
    2 * SESSION_BYTES + d.layers * (TRAIN_SESSION_BYTES_PER_LAYER + EVAL_SESSION_BYTES_PER_LAYER) + 2 * graphConstantBytes(d, o.seq),
    'host',
    'steady',
  );
  add('tokenizer', 'the tokenizer (transformers.js, tokenizer.json parsed)', tokenizerBytes(o.tokenizerVocab ?? d.vocab), 'host', 'steady');
  // The training thread reads the trainable weights from the folder (full mode: all of them; LoRA:
  // none, the graphs hold the base) as float32 initial values, which it keeps; the trainer copies them.
  if (full)
    add('initialWeightsJs', 'initial values read from the model folder (float32, kept by the training thread)', p.all * F32, 'host', 'steady');
  // Each weight's stored bytes are read before being widened: garbage after, which V8 collects
  // only once 64 MiB more of JS buffers are allocated (the trainer's state and one step's copies).
  if (full && 6 * trainable * F32 < V8_EXTERNAL_GC_BYTES)
    add(
      'weightsReadJs',
      `the stored weights as read (${o.storedDtype}; garbage, not yet collected)`,
      p.all * STORED_BYTES[o.storedDtype],
      'host',
      'steady',
    );
  if (!full) {
    // The graph files hold the frozen matrices in `frozenDtype`; the CPU provider has no float16
    // MatMul and widens them to float32 as the session loads, the GPU keeps them as they are.
    const w = FROZEN_BYTES[frozenDtype];
    const held = gpu ? w : F32;
    const heldAs = held === w ? frozenDtype : `${frozenDtype} widened to float32 by the CPU provider`;
    const fileBytes = p.all * w;
    // Graphs with this much frozen weight keep it in a data file beside them (generate.ts), which
    // onnxruntime maps on the CPU: pages are resident once read, and shared by the two sessions.
    const external = fileBytes >= EXTERNAL_DATA_BYTES;
    const c = frozenCopies(device.kind, d.tied, external && !gpu);
    const session = (k: 'trainStep' | 'eval') =>
      (p.embedding * c.embedding[k] + p.head * c.head[k] + p.layerMatrices * c.layerMatrices[k] + p.vectors) * held;
    add(
      'frozenTrainStep',
      `frozen base weights in the train-step session (${heldAs}; ${external && !gpu ? 'the data file mapped, shared with the eval session' : gpu ? 'once' : 'W and its packed copies'})`,
      session('trainStep'),
      'device',
      'steady',
    );
    add(
      'frozenEval',
      `frozen base weights in the eval session (${heldAs}; ${external && !gpu ? 'the train step’s mapped pages' : 'once'})`,
      session('eval'),
      'device',
      'steady',
    );
    // A graph with its weights inside is read whole while its session opens (the second while the first holds its copies).
    if (!external) add('graphWhileLoading', 'a graph file being read while its session opens', fileBytes, 'host', 'load');
  }
  // Where AdamW runs (train-step.ts decides it the same way): on the host when the state fits one
  // WebAssembly memory, the graph then giving only gradients; else in the graph, the state going
  // in and out every step.
  const hostOptimizer = hostOptimizerFits([{ shape: [trainable] }]);
  // Trainable tensors and AdamW moments live in JS between steps (the trainer's state): in the
  // host optimizer's memory, with the gradients' buffer, or as the graph gives them back.
  const where = hostOptimizer ? "in the host optimizer's memory" : 'in JS';
  add('trainable', `trainable parameters ${where} (${trainable.toLocaleString('en')}, float32)`, trainable * F32, 'host', 'steady');
  add('adamM', `AdamW first moments ${where}`, trainable * F32, 'host', 'steady');
  add('adamV', `AdamW second moments ${where}`, trainable * F32, 'host', 'steady');
  if (hostOptimizer) add('hostGradients', 'the gradients, written there by the train step', trainable * F32, 'host', 'steady');
  // On the GPU the inputs are copied to the device every step; on the CPU onnxruntime reads the JS buffers.
  if (gpu)
    add(
      'stateOnDevice',
      hostOptimizer ? 'parameters copied to the GPU as step inputs' : 'parameters and moments copied to the GPU as step inputs',
      (hostOptimizer ? 1 : 3) * trainable * F32,
      'device',
      'run',
    );
  // Intermediate tensors of the train step (held twice, see ARENA_PATTERN_FACTOR).
  const saved = layerSavedElements(d, o.batch, o.seq, trained, full, lora?.rank ?? 0);
  const scratch = layerScratchElements(d, o.batch, o.seq);
  const stepActivations = (d.layers * saved.other + scratch.other + 2 * T * d.hidden) * F32;
  const stepScores = (d.layers * saved.scores + scratch.scores) * F32;
  const stepLogits = LOGITS_COPIES_TRAIN * T * d.vocab * F32;
  // Full mode: every weight is read as it is (no transposed copies) and its gradient comes out in
  // its own layout; the embedding lookup's is scattered into a zero table of its own; a tied
  // embedding's two gradients (lookup and LM head) are summed into a third.
  const gradientScratch = full ? (p.embedding + (d.tied ? p.embedding : 0)) * F32 : 0;
  const gradients = trainable * F32;
  // Eval: one layer's tensors at a time, the logits once.
  const evalActivations = (layerForwardElements(d, o.batch, o.seq) + LOGITS_COPIES_EVAL * T * d.vocab) * F32;
  add(
    'activations',
    `train-step activations kept for the backward pass (${d.layers} layers) and one layer's scratch`,
    stepActivations,
    'device',
    'run',
  );
  add(
    'attentionScores',
    `attention probabilities [${o.batch}, ${d.heads}, ${o.seq}, ${o.seq}], one per layer, and their gradients in one layer`,
    stepScores,
    'device',
    'run',
  );
  add(
    'logits',
    `logits [${o.batch}, ${o.seq}, ${d.vocab}]: log-softmax, its gradient and backward terms (${LOGITS_COPIES_TRAIN} copies)`,
    stepLogits,
    'device',
    'run',
  );
  add('gradients', 'gradients of the trainable tensors (all alive for the global-norm clip)', gradients, 'device', 'run');
  if (full) add('gradientScratch', 'weight-gradient temporaries: the embedding scatter table (and the tied sum)', gradientScratch, 'device', 'run');
  add('evalActivations', 'eval-session activations (one layer at a time, logits once)', evalActivations, 'device', 'run');
  // AdamW in the graph: its outputs come last, when the backward pass has freed the activations:
  // the arena hands them those blocks, so only what exceeds them is new. On the host: nothing
  // beyond the gradients, which are the outputs.
  const outputs = (hostOptimizer ? 1 : 3) * trainable * F32;
  if (!hostOptimizer)
    add(
      'nextOutputs',
      "the step's `.next`, `.m.next`, `.v.next` outputs (onnxruntime's buffers), beyond the activation blocks they reuse",
      Math.max(0, outputs - (stepActivations + stepScores + stepLogits)),
      'device',
      'run',
    );
  add(
    'arenaPattern',
    "onnxruntime's arena: each session's intermediate tensors held a second time (the first run's blocks stay cached beside the memory pattern's block)",
    (ARENA_PATTERN_FACTOR - 1) * (stepActivations + stepScores + stepLogits + gradients + gradientScratch + evalActivations),
    'device',
    'run',
  );
  // onnxruntime-node copies every output into a new JS buffer while the previous step's are still referenced (on the host: the gradients, dropped).
  add(
    'nextJsCopies',
    hostOptimizer ? 'the gradients copied into new JS buffers by the binding' : 'those outputs copied into new JS buffers',
    outputs,
    'host',
    'run',
  );
  // On the GPU, onnxruntime first copies them to host tensors.
  if (gpu) add('nextHostCopies', "those outputs copied from the GPU into onnxruntime's host tensors", outputs, 'host', 'run');
  const training = total(items, device);

  let generation: MemoryPlan['generation'];
  if (o.generation) {
    const g = o.generation;
    const prompt = g.promptTokens ?? o.seq;
    const gi: MemoryItem[] = [];
    const put = (key: string, what: string, bytes: number, on: MemoryItem['on'], phase: MemoryItem['phase']) =>
      gi.push({ key, what, bytes: Math.round(bytes), on, phase });
    const kvd = d.kvHeads * d.headDim;
    // q|k|v and gate|up are stacked into new initializers ([sum of outs, in]) by the inference graph.
    const stacked = d.layers * (d.heads * d.headDim + 2 * kvd + 2 * d.intermediate) * d.hidden;
    put('runtime', 'node and onnxruntime (libraries, heaps)', RUNTIME_BYTES, 'host', 'steady');
    if (gpu) put('cudaContext', 'CUDA context and cuBLAS/cuDNN workspaces (assumed)', CUDA_CONTEXT_BYTES, 'device', 'steady');
    put('tokenizer', 'the tokenizer (transformers.js, tokenizer.json parsed)', tokenizerBytes(o.tokenizerVocab ?? d.vocab), 'host', 'steady');
    put('session', 'the inference session: graph, kernels, plans', SESSION_BYTES + d.layers * EVAL_SESSION_BYTES_PER_LAYER, 'host', 'steady');
    put(
      'inferenceWeights',
      `inference session weights (float32; q|k|v and gate|up stacked${d.tied ? '; the tied embedding twice: lookup and LM head' : ''})`,
      (p.all + (d.tied ? p.embedding : 0)) * F32,
      'device',
      'steady',
    );
    // Opening (openModel). Its graph's initializers (the weights, and the stacked groups beside the
    // parts they replace) under 1 GiB: the graph is serialized in memory, each weight read and
    // widened to float32 as the writer reaches it (garbage at once, which V8 collects every 64 MiB),
    // and onnxruntime parses those bytes (only the weights the graph uses: the stacked groups
    // replace their parts). Over 1 GiB the graph goes to a temporary file one tensor at a time and
    // the session reads it from there: no whole copy besides the session's (bench:large-model
    // measured an 8.3 GiB peak for 7.0 GiB of float32 weights, a Nemo-wide 2-layer model).
    const inMemory = (p.all + stacked) * F32 < ENGINE_IN_MEMORY_BYTES;
    const read = Math.min(p.all * (STORED_BYTES[o.storedDtype] + F32) + stacked * F32, V8_EXTERNAL_GC_BYTES);
    const jsGarbage = inMemory ? read + p.all * F32 : 0;
    // Either way, constant folding turns each Transpose(W) into a new Wᵀ while W is still held: one weight twice at a time.
    if (!inMemory) put('foldedTranspose', "opening: the largest weight's transpose folded while the session opens", p.largest * F32, 'host', 'load');
    if (inMemory) {
      put('weightsRead', `opening: weights read (${o.storedDtype}) and widened, not yet collected (at most 64 MiB)`, read, 'host', 'load');
      put('onnxBytes', 'opening: the serialized inference graph', p.all * F32, 'host', 'load');
      put('onnxParsed', "opening: onnxruntime's parsed copy of the graph", p.all * F32, 'host', 'load');
    }
    const tokens = prompt + g.maxTokens;
    const kvCache = 2 * d.layers * kvd * tokens * g.batch * F32;
    // The prompt's pass returns every layer's keys and values for all of the prompt: onnxruntime's outputs and their JS copies.
    const present = 2 * d.layers * kvd * prompt * g.batch * F32;
    put(
      'kvCache',
      `KV cache: 2 x ${d.layers} layers x ${d.kvHeads} kv heads x ${d.headDim} x ${tokens} tokens x ${g.batch} x 4 bytes (JS)`,
      kvCache,
      'host',
      'run',
    );
    if (gpu) put('kvCacheDevice', 'the cached keys and values copied to the GPU as each step’s input', kvCache, 'device', 'run');
    put('prefillPresent', "the prompt pass's present keys and values (onnxruntime's outputs and their JS copies)", 2 * present, 'host', 'run');
    // V8 collects garbage ArrayBuffers once 64 MiB more of them have been allocated since its last
    // collection: a run that allocates less in JS (cache and copies) still has the opening's JS
    // garbage resident (measured: a 13 MiB cache kept it, an 80 MiB one did not).
    if (jsGarbage > 0 && kvCache + present < V8_EXTERNAL_GC_BYTES)
      put('openingGarbage', 'the opening’s JS copies, not yet collected (the run allocates under 64 MiB in JS)', jsGarbage, 'host', 'run');
    put(
      'prefillActivations',
      `the prompt pass's largest layer (attention scores [${g.batch}, ${d.heads}, ${prompt}, ${prompt}] x3, MLP [${g.batch * prompt}, ${d.intermediate}] x4), its attention bias, the last position's logits`,
      (inferenceLayerElements(d, g.batch, prompt) + g.batch * d.vocab) * F32,
      'device',
      'run',
    );
    generation = { ...total(gi, device), batch: g.batch, promptTokens: prompt, maxTokens: g.maxTokens };
  }
  const plan: Omit<MemoryPlan, 'table'> = {
    device: { kind: device.kind, bytes: device.bytes, text: device.text },
    mode: o.mode,
    batch: o.batch,
    seq: o.seq,
    frozenDtype,
    ...(lora ? { lora } : {}),
    parameters: p.all,
    weightBytes: p.all * (full ? F32 : FROZEN_BYTES[frozenDtype]),
    trainableParameters: trainable,
    training,
    ...(generation ? { generation } : {}),
    fits: training.fits && (generation?.fits ?? true),
  };
  return { ...plan, table: formatPlan(plan) };
}

// ---------------------------------------------------------------------------------------------
// Presentation

export function formatBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}

/** The plan as a table a person reads: each term, then the peaks and whether they fit. */
export function formatPlan(plan: Omit<MemoryPlan, 'table'>): string {
  const lines: string[] = [];
  const section = (title: string, t: MemoryTotal) => {
    lines.push(title);
    for (const i of t.items) lines.push(`  ${formatBytes(i.bytes).padStart(10)}  ${i.on.padEnd(6)} ${i.phase.padEnd(6)} ${i.what}`);
    const where = plan.device.kind === 'cpu' ? 'RAM' : 'GPU memory';
    lines.push(
      `  ${formatBytes(t.bytes).padStart(10)}  peak ${where} of ${formatBytes(plan.device.bytes)}: ${t.fits ? 'fits' : 'DOES NOT FIT'}` +
        (t.hostBytes > 0 ? `; host RAM besides: ${formatBytes(t.hostBytes)}` : ''),
    );
  };
  section(
    `training (${plan.mode}, batch ${plan.batch} x seq ${plan.seq}, frozen weights ${plan.frozenDtype}, on ${plan.device.text}):`,
    plan.training,
  );
  if (plan.generation)
    section(
      `generation (batch ${plan.generation.batch}, ${plan.generation.promptTokens} prompt + ${plan.generation.maxTokens} new tokens):`,
      plan.generation,
    );
  return lines.join('\n');
}

/** The largest terms of a total that count against the device, in words: what a refusal names. */
export function largestItems(t: MemoryTotal, kind: DeviceKind, n = 3): string {
  return t.items
    .filter((i) => kind === 'cpu' || i.on === 'device')
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, n)
    .map((i) => `${i.key} ${formatBytes(i.bytes)}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------
// Model folders and the fine-tune stage

export type StoredDtype = z.output<typeof MemoryPlanOptionsSchema>['storedDtype'];

/**
 * A model folder's dims and the dtype its weights are stored in, from its `config.json` alone
 * (the weights are never opened): `torch_dtype` (or `dtype`, its newer name), float32 when absent.
 */
export function readModelConfig(dir: string): { dims: ModelDims; storedDtype: StoredDtype } {
  const file = path.join(dir, 'config.json');
  const text = readInputFile(file, `model folder ${dir}: config`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`model folder ${dir}: config.json is not valid JSON`);
  }
  const parsed = LlamaConfigSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `model folder ${dir}: config.json: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  const declared = (raw as { torch_dtype?: unknown; dtype?: unknown }).torch_dtype ?? (raw as { dtype?: unknown }).dtype;
  const stored = z.enum(['float32', 'float16', 'bfloat16']).safeParse(declared);
  return { dims: modelDims(parsed.data), storedDtype: stored.success ? stored.data : 'float32' };
}

/** Environment variable giving the GPU's memory in GiB, for the fine-tune stage's check on CUDA. */
export const GPU_MEMORY_ENV = 'PIXEL_GPU_MEMORY_GB';

export type FineTuneMemoryDecision =
  | { kind: 'fits'; plan: MemoryPlan }
  | { kind: 'too-large'; plan: MemoryPlan; message: string }
  | { kind: 'skipped'; reason: string }
  | { kind: 'invalid'; message: string };

/**
 * Whether a fine-tune run can fit, before anything is generated or loaded: its training plan on
 * the device it will use. CPU: this machine's RAM. CUDA: the GPU memory `PIXEL_GPU_MEMORY_GB`
 * gives (GiB); unknown without it, so the check is skipped. Frozen weights are planned as the
 * generated graphs hold them: float32 unless the run asks for float16 (which only the GPU keeps).
 */
export function fineTuneMemoryDecision(
  dims: ModelDims,
  run: {
    mode: 'full' | 'lora';
    batch: number;
    seq: number;
    lora: { rank: number; targets: readonly LoraTarget[] };
    /** The graphs' frozen weights (the run's frozen precision); float32 unless given. */
    frozenDtype?: FrozenDtype;
    storedDtype?: StoredDtype;
  },
  executionProvider: 'cpu' | 'cuda',
  env: Readonly<Record<string, string | undefined>> = process.env,
  totalMemory: number = os.totalmem(),
): FineTuneMemoryDecision {
  let device: DeviceSpec;
  if (executionProvider === 'cpu') device = { kind: 'cpu', bytes: totalMemory, text: 'cpu', fromMachine: true };
  else {
    const given = env[GPU_MEMORY_ENV]?.trim();
    if (!given) return { kind: 'skipped', reason: `GPU memory unknown (set ${GPU_MEMORY_ENV} to check runs against it)` };
    const gib = Number(given);
    if (!Number.isFinite(gib) || gib <= 0)
      return { kind: 'invalid', message: `${GPU_MEMORY_ENV} must be the GPU's memory in GiB (a number above 0), not "${given.slice(0, 20)}"` };
    device = { kind: 'cuda', bytes: Math.floor(gib * GiB), text: `cuda:${gib}GB`, fromMachine: false };
  }
  const plan = planMemory(dims, {
    mode: run.mode,
    batch: run.batch,
    seq: run.seq,
    lora: { rank: run.lora.rank, targets: [...run.lora.targets] },
    frozenDtype: run.frozenDtype ?? 'float32',
    ...(run.storedDtype ? { storedDtype: run.storedDtype } : {}),
    device,
  });
  if (plan.training.fits) return { kind: 'fits', plan };
  const where = device.kind === 'cpu' ? "of this machine's RAM" : `of GPU memory (${GPU_MEMORY_ENV})`;
  return {
    kind: 'too-large',
    plan,
    message:
      `${run.mode} training at batch ${run.batch} x seq ${run.seq} needs about ${formatBytes(plan.training.bytes)}, ` +
      `more than the ${formatBytes(device.bytes)} ${where}; largest: ${largestItems(plan.training, device.kind)}. ` +
      'Lower batch or seq, use LoRA, or a larger device (pixel model plan --model DIR shows the whole plan)',
  };
}
