import { ApplicationFailure, Context } from '@temporalio/activity';
import { LocalArtifactStore, type ArtifactStore } from '../shared/artifacts';
import {
  AugmentShardInputSchema,
  AugmentSummarizeInputSchema,
  ErrorTypes,
  parseWith,
  type AugmentResult,
  type AugmentShardInput,
  type AugmentShardResult,
  type AugmentSummarizeInput,
} from '../shared/contracts';
import { augmentShard, augmentShardInThread, loadAugmentLexicon, summarizeAugmentation } from '../shared/augmentation';
import { createPiiEngine } from '../shared/safety/pii';

/**
 * The augmentation stage as activities: one per safety-filtered shard (fanned out by the
 * workflow), then a summary. A shard is augmented in a worker thread when the store is on the
 * local filesystem, so heartbeats keep flowing and parallel shards use separate cores.
 */
export function createAugmentActivities(store: ArtifactStore) {
  return {
    async augmentShardActivity(input: AugmentShardInput): Promise<AugmentShardResult> {
      const parsed = parseWith(AugmentShardInputSchema, 'augmentShard input', input ?? {});
      if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, ErrorTypes.InvalidInput);
      const { shard, config } = parsed.value;
      const ctx = Context.current();
      const onProgress = (done: number) => ctx.heartbeat({ phase: 'augment', read: done, total: shard.records });
      const result =
        store instanceof LocalArtifactStore
          ? await augmentShardInThread({ storeRoot: store.root, shard, config, onProgress, signal: ctx.cancellationSignal })
          : await (async () => {
              const { lexicon, sha256 } = loadAugmentLexicon();
              return augmentShard({ store, engine: createPiiEngine(), lexicon, lexiconSha256: sha256, shard, config, onProgress, signal: ctx.cancellationSignal });
            })();
      ctx.log.info('shard augmented', { split: result.split, source: result.counts.source, kept: result.counts.kept, discarded: result.counts.discarded, cacheHit: result.cacheHit });
      return result;
    },
    async summarizeAugmentationActivity(input: AugmentSummarizeInput): Promise<AugmentResult> {
      const parsed = parseWith(AugmentSummarizeInputSchema, 'summarizeAugmentation input', input ?? {});
      if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, ErrorTypes.InvalidInput);
      return summarizeAugmentation(store, parsed.value.datasetSha, parsed.value.shards, parsed.value.config);
    },
  };
}
