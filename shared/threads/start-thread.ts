import { existsSync } from 'node:fs';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread running a TypeScript module. Pixel runs its TypeScript through tsx
 * (jest through its own transform, which worker threads do not inherit), so the thread
 * registers tsx's CommonJS hook first; a compiled `.js` sibling is used as is when present.
 */
export function startThread(modulePath: string, given: WorkerOptions = {}): Worker {
  // The environment as this module sees it (under jest, the test file's own process.env rather
  // than the process's): a thread opening the artifact store needs the same settings and keys.
  const options: WorkerOptions = { env: process.env, ...given };
  const js = modulePath.replace(/\.ts$/, '.js');
  if (js !== modulePath && existsSync(js)) return new Worker(js, options);
  // Resolved here, not in the thread: the thread would resolve from the working directory.
  const tsx = require.resolve('tsx/cjs/api');
  const bootstrap = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(modulePath)});`;
  return new Worker(bootstrap, { ...options, eval: true });
}
