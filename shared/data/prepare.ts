import type { PrepareConfig } from '../contracts';
import { processItem, quarantineEntry } from './records';
import type { SourceItem } from './sources/types';
import { runThreaded } from './prepare-parallel';
import { PrepareSink, type PrepareOutcome, type PrepareRunOptions } from './prepare-sink';

export * from './prepare-sink';

/** Items per batch: the unit of progress reports and of event-loop turns. */
const BATCH_SIZE = 256;

function rawOf(item: SourceItem): string {
  return item.kind === 'value' ? (item.raw ?? JSON.stringify(item.value)) : item.raw;
}

/** Processes source items on this thread, in batches. */
async function runInline(items: AsyncIterable<SourceItem>, split: PrepareConfig['split'], sink: PrepareSink): Promise<void> {
  let batch: SourceItem[] = [];
  const flush = async (): Promise<void> => {
    for (const item of batch) {
      const r = processItem(item, split);
      if (!r.ok) {
        await sink.quarantine(quarantineEntry(r));
      } else {
        await sink.offer({
          line: r.line,
          id: r.id,
          fp: [r.c0, r.c1, r.c2, r.i0, r.i1, r.i2],
          split: r.split,
          topic: r.topic,
          data: `${r.json}\n`,
          raw: () => rawOf(item),
        });
      }
    }
    batch = [];
    await sink.batchDone();
  };
  for await (const item of items) {
    batch.push(item);
    if (batch.length === BATCH_SIZE) await flush();
  }
  if (batch.length > 0) await flush();
}

/**
 * The data-preparation stage over a source: validate, quarantine, dedupe, split by salted hash
 * and write sharded JSONL, then the manifest (last, so its presence means the dataset is
 * complete). Memory stays flat in the number of records apart from two maps of 96-bit
 * fingerprints (about 24 bytes a record) used for duplicate detection. The output is the same
 * whether the per-record work runs on this thread or on worker threads.
 */
export async function prepareRecords(options: PrepareRunOptions): Promise<PrepareOutcome> {
  const started = Date.now();
  const sink = new PrepareSink(options);
  try {
    if (options.jsonl) await runThreaded(options.jsonl.stream, options.jsonl.threads, options.config, sink);
    else if (options.items) await runInline(options.items, options.config.split, sink);
    else throw new Error('prepareRecords needs items or a jsonl stream');
    return await sink.finish(started);
  } catch (err) {
    await sink.abort();
    throw err;
  }
}
