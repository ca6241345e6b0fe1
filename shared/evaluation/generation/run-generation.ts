import * as path from 'node:path';
import { runThread } from '../../threads/run-thread';
import type { GenerationThreadData, GenerationThreadMessage } from './generate-thread';

export type GenerationDone = Extract<GenerationThreadMessage, { kind: 'done' }>;
export type GenerationProgress = Extract<GenerationThreadMessage, { kind: 'progress' }>;

/**
 * Generates responses for the prompts and scores the loss records with one model, in a worker
 * thread of its own. Aborting `signal` stops it between batches (the promise rejects).
 */
export function runGenerationInThread(
  data: GenerationThreadData,
  handlers: { onProgress?: (m: GenerationProgress) => void; signal?: AbortSignal } = {},
): Promise<GenerationDone> {
  return runThread<GenerationThreadMessage, GenerationDone>(path.join(__dirname, 'generate-thread.ts'), data, {
    name: 'generation',
    signal: handlers.signal,
    finish: (m) =>
      m.kind === 'done' ? { value: m } : m.kind === 'error' ? { error: Object.assign(new Error(m.message), { name: m.name }) } : undefined,
    onMessage: (m) => {
      if (m.kind === 'progress') handlers.onProgress?.(m);
    },
  }).done;
}
