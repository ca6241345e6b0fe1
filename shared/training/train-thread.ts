// Worker-thread side of runTrainingInThread: onnxruntime's session.run() blocks its thread for
// the whole step, so training runs here and the main thread keeps heartbeating.
import { rename } from 'node:fs/promises';
import * as path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';
import { TrainConfigSchema } from '../contracts/fine-tune';
import { describeZodError } from '../contracts/validation';
import { Rng } from '../util/rng';
import { ArtifactManifestSchema } from './artifacts/train-step';
import { loadTrainState, saveTrainState } from './checkpoint';
import { BatchStream, type Batch } from './data/batches';
import { defaultSystemPrompt } from './data/chat-tokens';
import { initializerData } from './graph/ir';
import { openModelFolder } from './model/folder';
import { loadTokenizer } from './tokenizer/load';
import { NonFiniteLossError, train, type TrainState } from './trainer';

const GraphFileSchema = z.object({ path: z.string().min(1), manifest: ArtifactManifestSchema }).strict();

/** What the training thread is started with; parsed when the thread starts, never cast. */
export const TrainThreadDataSchema = z
  .object({
    modelDir: z.string().min(1),
    trainStep: GraphFileSchema,
    evaluation: GraphFileSchema,
    trainFiles: z.array(z.string().min(1)).min(1, 'no train files'),
    valFiles: z.array(z.string().min(1)),
    config: TrainConfigSchema,
    resumeFrom: z.string().min(1).optional(),
    /** The best checkpoint written before the resume (kept unless this run finds a better one). */
    bestCheckpoint: z.string().min(1).optional(),
    /** Pause at this step (a sweep's rung): evaluate, checkpoint, stop with `paused`. */
    untilStep: z.number().int().min(1).optional(),
    checkpointDir: z.string().min(1),
    /** Let onnxruntime pack frozen weights (see the trainer's `prepackWeights`). */
    prepackWeights: z.boolean().optional(),
    executionProviders: z
      .array(z.enum(['cpu', 'cuda']))
      .min(1)
      .optional(),
  })
  .strict();
export type TrainThreadData = z.input<typeof TrainThreadDataSchema>;

export type TrainThreadMessage =
  | {
      kind: 'step';
      step: number;
      loss: number;
      lr: number;
      tokens: number;
      valLoss?: number;
      cursor: TrainState['cursor'];
      bestValLoss: number | null;
    }
  | { kind: 'checkpoint'; path: string; step: number; reason: 'interval' | 'best' | 'stop' }
  | {
      kind: 'done';
      step: number;
      stoppedBy: string;
      bestStep: number;
      bestValLoss: number | null;
      losses: { step: number; loss: number; lr: number }[];
      valLosses: { step: number; loss: number }[];
      lastCheckpoint?: string;
      bestCheckpoint?: string;
    }
  | { kind: 'error'; message: string; name: string; step?: number; lastCheckpoint?: string }
  | { kind: 'log'; message: string };

async function main(input: unknown, port: NonNullable<typeof parentPort>): Promise<void> {
  const parsed = TrainThreadDataSchema.safeParse(input);
  if (!parsed.success) {
    port.postMessage({
      kind: 'error',
      message: describeZodError('training thread input', parsed.error),
      name: 'ZodError',
    } satisfies TrainThreadMessage);
    return;
  }
  const data = parsed.data;
  const config = data.config;
  const tokenizer = await loadTokenizer(data.modelDir);
  const padId: number = tokenizer.convert_tokens_to_ids('<|endoftext|>');
  const defaultSystem = defaultSystemPrompt(tokenizer);
  const streamOptions = {
    batch: config.batch,
    seq: config.seq,
    padId,
    seed: config.seed,
    crisisWeight: config.crisisWeight,
    ...(defaultSystem ? { defaultSystem } : {}),
  };
  // Cross-entropy first, then each loss term the graph was built with (see buildTrainStep).
  const objectiveWeights = config.objectives.unlikelihood > 0 ? [1, config.objectives.unlikelihood] : undefined;
  const validation: Batch[] = [];
  if (data.valFiles.length > 0) {
    const val = new BatchStream(data.valFiles, tokenizer, { ...streamOptions, seed: 0 });
    for (let i = 0; i < config.evalBatches; i++) validation.push(await val.next());
  }
  // Fresh start: full fine-tuning from the base weights; LoRA with A small and random, B zero.
  const init = new Map<string, Float32Array>();
  // Only the trainable weights are read (LoRA: none of the base, which the graph holds).
  const base = await openModelFolder(data.modelDir);
  const rng = Rng.for(config.seed, 'lora-init');
  for (const { name, shape } of data.trainStep.manifest.trainable) {
    const n = shape.reduce((a, b) => a * b, 1);
    const weight = base.weights.get(name);
    if (weight) init.set(name, initializerData(weight) as Float32Array);
    else if (name.endsWith('.lora_A'))
      init.set(
        name,
        Float32Array.from({ length: n }, () => (rng.next() - 0.5) * (2 / Math.sqrt(shape[1] as number))),
      );
    else init.set(name, new Float32Array(n));
  }
  let resume: TrainState | undefined;
  if (data.resumeFrom) {
    const s = await loadTrainState<TrainState['cursor']>(data.resumeFrom);
    if (s.specHash !== data.trainStep.manifest.specHash)
      throw new Error(`checkpoint ${data.resumeFrom} belongs to another graph (spec ${s.specHash}, expected ${data.trainStep.manifest.specHash})`);
    resume = { step: s.step, params: s.params, cursor: s.cursor, bestValLoss: s.bestValLoss, bestStep: s.bestStep, sinceBest: s.sinceBest };
  }
  const shapes = new Map(data.trainStep.manifest.trainable.map((t) => [t.name, t.shape]));
  let stop = false;
  const controller = new AbortController();
  port.on('message', (m: unknown) => {
    if (m === 'stop') stop = true;
    if (m === 'cancel') controller.abort(new Error('training cancelled'));
  });
  let lastCheckpoint: string | undefined;
  try {
    const result = await train({
      trainStep: { model: data.trainStep.path, manifest: data.trainStep.manifest },
      evaluation: { model: data.evaluation.path, manifest: data.evaluation.manifest },
      init,
      resume,
      data: new BatchStream(data.trainFiles, tokenizer, streamOptions, resume?.cursor),
      validation,
      schedule: { lr: config.lr, warmupSteps: config.warmupSteps, totalSteps: config.steps, minLr: config.minLr },
      evalEvery: validation.length > 0 ? config.evalEvery : 0,
      ...(data.untilStep !== undefined ? { untilStep: data.untilStep } : {}),
      ...(data.bestCheckpoint !== undefined ? { bestCheckpoint: data.bestCheckpoint } : {}),
      checkpointEvery: config.checkpointEvery,
      patience: config.patience,
      minDelta: config.minDelta,
      threads: config.threads,
      ...(data.prepackWeights !== undefined ? { prepackWeights: data.prepackWeights } : {}),
      objectiveWeights,
      executionProviders: data.executionProviders,
      stopRequested: () => stop,
      onFallback: (message) => port.postMessage({ kind: 'log', message } satisfies TrainThreadMessage),
      signal: controller.signal,
      checkpoint: async (state, reason) => {
        const name = reason === 'best' ? 'best.safetensors' : `step-${String(state.step).padStart(7, '0')}.safetensors`;
        const file = path.join(data.checkpointDir, name);
        // Written whole, then renamed: a reader never sees half a checkpoint.
        await saveTrainState(`${file}.tmp`, state, shapes, data.trainStep.manifest.specHash, config);
        await rename(`${file}.tmp`, file);
        if (reason !== 'best') lastCheckpoint = file;
        port.postMessage({ kind: 'checkpoint', path: file, step: state.step, reason } satisfies TrainThreadMessage);
        return file;
      },
      onStep: (p) =>
        port.postMessage({ kind: 'step', ...p, bestValLoss: Number.isFinite(p.bestValLoss) ? p.bestValLoss : null } satisfies TrainThreadMessage),
    });
    port.postMessage({
      kind: 'done',
      step: result.state.step,
      stoppedBy: result.stoppedBy,
      bestStep: result.state.bestStep,
      bestValLoss: Number.isFinite(result.state.bestValLoss) ? result.state.bestValLoss : null,
      losses: result.losses,
      valLosses: result.valLosses,
      lastCheckpoint: result.lastCheckpoint ?? lastCheckpoint,
      bestCheckpoint: result.bestCheckpoint,
    } satisfies TrainThreadMessage);
  } catch (err) {
    const e = err as Error;
    port.postMessage({
      kind: 'error',
      message: e.message,
      name: e.name,
      ...(err instanceof NonFiniteLossError ? { step: err.step, lastCheckpoint: err.lastCheckpoint } : {}),
    } satisfies TrainThreadMessage);
  }
}

if (parentPort && workerData) {
  const port = parentPort;
  main(workerData, port).catch((err: unknown) =>
    port.postMessage({
      kind: 'error',
      message: err instanceof Error ? err.message : String(err),
      name: err instanceof Error ? err.name : 'Error',
    } satisfies TrainThreadMessage),
  );
}
