import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Message } from '../shared/contracts';
import type { GeneratorCommand, GeneratorEvent, GeneratorThreadData } from '../shared/contracts/serving';
import { startThread } from '../shared/threads/start-thread';
import type { FinishReason, RequestSampling } from './batcher';

/** A request the model cannot take (its messages and max tokens do not fit the context): a 400. */
export class ContextLengthError extends Error {
  override name = 'ContextLengthError';
}

export interface Completion {
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

interface InFlight {
  onDelta: (text: string) => void;
  resolve: (c: Completion) => void;
  reject: (err: Error) => void;
}

/**
 * One model version in a generation thread of its own (continuous batching, see
 * `ContinuousBatcher`). `drain` lets the requests it holds finish, then ends the thread.
 */
export class Generator {
  private readonly inFlight = new Map<string, InFlight>();
  private failed?: Error;
  private drained?: Promise<void>;
  private onDrained?: () => void;

  private constructor(
    private readonly worker: Worker,
    readonly version: string,
  ) {}

  /** Starts the thread and waits until the model is loaded. */
  static start(version: string, data: GeneratorThreadData): Promise<Generator> {
    const worker = startThread(path.join(__dirname, 'generator-thread.ts'), { workerData: data, name: `generator ${version}` });
    return new Promise((resolve, reject) => {
      let generator: Generator | undefined;
      const fail = (err: Error) => {
        if (!generator) reject(err);
        else generator.fail(err);
      };
      worker.on('message', (m: GeneratorEvent) => {
        if (m.kind === 'ready') {
          generator = new Generator(worker, version);
          resolve(generator);
        } else if (m.kind === 'error') fail(new Error(`model ${version}: ${m.message}`));
        else generator?.handle(m);
      });
      worker.on('error', (err) => fail(err));
      worker.on('exit', (code) => {
        if (code !== 0 || !generator?.drained) fail(new Error(`the generation thread of model ${version} exited with code ${code}`));
      });
    });
  }

  get healthy(): boolean {
    return !this.failed;
  }

  /** Whether `drain` was called: the generator takes no new request. */
  get draining(): boolean {
    return this.drained !== undefined;
  }

  private post(m: GeneratorCommand): void {
    this.worker.postMessage(m);
  }

  private handle(m: GeneratorEvent): void {
    if (m.kind === 'drained') {
      this.onDrained?.();
      return;
    }
    if (!('id' in m)) return;
    const r = this.inFlight.get(m.id);
    if (!r) return;
    if (m.kind === 'delta') r.onDelta(m.text);
    else if (m.kind === 'done') {
      this.inFlight.delete(m.id);
      r.resolve({ finishReason: m.finishReason, promptTokens: m.promptTokens, completionTokens: m.completionTokens });
    } else if (m.kind === 'rejected') {
      this.inFlight.delete(m.id);
      r.reject(new ContextLengthError(m.message));
    }
  }

  private fail(err: Error): void {
    this.failed = err;
    for (const r of this.inFlight.values()) r.reject(err);
    this.inFlight.clear();
    this.onDrained?.();
  }

  /** Generates a reply; `onDelta` gets its text as it comes. Aborting `signal` ends it early (`cancelled`). */
  generate(id: string, messages: Message[], sampling: RequestSampling, onDelta: (text: string) => void, signal?: AbortSignal): Promise<Completion> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.drained) return Promise.reject(new Error(`model ${this.version} is being unloaded`));
    return new Promise((resolve, reject) => {
      this.inFlight.set(id, { onDelta, resolve, reject });
      this.post({ kind: 'submit', id, messages, sampling });
      signal?.addEventListener('abort', () => this.post({ kind: 'cancel', id }), { once: true });
    });
  }

  /** Finishes the requests in flight (no new ones may come), then ends the thread; after `timeoutMs` it is ended anyway. */
  drain(timeoutMs = 120_000): Promise<void> {
    if (!this.drained) {
      this.drained = new Promise<void>((resolve) => {
        this.onDrained = resolve;
        setTimeout(resolve, timeoutMs).unref();
      }).then(() => this.worker.terminate().then(() => undefined));
      if (this.failed) this.onDrained?.();
      else this.post({ kind: 'drain' });
    }
    return this.drained;
  }
}

/**
 * The model the server answers with, switched atomically: a new version is loaded in a thread of
 * its own while the old one keeps serving, then new requests go to it and the old one drains.
 */
export class ModelHost {
  private active?: Generator;
  private switching?: Promise<void>;

  constructor(
    private readonly options: {
      maxBatch: number;
      threads?: number;
      maxContext?: number;
      prefill?: 'int8' | 'float32';
      log?: (line: Record<string, unknown>) => void;
    },
  ) {}

  get current(): Generator | undefined {
    return this.active;
  }

  /** Loads `version` from `modelDir` and makes it current; the previous version finishes its requests. */
  async load(version: string, modelDir: string): Promise<void> {
    const previous = this.switching ?? Promise.resolve();
    const next = previous.then(async () => {
      if (this.active?.version === version && this.active.healthy) return;
      const started = Date.now();
      const generator = await Generator.start(version, {
        modelDir,
        maxBatch: this.options.maxBatch,
        ...(this.options.threads ? { threads: this.options.threads } : {}),
        ...(this.options.maxContext ? { maxContext: this.options.maxContext } : {}),
        ...(this.options.prefill ? { prefill: this.options.prefill } : {}),
      });
      const old = this.active;
      this.active = generator;
      this.options.log?.({ event: 'model_loaded', version, previous: old?.version ?? null, ms: Date.now() - started });
      if (old) void old.drain();
    });
    this.switching = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.switching;
    await this.active?.drain();
    this.active = undefined;
  }
}
