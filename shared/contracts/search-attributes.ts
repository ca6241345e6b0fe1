import { defineSearchAttributeKey } from '@temporalio/common';

/** The stage a pipeline run is in now (`prepare`, ..., `completed`, `failed`). */
export const PIPELINE_STAGE = defineSearchAttributeKey('PipelineStage', 'KEYWORD');
/** sha256 of the prepared dataset manifest the run trains on. */
export const DATASET_SHA = defineSearchAttributeKey('DatasetSha', 'KEYWORD');
/** Human-chosen name of the run (defaults to the workflow id). */
export const RUN_NAME = defineSearchAttributeKey('RunName', 'KEYWORD');

/** Conversations the safety stage labelled as crisis (kept and labelled, not dropped). */
export const CRISIS_COUNT = defineSearchAttributeKey('CrisisCount', 'INT');

/** Set (true) on a run whose safety policy keeps raw PII in the training shards (`redactPii: false`). */
export const UNREDACTED_PII = defineSearchAttributeKey('UnredactedPii', 'BOOL');

/** A sweep's best value so far of its first objective (validation loss by default). */
export const SWEEP_BEST_VALUE = defineSearchAttributeKey('SweepBestValue', 'DOUBLE');
/** A sweep's trials that have ended (completed, pruned or failed). */
export const SWEEP_TRIALS_DONE = defineSearchAttributeKey('SweepTrialsDone', 'INT');

/** Every custom search attribute Pixel uses; registered when the server starts. */
export const SEARCH_ATTRIBUTE_KEYS = [
  PIPELINE_STAGE,
  DATASET_SHA,
  RUN_NAME,
  CRISIS_COUNT,
  UNREDACTED_PII,
  SWEEP_BEST_VALUE,
  SWEEP_TRIALS_DONE,
] as const;
