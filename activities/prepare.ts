import { ApplicationFailure, Context } from '@temporalio/activity';
import { ArtifactNotFoundError, ArtifactUnreadableError, type ArtifactStore } from '../shared/artifacts';
import {
  ErrorTypes,
  PrepareDatasetInputSchema,
  invalidInput,
  parseInput,
  type PrepareDatasetInput,
  type PrepareDatasetResult,
} from '../shared/contracts';
import { prepareDataset } from '../shared/data';
import { sourceOutsideRoots, sourceRoots } from '../shared/data/source-roots';

/** What the prepare activity reports in its heartbeats (visible in the UI's pending activity). */
export interface PrepareHeartbeat {
  phase: 'fingerprint' | 'prepare';
  read: number;
  accepted: number;
  quarantined: number;
  /** Records the source will yield, where known in advance (synthetic data). */
  total?: number;
}

/**
 * The data-preparation stage as an activity on the CPU queue. Source files are read only from
 * `roots` (default {@link sourceRoots}: PIXEL_SOURCE_ROOTS, else the data folder and the store).
 */
export function createPrepareActivity(store: ArtifactStore, roots: readonly string[] = sourceRoots(store.location())) {
  return async function prepareDatasetActivity(input: PrepareDatasetInput): Promise<PrepareDatasetResult> {
    const { config, useCache } = parseInput(PrepareDatasetInputSchema, 'prepareDataset input', input);
    if (config.source.kind !== 'synthetic') {
      const refused = sourceOutsideRoots(config.source.uri, roots);
      if (refused) throw ApplicationFailure.nonRetryable(refused, ErrorTypes.SourceNotAllowed);
    }
    const ctx = Context.current();
    const total = config.source.kind === 'synthetic' ? config.source.count : undefined;
    let result: PrepareDatasetResult;
    try {
      result = await prepareDataset({
        config,
        store,
        useCache,
        signal: ctx.cancellationSignal,
        onProgress: (p) => ctx.heartbeat({ ...p, ...(total !== undefined ? { total } : {}) } satisfies PrepareHeartbeat),
      });
    } catch (err) {
      if (err instanceof ArtifactNotFoundError) {
        throw ApplicationFailure.nonRetryable(
          `source ${config.source.kind} file not found: ${err.uri} (the worker resolves relative paths from ${process.cwd()})`,
          ErrorTypes.SourceNotFound,
        );
      }
      if (err instanceof ArtifactUnreadableError) {
        throw ApplicationFailure.nonRetryable(`source ${config.source.kind} file is not readable: ${err.message}`, ErrorTypes.SourceUnreadable);
      }
      if (err instanceof Error && /is not the counsel-chat CSV/.test(err.message)) {
        throw invalidInput(err.message);
      }
      throw err;
    }
    const { counts } = result;
    ctx.log.info('dataset prepared', {
      cacheHit: result.cacheHit,
      read: counts.read,
      accepted: counts.accepted,
      quarantined: counts.quarantined,
      byReason: counts.byReason,
      bySplit: counts.bySplit,
      datasetSha: result.datasetSha,
    });
    if (counts.bySplit.train === 0) {
      throw ApplicationFailure.nonRetryable(
        `no usable training records: ${counts.read} read, ${counts.accepted} accepted, ${counts.quarantined} quarantined ` +
          `(${JSON.stringify(counts.byReason)}); see the quarantine at ${result.quarantineUri}`,
        ErrorTypes.NoUsableRecords,
      );
    }
    return result;
  };
}
