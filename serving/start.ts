import type { ArtifactStore } from '../shared/artifacts';
import { modelFolder } from '../shared/evaluation/evaluate-model';
import { ModelRegistry } from '../shared/model-registry/model-registry';
import { createPiiEngine } from '../shared/safety/pii';
import type { Message } from '../shared/contracts';
import { generateConversation } from '../shared/data';
import { CrisisScreen } from '../shared/safety/learned/screen';
import { sharedPersonTagger } from '../shared/safety/pii/rampart';
import { ModelHost } from './generator';
import { Guardrails } from './guardrails';
import { ServingServer, type ServingOptions } from './server';

export interface StartServingOptions extends Partial<Omit<ServingOptions, 'host' | 'guardrails' | 'log'>> {
  hostname?: string;
  port?: number;
  /** Serve this model folder under this version id instead of the registry's current model. */
  model?: { version: string; dir: string };
  /** The artifact store whose registry is followed (promotions reach the server within `pollMs`). */
  store?: ArtifactStore;
  pollMs?: number;
  crisisModel?: 'learned' | 'rules';
  personModel?: 'learned' | 'rules';
  threads?: number;
  /** Prompt and reply tokens per request at most (default 4,096; the model's own positions if fewer). */
  maxContext?: number;
  /** Prompts' prefills in int8 (default: integer products, about 1.5 times faster; decode stays float32) or float32. */
  prefill?: 'int8' | 'float32';
  /** Sentence-encoder threads of the crisis guardrail (default 2, or PIXEL_ENCODER_THREADS). */
  encoderThreads?: number;
  /** Run the guardrails over synthetic conversations before listening (default true). */
  warmUp?: boolean;
  log?: ServingOptions['log'];
}

/** Synthetic conversations (the project's own generator: crisis, PII, names) the guardrails are warmed up on. */
function warmUpConversations(): Message[][] {
  return Array.from({ length: 24 }, (_, i) => generateConversation(i, { seed: 0x5e7e, crisisShare: 0.3, piiShare: 0.5 }).messages);
}

export interface RunningServer {
  server: ServingServer;
  host: ModelHost;
  port: number;
  url: string;
  /** Graceful shutdown (requests in progress finish first). */
  close(graceMs?: number): Promise<void>;
}

/** Keeps the host on the registry's current model: checks `current.json` every `pollMs`. */
export function followRegistry(
  store: ArtifactStore,
  host: ModelHost,
  log: ServingOptions['log'],
  pollMs: number,
): { first: Promise<void>; stop: () => void } {
  const registry = new ModelRegistry(store);
  let lastError = '';
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    try {
      const entry = await registry.current();
      if (!entry) throw new Error('no model has been promoted yet (pixel run, or pixel serve --model DIR)');
      // A version whose generation thread died is loaded again.
      if (host.current?.version !== entry.version || !host.current.healthy)
        await host.load(entry.version, await modelFolder(store, entry.modelUri, 'the promoted model'));
      lastError = '';
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== lastError) log({ event: 'registry_error', message });
      lastError = message;
    }
  };
  const loop = async () => {
    await check();
    if (!stopped) timer = setTimeout(() => void loop(), pollMs);
  };
  return {
    first: loop(),
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** Starts the serving API: guardrail models, the model host, the HTTP server, and the registry follower. */
export async function startServing(o: StartServingOptions): Promise<RunningServer> {
  const log = o.log ?? ((line: Record<string, unknown>) => console.log(JSON.stringify({ ts: new Date().toISOString(), ...line })));
  if (!o.model && !o.store) throw new Error('serving needs a model folder or an artifact store with a promoted model');
  const engine = createPiiEngine();
  // The server's own screen: its encoder waits on one request's turns, so it gets two threads
  // unless PIXEL_ENCODER_THREADS says otherwise (the safety stage's one thread is cheapest per text, not fastest).
  const screen =
    (o.crisisModel ?? 'learned') === 'learned'
      ? await CrisisScreen.open(process.env.PIXEL_ENCODER_THREADS ? {} : { threads: o.encoderThreads ?? 2 })
      : CrisisScreen.rules();
  const persons = (o.personModel ?? 'learned') === 'learned' ? await sharedPersonTagger() : undefined;
  const guardrails = new Guardrails(engine, screen, persons);
  if (o.warmUp !== false) await guardrails.warmUp(warmUpConversations());
  const maxBatch = o.maxBatch ?? 8;
  const host = new ModelHost({
    maxBatch,
    maxContext: o.maxContext ?? 4096,
    ...(o.threads ? { threads: o.threads } : {}),
    ...(o.prefill ? { prefill: o.prefill } : {}),
    log,
  });
  const server = new ServingServer({
    host,
    guardrails,
    maxBatch,
    maxQueue: o.maxQueue ?? 32,
    maxTokens: o.maxTokens ?? 512,
    defaultMaxTokens: o.defaultMaxTokens ?? 256,
    timeoutMs: o.timeoutMs ?? 120_000,
    maxBodyBytes: o.maxBodyBytes ?? 1024 * 1024,
    apiKeys: o.apiKeys ?? [],
    aliases: o.aliases ?? ['pixel'],
    log,
  });
  let follower: ReturnType<typeof followRegistry> | undefined;
  if (o.model) await host.load(o.model.version, o.model.dir);
  else {
    follower = followRegistry(o.store as ArtifactStore, host, log, o.pollMs ?? 2000);
    await follower.first;
  }
  const hostname = o.hostname ?? '127.0.0.1';
  let port: number;
  try {
    port = await server.listen(o.port ?? 0, hostname);
  } catch (err) {
    follower?.stop();
    await host.close();
    throw err;
  }
  log({ event: 'listening', host: hostname, port, model: host.current?.version ?? null });
  return {
    server,
    host,
    port,
    url: `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`,
    close: async (graceMs?: number) => {
      follower?.stop();
      await server.close(graceMs);
      await screen.dispose();
    },
  };
}
