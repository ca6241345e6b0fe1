import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { ArtifactStore } from '../artifacts';
import {
  PreparedManifestSchema,
  type PrepareConfig,
  type PrepareDatasetResult,
  type PreparedManifest,
  type SourceFingerprint,
  type SourceSpec,
} from '../contracts';
import { canonicalJson, hashStream, hashingTap, sha256Hex } from '../util/hash';
import { prepareCacheKey, prepareRecords, type PrepareProgress } from './prepare';
import { readCounselChatSource } from './sources/counsel-chat';
import { readJsonlSource } from './sources/jsonl';
import type { SourceItem, SourceStats } from './sources/types';
import { GENERATOR_VERSION, generateConversation } from './synthetic/generator';

/** A source ready to read, with the fingerprint of its content. */
export interface ResolvedSource {
  fingerprint: SourceFingerprint;
  /**
   * Opens the source. For files, `verify()` (after the last item) confirms that the bytes read
   * are the bytes fingerprinted, so a file that changed in between cannot be cached under the
   * old fingerprint.
   */
  open(
    stats: SourceStats,
  ): { items: AsyncIterable<SourceItem>; verify: () => void } | Promise<{ items: AsyncIterable<SourceItem>; verify: () => void }>;
  /** For line-based sources: the raw bytes, for the threaded path (with the same check). */
  openBytes?: () => Promise<{ stream: Readable; verify: () => void }>;
}

/** The source file changed while it was being prepared; a retry fingerprints it again. */
export class SourceChangedError extends Error {
  constructor(uri: string) {
    super(`${uri} changed while it was being prepared; preparing it again`);
    this.name = 'SourceChangedError';
  }
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
      open: () => ({ items: syntheticItems(spec), verify: () => undefined }),
    };
  }
  await store.stat(spec.uri);
  const { sha256, bytes } = await hashStream(await store.openRead(spec.uri));
  const fingerprint: SourceFingerprint = { kind: spec.kind, uri: spec.uri, bytes, sha256 };
  const openTapped = async () => {
    const tap = hashingTap(await store.openRead(spec.uri));
    const verify = () => {
      const read = tap.digest();
      if (!read || read.sha256 !== sha256 || read.bytes !== bytes) throw new SourceChangedError(spec.uri);
    };
    return { stream: tap.stream, verify };
  };
  if (spec.kind === 'jsonl') {
    return {
      fingerprint,
      open: async (stats) => {
        const { stream, verify } = await openTapped();
        return { items: readJsonlSource(stream, maxLineLength, stats), verify };
      },
      openBytes: openTapped,
    };
  }
  return {
    fingerprint,
    open: async () => {
      const { stream, verify } = await openTapped();
      return { items: readCounselChatSource(stream, spec.uri), verify };
    },
  };
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
    shards: manifest.shards,
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
  // Each attempt writes into a folder of its own and publishes by writing the manifest under
  // the key last, so concurrent runs (or a retry beside a stalled attempt) never touch each
  // other's files.
  const attemptKey = `${key}/attempts/${new Date().toISOString().replace(/[:.]/g, '')}-${randomBytes(4).toString('hex')}`;
  const stats: SourceStats = { blankLines: 0 };
  const threads = source.openBytes ? chooseThreads(options.threads, source.fingerprint.bytes) : 0;
  let outcome: Awaited<ReturnType<typeof prepareRecords>>;
  try {
    let input: Pick<Parameters<typeof prepareRecords>[0], 'items' | 'jsonl'>;
    let verify: () => void;
    if (threads > 0 && source.openBytes) {
      const opened = await source.openBytes();
      input = { jsonl: { stream: opened.stream, threads } };
      verify = opened.verify;
    } else {
      const opened = await source.open(stats);
      input = { items: opened.items };
      verify = opened.verify;
    }
    outcome = await prepareRecords({
      config,
      store,
      outputKey: attemptKey,
      manifestKey: `${key}/manifest.json`,
      cacheKey,
      fingerprint: source.fingerprint,
      ...input,
      beforeManifest: verify,
      stats,
      onProgress: (p) => options.onProgress?.({ phase: 'prepare', ...p }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    // No half-written attempt is left behind (finished shards included).
    await store.removePrefix(attemptKey).catch(() => undefined);
    throw err;
  }
  const { manifest, manifestRef } = outcome;
  return toResult(manifest, manifestRef.uri, manifestRef.sha256, false);
}
