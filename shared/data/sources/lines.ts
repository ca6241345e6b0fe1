import type { Readable } from 'node:stream';
import type { SourceItem, SourceStats } from './types';

const NEWLINE = 0x0a;
const CR = 0x0d;
/** How much of an over-long line the quarantine keeps. */
const TOO_LONG_KEEP = 4096;

/**
 * Splits a byte stream into lines without holding more than one line (plus one chunk) in
 * memory. Yields each non-blank line as a `text` item with its 1-based line number; a line
 * longer than `maxLineLength` bytes is yielded as `rejected` with its first 4 KiB, and the rest
 * of it is skipped without buffering. Blank lines are counted in `stats`.
 */
export async function* readLines(
  stream: Readable,
  maxLineLength: number,
  stats: SourceStats,
): AsyncGenerator<SourceItem> {
  let lineNo = 0;
  let carry: Buffer[] = [];
  let carryLength = 0;
  let tooLong = false;
  let first = true;

  const finish = (parts: Buffer[]): SourceItem | undefined => {
    lineNo += 1;
    if (tooLong) {
      tooLong = false;
      const head = Buffer.concat(parts).subarray(0, TOO_LONG_KEEP).toString('utf8');
      return {
        kind: 'rejected',
        line: lineNo,
        reason: 'line_too_long',
        detail: `line is longer than ${maxLineLength} bytes; the quarantine keeps its first ${TOO_LONG_KEEP} bytes`,
        raw: head,
      };
    }
    let buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
    if (first) {
      first = false;
      if (buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    const raw = buf.toString('utf8');
    if (raw.trim().length === 0) {
      stats.blankLines += 1;
      return undefined;
    }
    return { kind: 'text', line: lineNo, raw };
  };

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      let item: SourceItem | undefined;
      if (carryLength + piece.length > maxLineLength) tooLong = true;
      if (carry.length > 0) {
        carry.push(piece);
        item = finish(carry);
        carry = [];
        carryLength = 0;
      } else {
        item = finish([piece]);
      }
      if (item) yield item;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (carryLength + rest.length > maxLineLength) {
        // Keep only the head of an over-long line; the rest is skipped, not buffered.
        if (!tooLong) {
          carry.push(rest);
          carry = [Buffer.concat(carry).subarray(0, TOO_LONG_KEEP)];
        }
        tooLong = true;
        carryLength = maxLineLength + 1;
      } else {
        carry.push(Buffer.from(rest));
        carryLength += rest.length;
      }
    }
  }
  if (carry.length > 0 || tooLong) {
    const item = finish(carry);
    if (item) yield item;
  }
}
