import type { ArtifactStore } from '../artifacts';
import { AugmentResultSchema, type AugmentConfig, type AugmentResult, type AugmentShardResult } from '../contracts';
import { canonicalJson, sha256Hex } from '../util/hash';
import { AUGMENT_STAGE_VERSION, addAugmentCounts, emptyAugmentCounts } from './augment';

const ratio = (a: number, b: number) => (b === 0 ? 0 : Math.round((a / b) * 10_000) / 10_000);

/**
 * Merges the shard results into the stage's report (achieved ratios per strategy and per topic,
 * discards by reason, crisis share before and after) and the manifest the training stage reads:
 * every split's source shards plus the augmented copies, each with its sha256.
 */
export async function summarizeAugmentation(
  store: ArtifactStore,
  datasetSha: string,
  shards: readonly AugmentShardResult[],
  config: AugmentConfig,
): Promise<AugmentResult> {
  const counts = shards.reduce((acc, s) => addAugmentCounts(acc, s.counts), emptyAugmentCounts());
  const recordsBySplit = { train: 0, val: 0, test: 0 };
  for (const s of shards) recordsBySplit[s.split] += s.source.records + (s.augmented?.records ?? 0);
  const ratioByStrategy = Object.fromEntries(Object.entries(counts.byStrategy).map(([name, t]) => [name, ratio(t.kept, counts.source)]));
  const ratioByTopic = Object.fromEntries(Object.entries(counts.byTopic).map(([topic, t]) => [topic, ratio(t.kept, t.source)]));
  const crisisShare = {
    before: ratio(counts.sourceCrisis, counts.source),
    after: ratio(counts.sourceCrisis + counts.keptCrisis, counts.source + counts.kept),
    target: config.targetCrisisShare,
  };
  const key = `augment/reports/${sha256Hex(canonicalJson({ datasetSha, shards: shards.map((s) => [s.source.sha256, s.augmented?.sha256 ?? null]), config })).slice(0, 32)}`;
  const summary = { ratio: ratio(counts.kept, counts.source), ratioByStrategy, ratioByTopic, crisisShare, recordsBySplit };
  const report = await store.writeText(
    `${key}/report.json`,
    `${JSON.stringify({ datasetSha, stageVersion: AUGMENT_STAGE_VERSION, config, ...summary, counts, shards: shards.map((s) => ({ split: s.split, source: s.source.uri, augmented: s.augmented?.uri ?? null, counts: s.counts, cacheHit: s.cacheHit })) }, null, 2)}\n`,
  );
  const manifestShards = shards.flatMap((s) => [
    { split: s.split, kind: 'source', uri: s.source.uri, bytes: s.source.bytes, sha256: s.source.sha256, records: s.source.records },
    ...(s.augmented ? [{ split: s.split, kind: 'augmented', ...s.augmented }] : []),
  ]);
  const manifest = await store.writeText(
    `${key}/manifest.json`,
    `${JSON.stringify({ kind: 'augmented-dataset', datasetSha, stageVersion: AUGMENT_STAGE_VERSION, recordsBySplit, shards: manifestShards }, null, 2)}\n`,
  );
  const augmented = shards.filter((s) => s.augmented);
  const cacheHit = augmented.length > 0 && augmented.every((s) => s.cacheHit);
  return AugmentResultSchema.parse({ manifestUri: manifest.uri, reportUri: report.uri, counts, ...summary, cacheHit });
}
