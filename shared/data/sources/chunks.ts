import type { Readable } from 'node:stream';

import { stripBom } from '../../util/lines';
import { TOO_LONG_KEEP } from './types';

/** A run of whole lines, in a buffer of its own (safe to transfer to a worker thread). */
export interface LineChunk {
  kind: 'chunk';
  buffer: Buffer;
  /** 1-based number of the chunk's first line. */
  firstLine: number;
}

/** A line longer than the limit, cut here so it is never held whole. */
export interface OverlongLine {
  kind: 'overlong';
  line: number;
  head: Buffer;
}

function countNewlines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Cuts a byte stream into chunks of whole lines of about `targetBytes`, numbering lines from 1,
 * for line-based sources processed by worker threads. A line that grows past `maxLineLength`
 * bytes without ending is not buffered: it comes out as an `overlong` item with its first 4 KiB.
 * A UTF-8 BOM at the start of the stream is dropped.
 */
export async function* readChunks(stream: Readable, maxLineLength: number, targetBytes: number): AsyncGenerator<LineChunk | OverlongLine> {
  let parts: Buffer[] = [];
  let partsBytes = 0;
  let nextLine = 1;
  let linesInParts = 0;
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let overlongHead: Buffer | undefined;
  let first = true;

  const take = (): LineChunk | undefined => {
    if (partsBytes === 0) return undefined;
    const buffer = Buffer.allocUnsafeSlow(partsBytes);
    let at = 0;
    for (const p of parts) at += p.copy(buffer, at);
    const chunk: LineChunk = { kind: 'chunk', buffer, firstLine: nextLine };
    nextLine += linesInParts;
    parts = [];
    partsBytes = 0;
    linesInParts = 0;
    return chunk;
  };
  const addPartial = (rest: Buffer): void => {
    if (overlongHead) return;
    // One byte of slack for a CR that may end the line; the worker makes the final call.
    if (carryBytes + rest.length > maxLineLength + 1) {
      overlongHead = Buffer.concat([...carry, rest]).subarray(0, TOO_LONG_KEEP);
      carry = [];
      carryBytes = 0;
    } else {
      carry.push(Buffer.from(rest));
      carryBytes += rest.length;
    }
  };

  for await (const raw of stream as AsyncIterable<Buffer>) {
    const chunk = first ? stripBom(raw) : raw;
    first = false;
    const firstNl = chunk.indexOf(10);
    if (firstNl === -1) {
      addPartial(chunk);
      continue;
    }
    // The line that was pending ends at the first newline of this chunk.
    if (overlongHead) {
      const pending = take();
      if (pending) yield pending;
      yield { kind: 'overlong', line: nextLine, head: overlongHead };
      nextLine += 1;
      overlongHead = undefined;
    } else {
      // A finished line may still be over the limit; the worker thread rejects it.
      const end = chunk.subarray(0, firstNl + 1);
      parts.push(...carry, end);
      partsBytes += carryBytes + end.length;
      linesInParts += 1;
      carry = [];
      carryBytes = 0;
    }
    const lastNl = chunk.lastIndexOf(10);
    if (lastNl > firstNl) {
      const middle = chunk.subarray(firstNl + 1, lastNl + 1);
      parts.push(middle);
      partsBytes += middle.length;
      linesInParts += countNewlines(middle);
    }
    if (lastNl + 1 < chunk.length) addPartial(chunk.subarray(lastNl + 1));
    if (partsBytes >= targetBytes) yield take() as LineChunk;
  }
  if (overlongHead) {
    const pending = take();
    if (pending) yield pending;
    yield { kind: 'overlong', line: nextLine, head: overlongHead };
    return;
  }
  if (carryBytes > 0) {
    parts.push(...carry);
    partsBytes += carryBytes;
    linesInParts += 1;
  }
  const last = take();
  if (last) yield last;
}
