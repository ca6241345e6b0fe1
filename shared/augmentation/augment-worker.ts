// Worker-thread side of AugmentThreadPool: augments shards off the activity worker's event loop
// (the main thread keeps heartbeating), one job at a time, on a core of its own. The PII engine
// and the lexicon are built once per thread and reused for every shard it gets.
import { parentPort } from 'node:worker_threads';
import { LocalArtifactStore } from '../artifacts';
import { AugmentConfigSchema, ShardRefSchema } from '../contracts';
import type { DetectionEngine } from '../safety/engine';
import { createPiiEngine } from '../safety/pii';
import { augmentShard } from './augment';
import { loadAugmentLexicon } from './lexicon';

export interface AugmentJob {
  kind: 'job';
  id: number;
  storeRoot: string;
  shard: unknown;
  config: unknown;
  lexiconFile?: string;
}

export type AugmentThreadMessage =
  | { kind: 'progress'; id: number; done: number }
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; message: string; name: string; cancelled: boolean };

if (parentPort) {
  const port = parentPort;
  let engine: DetectionEngine | undefined;
  const lexicons = new Map<string, ReturnType<typeof loadAugmentLexicon>>();
  const controllers = new Map<number, AbortController>();
  const run = async (job: AugmentJob) => {
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
        store: new LocalArtifactStore(job.storeRoot),
        engine,
        lexicon: lexicon.lexicon,
        lexiconSha256: lexicon.sha256,
        shard: ShardRefSchema.parse(job.shard),
        config: AugmentConfigSchema.parse(job.config),
        signal: controller.signal,
        onProgress: (done) => port.postMessage({ kind: 'progress', id: job.id, done } satisfies AugmentThreadMessage),
      });
    } finally {
      controllers.delete(job.id);
    }
  };
  port.on('message', (m: AugmentJob | { kind: 'cancel'; id: number }) => {
    if (m.kind === 'cancel') {
      controllers.get(m.id)?.abort(new Error('augmentation cancelled'));
      return;
    }
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
