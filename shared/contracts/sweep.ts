import { z } from 'zod';
import { TrainModelResultSchema } from './fine-tune';
import { PipelineInputSchema } from './pipeline';

/**
 * The training settings a sweep may vary, as dotted paths into the training config (`train.config`
 * of the pipeline input). Anything else is refused by name.
 */
export const SWEEPABLE_PATHS = [
  'lr',
  'minLr',
  'warmupSteps',
  'steps',
  'batch',
  'crisisWeight',
  'lora.rank',
  'lora.alpha',
  'objectives.unlikelihood',
] as const;
export type SweepablePath = (typeof SWEEPABLE_PATHS)[number];
/** Settings that take whole numbers. */
const INTEGER_SETTINGS: readonly string[] = ['warmupSteps', 'steps', 'batch', 'lora.rank'];

const finite = z.number().finite();

/** One dimension of a search space. `log-float` draws uniformly in log space (learning rates). */
export const SearchParamSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('float'), low: finite, high: finite }).strict(),
  z.object({ type: z.literal('log-float'), low: finite.positive('low must be positive for a log-float'), high: finite }).strict(),
  z.object({ type: z.literal('int'), low: z.number().int(), high: z.number().int(), log: z.boolean().default(false) }).strict(),
  z
    .object({
      type: z.literal('categorical'),
      choices: z
        .array(z.union([z.string().max(64), finite, z.boolean()]))
        .min(1)
        .max(64),
    })
    .strict(),
]);
export type SearchParam = z.output<typeof SearchParamSchema>;

export const SearchSpaceSchema = z.record(z.string(), SearchParamSchema).superRefine((space, ctx) => {
  const names = Object.keys(space);
  if (names.length === 0) ctx.addIssue({ code: 'custom', message: 'the search space has no parameter' });
  for (const name of names) {
    if (!(SWEEPABLE_PATHS as readonly string[]).includes(name))
      ctx.addIssue({ code: 'custom', path: [name], message: `is not a sweepable setting (one of ${SWEEPABLE_PATHS.join(', ')})` });
    const p = space[name] as SearchParam;
    if (p.type !== 'categorical' && !(p.low < p.high))
      ctx.addIssue({ code: 'custom', path: [name, 'high'], message: `must be above low (${p.low})` });
    if (INTEGER_SETTINGS.includes(name) && p.type !== 'int' && !(p.type === 'categorical' && p.choices.every((c) => Number.isInteger(c))))
      ctx.addIssue({ code: 'custom', path: [name, 'type'], message: 'takes whole numbers: use int, or categorical with whole numbers' });
    if (p.type === 'int' && p.log && p.low < 1)
      ctx.addIssue({ code: 'custom', path: [name, 'low'], message: 'must be at least 1 for a log-scaled int' });
  }
});
export type SearchSpace = z.output<typeof SearchSpaceSchema>;

/** A point of a search space: each parameter's value. */
export type SweepParams = Record<string, string | number | boolean>;

/** An objective of a sweep and whether lower or higher is better. */
export const SweepObjectiveSchema = z
  .object({
    name: z.string().regex(/^[\w.-]{1,64}$/, 'may hold only letters, digits and . _ -'),
    direction: z.enum(['minimize', 'maximize']),
  })
  .strict();
export type SweepObjective = z.infer<typeof SweepObjectiveSchema>;

/** How the sampler proposes trials: random, or TPE after `startupTrials` random ones; seeded. */
export const SweepSamplerSchema = z
  .object({
    kind: z.enum(['random', 'tpe']).default('tpe'),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    // Half the default budget: TPE proposes the second half of a default sweep.
    startupTrials: z.number().int().min(1).max(1000).default(4),
    /** Candidates drawn from the good trials' density; the best by l(x) / g(x) is proposed. */
    candidates: z.number().int().min(1).max(1000).default(24),
    /** Share of finished trials counted as good (at least one). */
    gamma: z.number().gt(0).lt(1).default(0.25),
  })
  .strict();
export type SweepSampler = z.output<typeof SweepSamplerSchema>;

/**
 * Asynchronous successive halving: rungs at `minSteps`, `minSteps * eta`, ... below `maxSteps`.
 * `stop` (the default): a trial reaching a rung goes on at once if its value there is in the best
 * 1/eta of the values recorded at that rung so far, else it stops; early trials face few rivals,
 * so more of them go on, and more trials finish (a fuller Pareto front). `promote` (ASHA as Li et
 * al. describe it): a trial pauses at each rung with its checkpoint; a free slot resumes the best
 * paused trial that is in the top floor(n/eta) of the n trials that reached its rung (highest rung
 * first), else starts a new trial; once the trial budget is spent the best paused trial of a rung
 * may go on even when fewer than eta reached it, so at least one trial finishes. It spends about
 * the steps successive halving does, and finishes fewer trials.
 */
export const AshaSchema = z
  .object({
    enabled: z.boolean().default(true),
    minSteps: z.number().int().min(1).default(10),
    eta: z.number().int().min(2).max(10).default(3),
    mode: z.enum(['stop', 'promote']).default('stop'),
  })
  .strict();
export type Asha = z.output<typeof AshaSchema>;

/**
 * What a sweep can optimise: the validation loss every rung reports, and the figures of the quick
 * evaluation a finished trial gets (means over a small fixed set of validation prompts, see
 * `quickEvaluate`): reply quality (empathy and clinical appropriateness), its two halves, the
 * safety pass rate, and the crisis-protocol rate among prompts that call for it.
 */
export const SWEEP_METRICS = ['valLoss', 'quality', 'empathy', 'clinical', 'safetyPassRate', 'crisisProtocolRate'] as const;
export type SweepMetric = (typeof SWEEP_METRICS)[number];

/** The default search space: learning rate, LoRA rank, warmup and crisis weight. */
export const DEFAULT_SEARCH_SPACE = {
  lr: { type: 'log-float', low: 1e-4, high: 5e-3 },
  'lora.rank': { type: 'categorical', choices: [4, 8, 16] },
  warmupSteps: { type: 'int', low: 0, high: 8 },
  crisisWeight: { type: 'float', low: 1, high: 3 },
} as const satisfies z.input<typeof SearchSpaceSchema>;

/** The quick evaluation of a finished trial: replies to a small fixed set of validation prompts, scored. */
export const QuickEvalSchema = z
  .object({
    /** Prompts answered: a third of them crisis prompts where the set has them, the same ones for every trial. */
    items: z.number().int().min(2).max(64).default(12),
    maxNewTokens: z.number().int().min(4).max(256).default(48),
    /** 0 decodes greedily: every trial answers the same way given the same weights. */
    temperature: z.number().min(0).max(5).default(0),
  })
  .strict();
export type QuickEval = z.output<typeof QuickEvalSchema>;

const count = z.number().int().min(0);

/** `paused`: waiting at a rung for a promotion (ASHA's `promote` mode); at the sweep's end a trial still paused counts as pruned. */
export const SWEEP_TRIAL_STATUSES = ['running', 'paused', 'pruned', 'completed', 'failed'] as const;
export type SweepTrialStatus = (typeof SWEEP_TRIAL_STATUSES)[number];

/** One trial of a sweep: its parameters, what each rung measured, and how it ended. Plain data, kept in the workflow's state. */
export const SweepTrialSchema = z
  .object({
    index: count,
    params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    status: z.enum(SWEEP_TRIAL_STATUSES),
    /** Steps trained so far (where its last checkpoint is). */
    step: count,
    /** The trial's full step budget (its `steps`). */
    steps: count,
    /** Validation loss at each rung reached, and at the last step. */
    rungs: z.array(z.object({ step: count, valLoss: z.number().nullable() }).strict()),
    checkpointUri: z.string().optional(),
    bestCheckpointUri: z.string().optional(),
    modelUri: z.string().optional(),
    /** The quick evaluation's figures (a finished trial). */
    metrics: z.partialRecord(z.enum(SWEEP_METRICS), z.number().nullable()).optional(),
    /** Objective values in the sweep's objective order (a finished trial whose figures all exist). */
    values: z.array(z.number()).optional(),
    /** Why it failed, or why ASHA stopped it. */
    reason: z.string().max(2000).optional(),
  })
  .strict();
export type SweepTrial = z.infer<typeof SweepTrialSchema>;

/** What the data stages made once for every trial. */
export const SweepSharedSchema = z
  .object({
    dataManifestUri: z.string().min(1),
    /** The validation set the quick evaluation draws its prompts from (absent when no objective needs it). */
    validationSetManifestUri: z.string().min(1).optional(),
    datasetSha: z.string(),
    dataWorkflowId: z.string(),
  })
  .strict();
export type SweepShared = z.infer<typeof SweepSharedSchema>;

/** A sweep's whole state: what a continued run starts from. */
export const SweepStateSchema = z
  .object({
    trials: z.array(SweepTrialSchema),
    /** ASHA's record: each rung's values in the order they came. */
    asha: z.record(z.string(), z.array(z.number().nullable())),
    /** Trials to run in all (the input's `trials`, widened by Updates). */
    budget: count,
    /** A person stopped the sweep: no new trial starts. */
    stopped: z
      .object({ reason: z.string().max(500) })
      .strict()
      .optional(),
    shared: SweepSharedSchema.optional(),
    /** Runs of this sweep before the current one (continue-as-new). */
    continued: count,
  })
  .strict();
export type SweepState = z.infer<typeof SweepStateSchema>;

/** Input of `hyperparameterSweepWorkflow`; `{}` sweeps the default pipeline's training over the default space. */
export const SweepInputSchema = z
  .object({
    /** Shown in the UI as the `RunName` search attribute; defaults to the workflow id. */
    name: z
      .string()
      .trim()
      .min(1, 'name is empty')
      .max(128)
      .regex(/^[\w.:@-]+$/, 'name may hold only letters, digits and . _ : @ -')
      .optional(),
    /**
     * The pipeline input to tune: its data, safety and augmentation run once (a child pipeline
     * that stops before training) and every trial trains from `train.config` with its own
     * parameters set. Its evaluation settings give the validation set and the quick evaluation's
     * sampling seed.
     */
    pipeline: PipelineInputSchema.prefault({}),
    space: SearchSpaceSchema.prefault(DEFAULT_SEARCH_SPACE),
    /** The first objective ranks trials and picks the best (the Pareto front's best in it, with several). */
    objectives: z
      .array(SweepObjectiveSchema)
      .min(1)
      .max(4)
      .default([
        { name: 'valLoss', direction: 'minimize' },
        { name: 'quality', direction: 'maximize' },
      ]),
    sampler: SweepSamplerSchema.prefault({}),
    /** Early stopping at rungs; validation loss is what a rung compares. */
    asha: AshaSchema.prefault({}),
    /** Trials to run (an Update can widen it while the sweep runs). */
    trials: z.number().int().min(1).max(1000).default(8),
    /** Trials training at once (each takes a GPU worker's slot while it trains). */
    concurrency: z.number().int().min(1).max(64).default(1),
    quickEval: QuickEvalSchema.prefault({}),
    /**
     * Validation examples every trial is measured on, the same ones whatever its batch size
     * (evaluation batches = ceil(examples / batch)).
     */
    validationExamples: z.number().int().min(1).max(4096).default(16),
    /**
     * Continue as new (state carried) once a run's history has this many events: no new trial or
     * segment starts, running segments finish, and the next run goes on from their checkpoints.
     */
    maxHistoryEvents: z.number().int().min(50).max(50_000).default(10_000),
    /** Set by the sweep itself when it continues as new: its state so far. */
    state: SweepStateSchema.optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    const seen = new Set<string>();
    input.objectives.forEach((o, i) => {
      if (!(SWEEP_METRICS as readonly string[]).includes(o.name))
        ctx.addIssue({ code: 'custom', path: ['objectives', i, 'name'], message: `is not a sweep metric (one of ${SWEEP_METRICS.join(', ')})` });
      if (seen.has(o.name)) ctx.addIssue({ code: 'custom', path: ['objectives', i, 'name'], message: `${o.name} is listed twice` });
      seen.add(o.name);
    });
    if (!input.pipeline.train.enabled)
      ctx.addIssue({ code: 'custom', path: ['pipeline', 'train', 'enabled'], message: 'is false, but a sweep trains (leave it on)' });
    if (input.pipeline.data.split.ratios.test === 0 && input.objectives.some((o) => o.name !== 'valLoss'))
      ctx.addIssue({
        code: 'custom',
        path: ['pipeline', 'data', 'split', 'ratios', 'test'],
        message: "is 0, but the quick evaluation asks the test split's prompts (give it a share, or optimise valLoss only)",
      });
  });
export type SweepInput = z.input<typeof SweepInputSchema>;
export type ParsedSweepInput = z.output<typeof SweepInputSchema>;

/** The best trial so far and the pipeline input that trains it again. */
export const SweepBestSchema = z.object({
  index: count,
  params: SweepTrialSchema.shape.params,
  values: z.array(z.number()),
  /** The sweep's pipeline input with this trial's training config: `pixel run --input` takes it as is. */
  pipelineInput: z.record(z.string(), z.unknown()),
});
export type SweepBest = z.infer<typeof SweepBestSchema>;

/** The leaderboard query's answer, and the core of the sweep's result. */
export const SweepLeaderboardSchema = z.object({
  name: z.string(),
  status: z.enum(['preparing', 'running', 'stopping', 'completed']),
  objectives: z.array(SweepObjectiveSchema),
  budget: count,
  started: count,
  counts: z.object({ running: count, paused: count, pruned: count, completed: count, failed: count }),
  /** Training steps of every trial together, and what the same trials would take without early stopping. */
  trainSteps: count,
  fullSteps: count,
  /** Trials by rank: finished ones by Pareto front then first objective, then the rest by the furthest rung reached. */
  trials: z.array(SweepTrialSchema),
  /** Indices of the finished trials on the Pareto front (the best trial alone with one objective). */
  paretoFront: z.array(count),
  best: SweepBestSchema.nullable(),
  stopped: z.object({ reason: z.string() }).optional(),
});
export type SweepLeaderboard = z.infer<typeof SweepLeaderboardSchema>;

export const SweepResultSchema = SweepLeaderboardSchema.extend({
  reportUri: z.string(),
  reportHtmlUri: z.string(),
  /** Runs the sweep took (continue-as-new). */
  runs: count,
});
export type SweepResult = z.infer<typeof SweepResultSchema>;

/** `stopSweep` Update: no new trial starts; running ones finish. */
export const StopSweepInputSchema = z.object({ reason: z.string().trim().min(1).max(500).default('stopped by a person') }).strict();
export type StopSweepInput = z.input<typeof StopSweepInputSchema>;
/** `widenSweep` Update: this many more trials. */
export const WidenSweepInputSchema = z.object({ trials: z.number().int().min(1).max(1000) }).strict();
export type WidenSweepInput = z.input<typeof WidenSweepInputSchema>;
export const SweepControlResultSchema = z.object({ budget: count, started: count, stopped: z.boolean() });
export type SweepControlResult = z.infer<typeof SweepControlResultSchema>;

/** Input of `trainTrialSegmentActivity` (GPU queue): one trial from where it is to its next rung. */
export const TrainTrialSegmentInputSchema = z
  .object({
    config: z.record(z.string(), z.unknown()),
    dataManifestUri: z.string().min(1),
    /** Names the trial's checkpoint folder. */
    runId: z.string().regex(/^[\w.:@-]{1,128}$/, 'runId may hold only letters, digits and . _ : @ -'),
    untilStep: z.number().int().min(1),
    resumeFromUri: z.string().min(1).optional(),
    bestCheckpointUri: z.string().min(1).optional(),
  })
  .strict();
export type TrainTrialSegmentInput = z.input<typeof TrainTrialSegmentInputSchema>;
export const TrainTrialSegmentResultSchema = TrainModelResultSchema;
export type TrainTrialSegmentResult = z.infer<typeof TrainTrialSegmentResultSchema>;

/** Input of `quickEvaluateActivity` (GPU queue). */
export const QuickEvaluateInputSchema = z
  .object({
    modelUri: z.string().min(1),
    validationSetManifestUri: z.string().min(1),
    quickEval: QuickEvalSchema.prefault({}),
    seed: z.number().int().min(0).max(0xffffffff).default(1234),
  })
  .strict();
export type QuickEvaluateInput = z.input<typeof QuickEvaluateInputSchema>;
export const QuickEvaluateResultSchema = z.object({
  items: count,
  crisisItems: count,
  metrics: z.record(z.enum(SWEEP_METRICS), z.number().nullable()),
  durationMs: count,
});
export type QuickEvaluateResult = z.infer<typeof QuickEvaluateResultSchema>;

/** Input of `writeSweepReportActivity` (CPU queue): the leaderboard to draw. */
export const SweepReportInputSchema = z.object({ sweepId: z.string().regex(/^[\w.:@-]{1,200}$/), leaderboard: SweepLeaderboardSchema }).strict();
export type SweepReportInput = z.input<typeof SweepReportInputSchema>;
export const SweepReportResultSchema = z.object({ reportUri: z.string(), reportHtmlUri: z.string() });
export type SweepReportResult = z.infer<typeof SweepReportResultSchema>;
