import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { SPLIT_NAMES, type PrepareConfig, type SplitName } from '../contracts';
import { OrderedPool } from '../threads/ordered-pool';
import { startThread } from '../threads/start-thread';
import type { PrepareSink } from './prepare-sink';
import type { ChunkJob, ChunkResult } from './prepare-thread';
import { readChunks, type OverlongLine } from './sources/chunks';
import { tooLongItem } from './sources/types';

/** Bytes of JSONL per job: big enough to amortise the message, small enough to keep memory flat. */
const CHUNK_BYTES = 1 << 20;

type Step = { kind: 'chunk'; result: ChunkResult } | OverlongLine;

function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

async function apply(step: Step, sink: PrepareSink, maxLineLength: number): Promise<void> {
  if (step.kind === 'overlong') {
    const { kind: _kind, ...entry } = tooLongItem(step.line, maxLineLength, step.head);
    await sink.quarantine(entry);
    await sink.batchDone();
    return;
  }
  const r = step.result;
  const input = asBuffer(r.input);
  const out = asBuffer(r.out);
  let next = 0;
  for (let k = 0; k < r.count; k++) {
    const line = r.lines[k] as number;
    while (next < r.rejected.length && (r.rejected[next]?.line as number) < line) await sink.quarantine(r.rejected[next++]!);
    const start = r.rawStart[k] as number;
    const end = r.rawEnd[k] as number;
    await sink.offer({
      line,
      id: r.ids[k] as string,
      fp: r.fp.subarray(k * 6, k * 6 + 6),
      split: SPLIT_NAMES[r.splits[k] as number] as SplitName,
      topic: r.topics[k] as string,
      data: out.subarray(r.offsets[k], r.offsets[k + 1]),
      raw: () => input.toString('utf8', start, end),
    });
  }
  while (next < r.rejected.length) await sink.quarantine(r.rejected[next++]!);
  sink.counts.blankLines += r.blank;
  await sink.batchDone();
}

/**
 * Prepares a JSONL stream with worker threads doing the per-record work (decode, parse,
 * validate, fingerprint, serialise) while this thread reads, deduplicates and writes. Chunks
 * are applied in source order, so the output is byte-identical to the single-threaded path.
 */
export async function runThreaded(stream: Readable, threads: number, config: PrepareConfig, sink: PrepareSink): Promise<void> {
  const workerData = { split: config.split, maxLineLength: config.maxLineLength };
  // A thread holds one chunk at a time, so a small heap is plenty; capping it keeps the
  // stage's peak RSS down (V8 otherwise grows each thread's heap freely). Room grows with the
  // longest line a chunk may carry.
  const resourceLimits = { maxYoungGenerationSizeMb: 16, maxOldGenerationSizeMb: 128 + 8 * Math.ceil(config.maxLineLength / (1 << 20)) };
  const pool = new OrderedPool<ChunkJob, ChunkResult>(
    Array.from({ length: Math.max(1, threads) }, () => startThread(path.join(__dirname, 'prepare-thread.ts'), { resourceLimits, workerData })),
  );
  const inFlight: Promise<Step>[] = [];
  const maxInFlight = Math.max(1, threads) * 2;
  try {
    for await (const piece of readChunks(stream, config.maxLineLength, CHUNK_BYTES)) {
      if (piece.kind === 'overlong') {
        inFlight.push(Promise.resolve(piece));
      } else {
        const job: ChunkJob = { buffer: piece.buffer, firstLine: piece.firstLine };
        const step = pool.submit(job, [piece.buffer.buffer as ArrayBuffer]).then(
          (result): Step => ({ kind: 'chunk', result }),
          (err: unknown) => {
            throw new Error(
              `preparing the chunk from line ${job.firstLine} in a worker thread failed: ${err instanceof Error ? err.message : String(err)}`,
            );
          },
        );
        // Awaited in order later; until then a thread's failure must not count as unhandled
        // (Node would end the whole worker process).
        step.catch(() => undefined);
        inFlight.push(step);
      }
      while (inFlight.length >= maxInFlight) await apply(await (inFlight.shift() as Promise<Step>), sink, config.maxLineLength);
    }
    while (inFlight.length > 0) await apply(await (inFlight.shift() as Promise<Step>), sink, config.maxLineLength);
  } finally {
    await Promise.allSettled(inFlight);
    await pool.close();
  }
}
