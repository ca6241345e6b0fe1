import { z } from 'zod';
import { AugmentConfigSchema, AugmentResultSchema } from './augment';
import { EvaluateConfigSchema, EvaluationVerdictSchema, ScoreEvaluationResultSchema } from './evaluation';
import { ExpertReviewResultSchema, PromoteModelResultSchema, ReviewConfigSchema } from './review';
import { PrepareConfigSchema, PrepareDatasetResultSchema, ShardRefSchema } from './prepare';
import { SafetyConfigSchema, SafetyResultSchema } from './safety';
import { TrainConfigSchema, TrainModelResultSchema } from './fine-tune';

/** Input of `trainingPipelineWorkflow`; `{}` runs the default pipeline on synthetic data. */
export const PipelineInputSchema = z
  .object({
    /** Shown in the UI as the `RunName` search attribute; defaults to the workflow id. */
    runName: z
      .string()
      .trim()
      .min(1, 'runName is empty')
      .max(128)
      .regex(/^[\w.:@-]+$/, 'runName may hold only letters, digits and . _ : @ -')
      .optional(),
    data: PrepareConfigSchema.prefault({}),
    /** Safety filtering: crisis labelling, PII redaction, bias and content gates. */
    safety: SafetyConfigSchema.prefault({}),
    /** Augmentation of the filtered train split: five strategies, each copy re-checked for safety. */
    augment: AugmentConfigSchema.prefault({}),
    /** Fine-tuning on the GPU queue (the CPU execution provider where there is no GPU). */
    train: z
      .object({
        enabled: z.boolean().default(true),
        config: TrainConfigSchema.prefault({}),
        /** A training attempt that stops heartbeating this long is retried (and resumes from its checkpoint). */
        heartbeatTimeoutSeconds: z.number().int().min(1).max(3600).default(120),
        /**
         * End the run before training when the promoted model was trained from the same data,
         * config and base model ("nothing changed"). Nightly schedules set it
         * (`pixel schedule create`); a run started by hand trains unless it asks.
         */
        skipIfUnchanged: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** Evaluation of the fine-tuned model against the promoted one (or the base model): report, verdict, review items. */
    evaluate: EvaluateConfigSchema.prefault({}),
    /** Expert review by clinicians (a child workflow) and promotion of a model that is better, safe and approved. */
    review: ReviewConfigSchema.prefault({}),
    /** Reuse cached stage outputs whose inputs and config are unchanged. */
    useCache: z.boolean().default(true),
  })
  .strict()
  .superRefine((input, ctx) => {
    // What later stages need, checked before anything runs: a run that trains for an hour and
    // then finds no split to evaluate on fails at once instead.
    const { ratios } = input.data.split;
    if (input.train.enabled && ratios.val === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'split', 'ratios', 'val'],
        message: 'is 0, but training validates on the val split (give it a share, or set train.enabled false)',
      });
    if (input.train.enabled && input.evaluate.enabled && ratios.test === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'split', 'ratios', 'test'],
        message: 'is 0, but evaluation scores the test split (give it a share, or set evaluate.enabled false)',
      });
  });
export type PipelineInput = z.input<typeof PipelineInputSchema>;
export type ParsedPipelineInput = z.output<typeof PipelineInputSchema>;

/** Stages of the pipeline, in the order they run. Later issues append to this list. */
export const PIPELINE_STAGES = ['prepare', 'safety', 'augment', 'train', 'evaluate', 'review', 'promote'] as const;
export type PipelineStageName = (typeof PIPELINE_STAGES)[number];

export const StageStatusSchema = z.enum(['pending', 'running', 'completed', 'failed', 'cancelled', 'skipped']);
export type StageStatus = z.infer<typeof StageStatusSchema>;

export const StageProgressSchema = z.object({
  name: z.enum(PIPELINE_STAGES),
  status: StageStatusSchema,
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  durationMs: z.number().optional(),
  /** Headline counts of the stage (records read, accepted, quarantined, ...). */
  counts: z.record(z.string(), z.number()).optional(),
  cacheHit: z.boolean().optional(),
  /** Where the stage's outputs are (manifest, report), by name. */
  artifacts: z.record(z.string(), z.string()).optional(),
  error: z.string().optional(),
  /** Why a skipped stage did not run. */
  reason: z.string().optional(),
});
export type StageProgress = z.infer<typeof StageProgressSchema>;

export const RunStatusSchema = z.enum(['running', 'completed', 'failed', 'cancelled']);

export const PipelineProgressSchema = z.object({
  runName: z.string(),
  status: RunStatusSchema,
  currentStage: z.string(),
  stages: z.array(StageProgressSchema),
  datasetSha: z.string().optional(),
});
export type PipelineProgress = z.infer<typeof PipelineProgressSchema>;

export const PipelineResultSchema = z.object({
  runName: z.string(),
  dataset: PrepareDatasetResultSchema,
  /** Absent on runs that predate the safety stage. */
  safety: SafetyResultSchema.optional(),
  /** Absent on runs that predate the augmentation stage. */
  augment: AugmentResultSchema.optional(),
  /** The safety stage's kept test shards, what evaluation (and a sweep's validation set) reads; absent on older runs. */
  testShards: z.array(ShardRefSchema).optional(),
  /** Absent on runs that predate the training stage or turned it off. */
  train: TrainModelResultSchema.optional(),
  /** Absent on runs that predate the evaluation stage, turned it off, or trained no model. */
  evaluate: ScoreEvaluationResultSchema.extend({
    validationSetManifestUri: z.string(),
    baseline: z.object({ kind: z.string(), modelUri: z.string(), version: z.string().optional() }).nullable(),
    verdict: EvaluationVerdictSchema,
  }).optional(),
  /** Absent on runs that predate expert review or turned it off. */
  review: ExpertReviewResultSchema.optional(),
  /** Set when the run ended before training because nothing changed since the promoted model (`train.skipIfUnchanged`). */
  unchanged: z.object({ version: z.string(), modelUri: z.string(), trainingKey: z.string(), reason: z.string() }).optional(),
  /** Whether the model was promoted, and why (not). */
  promotion: z.object({ promoted: z.boolean(), reasons: z.array(z.string()), result: PromoteModelResultSchema.optional() }).optional(),
  stages: z.array(StageProgressSchema),
});
export type PipelineResult = z.infer<typeof PipelineResultSchema>;
