import { z } from 'zod';
import { LoraSpecSchema } from './training';

/** A training run's configuration; saved inside every checkpoint. */
export const TrainConfigSchema = z
  .object({
    /** Base model folder (path or file:// URI); default: the embedded model, created when missing. */
    model: z.string().min(1).optional(),
    mode: z.enum(['full', 'lora']).default('lora'),
    lora: LoraSpecSchema.prefault({}),
    lr: z.number().positive('lr must be positive').max(1, 'lr is at most 1').default(2e-3),
    minLr: z.number().min(0).default(2e-4),
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
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
    /** onnxruntime intra-op threads for the step (1: repeatable to the bit). */
    threads: z.number().int().min(1).max(256).default(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.minLr > c.lr) ctx.addIssue({ code: 'custom', path: ['minLr'], message: `minLr (${c.minLr}) is above lr (${c.lr})` });
    if (c.warmupSteps >= c.steps) ctx.addIssue({ code: 'custom', path: ['warmupSteps'], message: `warmupSteps (${c.warmupSteps}) must be below steps (${c.steps})` });
  });
export type TrainConfig = z.output<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** Heartbeat details of the training activity: where a retry resumes from. */
export const TrainHeartbeatSchema = z.object({
  step: z.number().int().min(0),
  checkpointUri: z.string().optional(),
  bestValLoss: z.number().nullable(),
  dataCursor: z.object({ epoch: z.number().int(), file: z.number().int(), line: z.number().int() }),
  loss: z.number().optional(),
  tokensPerSecond: z.number().optional(),
});
export type TrainHeartbeat = z.infer<typeof TrainHeartbeatSchema>;

/** Names of the pipeline's training messages (defined with them in workflows/messages.ts). */
export const TRAINING_MESSAGES = {
  reportProgress: 'reportTrainingProgressSignal',
  stop: 'stopTrainingSignal',
  isStopRequested: 'isTrainingStopRequestedQuery',
} as const;

/** Live training figures the training activity reports to its run (throttled). */
export interface TrainingProgress {
  step: number;
  totalSteps: number;
  loss: number;
  valLoss?: number;
  bestValLoss?: number;
  tokensPerSecond?: number;
  etaSeconds?: number;
}
