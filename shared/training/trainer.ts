import * as ort from 'onnxruntime-node';
import type { ArtifactManifest } from './artifacts/train-step';
import type { Batch, BatchStream, DataCursor } from './data/batches';
import { earlyStopping, learningRate } from './schedule';
import { createStepRunner, type TrainTensors } from './step-runner';
import { nativeBinding, NativeSession } from './native-step';

/** Everything a resumed run needs to continue exactly where a checkpoint left it. */
export interface TrainState {
  step: number;
  params: Map<string, TrainTensors>;
  cursor: DataCursor;
  bestValLoss: number;
  bestStep: number;
  sinceBest: number;
}

export interface TrainerOptions {
  trainStep: { model: Uint8Array | string; manifest: ArtifactManifest };
  evaluation: { model: Uint8Array | string; manifest: ArtifactManifest };
  /** Initial trainable tensors (a fresh run); ignored when `resume` is given. */
  init: ReadonlyMap<string, Float32Array>;
  resume?: TrainState;
  data: BatchStream;
  /** A fixed validation set, evaluated every `evalEvery` steps. */
  validation: readonly Batch[];
  schedule: { lr: number; warmupSteps: number; totalSteps: number; minLr: number };
  evalEvery: number;
  /**
   * Pause here (a sweep's rung): evaluate and checkpoint at this step, then return with
   * `stoppedBy: 'paused'`; a later run resumed from that checkpoint goes on with the same
   * learning-rate schedule, so segments add up to one uninterrupted run.
   */
  untilStep?: number;
  /** The best checkpoint so far of a resumed run (it may have been written before the resume). */
  bestCheckpoint?: string;
  checkpointEvery: number;
  patience: number;
  minDelta: number;
  /** onnxruntime threads (1 keeps runs bit-for-bit repeatable). */
  threads?: number;
  /**
   * Let onnxruntime pack constant MatMul operands (default): faster for small graphs, but a copy
   * of every frozen weight per product. Off for graphs whose frozen base is in a data file (see
   * {@link usesSharedWeightsFile}): measured on the Nemo-wide 2-layer model, training's peak 16.5
   * -> 9.7 GB and its time 125 -> 60 s; on the 13.7M model's LoRA step, 249 -> 272 ms.
   */
  prepackWeights?: boolean;
  /** Weights of the loss terms, when the graphs take `objective_weights` (cross-entropy first). */
  objectiveWeights?: readonly number[];
  executionProviders?: string[];
  /** Saves a checkpoint and returns where it went. */
  checkpoint: (state: TrainState, reason: 'interval' | 'best' | 'stop') => Promise<string>;
  onStep?: (p: { step: number; loss: number; lr: number; tokens: number; valLoss?: number; cursor: DataCursor; bestValLoss: number }) => void;
  /** Polled between steps: finish now, keeping the best checkpoint (the workflow's stop signal). */
  stopRequested?: () => boolean;
  signal?: AbortSignal;
  /** Told when the requested execution provider could not be used and the CPU is used instead. */
  onFallback?: (message: string) => void;
}

export type StopReason = 'steps' | 'early_stop' | 'stop_requested' | 'cancelled' | 'paused';

export interface TrainResult {
  state: TrainState;
  losses: { step: number; loss: number; lr: number }[];
  valLosses: { step: number; loss: number }[];
  stoppedBy: StopReason;
  lastCheckpoint?: string;
  bestCheckpoint?: string;
}

/** A loss that is NaN or infinite: the run cannot continue from here. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly lastCheckpoint: string | undefined,
  ) {
    super(`loss is not finite at step ${step}; last good checkpoint: ${lastCheckpoint ?? 'none (no checkpoint yet)'}`);
    this.name = 'NonFiniteLossError';
  }
}

const f32 = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, [...dims]);

function batchFeeds(
  b: Batch,
  batch: number,
  seq: number,
  inputs: ReadonlySet<string>,
  objectiveWeights: readonly number[] | undefined,
  plainWeights = false,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(b.input, BigInt), [batch, seq]),
    targets: new ort.Tensor('int64', BigInt64Array.from(b.target, BigInt), [batch, seq]),
    loss_mask: f32(Float32Array.from(b.mask), [batch, seq]),
    example_weight: f32(plainWeights ? new Float32Array(batch).fill(1) : Float32Array.from(b.exampleWeight), [batch]),
  };
  if (inputs.has('negative_example')) feeds.negative_example = f32(Float32Array.from(b.negative), [batch]);
  if (inputs.has('objective_weights')) {
    if (!objectiveWeights) throw new Error('the train-step graph takes objective_weights, but no weights were given');
    feeds.objective_weights = f32(Float32Array.from(objectiveWeights), [objectiveWeights.length]);
  }
  return feeds;
}

/**
 * The options of the train-step and eval sessions (also what the train-step benchmarks open).
 * onnxruntime's worker threads spin between the step's nodes rather than sleep: a full step is
 * about 700 nodes, each of which would otherwise wake a sleeping thread. Measured on the 13.7M
 * model (2 cores, one process alternating the two sessions, 10 rounds, a loaded machine): full
 * step 253 ms against 274, LoRA 138 against 157. Without prepacking, frozen weights in a data
 * file stay the file's mapped pages, read as they are and shared by the train-step and eval
 * sessions; packing would copy them once per product.
 */
export function trainingSessionOptions(
  threads: number,
  {
    executionProviders = ['cpu'],
    prepackWeights = true,
  }: { executionProviders?: ort.InferenceSession.ExecutionProviderConfig[]; prepackWeights?: boolean } = {},
): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    executionProviders,
    extra: { session: { intra_op: { allow_spinning: '1' }, ...(prepackWeights ? {} : { disable_prepacking: '1' }) } },
  };
}

/**
 * The train step on Pixel's own binding (native-step.ts: no copy of the gradients), where the
 * step keeps AdamW on the host, runs on the CPU and the binding is built; else undefined, and the
 * caller opens it with onnxruntime-node. A binding that is built but fails to load is reported
 * through `onUnavailable`; one that is not built is not (it is optional).
 */
export function openNativeTrainStep(
  model: Uint8Array | string,
  manifest: ArtifactManifest,
  o: {
    threads: number;
    executionProviders?: readonly (ort.InferenceSession.ExecutionProviderConfig | string)[];
    prepackWeights?: boolean;
    onUnavailable?: (message: string) => void;
  },
): NativeSession | undefined {
  if (manifest.optimizer?.placement !== 'host') return undefined;
  if ((o.executionProviders ?? ['cpu']).some((p) => (typeof p === 'string' ? p : p.name) !== 'cpu')) return undefined;
  const { binding, reason } = nativeBinding();
  if (!binding) {
    if (reason?.startsWith('failed')) o.onUnavailable?.(`Pixel's train-step binding ${reason}; using onnxruntime-node's`);
    return undefined;
  }
  return NativeSession.open(model, { threads: o.threads, prepacking: o.prepackWeights !== false });
}

/**
 * A train step opened as the trainer opens one on the CPU: on Pixel's binding where
 * {@link openNativeTrainStep} can, else with onnxruntime-node and {@link trainingSessionOptions}
 * (what the train benchmarks time).
 */
export async function openTrainStep(
  model: Uint8Array | string,
  manifest: ArtifactManifest,
  threads: number,
): Promise<NativeSession | ort.InferenceSession> {
  return (
    openNativeTrainStep(model, manifest, { threads }) ??
    (typeof model === 'string'
      ? ort.InferenceSession.create(model, trainingSessionOptions(threads))
      : ort.InferenceSession.create(model, trainingSessionOptions(threads)))
  );
}

/**
 * The training loop, top to bottom: set the learning rate, maybe evaluate and checkpoint, take
 * a step, log. Parameters and AdamW moments live in JS between steps (in the host optimizer's
 * memory when the train step's manifest puts AdamW there, else as the graph takes and gives
 * them), so a checkpoint is exact and a resumed run repeats an uninterrupted one. The state's
 * arrays are updated in place by a host step: a checkpoint is written before the next step. Stops at
 * `totalSteps`, on early stopping, when asked to, or when cancelled (after a checkpoint).
 */
export async function train(o: TrainerOptions): Promise<TrainResult> {
  const sessionOptions = trainingSessionOptions(o.threads ?? 1, {
    ...(o.executionProviders ? { executionProviders: o.executionProviders } : {}),
    prepackWeights: o.prepackWeights !== false,
  });
  const create = (model: Uint8Array | string, opts: ort.InferenceSession.SessionOptions) =>
    typeof model === 'string' ? ort.InferenceSession.create(model, opts) : ort.InferenceSession.create(model, opts);
  // onnxruntime does not fall back when the CUDA provider fails to load: do it here, and say so.
  const open = async (model: Uint8Array | string) => {
    try {
      return await create(model, sessionOptions);
    } catch (err) {
      if (!(sessionOptions.executionProviders ?? []).some((p) => p === 'cuda')) throw err;
      o.onFallback?.(`CUDA execution provider failed to load (${(err as Error).message.split('\n')[0]}); training on the CPU`);
      sessionOptions.executionProviders = ['cpu'];
      return create(model, sessionOptions);
    }
  };
  const stepSession =
    openNativeTrainStep(o.trainStep.model, o.trainStep.manifest, {
      threads: o.threads ?? 1,
      executionProviders: sessionOptions.executionProviders ?? ['cpu'],
      prepackWeights: o.prepackWeights !== false,
      onUnavailable: o.onFallback,
    }) ?? (await open(o.trainStep.model));
  const evalSession = await open(o.evaluation.model);
  const shapeOf = (name: string) => {
    const s = o.trainStep.manifest.inputs.find((i) => i.name === name)?.shape;
    if (!s) throw new Error(`train-step artifact has no input ${name}`);
    return s as number[];
  };
  const [batch, seq] = shapeOf('input_ids') as [number, number];
  const stepInputs = new Set(o.trainStep.manifest.inputs.map((i) => i.name));
  const evalInputs = new Set(o.evaluation.manifest.inputs.map((i) => i.name));
  const state: TrainState = o.resume ?? {
    step: 0,
    params: new Map(
      o.trainStep.manifest.trainable.map(({ name, shape }) => {
        const value = o.init.get(name);
        if (!value) throw new Error(`no initial value for ${name}`);
        const n = shape.reduce((a, b) => a * b, 1);
        if (value.length !== n) throw new Error(`initial value of ${name} has ${value.length} numbers, the artifact needs ${n}`);
        return [name, { value: Float32Array.from(value), m: new Float32Array(n), v: new Float32Array(n) }];
      }),
    ),
    cursor: o.data.cursor(),
    bestValLoss: Infinity,
    bestStep: 0,
    sinceBest: 0,
  };
  // AdamW where the train step's manifest puts it; on the host the state's arrays become views
  // of the optimizer's memory, updated in place by each step.
  const runner = createStepRunner(stepSession, o.trainStep.manifest, state.params);
  const result: TrainResult = {
    state,
    losses: [],
    valLosses: [],
    stoppedBy: 'steps',
    ...(o.resume && o.bestCheckpoint && o.resume.bestStep > 0 ? { bestCheckpoint: o.bestCheckpoint } : {}),
  };
  // Validation measures the model, not the training emphasis: every example weighs 1 (crisis
  // weighting is for training) and only cross-entropy counts, so runs whose crisis weight or loss
  // terms differ (a sweep's trials) have comparable validation losses.
  const evalWeights = o.objectiveWeights?.map((w, i) => (i === 0 ? 1 : 0));
  const evaluate = async (): Promise<number> => {
    let total = 0;
    for (const b of o.validation) {
      const feeds: Record<string, ort.Tensor> = batchFeeds(b, batch, seq, evalInputs, evalWeights, true);
      for (const [name, p] of state.params) feeds[name] = f32(p.value, shapeOf(name));
      total += Number(((await evalSession.run(feeds)).loss as ort.Tensor).data[0]);
    }
    return total / Math.max(1, o.validation.length);
  };
  try {
    // The base model's validation loss (step 0), what the fine-tuned one is compared with.
    if (!o.resume && o.evalEvery > 0 && o.validation.length > 0) result.valLosses.push({ step: 0, loss: await evaluate() });
    const lastStep = Math.min(o.schedule.totalSteps, o.untilStep ?? Infinity);
    while (state.step < lastStep) {
      if (o.signal?.aborted) {
        result.lastCheckpoint = await o.checkpoint(state, 'stop');
        result.stoppedBy = 'cancelled';
        break;
      }
      if (o.stopRequested?.()) {
        result.stoppedBy = 'stop_requested';
        break;
      }
      const step = state.step + 1;
      const lr = learningRate(step, o.schedule);
      const b = await o.data.next();
      const { loss } = await runner.step(batchFeeds(b, batch, seq, stepInputs, o.objectiveWeights), step, lr);
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(step, result.lastCheckpoint);
      state.step = step;
      state.cursor = o.data.cursor();
      result.losses.push({ step, loss, lr });
      let valLoss: number | undefined;
      // A pause point is always evaluated: it is what the pause is for.
      if ((o.evalEvery > 0 && step % o.evalEvery === 0) || (step === o.untilStep && o.validation.length > 0)) {
        valLoss = await evaluate();
        result.valLosses.push({ step, loss: valLoss });
        const es = earlyStopping({ best: state.bestValLoss, sinceBest: state.sinceBest }, valLoss, o.patience, o.minDelta);
        state.sinceBest = es.sinceBest;
        if (es.improved) {
          state.bestValLoss = es.best;
          state.bestStep = step;
          result.bestCheckpoint = await o.checkpoint(state, 'best');
        }
        if (es.stop) {
          result.stoppedBy = 'early_stop';
          o.onStep?.({ step, loss, lr, tokens: batch * seq, valLoss, cursor: state.cursor, bestValLoss: state.bestValLoss });
          break;
        }
      }
      if ((o.checkpointEvery > 0 && step % o.checkpointEvery === 0) || step === o.untilStep)
        result.lastCheckpoint = await o.checkpoint(state, 'interval');
      o.onStep?.({ step, loss, lr, tokens: batch * seq, valLoss, cursor: state.cursor, bestValLoss: state.bestValLoss });
    }
    if (o.untilStep !== undefined && state.step === o.untilStep && (result.stoppedBy === 'steps' || result.stoppedBy === 'early_stop')) {
      // Resumed from the pause point's own checkpoint (the attempt before ended after writing it): measure it here.
      if (o.validation.length > 0 && !result.valLosses.some((v) => v.step === state.step))
        result.valLosses.push({ step: state.step, loss: await evaluate() });
      if (result.stoppedBy === 'steps' && state.step < o.schedule.totalSteps) result.stoppedBy = 'paused';
    }
  } finally {
    await stepSession.release();
    await evalSession.release();
  }
  return result;
}
