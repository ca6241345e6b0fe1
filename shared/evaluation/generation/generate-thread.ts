// Worker-thread side of runGenerationInThread: onnxruntime's session.run() blocks its thread,
// so generation and scoring run here and the activity's thread keeps heartbeating.
import { parentPort, workerData } from 'node:worker_threads';
import { SamplingConfigSchema, type ExampleLoss, type GeneratedResponse, type Message } from '../../contracts';
import { conversationLosses, generateResponses, openModel } from './engine';

export interface GenerationThreadData {
  modelDir: string;
  executionProviders: string[];
  prompts: { id: string; messages: Message[] }[];
  sampling: unknown;
  lossRecords: { id: string; messages: Message[] }[];
}

export type GenerationThreadMessage =
  | { kind: 'progress'; phase: 'generate' | 'loss'; done: number; total: number }
  | { kind: 'done'; responses: GeneratedResponse[]; losses: ExampleLoss[]; executionProvider: string }
  | { kind: 'error'; message: string; name: string };

async function main(data: GenerationThreadData, port: NonNullable<typeof parentPort>): Promise<void> {
  let cancelled = false;
  port.on('message', (m) => {
    if (m === 'cancel') cancelled = true;
  });
  const sampling = SamplingConfigSchema.parse(data.sampling);
  const model = await openModel(data.modelDir, data.executionProviders);
  const post = (m: GenerationThreadMessage) => port.postMessage(m);
  const responses = await generateResponses(
    model,
    data.prompts,
    sampling,
    (done) => post({ kind: 'progress', phase: 'generate', done, total: data.prompts.length }),
    () => cancelled,
  );
  const losses = await conversationLosses(
    model,
    data.lossRecords,
    8,
    (done) => post({ kind: 'progress', phase: 'loss', done, total: data.lossRecords.length }),
    () => cancelled,
  );
  await model.session.release();
  post({ kind: 'done', responses, losses, executionProvider: model.executionProvider });
}

if (parentPort) {
  const port = parentPort;
  main(workerData as GenerationThreadData, port).catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ kind: 'error', message: e.message, name: e.name } satisfies GenerationThreadMessage);
  });
}
