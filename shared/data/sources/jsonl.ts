import type { ArtifactStore } from '../../artifacts';
import { readLines } from './lines';
import type { SourceItem, SourceStats } from './types';

/** Reads a JSONL file line by line; parsing and validation happen in the prepare stage. */
export async function* readJsonlSource(
  store: ArtifactStore,
  uri: string,
  maxLineLength: number,
  stats: SourceStats,
): AsyncGenerator<SourceItem> {
  const stream = await store.openRead(uri);
  yield* readLines(stream, maxLineLength, stats);
}
