import { startThread } from './start-thread';

/** What a thread posts: a kind, and either one of the final kinds or a report along the way. */
export interface ThreadMessage {
  kind: string;
}

/**
 * Runs a TypeScript module in a worker thread of its own and relays its messages. The thread
 * ends with a message that `finish` turns into the result (`{ value }`) or a failure
 * (`{ error }`); any other message goes to `onMessage`. Aborting `signal` posts `'cancel'` to
 * the thread, which decides how to stop. The thread is terminated once the promise settles.
 */
export function runThread<M extends ThreadMessage, R>(
  modulePath: string,
  workerData: unknown,
  options: { finish: (m: M) => { value: R } | { error: Error } | undefined; onMessage?: (m: M) => void; signal?: AbortSignal; name: string },
): { done: Promise<R>; post: (message: string) => void } {
  const worker = startThread(modulePath, { workerData });
  const done = new Promise<R>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = () => worker.postMessage('cancel');
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: M) => {
      const end = options.finish(m);
      if (!end) options.onMessage?.(m);
      else if ('value' in end) settle(() => resolve(end.value));
      else settle(() => reject(end.error));
    });
    worker.on('error', (err) => settle(() => reject(err)));
    worker.on('exit', (code) => settle(() => reject(new Error(`${options.name} thread exited with code ${code}`))));
  });
  return { done, post: (message) => worker.postMessage(message) };
}
