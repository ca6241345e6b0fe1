import type { Readable } from 'node:stream';
import { readLines } from '../../util/lines';
import type { SourceItem, SourceStats } from './types';

/** Reads a JSONL stream line by line; parsing and validation happen in the prepare stage. */
export function readJsonlSource(stream: Readable, maxLineLength: number, stats: SourceStats): AsyncGenerator<SourceItem> {
  return readLines(stream, maxLineLength, stats);
}
