import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';

/** A line read from a text stream: its 1-based number and text, or a line over the length limit or not UTF-8. */
export type LineItem =
  | { kind: 'text'; line: number; raw: string }
  | { kind: 'rejected'; line: number; reason: 'line_too_long' | 'invalid_utf8'; detail: string; raw: string };

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

/**
 * The item for a line that is not valid UTF-8 (a file in another encoding, or damaged), the same
 * on every reading path: decoding it would silently replace the bad bytes with U+FFFD, so it is
 * rejected instead, with the position of the first bad byte; the quarantine keeps it decoded
 * with replacement characters.
 */
export function invalidUtf8Item(line: number, buf: Buffer): Extract<LineItem, { kind: 'rejected' }> {
  return {
    kind: 'rejected',
    line,
    reason: 'invalid_utf8',
    detail: `line is not valid UTF-8 (first bad byte at offset ${firstBadUtf8Byte(buf)})`,
    raw: buf.subarray(0, TOO_LONG_KEEP).toString('utf8'),
  };
}

/** Offset of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF), or -1. */
export function firstBadUtf8Byte(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i] as number;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    // Length and the allowed range of the second byte, by lead byte.
    let length: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k < length; k++) {
      const c = buf[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += length;
  }
  return -1;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * What one line's bytes (its line ending, and a CR before it, already cut off) become: a `text`
 * item, a `rejected` one (over `maxLineLength` bytes, or not UTF-8), or undefined for a blank
 * line. The streaming reader and the threaded preparation share it, so they cannot drift apart.
 */
export function lineItem(line: number, bytes: Buffer, maxLineLength: number): LineItem | undefined {
  if (bytes.length > maxLineLength) return tooLongItem(line, maxLineLength, bytes);
  if (!isUtf8(bytes)) return invalidUtf8Item(line, bytes);
  const raw = bytes.toString('utf8');
  return raw.trim().length === 0 ? undefined : { kind: 'text', line, raw };
}

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
    const item = lineItem(lineNo, buf, maxLineLength);
    if (!item) stats.blankLines += 1;
    return item;
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
