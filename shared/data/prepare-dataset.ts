import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import type { ArtifactStore } from '../artifacts';
import {
  PreparedManifestSchema,
  type PrepareConfig,
  type PrepareDatasetResult,
  type PreparedManifest,
  type SourceFingerprint,
  type SourceSpec,
} from '../contracts';
import { canonicalJson, hashStream, sha256Hex } from './hash';
import { prepareCacheKey, prepareRecords, type PrepareProgress } from './prepare';
import { readCounselChatSource } from './sources/counsel-chat';
import { readJsonlSource } from './sources/jsonl';
import type { SourceItem, SourceStats } from './sources/types';
import { GENERATOR_VERSION, generateConversation } from './synthetic/generator';

/** A source ready to read, with the fingerprint of its content. */
export interface ResolvedSource {
  fingerprint: SourceFingerprint;
  open(stats: SourceStats): AsyncIterable<SourceItem>;
  /** For line-based sources: the raw bytes, for the threaded path. */
  openBytes?: () => Promise<Readable>;
}

async function* syntheticItems(spec: Extract<SourceSpec, { kind: 'synthetic' }>): AsyncGenerator<SourceItem> {
  const options = { seed: spec.seed, crisisShare: spec.crisisShare, piiShare: spec.piiShare };
  for (let i = 0; i < spec.count; i++) yield { kind: 'value', line: i + 1, value: generateConversation(i, options) };
}

/**
 * Checks that a source exists and is readable, and fingerprints its content (sha256 of the
 * file, or of the generator's settings). Throws `ArtifactNotFoundError` /
 * `ArtifactUnreadableError` naming the source.
 */
export async function resolveSource(spec: SourceSpec, store: ArtifactStore, maxLineLength: number): Promise<ResolvedSource> {
  if (spec.kind === 'synthetic') {
    const { kind: _kind, ...settings } = spec;
    return {
      fingerprint: { kind: 'synthetic', sha256: sha256Hex(canonicalJson({ generator: GENERATOR_VERSION, ...settings })) },
      open: () => syntheticItems(spec),
    };
  }
  await store.stat(spec.uri);
  const { sha256, bytes } = await hashStream(await store.openRead(spec.uri));
  const fingerprint: SourceFingerprint = { kind: spec.kind, uri: spec.uri, bytes, sha256 };
  if (spec.kind === 'jsonl') {
    return { fingerprint, open: (stats) => readJsonlSource(store, spec.uri, maxLineLength, stats), openBytes: () => store.openRead(spec.uri) };
  }
  return { fingerprint, open: () => readCounselChatSource(store, spec.uri) };
}

/** Where a preparation with this cache key keeps its output. */
export function preparedKey(cacheKey: string): string {
  return `datasets/prepared/${cacheKey.slice(0, 32)}`;
}

/**
 * Loads the manifest under `key` if it is complete and intact: it parses, and every shard and
 * the quarantine exist with their recorded sizes. Anything else is treated as absent.
 */
export async function loadPreparedManifest(
  store: ArtifactStore,
  key: string,
): Promise<{ manifest: PreparedManifest; uri: string; sha256: string } | undefined> {
  const uri = store.uriFor(`${key}/manifest.json`);
  if (!(await store.exists(uri))) return undefined;
  const text = await store.readText(uri);
  let manifest: PreparedManifest;
  try {
    manifest = PreparedManifestSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
  for (const file of [...manifest.shards, manifest.quarantine]) {
    try {
      if ((await store.stat(file.uri)).bytes !== file.bytes) return undefined;
    } catch {
      return undefined;
    }
  }
  return { manifest, uri, sha256: sha256Hex(text) };
}

function toResult(manifest: PreparedManifest, manifestUri: string, manifestSha256: string, cacheHit: boolean): PrepareDatasetResult {
  const shardsBySplit = { train: 0, val: 0, test: 0 };
  for (const shard of manifest.shards) shardsBySplit[shard.split] += 1;
  return {
    manifestUri,
    manifestSha256,
    datasetSha: manifest.datasetSha,
    cacheKey: manifest.cacheKey,
    cacheHit,
    counts: manifest.counts,
    quarantineUri: manifest.quarantine.uri,
    shardsBySplit,
    durationMs: manifest.durationMs,
  };
}

export interface PrepareDatasetOptions {
  config: PrepareConfig;
  store: ArtifactStore;
  useCache?: boolean;
  onProgress?: (progress: PrepareProgress & { phase: 'fingerprint' | 'prepare' }) => void;
  signal?: AbortSignal;
  /**
   * Worker threads for a JSONL source's per-record work: a number (0: none), or 'auto' (the
   * default): one per core for files of 32 MB or more, none below (starting threads costs more
   * than it saves). `PIXEL_PREPARE_THREADS` overrides 'auto'. The output is the same either way.
   */
  threads?: number | 'auto';
}

const THREADS_MIN_BYTES = 32 * 1024 * 1024;

/** How many worker threads a preparation uses (see {@link PrepareDatasetOptions.threads}). */
export function chooseThreads(requested: number | 'auto' | undefined, sourceBytes: number | undefined): number {
  if (typeof requested === 'number') return Math.max(0, Math.floor(requested));
  const fromEnv = process.env.PIXEL_PREPARE_THREADS;
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  if (sourceBytes === undefined || sourceBytes < THREADS_MIN_BYTES) return 0;
  return Math.max(1, Math.min(8, availableParallelism()));
}

/**
 * Prepares a dataset end to end: resolve and fingerprint the source, reuse a complete earlier
 * result with the same cache key, else run the stage and write shards, quarantine and manifest.
 */
export async function prepareDataset(options: PrepareDatasetOptions): Promise<PrepareDatasetResult> {
  const { config, store } = options;
  options.onProgress?.({ phase: 'fingerprint', read: 0, accepted: 0, quarantined: 0 });
  const source = await resolveSource(config.source, store, config.maxLineLength);
  const cacheKey = prepareCacheKey(source.fingerprint, config);
  const key = preparedKey(cacheKey);
  if (options.useCache !== false) {
    const cached = await loadPreparedManifest(store, key);
    if (cached) return toResult(cached.manifest, cached.uri, cached.sha256, true);
  }
  await store.removePrefix(key);
  const stats: SourceStats = { blankLines: 0 };
  const threads = source.openBytes ? chooseThreads(options.threads, source.fingerprint.bytes) : 0;
  let outcome: Awaited<ReturnType<typeof prepareRecords>>;
  try {
    outcome = await prepareRecords({
      config,
      store,
      outputKey: key,
      cacheKey,
      fingerprint: source.fingerprint,
      ...(threads > 0 && source.openBytes ? { jsonl: { stream: await source.openBytes(), threads } } : { items: source.open(stats) }),
      stats,
      onProgress: (p) => options.onProgress?.({ phase: 'prepare', ...p }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    // No half-written dataset is left behind (finished shards included); a retry starts clean.
    await store.removePrefix(key);
    throw err;
  }
  const { manifest, manifestRef } = outcome;
  return toResult(manifest, manifestRef.uri, manifestRef.sha256, false);
}

