// Worker-thread side of AugmentThreadPool: augments shards off the activity worker's event loop
// (the main thread keeps heartbeating), one job at a time, on a core of its own. The PII engine
// and the lexicon are built once per thread and reused for every shard it gets.
import { parentPort } from 'node:worker_threads';
import { z } from 'zod';
import { StoreLocationSchema, openArtifactStore } from '../artifacts';
import { AugmentConfigSchema, ShardRefSchema, describeZodError } from '../contracts';
import type { DetectionEngine } from '../safety/engine';
import { createPiiEngine } from '../safety/pii';
import { augmentShard } from './augment';
import { loadAugmentLexicon } from './lexicon';

/** One shard to augment; parsed when the thread receives it, never cast. */
export const AugmentJobSchema = z
  .object({
    kind: z.literal('job'),
    id: z.number().int().min(0),
    /** The artifact store the caller uses, opened here too. */
    store: StoreLocationSchema,
    shard: ShardRefSchema,
    config: AugmentConfigSchema,
    lexiconFile: z.string().min(1).optional(),
  })
  .strict();
export type AugmentJob = z.input<typeof AugmentJobSchema>;
const CancelSchema = z.object({ kind: z.literal('cancel'), id: z.number().int() }).strict();

export type AugmentThreadMessage =
  | { kind: 'progress'; id: number; done: number }
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; message: string; name: string; cancelled: boolean };

if (parentPort) {
  const port = parentPort;
  let engine: DetectionEngine | undefined;
  const lexicons = new Map<string, ReturnType<typeof loadAugmentLexicon>>();
  const controllers = new Map<number, AbortController>();
  const run = async (job: z.output<typeof AugmentJobSchema>) => {
    engine ??= createPiiEngine();
    const key = job.lexiconFile ?? '';
    let lexicon = lexicons.get(key);
    if (!lexicon) {
      lexicon = loadAugmentLexicon(job.lexiconFile);
      lexicons.set(key, lexicon);
    }
    const controller = new AbortController();
    controllers.set(job.id, controller);
    try {
      return await augmentShard({
        store: openArtifactStore(job.store),
        engine,
        lexicon: lexicon.lexicon,
        lexiconSha256: lexicon.sha256,
        shard: job.shard,
        config: job.config,
        signal: controller.signal,
        onProgress: (done) => port.postMessage({ kind: 'progress', id: job.id, done } satisfies AugmentThreadMessage),
      });
    } finally {
      controllers.delete(job.id);
    }
  };
  port.on('message', (message: unknown) => {
    const cancel = CancelSchema.safeParse(message);
    if (cancel.success) {
      controllers.get(cancel.data.id)?.abort(new Error('augmentation cancelled'));
      return;
    }
    const parsed = AugmentJobSchema.safeParse(message);
    if (!parsed.success) {
      const id = typeof (message as { id?: unknown })?.id === 'number' ? (message as { id: number }).id : -1;
      port.postMessage({
        kind: 'error',
        id,
        message: describeZodError('augmentation job', parsed.error),
        name: 'ZodError',
        cancelled: false,
      } satisfies AugmentThreadMessage);
      return;
    }
    const m = parsed.data;
    run(m).then(
      (result) => port.postMessage({ kind: 'result', id: m.id, result } satisfies AugmentThreadMessage),
      (err: unknown) =>
        port.postMessage({
          kind: 'error',
          id: m.id,
          message: err instanceof Error ? err.message : String(err),
          name: err instanceof Error ? err.name : 'Error',
          cancelled: controllers.get(m.id)?.signal.aborted ?? /cancelled/.test(String(err)),
        } satisfies AugmentThreadMessage),
    );
  });
}
