import { z } from 'zod';
import { AdamWSpecSchema, LoraSpecSchema } from './model-artifacts';

/** Loss terms besides cross-entropy (weight 1). A weight of 0 leaves the term out of the graph. */
export const TrainObjectivesSchema = z
  .object({
    /**
     * Unlikelihood on the replies of conversations labelled `negative` (replies the model must
     * not learn to give): pushes their tokens' probability down, with this weight.
     */
    unlikelihood: z.number().min(0).max(100).default(0),
  })
  .strict();
export type TrainObjectives = z.output<typeof TrainObjectivesSchema>;

/** A training run's configuration, every field defaulted; saved inside every checkpoint. */
/** Most tokens one training step may hold (batch x seq). */
export const MAX_TOKENS_PER_STEP = 65_536;

export const TrainConfigSchema = z
  .object({
    /**
     * Base model: a model folder (path or file:// URI) or a preset (`smollm2`, `random-small`,
     * `random-tiny`); default: the worker's `PIXEL_BASE_MODEL`, else SmolLM2-135M-Instruct.
     */
    model: z.string().min(1).optional(),
    mode: z.enum(['full', 'lora']).default('lora'),
    lora: LoraSpecSchema.prefault({}),
    /**
     * LoRA: the precision the frozen base is stored and multiplied in. `float16` halves its memory
     * (a 12B base: 24 GB instead of 48) on execution providers with float16 kernels (CUDA); the
     * adapters and optimizer state stay float32. The CPU provider widens float16 back to float32.
     */
    frozenPrecision: z.enum(['float32', 'float16']).default('float32'),
    adamw: AdamWSpecSchema.prefault({}),
    objectives: TrainObjectivesSchema.prefault({}),
    lr: z.number().positive('lr must be positive').max(1, 'lr is at most 1').default(1e-3),
    minLr: z.number().min(0).default(1e-4),
    warmupSteps: z.number().int().min(0).default(10),
    steps: z.number().int().min(1).max(10_000_000).default(60),
    batch: z.number().int().min(1).max(1024).default(4),
    seq: z.number().int().min(8).max(32_768).default(128),
    evalEvery: z.number().int().min(0).default(20),
    evalBatches: z.number().int().min(1).max(1000).default(4),
    checkpointEvery: z.number().int().min(0).default(20),
    patience: z.number().int().min(0).default(0),
    minDelta: z.number().min(0).default(0),
    /** Example weight of conversations labelled crisis. */
    crisisWeight: z.number().min(0).default(2),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    /** onnxruntime intra-op threads for the step (the same count gives the same losses to the bit; 2 suits a 2-core machine). */
    threads: z.number().int().min(1).max(256).default(2),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.minLr > c.lr) ctx.addIssue({ code: 'custom', path: ['minLr'], message: `minLr (${c.minLr}) is above lr (${c.lr})` });
    if (c.warmupSteps >= c.steps)
      ctx.addIssue({ code: 'custom', path: ['warmupSteps'], message: `warmupSteps (${c.warmupSteps}) must be below steps (${c.steps})` });
    // Activations grow with batch x seq: past this no machine Pixel targets holds one step of even
    // the smallest model (an 80 GB GPU trains a 12B model with LoRA at about 16 x 2,048).
    if (c.batch * c.seq > MAX_TOKENS_PER_STEP)
      ctx.addIssue({
        code: 'custom',
        path: ['batch'],
        message: `batch x seq is ${(c.batch * c.seq).toLocaleString('en')} tokens per step; at most ${MAX_TOKENS_PER_STEP.toLocaleString('en')} (lower batch or seq)`,
      });
  });
export type TrainConfig = z.output<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** Input of `trainModelActivity` (GPU queue). */
export const TrainModelInputSchema = z
  .object({
    config: TrainConfigSchema.prefault({}),
    /** The augmentation stage's manifest: the train split (sources and copies) and the val split. */
    dataManifestUri: z.string().min(1, 'dataManifestUri is empty'),
    /** Names the run's checkpoint folder (the workflow id). */
    runId: z.string().regex(/^[\w.:@-]{1,128}$/, 'runId may hold only letters, digits and . _ : @ -'),
  })
  .strict();
export type TrainModelInput = z.input<typeof TrainModelInputSchema>;

/** Why training ended. */
export const TRAIN_STOP_REASONS = ['steps', 'early_stop', 'stop_requested', 'cancelled', 'paused'] as const;
export type TrainStopReason = (typeof TRAIN_STOP_REASONS)[number];

/** Result of `trainModelActivity`; the pipeline's `train` result is this. */
export const TrainModelResultSchema = z.object({
  steps: z.number(),
  stoppedBy: z.string(),
  executionProvider: z.string(),
  bestStep: z.number(),
  bestValLoss: z.number().nullable(),
  /** Validation loss at the last step, when it was measured there (absent on runs from before it existed). */
  lastValLoss: z.number().nullable().optional(),
  /** Validation loss of the base model before training (step 0), for the report. */
  baseValLoss: z.number().nullable(),
  bestCheckpointUri: z.string().optional(),
  lastCheckpointUri: z.string().optional(),
  lossCurveUri: z.string(),
  /** The loss curve as an SVG chart (absent on runs from before it existed). */
  lossChartUri: z.string().optional(),
  /** The fine-tuned model folder (weights, tokenizer, `onnx/model.onnx` for inference). */
  modelUri: z.string().optional(),
  /** The base model folder it was fine-tuned from (evaluation's baseline when none is promoted). */
  baseModelUri: z.string().optional(),
  artifactsManifestUri: z.string(),
  /** What the model depends on (data, config, base model; see `trainingKeyOf`): recorded when it is promoted. */
  trainingKey: z.string().optional(),
  resumedFromStep: z.number(),
});
export type TrainModelResult = z.infer<typeof TrainModelResultSchema>;

/** Input of `trainingUnchangedActivity`: what the train stage is about to fine-tune. */
export const TrainingUnchangedInputSchema = z.object({ dataManifestUri: z.string().min(1), config: TrainConfigSchema }).strict();
export type TrainingUnchangedInput = z.input<typeof TrainingUnchangedInputSchema>;
export const TrainingUnchangedResultSchema = z.object({
  /** The key the train stage's model would have (see `trainingKeyOf`). */
  trainingKey: z.string(),
  /** The promoted model when it was trained from the same key: nothing has changed since. */
  promoted: z.object({ version: z.string(), modelUri: z.string() }).nullable(),
});
export type TrainingUnchangedResult = z.infer<typeof TrainingUnchangedResultSchema>;

/**
 * Heartbeat details of the training activity: where a retry resumes from (`checkpointUri`,
 * `dataCursor`), and the live figures the Temporal UI shows in the pending activity and the
 * CLI follows (step, loss, validation loss, tokens/s, ETA).
 */
export const TrainHeartbeatSchema = z.object({
  phase: z.enum(['artifacts', 'training', 'export']).optional(),
  step: z.number().int().min(0),
  totalSteps: z.number().int().min(0).optional(),
  checkpointUri: z.string().optional(),
  /** The best checkpoint so far: a retry exports it even when it was written before the retry. */
  bestCheckpointUri: z.string().optional(),
  bestValLoss: z.number().nullable(),
  dataCursor: z.object({ epoch: z.number().int(), file: z.number().int(), line: z.number().int() }),
  loss: z.number().optional(),
  valLoss: z.number().optional(),
  tokensPerSecond: z.number().optional(),
  etaSeconds: z.number().optional(),
});
export type TrainHeartbeat = z.infer<typeof TrainHeartbeatSchema>;

/** Names of the pipeline's training messages (defined with them in workflows/messages.ts). */
export const TRAINING_MESSAGES = {
  /** Sent by training activities of older versions; still accepted so their runs replay. */
  reportProgress: 'reportTrainingProgressSignal',
  stop: 'stopTrainingSignal',
  isStopRequested: 'isTrainingStopRequestedQuery',
} as const;

/** Live training figures (the older activities' progress signal). */
export interface TrainingProgress {
  step: number;
  totalSteps: number;
  loss: number;
  valLoss?: number;
  bestValLoss?: number;
  tokensPerSecond?: number;
  etaSeconds?: number;
}
