// Worker-thread side of `Generator`: onnxruntime's session.run() blocks its thread, so the
// model and the continuous batcher live here and the server's thread stays free for HTTP.
import { parentPort, workerData } from 'node:worker_threads';
import { GeneratorCommandSchema, GeneratorThreadDataSchema, type GeneratorEvent } from '../shared/contracts/serving';
import { openModel, PREFILL_INT8 } from '../shared/evaluation/generation/engine';
import { ContinuousBatcher } from './batcher';

async function main(port: NonNullable<typeof parentPort>): Promise<void> {
  const data = GeneratorThreadDataSchema.parse(workerData);
  const post = (m: GeneratorEvent) => port.postMessage(m);
  const threads = data.threads ? { threads: data.threads } : {};
  const model = await openModel(data.modelDir, ['cpu'], { cache: 'slots', ...threads });
  // int8 prefills run in a session of their own, with onnxruntime's fused attention kernel (the
  // slots graph's attention, built for decode steps over a shared buffer, costs more on a whole
  // prompt) where the model allows it; its threads sleep between runs, as they share the cores
  // with the decode steps'. float32 prefills run in the decode session (one copy of the weights).
  const prefillModel =
    (data.prefill ?? 'int8') === 'int8'
      ? await openModel(data.modelDir, ['cpu'], { cache: 'fused', fallback: 'slots', spinning: false, quantize: PREFILL_INT8, ...threads })
      : undefined;
  const batcher = new ContinuousBatcher(
    model,
    {
      delta: (id, text) => post({ kind: 'delta', id, text }),
      done: (id, finishReason, usage) => post({ kind: 'done', id, finishReason, ...usage }),
      rejected: (id, message) => post({ kind: 'rejected', id, message }),
    },
    { maxBatch: data.maxBatch, ...(data.maxContext ? { maxContext: data.maxContext } : {}), ...(prefillModel ? { prefillModel } : {}) },
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
  await prefillModel?.session.release();
  post({ kind: 'drained' });
}

if (parentPort) {
  const port = parentPort;
  main(port).catch((err: unknown) =>
    port.postMessage({ kind: 'error', message: err instanceof Error ? err.message : String(err) } satisfies GeneratorEvent),
  );
}
