// Worker-thread side of the threaded preparation: turns a chunk of JSONL bytes into processed
// records in a compact, transferable form (see prepare-parallel.ts for the other side).
import { parentPort, workerData } from 'node:worker_threads';
import { SPLIT_NAMES, type QuarantineEntry, type SplitConfig } from '../contracts';
import { processItem, quarantineEntry } from './records';
import { lineItem } from '../util/lines';

export interface ChunkJob {
  buffer: Uint8Array;
  firstLine: number;
}

/** Accepted records as columns (typed arrays travel without copying), plus rejections. */
export interface ChunkResult {
  /** The job's buffer, handed back so raw text of duplicates can still be read. */
  input: Uint8Array;
  read: number;
  blank: number;
  rejected: QuarantineEntry[];
  count: number;
  lines: Uint32Array;
  /** Six 32-bit words a record: content fingerprint, then id fingerprint. */
  fp: Uint32Array;
  splits: Uint8Array;
  topics: string[];
  ids: string[];
  /** Every accepted record's JSONL line, UTF-8, back to back; record k is out[offsets[k] .. offsets[k+1]). */
  out: Uint8Array;
  offsets: Uint32Array;
  rawStart: Uint32Array;
  rawEnd: Uint32Array;
}

// workerData is null when tests import this module on the main thread.
const threadConfig = workerData as { split: SplitConfig; maxLineLength: number } | null;
const SPLIT_INDEX = new Map(SPLIT_NAMES.map((name, i) => [name, i]));

/** Processes one chunk; exported for tests, which run it without a thread. */
export function processChunk(job: ChunkJob, config: { split: SplitConfig; maxLineLength: number }): ChunkResult {
  const buf = Buffer.from(job.buffer.buffer, job.buffer.byteOffset, job.buffer.byteLength);
  const rejected: QuarantineEntry[] = [];
  const lines: number[] = [];
  const fp: number[] = [];
  const splits: number[] = [];
  const topics: string[] = [];
  const ids: string[] = [];
  const jsons: string[] = [];
  const rawStart: number[] = [];
  const rawEnd: number[] = [];
  let read = 0;
  let blank = 0;
  let line = job.firstLine;
  let start = 0;
  while (start < buf.length) {
    let nl = buf.indexOf(10, start);
    if (nl === -1) nl = buf.length;
    let end = nl;
    if (end > start && buf[end - 1] === 13) end -= 1;
    const item = lineItem(line, buf.subarray(start, end), config.maxLineLength);
    if (!item) {
      blank += 1;
    } else if (item.kind === 'rejected') {
      read += 1;
      const { kind: _kind, ...entry } = item;
      rejected.push(entry);
    } else {
      read += 1;
      const r = processItem(item, config.split);
      if (!r.ok) {
        rejected.push(quarantineEntry(r));
      } else {
        lines.push(line);
        fp.push(r.c0, r.c1, r.c2, r.i0, r.i1, r.i2);
        splits.push(SPLIT_INDEX.get(r.split) as number);
        topics.push(r.topic);
        ids.push(r.id);
        jsons.push(`${r.json}\n`);
        rawStart.push(start);
        rawEnd.push(end);
      }
    }
    line += 1;
    start = nl + 1;
  }
  const count = lines.length;
  const offsets = new Uint32Array(count + 1);
  let total = 0;
  for (let k = 0; k < count; k++) {
    total += Buffer.byteLength(jsons[k] as string);
    offsets[k + 1] = total;
  }
  const out = Buffer.allocUnsafeSlow(total);
  for (let k = 0; k < count; k++) out.write(jsons[k] as string, offsets[k] as number);
  return {
    input: job.buffer,
    read,
    blank,
    rejected,
    count,
    lines: Uint32Array.from(lines),
    fp: Uint32Array.from(fp),
    splits: Uint8Array.from(splits),
    topics,
    ids,
    out,
    offsets,
    rawStart: Uint32Array.from(rawStart),
    rawEnd: Uint32Array.from(rawEnd),
  };
}

parentPort?.on('message', (job: ChunkJob) => {
  const result = processChunk(job, threadConfig as { split: SplitConfig; maxLineLength: number });
  parentPort?.postMessage(result, [
    result.input.buffer as ArrayBuffer,
    result.out.buffer as ArrayBuffer,
    result.lines.buffer as ArrayBuffer,
    result.fp.buffer as ArrayBuffer,
    result.splits.buffer as ArrayBuffer,
    result.offsets.buffer as ArrayBuffer,
    result.rawStart.buffer as ArrayBuffer,
    result.rawEnd.buffer as ArrayBuffer,
  ]);
});
