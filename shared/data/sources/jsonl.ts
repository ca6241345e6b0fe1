import type { Readable } from 'node:stream';
import { readLines } from '../../util/lines';
import type { SourceItem, SourceStats } from './types';

/** Reads a JSONL stream line by line; parsing and validation happen in the prepare stage. */
export function readJsonlSource(stream: Readable, maxLineLength: number, stats: SourceStats): AsyncGenerator<SourceItem> {
  return readLines(stream, maxLineLength, stats);
}

/**
 * The values of a JSONL artifact Pixel wrote itself (shards, responses, losses), one per
 * non-blank line, each through `parse` (a zod schema's parse, say). Unlike source files, these
 * are trusted to be well formed: a bad line throws, naming nothing of its text.
 */
export async function* jsonlValues<T>(stream: Readable, parse: (value: unknown) => T): AsyncGenerator<T> {
  for await (const item of readLines(stream, 64 * 1024 * 1024, { blankLines: 0 })) {
    if (item.kind !== 'text') continue;
    yield parse(JSON.parse(item.raw));
  }
}
