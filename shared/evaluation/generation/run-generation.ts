import * as path from 'node:path';
import { startTsWorker } from '../../threads/ts-worker';
import type { GenerationThreadData, GenerationThreadMessage } from './generate-worker';

export type GenerationDone = Extract<GenerationThreadMessage, { kind: 'done' }>;
export type GenerationProgress = Extract<GenerationThreadMessage, { kind: 'progress' }>;

/**
 * Generates responses for the prompts and scores the loss records with one model, in a worker
 * thread of its own. Aborting `signal` stops it between batches (the promise rejects).
 */
export function runGenerationInThread(data: GenerationThreadData, handlers: { onProgress?: (m: GenerationProgress) => void; signal?: AbortSignal } = {}): Promise<GenerationDone> {
  const worker = startTsWorker(path.join(__dirname, 'generate-worker.ts'), { workerData: data });
  return new Promise<GenerationDone>((resolve, reject) => {
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
    worker.on('message', (m: GenerationThreadMessage) => {
      if (m.kind === 'progress') handlers.onProgress?.(m);
      else if (m.kind === 'done') finish(() => resolve(m));
      else finish(() => reject(Object.assign(new Error(m.message), { name: m.name })));
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`generation thread exited with code ${code}`))));
  });
}
