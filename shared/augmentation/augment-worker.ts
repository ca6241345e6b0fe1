// Worker-thread side of augmentShardInThread: augments one shard off the activity worker's
// event loop (the main thread keeps heartbeating) and on a core of its own.
import { parentPort, workerData } from 'node:worker_threads';
import { LocalArtifactStore } from '../artifacts';
import { AugmentConfigSchema, ShardRefSchema } from '../contracts';
import { createPiiEngine } from '../safety/pii';
import { augmentShard } from './augment';
import { loadAugmentLexicon } from './lexicon';

export interface AugmentThreadData {
  storeRoot: string;
  shard: unknown;
  config: unknown;
  lexiconFile?: string;
}

export type AugmentThreadMessage =
  | { kind: 'progress'; done: number }
  | { kind: 'result'; result: unknown }
  | { kind: 'error'; message: string; name: string; cancelled: boolean };

const data = workerData as AugmentThreadData | null;
if (parentPort && data) {
  const port = parentPort;
  const controller = new AbortController();
  port.on('message', (m: unknown) => {
    if (m === 'cancel') controller.abort(new Error('augmentation cancelled'));
  });
  const run = async () => {
    const { lexicon, sha256 } = loadAugmentLexicon(data.lexiconFile);
    return augmentShard({
      store: new LocalArtifactStore(data.storeRoot),
      engine: createPiiEngine(),
      lexicon,
      lexiconSha256: sha256,
      shard: ShardRefSchema.parse(data.shard),
      config: AugmentConfigSchema.parse(data.config),
      signal: controller.signal,
      onProgress: (done) => port.postMessage({ kind: 'progress', done } satisfies AugmentThreadMessage),
    });
  };
  run().then(
    (result) => port.postMessage({ kind: 'result', result } satisfies AugmentThreadMessage),
    (err: unknown) =>
      port.postMessage({
        kind: 'error',
        message: err instanceof Error ? err.message : String(err),
        name: err instanceof Error ? err.name : 'Error',
        cancelled: controller.signal.aborted,
      } satisfies AugmentThreadMessage),
  );
}
