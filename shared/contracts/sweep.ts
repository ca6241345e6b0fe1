import { z } from 'zod';

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
    startupTrials: z.number().int().min(1).max(1000).default(8),
    /** Candidates drawn from the good trials' density; the best by l(x) / g(x) is proposed. */
    candidates: z.number().int().min(1).max(1000).default(24),
    /** Share of finished trials counted as good (at least one). */
    gamma: z.number().gt(0).lt(1).default(0.25),
  })
  .strict();
export type SweepSampler = z.output<typeof SweepSamplerSchema>;

/**
 * Asynchronous successive halving: rungs at `minSteps`, `minSteps * eta`, ... below `maxSteps`;
 * a trial reaching a rung goes on only if its value there is in the best 1/eta of the values
 * recorded at that rung so far.
 */
export const AshaSchema = z
  .object({
    enabled: z.boolean().default(true),
    minSteps: z.number().int().min(1).default(10),
    eta: z.number().int().min(2).max(10).default(3),
  })
  .strict();
export type Asha = z.output<typeof AshaSchema>;
