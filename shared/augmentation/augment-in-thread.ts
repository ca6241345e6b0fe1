import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { StoreLocation } from '../artifacts';
import { AugmentShardResultSchema, type AugmentConfig, type AugmentShardResult, type ShardRef } from '../contracts';
import { startThread } from '../threads/start-thread';
import type { AugmentJob, AugmentThreadMessage } from './augment-thread';

export interface ThreadedAugmentOptions {
  /** The artifact store the thread opens (the caller's store's {@link ArtifactStore.location}). */
  store: StoreLocation;
  shard: ShardRef;
  config: AugmentConfig;
  lexiconFile?: string;
  onProgress?: (done: number) => void;
  signal?: AbortSignal;
}

interface Running {
  resolve: (r: AugmentShardResult) => void;
  reject: (e: Error) => void;
  options: ThreadedAugmentOptions;
}

interface Slot {
  worker: Worker;
  job?: { id: number } & Running;
}

/**
 * Threads that augment shards, one shard per thread at a time, the rest queued. Threads start
 * on first use and are kept (the PII engine they build takes a moment), but never keep the
 * process alive while idle. A thread that dies fails its job and is replaced on the next one.
 */
export class AugmentThreadPool {
  private readonly slots: (Slot | undefined)[];
  private readonly queue: ({ id: number } & Running)[] = [];
  private nextId = 1;

  constructor(readonly size = availableParallelism()) {
    this.slots = new Array<Slot | undefined>(Math.max(1, size)).fill(undefined);
  }

  run(options: ThreadedAugmentOptions): Promise<AugmentShardResult> {
    return new Promise<AugmentShardResult>((resolve, reject) => {
      if (options.signal?.aborted) {
        reject(options.signal.reason instanceof Error ? options.signal.reason : new Error('augmentation cancelled'));
        return;
      }
      this.queue.push({ id: this.nextId++, resolve, reject, options });
      this.dispatch();
    });
  }

  /** Stops every thread; queued and running jobs fail. */
  async close(): Promise<void> {
    for (const job of this.queue.splice(0)) job.reject(new Error('augmentation pool closed'));
    await Promise.all(
      this.slots.map(async (slot, i) => {
        this.slots[i] = undefined;
        slot?.job?.reject(new Error('augmentation pool closed'));
        if (slot) await slot.worker.terminate();
      }),
    );
  }

  private dispatch(): void {
    for (let i = 0; i < this.slots.length && this.queue.length > 0; i++) {
      let slot = this.slots[i];
      if (slot?.job) continue;
      if (!slot) {
        slot = this.spawn(i);
        this.slots[i] = slot;
      }
      const job = this.queue.shift() as { id: number } & Running;
      // A job cancelled while it waited never starts.
      if (job.options.signal?.aborted) {
        job.reject(job.options.signal.reason instanceof Error ? job.options.signal.reason : new Error('augmentation cancelled'));
        i -= 1;
        continue;
      }
      slot.job = job;
      slot.worker.ref();
      const { store, shard, config, lexiconFile, signal } = job.options;
      signal?.addEventListener('abort', () => slot?.job?.id === job.id && slot.worker.postMessage({ kind: 'cancel', id: job.id }), { once: true });
      slot.worker.postMessage({ kind: 'job', id: job.id, store, shard, config, ...(lexiconFile ? { lexiconFile } : {}) } satisfies AugmentJob);
    }
  }

  private spawn(index: number): Slot {
    const worker = startThread(path.join(__dirname, 'augment-thread.ts'));
    const slot: Slot = { worker };
    const settle = (fn: (job: Running) => void) => {
      const job = slot.job;
      if (!job) return;
      slot.job = undefined;
      worker.unref();
      fn(job);
      this.dispatch();
    };
    worker.on('message', (m: AugmentThreadMessage) => {
      if (m.id !== slot.job?.id) return;
      if (m.kind === 'progress') slot.job.options.onProgress?.(m.done);
      else if (m.kind === 'result') settle((job) => job.resolve(AugmentShardResultSchema.parse(m.result)));
      else {
        settle((job) => {
          const reason: unknown = job.options.signal?.reason;
          job.reject(m.cancelled && reason instanceof Error ? reason : Object.assign(new Error(m.message), { name: m.name }));
        });
      }
    });
    const died = (err: Error) => {
      if (this.slots[index] === slot) this.slots[index] = undefined;
      settle((job) => job.reject(err));
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`augmentation thread exited with code ${code}`)));
    worker.unref();
    return slot;
  }
}

let shared: AugmentThreadPool | undefined;

/** Augments one shard on the process's shared thread pool (see {@link AugmentThreadPool}). */
export function augmentShardInThread(options: ThreadedAugmentOptions): Promise<AugmentShardResult> {
  shared ??= new AugmentThreadPool();
  return shared.run(options);
}
