import { z } from 'zod';
import { QUARANTINE_REASONS, SPLIT_NAMES } from './record';

/** Default location of the counsel-chat CSV, relative to the worker's working directory. */
export const DEFAULT_COUNSEL_CHAT_PATH = '../shared/data/counsel_chat.csv';

/** Seeded synthetic conversations: the embedded default data. */
export const SyntheticSourceSchema = z
  .object({
    kind: z.literal('synthetic'),
    count: z.number().int().min(1).max(20_000_000).default(2_000),
    seed: z.number().int().min(0).max(0xffffffff).default(42),
    crisisShare: z.number().min(0).max(1).default(0.1),
    piiShare: z.number().min(0).max(1).default(0.15),
  })
  .strict();

/** JSONL with one conversation record per line. `uri` is a path or a `file://` URI. */
export const JsonlSourceSchema = z
  .object({
    kind: z.literal('jsonl'),
    uri: z.string().trim().min(1, 'uri is empty'),
  })
  .strict();

/** The counsel-chat CSV (question title + text as the user turn, therapist answer as the assistant turn). */
export const CounselChatSourceSchema = z
  .object({
    kind: z.literal('counsel-chat'),
    uri: z.string().trim().min(1, 'uri is empty').default(DEFAULT_COUNSEL_CHAT_PATH),
  })
  .strict();

export const SourceSchema = z.discriminatedUnion('kind', [SyntheticSourceSchema, JsonlSourceSchema, CounselChatSourceSchema]);
export type SourceSpec = z.output<typeof SourceSchema>;
export type SyntheticSourceSpec = z.output<typeof SyntheticSourceSchema>;

const ratio = (fallback: number) => z.number().min(0).max(1).default(fallback);

/** Split ratios laid out on [0, 1) in the order train, val, test; they must sum to 1. */
export const SplitRatiosSchema = z
  .object({ train: ratio(0.7), val: ratio(0.15), test: ratio(0.15) })
  .strict()
  .superRefine((r, ctx) => {
    const sum = r.train + r.val + r.test;
    if (Math.abs(sum - 1) > 1e-9) {
      ctx.addIssue({ code: 'custom', message: `ratios must sum to 1 (train + val + test = ${sum})` });
    }
    if (r.train <= 0) ctx.addIssue({ code: 'custom', path: ['train'], message: 'train ratio must be above 0' });
  });
export type SplitRatios = z.output<typeof SplitRatiosSchema>;

export const SplitConfigSchema = z
  .object({
    ratios: SplitRatiosSchema.prefault({}),
    /** Changing the salt reshuffles every record; keep it fixed for a dataset's lifetime. */
    salt: z.string().min(1).max(128).default('pixel-split-v1'),
  })
  .strict();
export type SplitConfig = z.output<typeof SplitConfigSchema>;

export const PrepareConfigSchema = z
  .object({
    source: SourceSchema.prefault({ kind: 'synthetic' }),
    split: SplitConfigSchema.prefault({}),
    /** Records per output shard. */
    shardSize: z.number().int().min(1).max(5_000_000).default(10_000),
    /** Lines longer than this (in UTF-16 code units) are quarantined as `line_too_long`. */
    maxLineLength: z
      .number()
      .int()
      .min(1_024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
  })
  .strict();
export type PrepareConfig = z.output<typeof PrepareConfigSchema>;

export const PrepareDatasetInputSchema = z
  .object({
    config: PrepareConfigSchema.prefault({}),
    /** Reuse a prepared dataset whose source and config hash to the same key. */
    useCache: z.boolean().default(true),
  })
  .strict();
export type PrepareDatasetInput = z.input<typeof PrepareDatasetInputSchema>;

const count = z.number().int().min(0);
export const SplitCountsSchema = z.object({ train: count, val: count, test: count });
export const ReasonCountsSchema = z.partialRecord(z.enum(QUARANTINE_REASONS), count);

export const PrepareCountsSchema = z.object({
  read: count,
  accepted: count,
  quarantined: count,
  /** Blank lines in a line-based source; not records, so neither accepted nor quarantined. */
  blankLines: count,
  byReason: ReasonCountsSchema,
  bySplit: SplitCountsSchema,
  byTopic: z.record(z.string(), count),
});
export type PrepareCounts = z.infer<typeof PrepareCountsSchema>;

/** Reference to one stored file: where it is, how big, and its sha256. */
export const FileRefSchema = z.object({
  uri: z.string(),
  bytes: count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type FileRef = z.infer<typeof FileRefSchema>;

export const ShardRefSchema = FileRefSchema.extend({ split: z.enum(SPLIT_NAMES), records: count });
export type ShardRef = z.infer<typeof ShardRefSchema>;

export const SourceFingerprintSchema = z.object({
  kind: z.enum(['synthetic', 'jsonl', 'counsel-chat']),
  uri: z.string().optional(),
  bytes: count.optional(),
  sha256: z.string(),
});
export type SourceFingerprint = z.infer<typeof SourceFingerprintSchema>;

export const PREPARED_MANIFEST_VERSION = 1;

/** The manifest of a prepared dataset, written last: its presence marks the dataset complete. */
export const PreparedManifestSchema = z.object({
  kind: z.literal('prepared-dataset'),
  manifestVersion: z.literal(PREPARED_MANIFEST_VERSION),
  recordSchemaVersion: z.number().int(),
  stageVersion: z.string(),
  cacheKey: z.string(),
  /** Identity of the prepared content (hash of the shards' hashes), shown as `DatasetSha`. */
  datasetSha: z.string(),
  createdAt: z.string(),
  source: SourceFingerprintSchema,
  config: PrepareConfigSchema,
  counts: PrepareCountsSchema,
  shards: z.array(ShardRefSchema),
  quarantine: FileRefSchema.extend({ records: count }),
  durationMs: count,
});
export type PreparedManifest = z.infer<typeof PreparedManifestSchema>;

/** What the prepare activity returns: references and counts, never data. */
export const PrepareDatasetResultSchema = z.object({
  manifestUri: z.string(),
  manifestSha256: z.string(),
  datasetSha: z.string(),
  cacheKey: z.string(),
  cacheHit: z.boolean(),
  counts: PrepareCountsSchema,
  quarantineUri: z.string(),
  shardsBySplit: SplitCountsSchema,
  /** Every shard (URI, split, size, hash), so later stages can fan out over them. */
  shards: z.array(ShardRefSchema).default([]),
  durationMs: count,
});
export type PrepareDatasetResult = z.infer<typeof PrepareDatasetResultSchema>;
