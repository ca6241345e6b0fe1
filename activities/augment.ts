import { Context } from '@temporalio/activity';
import type { ArtifactStore } from '../shared/artifacts';
import {
  AugmentShardInputSchema,
  AugmentSummarizeInputSchema,
  parseInput,
  type AugmentResult,
  type AugmentShardInput,
  type AugmentShardResult,
  type AugmentSummarizeInput,
} from '../shared/contracts';
import { augmentShardInThread, summarizeAugmentation } from '../shared/augmentation';

/**
 * The augmentation stage as activities: one per safety-filtered shard (fanned out by the
 * workflow), then a summary. A shard is augmented in a worker thread (which opens the same
 * store), so heartbeats keep flowing and parallel shards use separate cores.
 */
export function createAugmentActivities(store: ArtifactStore) {
  return {
    async augmentShardActivity(input: AugmentShardInput): Promise<AugmentShardResult> {
      const { shard, config } = parseInput(AugmentShardInputSchema, 'augmentShard input', input);
      const ctx = Context.current();
      const onProgress = (done: number) => ctx.heartbeat({ phase: 'augment', read: done, total: shard.records });
      const result = await augmentShardInThread({ store: store.location(), shard, config, onProgress, signal: ctx.cancellationSignal });
      ctx.log.info('shard augmented', {
        split: result.split,
        source: result.counts.source,
        kept: result.counts.kept,
        discarded: result.counts.discarded,
        cacheHit: result.cacheHit,
      });
      return result;
    },
    async summarizeAugmentationActivity(input: AugmentSummarizeInput): Promise<AugmentResult> {
      const { datasetSha, shards, config } = parseInput(AugmentSummarizeInputSchema, 'summarizeAugmentation input', input);
      return summarizeAugmentation(store, datasetSha, shards, config);
    },
  };
}
