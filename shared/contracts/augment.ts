import { z } from 'zod';
import { FileRefSchema, ShardRefSchema } from './prepare';
import { SPLIT_NAMES } from './record';

/** The augmentation strategies, in the order they are tried on each record. */
export const AUGMENT_STRATEGIES = ['contextExpansion', 'dialogueVariation', 'paraphrase', 'demographic', 'crisisScenario'] as const;
export type AugmentStrategyName = (typeof AUGMENT_STRATEGIES)[number];

/** Why an augmented candidate was thrown away. */
export const DISCARD_REASONS = [
  'unchanged',
  'near_duplicate_parent',
  'near_duplicate_sibling',
  'crisis_weakened',
  'crisis_not_recognised',
  'protected_text_changed',
  'pii_introduced',
  'bias_introduced',
  'gate_introduced',
] as const;
export type DiscardReason = (typeof DISCARD_REASONS)[number];

const probability = (fallback: number) => z.number().min(0, 'a probability is at least 0').max(1, 'a probability is at most 1').default(fallback);

export const AugmentConfigSchema = z
  .object({
    /** Off: the stage passes the safety-filtered shards on unchanged. */
    enabled: z.boolean().default(true),
    /** Same shard, config and seed: byte-identical output. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(20_261_125),
    /** Splits whose records are augmented; augmented copies stay in their parent's split. */
    splits: z.array(z.enum(SPLIT_NAMES)).min(1).default(['train']),
    /**
     * The crisis engine of the re-check, as the safety stage's `crisisModel`: `learned` also runs
     * every kept copy through the learned crisis screen (a copy may not fall below the crisis
     * severity the stage gave its parent, and takes the screen's labels), `rules` the rules only.
     */
    crisisModel: z.enum(['learned', 'rules']).default('learned'),
    /**
     * The name engine of the re-check, as the safety stage's `personModel`: `learned` compares a
     * copy's names with its parent's through the name tagger (with the rules, as in the stage),
     * `rules` with the rule detectors alone.
     */
    personModel: z.enum(['learned', 'rules']).default('learned'),
    /** Most augmented copies kept per source record (crisis scenarios not counted). */
    maxPerRecord: z.number().int().min(0).max(10).default(2),
    /**
     * Share of crisis conversations the augmented split should reach; crisis scenarios are
     * generated to make up the gap. 0 generates none.
     */
    targetCrisisShare: z.number().min(0).max(0.5, 'targetCrisisShare is at most 0.5').default(0.15),
    strategies: z
      .object({
        contextExpansion: z
          .object({ probability: probability(0.25) })
          .strict()
          .prefault({}),
        dialogueVariation: z
          .object({ probability: probability(0.3) })
          .strict()
          .prefault({}),
        paraphrase: z
          .object({
            probability: probability(0.35),
            /** Share of replaceable words that are replaced. */
            rate: z.number().min(0.01).max(1).default(0.3),
          })
          .strict()
          .prefault({}),
        demographic: z
          .object({ probability: probability(0.25) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    nearDuplicate: z
      .object({
        /** Word shingle length for the similarity measure. */
        shingle: z.number().int().min(1).max(8).default(3),
        /** Jaccard similarity at or above which a copy is a near duplicate. */
        threshold: z.number().min(0.5).max(1).default(0.9),
        /**
         * Per-strategy thresholds. Demographic swaps and rephrased openers change a few words by
         * design (a counterfactual copy), so they get a higher default than the others.
         */
        byStrategy: z
          .object({
            contextExpansion: z.number().min(0.5).max(1).optional(),
            dialogueVariation: z.number().min(0.5).max(1).optional(),
            paraphrase: z.number().min(0.5).max(1).optional(),
            demographic: z.number().min(0.5).max(1).optional(),
          })
          .strict()
          .default({ dialogueVariation: 0.95, demographic: 0.97 }),
      })
      .strict()
      .prefault({}),
    /** Shards augmented at the same time (one activity and one thread each). */
    concurrency: z.number().int().min(1).max(64).default(2),
  })
  .strict();
export type AugmentConfig = z.output<typeof AugmentConfigSchema>;
export type AugmentConfigInput = z.input<typeof AugmentConfigSchema>;

/** One safety-filtered shard to augment, with how many of its records are labelled crisis. */
export const AugmentShardInputSchema = z
  .object({
    shard: ShardRefSchema,
    config: AugmentConfigSchema.prefault({}),
  })
  .strict();
export type AugmentShardInput = z.input<typeof AugmentShardInputSchema>;

const count = z.number().int().min(0);
const tally = z.object({ candidates: count, kept: count, discarded: count, notApplicable: count });

export const AugmentCountsSchema = z.object({
  source: count,
  sourceCrisis: count,
  candidates: count,
  kept: count,
  discarded: count,
  discardedByReason: z.record(z.string(), count),
  byStrategy: z.record(z.string(), tally),
  /** Per topic: source records and kept copies (the achieved ratio is kept / source). */
  byTopic: z.record(z.string(), z.object({ source: count, kept: count })),
  /** Generated crisis scenarios kept, by intended type and by intended severity. */
  generatedByType: z.record(z.string(), count),
  generatedBySeverity: z.record(z.string(), count),
  /** Kept copies that are crisis conversations (copies of crisis records and generated scenarios). */
  keptCrisis: count,
});
export type AugmentCounts = z.infer<typeof AugmentCountsSchema>;

export const AugmentShardResultSchema = z.object({
  split: z.enum(SPLIT_NAMES),
  /** The source shard, passed on unchanged. */
  source: ShardRefSchema,
  /** Augmented copies only; absent when the split is not augmented. */
  augmented: FileRefSchema.extend({ records: count }).optional(),
  counts: AugmentCountsSchema,
  cacheHit: z.boolean(),
});
export type AugmentShardResult = z.infer<typeof AugmentShardResultSchema>;

export const AugmentSummarizeInputSchema = z
  .object({ datasetSha: z.string(), shards: z.array(AugmentShardResultSchema), config: AugmentConfigSchema.prefault({}) })
  .strict();
export type AugmentSummarizeInput = z.input<typeof AugmentSummarizeInputSchema>;

export const AugmentResultSchema = z.object({
  manifestUri: z.string(),
  reportUri: z.string(),
  counts: AugmentCountsSchema,
  /** Kept copies per source record, overall and per strategy. */
  ratio: z.number(),
  ratioByStrategy: z.record(z.string(), z.number()),
  ratioByTopic: z.record(z.string(), z.number()),
  /** Crisis share of the augmented splits before and after augmentation. */
  crisisShare: z.object({ before: z.number(), after: z.number(), target: z.number() }),
  /** Records per split after augmentation (source plus kept copies). */
  recordsBySplit: z.object({ train: count, val: count, test: count }),
  /** Every augmented shard came from the cache (an identical earlier run). */
  cacheHit: z.boolean().default(false),
});
export type AugmentResult = z.infer<typeof AugmentResultSchema>;
