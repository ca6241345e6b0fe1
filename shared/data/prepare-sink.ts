import type { Readable } from 'node:stream';
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
import { throwIfAborted } from '../util/abort';
import { FingerprintMap } from './fingerprint-map';
import { canonicalJson, sha256Hex } from '../util/hash';
import type { SourceItem, SourceStats } from './sources/types';

export const PREPARE_STAGE_VERSION = '1';

export interface PrepareProgress {
  read: number;
  accepted: number;
  quarantined: number;
}

export interface PrepareRunOptions {
  config: PrepareConfig;
  store: ArtifactStore;
  /** Key prefix the shards and quarantine are written under. */
  outputKey: string;
  /** Where the manifest is published, last (default `<outputKey>/manifest.json`). */
  manifestKey?: string;
  /** Runs after the last record and before the manifest; throwing stops the publication. */
  beforeManifest?: () => void;
  cacheKey: string;
  fingerprint: SourceFingerprint;
  /** The source as items, processed on this thread. */
  items?: AsyncIterable<SourceItem>;
  /** A JSONL source as raw bytes, processed by worker threads (see {@link runThreaded}). */
  jsonl?: { stream: Readable; threads: number };
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

  async write(line: string | Buffer): Promise<void> {
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

function emptyCounts(): PrepareCounts {
  return { read: 0, accepted: 0, quarantined: 0, blankLines: 0, byReason: {}, bySplit: { train: 0, val: 0, test: 0 }, byTopic: {} };
}

/** A record that passed validation, as the sink needs it. */
export interface Candidate {
  line: number;
  id: string;
  /** Content fingerprint, then id fingerprint (three 32-bit words each). */
  fp: ArrayLike<number>;
  split: SplitName;
  topic: string;
  /** The record's JSONL line (with its newline). */
  data: string | Buffer;
  /** The original text, only needed if the record turns out to be a duplicate. */
  raw: () => string;
}

/**
 * Where processed records go, in source order: duplicate detection (first occurrence wins),
 * counts, shard writes and quarantine. Both drivers (this thread, worker threads) feed it.
 */
export class PrepareSink {
  readonly counts = emptyCounts();
  private readonly writers: Record<SplitName, ShardWriter>;
  private readonly quarantineWriter: ArtifactWriter;
  private readonly seenContent = new FingerprintMap();
  private readonly seenIds = new FingerprintMap();

  constructor(private readonly options: PrepareRunOptions) {
    const { store, outputKey, config } = options;
    this.writers = Object.fromEntries(SPLIT_NAMES.map((split) => [split, new ShardWriter(store, outputKey, split, config.shardSize)])) as Record<
      SplitName,
      ShardWriter
    >;
    this.quarantineWriter = store.openWrite(`${outputKey}/quarantine.jsonl`);
  }

  async quarantine(entry: QuarantineEntry): Promise<void> {
    this.counts.read += 1;
    this.counts.quarantined += 1;
    this.counts.byReason[entry.reason] = (this.counts.byReason[entry.reason] ?? 0) + 1;
    await this.quarantineWriter.write(`${JSON.stringify(entry)}\n`);
  }

  async offer(c: Candidate): Promise<void> {
    const fp = c.fp;
    const firstContent = this.seenContent.get(fp[0] as number, fp[1] as number, fp[2] as number);
    if (firstContent !== undefined) {
      await this.quarantine({
        line: c.line,
        reason: 'duplicate_content',
        detail: `same messages as line ${firstContent}`,
        recordId: c.id,
        raw: c.raw(),
      });
      return;
    }
    const firstId = this.seenIds.get(fp[3] as number, fp[4] as number, fp[5] as number);
    if (firstId !== undefined) {
      await this.quarantine({ line: c.line, reason: 'duplicate_id', detail: `id already used on line ${firstId}`, recordId: c.id, raw: c.raw() });
      return;
    }
    this.seenContent.set(fp[0] as number, fp[1] as number, fp[2] as number, c.line);
    this.seenIds.set(fp[3] as number, fp[4] as number, fp[5] as number, c.line);
    const counts = this.counts;
    counts.read += 1;
    counts.accepted += 1;
    counts.bySplit[c.split] += 1;
    counts.byTopic[c.topic] = (counts.byTopic[c.topic] ?? 0) + 1;
    await this.writers[c.split].write(c.data);
  }

  /** Between batches: report progress, let timers and heartbeats run, honour cancellation. */
  async batchDone(): Promise<void> {
    const { read, accepted, quarantined } = this.counts;
    this.options.onProgress?.({ read, accepted, quarantined });
    await new Promise<void>((resolve) => setImmediate(resolve));
    throwIfAborted(this.options.signal, 'preparation cancelled');
  }

  /** Closes every file and writes the manifest, last. */
  async finish(started: number): Promise<PrepareOutcome> {
    // A cancellation that arrived during the last batch must still keep the manifest unwritten.
    throwIfAborted(this.options.signal, 'preparation cancelled');
    this.options.beforeManifest?.();
    for (const split of SPLIT_NAMES) await this.writers[split].rotate();
    const quarantineRef = await this.quarantineWriter.close();
    const shards = SPLIT_NAMES.flatMap((split) => this.writers[split].shards);
    const { config, store, outputKey } = this.options;
    const manifest: PreparedManifest = {
      kind: 'prepared-dataset',
      manifestVersion: PREPARED_MANIFEST_VERSION,
      recordSchemaVersion: RECORD_SCHEMA_VERSION,
      stageVersion: PREPARE_STAGE_VERSION,
      cacheKey: this.options.cacheKey,
      datasetSha: datasetSha(shards),
      createdAt: new Date().toISOString(),
      source: this.options.fingerprint,
      config,
      counts: { ...this.counts, blankLines: this.counts.blankLines + this.options.stats.blankLines },
      shards,
      quarantine: { ...quarantineRef, records: this.counts.quarantined },
      durationMs: Date.now() - started,
    };
    PreparedManifestSchema.parse(manifest);
    const manifestRef = await store.writeText(this.options.manifestKey ?? `${outputKey}/manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
    return { manifest, manifestRef };
  }

  async abort(): Promise<void> {
    await Promise.all([...SPLIT_NAMES.map((s) => this.writers[s].abort()), this.quarantineWriter.abort()]);
  }
}
