import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ArtifactStore } from '../shared/artifacts';
import {
  ErrorTypes,
  SafetyFilterShardInputSchema,
  SafetySummarizeInputSchema,
  parseWith,
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
      const parsed = parseWith(SafetyFilterShardInputSchema, 'safetyFilterShard input', input ?? {});
      if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, ErrorTypes.InvalidInput);
      engine ??= createPiiEngine();
      const ctx = Context.current();
      const result = await filterShard({
        store,
        engine,
        shard: parsed.value.shard,
        policy: parsed.value.policy,
        signal: ctx.cancellationSignal,
        onProgress: (done) => ctx.heartbeat({ phase: 'safety', read: done, total: parsed.value.shard.records }),
      });
      ctx.log.info('shard filtered', { split: result.split, kept: result.counts.kept, rejected: result.counts.rejected, crisis: result.counts.crisis, cacheHit: result.cacheHit });
      return result;
    },
    async summarizeSafetyActivity(input: SafetySummarizeInput): Promise<SafetyResult> {
      const parsed = parseWith(SafetySummarizeInputSchema, 'summarizeSafety input', input ?? {});
      if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, ErrorTypes.InvalidInput);
      return summarizeSafety(store, parsed.value.datasetSha, parsed.value.shards);
    },
  };
}
