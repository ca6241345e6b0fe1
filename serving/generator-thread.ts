// Worker-thread side of `Generator`: onnxruntime's session.run() blocks its thread, so the
// model and the continuous batcher live here and the server's thread stays free for HTTP.
import { parentPort, workerData } from 'node:worker_threads';
import { GeneratorCommandSchema, GeneratorThreadDataSchema, type GeneratorEvent } from '../shared/contracts/serving';
import { openModel } from '../shared/evaluation/generation/engine';
import { ContinuousBatcher } from './batcher';

async function main(port: NonNullable<typeof parentPort>): Promise<void> {
  const data = GeneratorThreadDataSchema.parse(workerData);
  const post = (m: GeneratorEvent) => port.postMessage(m);
  const model = await openModel(data.modelDir, ['cpu'], { cache: 'slots', ...(data.threads ? { threads: data.threads } : {}) });
  const batcher = new ContinuousBatcher(
    model,
    {
      delta: (id, text) => post({ kind: 'delta', id, text }),
      done: (id, finishReason, usage) => post({ kind: 'done', id, finishReason, ...usage }),
      rejected: (id, message) => post({ kind: 'rejected', id, message }),
    },
    { maxBatch: data.maxBatch, ...(data.maxContext ? { maxContext: data.maxContext } : {}) },
  );
  port.on('message', (raw: unknown) => {
    const parsed = GeneratorCommandSchema.safeParse(raw);
    if (!parsed.success) return post({ kind: 'error', message: 'the generation thread got a message it does not know' });
    const m = parsed.data;
    if (m.kind === 'submit') batcher.submit(m.id, m.messages, m.sampling);
    else if (m.kind === 'cancel') batcher.cancel(m.id);
    else batcher.stopWhenIdle();
  });
  post({ kind: 'ready' });
  await batcher.run();
  await model.session.release();
  post({ kind: 'drained' });
}

if (parentPort) {
  const port = parentPort;
  main(port).catch((err: unknown) =>
    port.postMessage({ kind: 'error', message: err instanceof Error ? err.message : String(err) } satisfies GeneratorEvent),
  );
}
