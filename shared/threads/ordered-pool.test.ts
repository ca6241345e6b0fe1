import { Worker } from 'node:worker_threads';
import { OrderedPool } from './ordered-pool';
import { startThread } from './start-thread';
import * as path from 'node:path';
import { tmpdir } from 'node:os';

const echo = (delayMs: number, failOn?: number) =>
  new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (n) => {
       if (n === ${failOn ?? -1}) throw new Error('boom on ' + n);
       setTimeout(() => parentPort.postMessage(n * 10), ${delayMs} * (n % 3));
     });`,
    { eval: true },
  );

describe('OrderedPool', () => {
  it('answers each job with its own result, whatever the threads take', async () => {
    const pool = new OrderedPool<number, number>([echo(5), echo(1), echo(3)]);
    try {
      const results = await Promise.all(Array.from({ length: 30 }, (_, n) => pool.submit(n)));
      expect(results).toEqual(Array.from({ length: 30 }, (_, n) => n * 10));
    } finally {
      await pool.close();
    }
  });

  it('fails every pending job when a thread dies, and refuses new ones', async () => {
    const pool = new OrderedPool<number, number>([echo(1, 4), echo(1)]);
    try {
      const jobs = Array.from({ length: 8 }, (_, n) => pool.submit(n));
      const settled = await Promise.allSettled(jobs);
      expect(settled.some((s) => s.status === 'rejected')).toBe(true);
      await expect(pool.submit(100)).rejects.toThrow(/boom on 4/);
    } finally {
      await pool.close();
    }
  });
});

describe('startThread', () => {
  it('runs a TypeScript module even when the working directory is elsewhere', async () => {
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      const worker = startThread(path.join(__dirname, '..', 'data', 'prepare-thread.ts'), {
        workerData: { split: { ratios: { train: 1, val: 0, test: 0 }, salt: 's' }, maxLineLength: 1000 },
      });
      const line = '{"id":"a","source":"s","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}\n';
      const buffer = Buffer.from(line);
      const result = await new Promise<{ count: number }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage({ buffer, firstLine: 1 });
      });
      expect(result.count).toBe(1);
      await worker.terminate();
    } finally {
      process.chdir(cwd);
    }
  });
});
