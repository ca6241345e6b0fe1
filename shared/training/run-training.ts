import * as path from 'node:path';
import { runThread } from '../threads/run-thread';
import type { TrainThreadData, TrainThreadMessage } from './train-thread';

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
  handlers: {
    onStep?: (m: TrainStepMessage) => void;
    onCheckpoint?: (m: TrainCheckpointMessage) => void;
    onLog?: (message: string) => void;
    signal?: AbortSignal;
  } = {},
): { done: Promise<TrainDone>; stop: () => void } {
  const { done, post } = runThread<TrainThreadMessage, TrainDone>(path.join(__dirname, 'train-thread.ts'), data, {
    name: 'training',
    signal: handlers.signal,
    finish: (m) =>
      m.kind === 'done' ? { value: m } : m.kind === 'error' ? { error: new TrainingError(m.message, m.name, m.step, m.lastCheckpoint) } : undefined,
    onMessage: (m) => {
      if (m.kind === 'step') handlers.onStep?.(m);
      else if (m.kind === 'checkpoint') handlers.onCheckpoint?.(m);
      else if (m.kind === 'log') handlers.onLog?.(m.message);
    },
  });
  return { done, stop: () => post('stop') };
}
