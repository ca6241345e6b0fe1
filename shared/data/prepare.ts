import type { ArtifactStore, ArtifactWriter } from '../artifacts';
import {
  PREPARED_MANIFEST_VERSION,
  PreparedManifestSchema,
  RECORD_SCHEMA_VERSION,
  SPLIT_NAMES,
  type FileRef,
  type PrepareConfig,
  type PrepareCounts,
  type PreparedManifest,
  type QuarantineEntry,
  type ShardRef,
  type SourceFingerprint,
  type SplitName,
} from '../contracts';
import { FingerprintMap } from './fingerprint-map';
import { canonicalJson, sha256Hex } from './hash';
import { processItem, type Processed } from './records';
import type { SourceItem, SourceStats } from './sources/types';

/** Bump when the output of the stage changes for the same input; it is part of the cache key. */
export const PREPARE_STAGE_VERSION = '1';

/** Items per batch: the unit of progress reports and of event-loop turns. */
const BATCH_SIZE = 256;

export interface PrepareProgress {
  read: number;
  accepted: number;
  quarantined: number;
}

export interface PrepareRunOptions {
  config: PrepareConfig;
  store: ArtifactStore;
  /** Key prefix the shards, quarantine and manifest are written under. */
  outputKey: string;
  cacheKey: string;
  fingerprint: SourceFingerprint;
  items: AsyncIterable<SourceItem>;
  stats: SourceStats;
  onProgress?: (progress: PrepareProgress) => void;
  signal?: AbortSignal;
}

export interface PrepareOutcome {
  manifest: PreparedManifest;
  manifestRef: FileRef;
}

/** The cache key of a preparation: what the output depends on, hashed. */
export function prepareCacheKey(fingerprint: SourceFingerprint, config: PrepareConfig): string {
  const { source: _source, ...rest } = config;
  return sha256Hex(
    canonicalJson({
      stage: 'prepare',
      stageVersion: PREPARE_STAGE_VERSION,
      recordSchemaVersion: RECORD_SCHEMA_VERSION,
      source: { kind: fingerprint.kind, sha256: fingerprint.sha256 },
      config: rest,
    }),
  );
}

/** Identity of a prepared dataset's content: its shards' hashes in order. */
export function datasetSha(shards: readonly ShardRef[]): string {
  return sha256Hex(canonicalJson(shards.map((s) => [s.split, s.records, s.sha256])));
}

/** Writes one split's records into shards of `shardSize` records. */
class ShardWriter {
  private writer: ArtifactWriter | undefined;
  private inShard = 0;
  readonly shards: ShardRef[] = [];

  constructor(
    private readonly store: ArtifactStore,
    private readonly outputKey: string,
    private readonly split: SplitName,
    private readonly shardSize: number,
  ) {}

  async write(line: string): Promise<void> {
    if (!this.writer) {
      const name = `${this.split}-${String(this.shards.length).padStart(5, '0')}.jsonl`;
      this.writer = this.store.openWrite(`${this.outputKey}/${name}`);
    }
    await this.writer.write(line);
    this.inShard += 1;
    if (this.inShard >= this.shardSize) await this.rotate();
  }

  async rotate(): Promise<void> {
    if (!this.writer) return;
    const ref = await this.writer.close();
    this.shards.push({ ...ref, split: this.split, records: this.inShard });
    this.writer = undefined;
    this.inShard = 0;
  }

  async abort(): Promise<void> {
    await this.writer?.abort();
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('preparation cancelled');
}

function emptyCounts(): PrepareCounts {
  return { read: 0, accepted: 0, quarantined: 0, blankLines: 0, byReason: {}, bySplit: { train: 0, val: 0, test: 0 }, byTopic: {} };
}

/**
 * The data-preparation stage over a stream of source items: validate, quarantine, dedupe,
 * split by salted hash and write sharded JSONL, then the manifest (last, so its presence means
 * the dataset is complete). Memory stays flat in the number of records apart from two maps of
 * 96-bit fingerprints (about 24 bytes a record) used for duplicate detection.
 */
export async function prepareRecords(options: PrepareRunOptions): Promise<PrepareOutcome> {
  const { config, store, outputKey, signal } = options;
  const started = Date.now();
  const counts = emptyCounts();
  const writers = Object.fromEntries(
    SPLIT_NAMES.map((split) => [split, new ShardWriter(store, outputKey, split, config.shardSize)]),
  ) as Record<SplitName, ShardWriter>;
  const quarantine = store.openWrite(`${outputKey}/quarantine.jsonl`);
  const seenContent = new FingerprintMap();
  const seenIds = new FingerprintMap();

  const reject = async (entry: QuarantineEntry): Promise<void> => {
    counts.quarantined += 1;
    counts.byReason[entry.reason] = (counts.byReason[entry.reason] ?? 0) + 1;
    await quarantine.write(`${JSON.stringify(entry)}\n`);
  };

  const rawOf = (item: SourceItem): string =>
    item.kind === 'value' ? (item.raw ?? JSON.stringify(item.value)) : item.raw;

  /** Applies one processed batch in source order: duplicates, counts, shard writes. */
  const consume = async (items: SourceItem[], results: Processed[]): Promise<void> => {
    for (let i = 0; i < results.length; i++) {
      const r = results[i] as Processed;
      counts.read += 1;
      if (!r.ok) {
        await reject({ line: r.line, reason: r.reason, detail: r.detail, ...(r.recordId !== undefined ? { recordId: r.recordId } : {}), raw: r.raw });
        continue;
      }
      const firstContent = seenContent.get(r.c0, r.c1, r.c2);
      if (firstContent !== undefined) {
        await reject({ line: r.line, reason: 'duplicate_content', detail: `same messages as line ${firstContent}`, recordId: r.id, raw: rawOf(items[i] as SourceItem) });
        continue;
      }
      const firstId = seenIds.get(r.i0, r.i1, r.i2);
      if (firstId !== undefined) {
        await reject({ line: r.line, reason: 'duplicate_id', detail: `id already used on line ${firstId}`, recordId: r.id, raw: rawOf(items[i] as SourceItem) });
        continue;
      }
      seenContent.set(r.c0, r.c1, r.c2, r.line);
      seenIds.set(r.i0, r.i1, r.i2, r.line);
      counts.accepted += 1;
      counts.bySplit[r.split] += 1;
      counts.byTopic[r.topic] = (counts.byTopic[r.topic] ?? 0) + 1;
      await writers[r.split].write(`${r.json}\n`);
    }
    options.onProgress?.({ read: counts.read, accepted: counts.accepted, quarantined: counts.quarantined });
    // Give timers, heartbeats and cancellation a turn between batches.
    await new Promise<void>((resolve) => setImmediate(resolve));
    throwIfAborted(signal);
  };

  try {
    let batch: SourceItem[] = [];
    const dispatch = (items: SourceItem[]): Promise<void> => consume(items, items.map((item) => processItem(item, config.split)));
    for await (const item of options.items) {
      batch.push(item);
      if (batch.length === BATCH_SIZE) {
        await dispatch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await dispatch(batch);
    options.onProgress?.({ read: counts.read, accepted: counts.accepted, quarantined: counts.quarantined });
    // A cancellation that arrived during the last batch must still keep the manifest unwritten.
    throwIfAborted(signal);

    for (const split of SPLIT_NAMES) await writers[split].rotate();
    const quarantineRef = await quarantine.close();
    const shards = SPLIT_NAMES.flatMap((split) => writers[split].shards);
    const manifest: PreparedManifest = {
      kind: 'prepared-dataset',
      manifestVersion: PREPARED_MANIFEST_VERSION,
      recordSchemaVersion: RECORD_SCHEMA_VERSION,
      stageVersion: PREPARE_STAGE_VERSION,
      cacheKey: options.cacheKey,
      datasetSha: datasetSha(shards),
      createdAt: new Date().toISOString(),
      source: options.fingerprint,
      config,
      counts: { ...counts, blankLines: options.stats.blankLines },
      shards,
      quarantine: { ...quarantineRef, records: counts.quarantined },
      durationMs: Date.now() - started,
    };
    PreparedManifestSchema.parse(manifest);
    const manifestRef = await store.writeText(`${outputKey}/manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
    return { manifest, manifestRef };
  } catch (err) {
    await Promise.all([...SPLIT_NAMES.map((s) => writers[s].abort()), quarantine.abort()]);
    throw err;
  }
}
