import { z } from 'zod';
import { FileRefSchema, ShardRefSchema } from './prepare';

/** What the safety stage rejects and what it keeps and labels. Crisis is always kept and labelled. */
export const SafetyPolicySchema = z
  .object({
    /** A record with a content gate at or above this severity is rejected. */
    rejectGateSeverity: z.enum(['INFO', 'WARNING', 'ERROR', 'CRITICAL']).default('ERROR'),
    /** A record with a bias finding at or above this level is rejected. */
    rejectBiasLevel: z.enum(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']).default('HIGH'),
    /**
     * Replace PII with typed placeholders in kept (and rejected) records. Turning it off sends raw
     * phone numbers, SSNs, cards, e-mails and names into the training shards, so it also needs
     * `unredactedPiiReason`; the run is then marked (`UnredactedPii` search attribute) and every
     * shard logs a warning.
     */
    redactPii: z.boolean().default(true),
    /** Why this run keeps raw PII (required with `redactPii: false`, refused without it). */
    unredactedPiiReason: z.string().trim().min(10, 'unredactedPiiReason needs at least 10 characters saying why').max(500).optional(),
    /** PII findings below this score are not redacted. */
    piiThreshold: z.number().min(0).max(1).default(0.5),
    /** Explanations kept in the audit report, per shard. */
    auditSamples: z.number().int().min(0).max(1000).default(20),
    /**
     * Crisis labelling: `learned` (the rules, then the sentence encoder and the learned head on the
     * conversations a first pass lets through; needs the models setup fetches) or `rules` only.
     */
    crisisModel: z.enum(['learned', 'rules']).default('learned'),
    /**
     * Person names: `learned` (the rules, then the Rampart name tagger on the sentences a first
     * pass finds a name candidate in; needs the model setup fetches) or `rules` only.
     */
    personModel: z.enum(['learned', 'rules']).default('learned'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (!p.redactPii && p.unredactedPiiReason === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['redactPii'],
        message:
          'false would send raw personal data (phone numbers, SSNs, cards, e-mails, names) into the training shards; to do it anyway, also give unredactedPiiReason (why, at least 10 characters: it is logged and the run is marked UnredactedPii)',
      });
    if (p.redactPii && p.unredactedPiiReason !== undefined)
      ctx.addIssue({ code: 'custom', path: ['unredactedPiiReason'], message: 'is only for redactPii: false (PII is redacted in this run)' });
  });
export type SafetyPolicy = z.output<typeof SafetyPolicySchema>;

export const SafetyConfigSchema = z
  .object({
    policy: SafetyPolicySchema.prefault({}),
    /** Shards filtered at the same time (one activity each). */
    concurrency: z.number().int().min(1).max(64).default(4),
  })
  .strict();

export const SafetyFilterShardInputSchema = z.object({ shard: ShardRefSchema, policy: SafetyPolicySchema.prefault({}) }).strict();
export type SafetyFilterShardInput = z.input<typeof SafetyFilterShardInputSchema>;

const count = z.number().int().min(0);
export const SafetyCountsSchema = z.object({
  records: count,
  kept: count,
  rejected: count,
  crisis: count,
  piiRedacted: count,
  byCrisisSeverity: z.record(z.string(), count),
  byCrisisType: z.record(z.string(), count),
  byPiiCategory: z.record(z.string(), count),
  byBiasType: z.record(z.string(), count),
  byGate: z.record(z.string(), count),
  byRejectReason: z.record(z.string(), count),
  /** Per social group mentioned ("gender:women"): records, crisis-labelled, rejected (for parity). */
  byGroup: z
    .record(
      z.string(),
      z.object({
        records: count,
        crisis: count,
        rejected: count,
        tp: count.default(0),
        fp: count.default(0),
        fn: count.default(0),
        tn: count.default(0),
      }),
    )
    .default({}),
  /** Crisis labels from the stage against the source's own labels (`crisis` / `crisis:none`), where present. */
  vsSourceLabels: z.object({ tp: count, fp: count, fn: count, tn: count }).default({ tp: 0, fp: 0, fn: 0, tn: 0 }),
});
export type SafetyCounts = z.infer<typeof SafetyCountsSchema>;

export const SafetyShardResultSchema = z.object({
  split: z.enum(['train', 'val', 'test']),
  kept: FileRefSchema.extend({ records: count }),
  rejected: FileRefSchema.extend({ records: count }),
  audit: FileRefSchema,
  counts: SafetyCountsSchema,
  cacheHit: z.boolean(),
});
export type SafetyShardResult = z.infer<typeof SafetyShardResultSchema>;

export const SafetySummarizeInputSchema = z.object({ datasetSha: z.string(), shards: z.array(SafetyShardResultSchema) }).strict();
export type SafetySummarizeInput = z.input<typeof SafetySummarizeInputSchema>;

export const SafetyResultSchema = z.object({
  reportUri: z.string(),
  /** Largest gap in crisis-label and rejection rates between groups with 20+ records. */
  parityGap: z.object({ crisis: z.number(), rejected: z.number(), groups: count }),
  /**
   * Agreement of crisis detection with the source's own labels, where it has them (synthetic data
   * does). For synthetic data this is a consistency check, not accuracy: the generator's
   * sentences and the detector come from the same project. Accuracy is bench:safety's.
   */
  crisisVsLabels: z.object({ precision: z.number(), recall: z.number(), f1: z.number(), labelled: count }),
  /** Equalized odds: largest gaps in true- and false-positive rates between groups with 20+ labelled records. */
  equalizedOdds: z.object({ tprGap: z.number(), fprGap: z.number(), groups: count }),
  manifestUri: z.string(),
  counts: SafetyCountsSchema,
  keptBySplit: z.object({ train: count, val: count, test: count }),
});
export type SafetyResult = z.infer<typeof SafetyResultSchema>;
