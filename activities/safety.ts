import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../shared/artifacts';
import {
  SafetyFilterShardInputSchema,
  SafetySummarizeInputSchema,
  parseInput,
  type SafetyFilterShardInput,
  type SafetyResult,
  type SafetyShardResult,
  type SafetySummarizeInput,
} from '../shared/contracts';
import type { DetectionEngine } from '../shared/safety/engine';
import { filterShard, summarizeSafety } from '../shared/safety/filter';
import { createPiiEngine } from '../shared/safety/pii';

/** The safety-filtering stage as activities: one per shard (fanned out by the workflow), then a summary. */
export function createSafetyActivities(store: ArtifactStore) {
  // Built once per worker: loading the name lists takes a moment.
  let engine: DetectionEngine | undefined;
  return {
    async safetyFilterShardActivity(input: SafetyFilterShardInput): Promise<SafetyShardResult> {
      const { shard, policy } = parseInput(SafetyFilterShardInputSchema, 'safetyFilterShard input', input);
      engine ??= createPiiEngine();
      const ctx = Context.current();
      if (!policy.redactPii)
        ctx.log.warn('PII redaction is off: raw personal data goes into the kept shards', {
          split: shard.split,
          reason: policy.unredactedPiiReason,
        });
      const result = await filterShard({
        store,
        engine,
        shard,
        policy,
        signal: ctx.cancellationSignal,
        onProgress: (done) => ctx.heartbeat({ phase: 'safety', read: done, total: shard.records }),
      });
      ctx.log.info('shard filtered', {
        split: result.split,
        kept: result.counts.kept,
        rejected: result.counts.rejected,
        crisis: result.counts.crisis,
        cacheHit: result.cacheHit,
      });
      return result;
    },
    async summarizeSafetyActivity(input: SafetySummarizeInput): Promise<SafetyResult> {
      const { datasetSha, shards } = parseInput(SafetySummarizeInputSchema, 'summarizeSafety input', input);
      return summarizeSafety(store, datasetSha, shards);
    },
  };
}
