import type { TransferListItem, Worker } from 'node:worker_threads';

interface Pending<R> {
  resolve: (value: R) => void;
  reject: (err: Error) => void;
}

/**
 * Worker threads that each answer their messages in the order they get them. Jobs go
 * round-robin and each `submit` resolves with its own job's answer, so a caller that awaits in
 * submission order sees the same sequence as a sequential run, whatever the timing. A thread
 * that errors or exits early fails every pending job.
 */
export class OrderedPool<T, R> {
  private next = 0;
  private readonly queues: Pending<R>[][];
  private failure: Error | undefined;
  private closing = false;

  constructor(private readonly workers: Worker[]) {
    this.queues = workers.map(() => []);
    workers.forEach((worker, i) => {
      const queue = this.queues[i] as Pending<R>[];
      worker.on('message', (result: R) => queue.shift()?.resolve(result));
      worker.on('error', (err: Error) => this.fail(err));
      worker.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`worker thread ${i} exited unexpectedly (code ${code})`));
      });
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const queue of this.queues) for (const pending of queue.splice(0)) pending.reject(err);
  }

  /** Sends one job, moving `transfer` to the thread; resolves with the job's answer. */
  submit(job: T, transfer: readonly TransferListItem[] = []): Promise<R> {
    if (this.failure) return Promise.reject(this.failure);
    const i = this.next;
    this.next = (this.next + 1) % this.workers.length;
    return new Promise<R>((resolve, reject) => {
      (this.queues[i] as Pending<R>[]).push({ resolve, reject });
      (this.workers[i] as Worker).postMessage(job, transfer);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
