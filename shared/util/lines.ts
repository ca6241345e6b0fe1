import type { Readable } from 'node:stream';

/** A line read from a text stream: its 1-based number and text, or a line over the length limit. */
export type LineItem =
  { kind: 'text'; line: number; raw: string } | { kind: 'rejected'; line: number; reason: 'line_too_long'; detail: string; raw: string };

/** Counts a reader keeps about lines that were not items (blank lines). */
export interface LineStats {
  blankLines: number;
}

/** How much of an over-long line is kept (for the quarantine), in bytes. */
export const TOO_LONG_KEEP = 4096;

/** The item for a line over the length limit, the same on every reading path. */
export function tooLongItem(line: number, maxLineLength: number, head: Buffer): Extract<LineItem, { kind: 'rejected' }> {
  return {
    kind: 'rejected',
    line,
    reason: 'line_too_long',
    detail: `line is longer than ${maxLineLength} bytes; the quarantine keeps its first ${TOO_LONG_KEEP} bytes`,
    raw: head.subarray(0, TOO_LONG_KEEP).toString('utf8'),
  };
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/** Drops a UTF-8 byte-order mark at the start of a stream's first chunk. */
export function stripBom(chunk: Buffer): Buffer {
  return chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf ? chunk.subarray(3) : chunk;
}

/**
 * Splits a byte stream into lines without holding more than one line (plus one chunk) in
 * memory. Yields each non-blank line as a `text` item with its 1-based line number; a line
 * longer than `maxLineLength` bytes (not counting its line ending) is yielded as `rejected` with
 * its first 4 KiB, and the rest of it is skipped without buffering. Blank lines are counted in
 * `stats`. A UTF-8 BOM at the start is dropped.
 */
export async function* readLines(stream: Readable, maxLineLength: number, stats: LineStats): AsyncGenerator<LineItem> {
  let lineNo = 0;
  let carry: Buffer[] = [];
  let carryLength = 0;
  /** Set once the pending line is known to be too long; holds its head. */
  let overlong: Buffer | undefined;
  let first = true;

  const finish = (last: Buffer): LineItem | undefined => {
    lineNo += 1;
    if (overlong) {
      const item = tooLongItem(lineNo, maxLineLength, overlong);
      overlong = undefined;
      return item;
    }
    let buf = carry.length === 0 ? last : Buffer.concat([...carry, last]);
    carry = [];
    carryLength = 0;
    if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
    if (buf.length > maxLineLength) return tooLongItem(lineNo, maxLineLength, buf);
    const raw = buf.toString('utf8');
    if (raw.trim().length === 0) {
      stats.blankLines += 1;
      return undefined;
    }
    return { kind: 'text', line: lineNo, raw };
  };

  for await (const raw of stream as AsyncIterable<Buffer>) {
    const chunk = first ? stripBom(raw) : raw;
    first = false;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      const item = finish(chunk.subarray(start, nl));
      if (item) yield item;
      start = nl + 1;
    }
    if (start < chunk.length && !overlong) {
      const rest = chunk.subarray(start);
      // One byte of slack for a CR that may end the line.
      if (carryLength + rest.length > maxLineLength + 1) {
        overlong = Buffer.from(Buffer.concat([...carry, rest]).subarray(0, TOO_LONG_KEEP));
        carry = [];
        carryLength = 0;
      } else {
        carry.push(Buffer.from(rest));
        carryLength += rest.length;
      }
    }
  }
  if (carry.length > 0 || overlong) {
    const item = finish(Buffer.alloc(0));
    if (item) yield item;
  }
}
