import * as path from 'node:path';
import { startTsWorker } from '../threads/ts-worker';
import type { TrainThreadData, TrainThreadMessage } from './train-worker';

export type TrainDone = Extract<TrainThreadMessage, { kind: 'done' }>;
export type TrainStepMessage = Extract<TrainThreadMessage, { kind: 'step' }>;
export type TrainCheckpointMessage = Extract<TrainThreadMessage, { kind: 'checkpoint' }>;

/** A training failure from the thread, with the step and last good checkpoint when the loss went non-finite. */
export class TrainingError extends Error {
  constructor(
    message: string,
    readonly kind: string,
    readonly step?: number,
    readonly lastCheckpoint?: string,
  ) {
    super(message);
    this.name = kind;
  }
}

/**
 * Runs the training loop in a worker thread of its own and relays what it reports. `stop()`
 * asks it to finish now (keeping its best checkpoint); aborting `signal` asks it to checkpoint
 * and stop (cancellation). The promise settles with the thread's summary or its error.
 */
export function runTrainingInThread(
  data: TrainThreadData,
  handlers: { onStep?: (m: TrainStepMessage) => void; onCheckpoint?: (m: TrainCheckpointMessage) => void; onLog?: (message: string) => void; signal?: AbortSignal } = {},
): { done: Promise<TrainDone>; stop: () => void } {
  const worker = startTsWorker(path.join(__dirname, 'train-worker.ts'), { workerData: data });
  const done = new Promise<TrainDone>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      handlers.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = () => worker.postMessage('cancel');
    if (handlers.signal?.aborted) onAbort();
    else handlers.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: TrainThreadMessage) => {
      if (m.kind === 'step') handlers.onStep?.(m);
      else if (m.kind === 'checkpoint') handlers.onCheckpoint?.(m);
      else if (m.kind === 'log') handlers.onLog?.(m.message);
      else if (m.kind === 'done') finish(() => resolve(m));
      else finish(() => reject(new TrainingError(m.message, m.name, m.step, m.lastCheckpoint)));
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`training thread exited with code ${code}`))));
  });
  return { done, stop: () => worker.postMessage('stop') };
}
