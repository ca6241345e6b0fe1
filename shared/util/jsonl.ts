import type { Readable } from 'node:stream';
import { ZodError } from 'zod';
import { describeZodError } from '../contracts/validation';
import { readLines } from './lines';

/**
 * Where a `JSON.parse` error happened (a character offset), read from its message without the
 * text V8 quotes around it, which may hold personal data; undefined when the message gives none.
 */
export function jsonErrorPosition(err: unknown): number | undefined {
  const position = /position (\d+)/.exec(String((err as Error | undefined)?.message ?? ''))?.[1];
  return position === undefined ? undefined : Number(position);
}

/**
 * The values of a JSONL artifact Pixel wrote itself (shards, responses, losses), one per
 * non-blank line, each through `parse` (a zod schema's parse, say). Unlike source files, these
 * are trusted to be well formed: a bad line throws, naming its number but nothing of its text.
 */
export async function* jsonlValues<T>(stream: Readable, parse: (value: unknown) => T, what = 'JSONL'): AsyncGenerator<T> {
  for await (const item of readLines(stream, 64 * 1024 * 1024, { blankLines: 0 })) {
    if (item.kind !== 'text') throw new Error(`${what} line ${item.line}: ${item.detail}`);
    let value: unknown;
    try {
      value = JSON.parse(item.raw);
    } catch {
      throw new Error(`${what} line ${item.line} is not JSON`);
    }
    let parsed: T;
    try {
      parsed = parse(value);
    } catch (err) {
      // Name the line; a schema's error becomes one line naming the bad fields (never their values).
      throw new Error(
        err instanceof ZodError ? describeZodError(`${what} line ${item.line}`, err) : `${what} line ${item.line}: ${(err as Error).message}`,
      );
    }
    yield parsed;
  }
}

/** The first `limit` values of a JSONL stream, as {@link jsonlValues} reads them. */
export async function collectJsonl<T>(stream: Readable, parse: (value: unknown) => T, limit = Infinity, what = 'JSONL'): Promise<T[]> {
  const out: T[] = [];
  if (limit <= 0) {
    stream.destroy();
    return out;
  }
  for await (const value of jsonlValues(stream, parse, what)) {
    out.push(value);
    if (out.length >= limit) break;
  }
  return out;
}

/** One non-blank line of a JSONL text: its 1-based number and either its value or why it is not JSON. */
export type JsonlLine = { line: number; ok: true; value: unknown } | { line: number; ok: false; reason: 'not JSON' };

/**
 * The lines of a JSONL text held in memory (an upload, a small file), numbered from 1, blank
 * lines skipped. A line that is not JSON is reported, not thrown, so a caller can quarantine it
 * with its number; the line's text is never part of the report.
 */
export function* jsonlLines(text: string): Generator<JsonlLine> {
  let start = 0;
  let line = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    line += 1;
    const raw = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    if (raw.trim() === '') continue;
    try {
      yield { line, ok: true, value: JSON.parse(raw) as unknown };
    } catch {
      yield { line, ok: false, reason: 'not JSON' };
    }
  }
}
