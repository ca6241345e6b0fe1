import { createHash } from 'node:crypto';
import type { ArtifactStore, ArtifactWriter } from '../artifacts';
import {
  ConversationRecordSchema,
  PREPARED_MANIFEST_VERSION,
  PreparedManifestSchema,
  RECORD_SCHEMA_VERSION,
  SPLIT_NAMES,
  describeZodError,
  type ConversationRecord,
  type FileRef,
  type PrepareConfig,
  type PrepareCounts,
  type PreparedManifest,
  type QuarantineEntry,
  type QuarantineReason,
  type ShardRef,
  type SourceFingerprint,
  type SplitName,
} from '../contracts';
import { canonicalJson, sha256Hex } from './hash';
import type { SourceItem, SourceStats } from './sources/types';
import { assignSplit } from './splitter';

/** Bump when the output of the stage changes for the same input; it is part of the cache key. */
export const PREPARE_STAGE_VERSION = '1';

/** How often (in source items) progress is reported and the event loop is given a turn. */
const PROGRESS_EVERY = 4096;
/** Longest excerpt of a JSON parse error message kept in the quarantine. */
const MAX_DETAIL = 300;

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

/** Key for duplicate detection: sha256 over roles and contents, truncated to 128 bits. */
export function contentKey(record: Pick<ConversationRecord, 'messages'>): string {
  // One update() per record: each call into the hash has a fixed cost that dominates at this size.
  let text = '';
  for (const m of record.messages) text += `${m.role}\u0000${m.content}\u0001`;
  return createHash('sha256').update(text).digest('base64').slice(0, 22);
}

type Verdict =
  | { ok: true; record: ConversationRecord }
  | { ok: false; reason: QuarantineReason; detail: string; recordId?: string };

function isBlankContent(message: unknown): boolean {
  if (message === null || typeof message !== 'object') return false;
  const content = (message as { content?: unknown }).content;
  return typeof content === 'string' && content.trim().length === 0;
}

/**
 * Validates one candidate record: shape, emptiness, schema, and whether it has both a user and
 * an assistant turn. Pure; duplicates are checked by the caller, which holds the state.
 */
export function validateCandidate(value: unknown): Verdict {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: 'not_an_object', detail: `expected a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}` };
  }
  const candidate = value as { id?: unknown; messages?: unknown };
  const recordId = typeof candidate.id === 'string' ? candidate.id : undefined;
  const messages = candidate.messages;
  if (Array.isArray(messages) && (messages.length === 0 || messages.every(isBlankContent))) {
    return { ok: false, reason: 'empty_conversation', detail: messages.length === 0 ? 'messages is an empty list' : 'every message is blank', recordId };
  }
  const parsed = ConversationRecordSchema.safeParse(value);
  if (!parsed.success) {
    return { ok: false, reason: 'schema_violation', detail: describeZodError('record', parsed.error), recordId };
  }
  const record = parsed.data;
  let user = false;
  let assistant = false;
  for (const m of record.messages) {
    m.content = m.content.normalize('NFC');
    if (m.role === 'user') user = true;
    else if (m.role === 'assistant') assistant = true;
  }
  if (!user || !assistant) {
    const lacking = [user ? '' : 'user', assistant ? '' : 'assistant'].filter(Boolean).join(' and ');
    return { ok: false, reason: 'incomplete_conversation', detail: `conversation has no ${lacking} turn`, recordId: record.id };
  }
  return { ok: true, record };
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
 * the dataset is complete). Memory stays flat in the number of records apart from two sets of
 * 128-bit keys used for duplicate detection.
 */
export async function prepareRecords(options: PrepareRunOptions): Promise<PrepareOutcome> {
  const { config, store, outputKey, signal } = options;
  const started = Date.now();
  const counts = emptyCounts();
  const writers = Object.fromEntries(
    SPLIT_NAMES.map((split) => [split, new ShardWriter(store, outputKey, split, config.shardSize)]),
  ) as Record<SplitName, ShardWriter>;
  const quarantine = store.openWrite(`${outputKey}/quarantine.jsonl`);
  const seenContent = new Map<string, number>();
  const seenIds = new Map<string, number>();

  const reject = async (entry: QuarantineEntry): Promise<void> => {
    counts.quarantined += 1;
    counts.byReason[entry.reason] = (counts.byReason[entry.reason] ?? 0) + 1;
    await quarantine.write(`${JSON.stringify(entry)}\n`);
  };

  try {
    for await (const item of options.items) {
      counts.read += 1;
      if (counts.read % PROGRESS_EVERY === 0) {
        options.onProgress?.({ read: counts.read, accepted: counts.accepted, quarantined: counts.quarantined });
        // Give timers, heartbeats and cancellation a turn between batches.
        await new Promise<void>((resolve) => setImmediate(resolve));
        throwIfAborted(signal);
      }
      if (item.kind === 'rejected') {
        await reject({ line: item.line, reason: item.reason, detail: item.detail, raw: item.raw });
        continue;
      }
      let value: unknown;
      if (item.kind === 'text') {
        try {
          value = JSON.parse(item.raw);
        } catch (err) {
          await reject({ line: item.line, reason: 'malformed_json', detail: String((err as Error).message).slice(0, MAX_DETAIL), raw: item.raw });
          continue;
        }
      } else {
        value = item.value;
      }
      const raw = (): string => (item.kind === 'value' ? (item.raw ?? JSON.stringify(item.value)) : item.raw);
      const verdict = validateCandidate(value);
      if (!verdict.ok) {
        await reject({ line: item.line, reason: verdict.reason, detail: verdict.detail, ...(verdict.recordId !== undefined ? { recordId: verdict.recordId } : {}), raw: raw() });
        continue;
      }
      const record = verdict.record;
      const key = contentKey(record);
      const firstContent = seenContent.get(key);
      if (firstContent !== undefined) {
        await reject({ line: item.line, reason: 'duplicate_content', detail: `same messages as line ${firstContent}`, recordId: record.id, raw: raw() });
        continue;
      }
      const firstId = seenIds.get(record.id);
      if (firstId !== undefined) {
        await reject({ line: item.line, reason: 'duplicate_id', detail: `id already used on line ${firstId}`, recordId: record.id, raw: raw() });
        continue;
      }
      seenContent.set(key, item.line);
      seenIds.set(record.id, item.line);
      const split = assignSplit(record.groupId ?? record.id, config.split);
      counts.accepted += 1;
      counts.bySplit[split] += 1;
      counts.byTopic[record.topic] = (counts.byTopic[record.topic] ?? 0) + 1;
      await writers[split].write(`${JSON.stringify(record)}\n`);
    }
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
