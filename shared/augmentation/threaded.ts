import * as path from 'node:path';
import { AugmentShardResultSchema, type AugmentConfig, type AugmentShardResult, type ShardRef } from '../contracts';
import { startTsWorker } from '../threads/ts-worker';
import type { AugmentThreadData, AugmentThreadMessage } from './augment-worker';

export interface ThreadedAugmentOptions {
  /** Root of the local artifact store the thread opens (the same files the caller's store sees). */
  storeRoot: string;
  shard: ShardRef;
  config: AugmentConfig;
  lexiconFile?: string;
  onProgress?: (done: number) => void;
  signal?: AbortSignal;
}

/**
 * Augments one shard in a worker thread of its own: the caller's event loop stays free for
 * heartbeats, and shards augmented at the same time use separate cores. Cancelling the signal
 * asks the thread to stop at its next progress point (its partial output is discarded by the
 * writer's abort); a thread that does not stop within 10 s is terminated.
 */
export function augmentShardInThread(options: ThreadedAugmentOptions): Promise<AugmentShardResult> {
  const workerData: AugmentThreadData = { storeRoot: options.storeRoot, shard: options.shard, config: options.config, lexiconFile: options.lexiconFile };
  const worker = startTsWorker(path.join(__dirname, 'augment-worker.ts'), { workerData });
  return new Promise<AugmentShardResult>((resolve, reject) => {
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = () => {
      worker.postMessage('cancel');
      killTimer = setTimeout(() => finish(() => reject(options.signal?.reason instanceof Error ? options.signal.reason : new Error('augmentation cancelled'))), 10_000);
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: AugmentThreadMessage) => {
      if (m.kind === 'progress') options.onProgress?.(m.done);
      else if (m.kind === 'result') finish(() => resolve(AugmentShardResultSchema.parse(m.result)));
      else {
        const err = m.cancelled && options.signal?.reason instanceof Error ? options.signal.reason : Object.assign(new Error(m.message), { name: m.name });
        finish(() => reject(err));
      }
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`augmentation thread exited with code ${code} before it finished`))));
  });
}
