/**
 * Pixel's train-step binding (native/pixel_ort.c, built by scripts/build-native.sh into
 * build/native/pixel_ort.node): onnxruntime sessions run through onnxruntime's C API with every
 * output written straight into the caller's typed arrays. onnxruntime-node writes pre-allocated
 * outputs in place too but then copies each into a new JS buffer, which for a train step is a
 * copy of every gradient (55 MB at 13.7M parameters) every step; this binding never copies. It
 * loads the libonnxruntime that onnxruntime-node ships, so kernels, options and results are the
 * same (the tests check the losses and weights to the bit).
 *
 * Used for train steps with AdamW on the host (the trainer and the train-step benchmarks), on the
 * CPU. Where the binding is not built (no C compiler, not Linux), or PIXEL_NATIVE_STEP=0, the
 * trainer uses onnxruntime-node's binding instead.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type * as ort from 'onnxruntime-node';

type NativeArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;
/** A tensor as the binding takes it: name, data (its memory is read or written in place), dims. */
export type NativeTensor = [name: string, data: NativeArray, dims: readonly number[]];

interface Binding {
  init(libraryPath: string): void;
  createSession(model: string | Uint8Array, threads: number, spinning: boolean, prepacking: boolean): object;
  run(session: object, inputs: NativeTensor[], outputs: NativeTensor[]): void;
  release(session: object): void;
}

/** Where scripts/build-native.sh puts the binding. */
export const NATIVE_BINDING_PATH = path.resolve(__dirname, '..', '..', 'build', 'native', 'pixel_ort.node');

let loaded: { binding?: Binding; reason?: string } | undefined;

/**
 * The binding, loaded once per thread, or why not: not built, switched off, or a load failure
 * (whose message says what went wrong).
 */
export function nativeBinding(): { binding?: Binding; reason?: string } {
  if (loaded) return loaded;
  if (process.env.PIXEL_NATIVE_STEP === '0') return (loaded = { reason: 'switched off (PIXEL_NATIVE_STEP=0)' });
  if (process.platform !== 'linux') return (loaded = { reason: `not built for ${process.platform}` });
  if (!existsSync(NATIVE_BINDING_PATH)) return (loaded = { reason: `not built (${NATIVE_BINDING_PATH}; run scripts/build-native.sh)` });
  const library = path.join(
    path.dirname(require.resolve('onnxruntime-node/package.json')),
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
    'libonnxruntime.so.1',
  );
  if (!existsSync(library)) return (loaded = { reason: `onnxruntime-node ships no ${library}` });
  try {
    const binding = require(NATIVE_BINDING_PATH) as Binding;
    binding.init(library);
    return (loaded = { binding });
  } catch (err) {
    return (loaded = { reason: `failed to load: ${(err as Error).message.split('\n')[0]}` });
  }
}

/** A session of the train-step binding. */
export class NativeSession {
  private constructor(
    private readonly binding: Binding,
    private handle: object | undefined,
  ) {}

  /**
   * Opens a model (a file, whose external data files are found beside it, or its bytes) with the
   * trainer's options: `threads` intra-op threads, spinning between nodes, and weight prepacking
   * unless `prepacking` is false. Undefined where the binding is not available.
   */
  static open(model: string | Uint8Array, o: { threads: number; prepacking?: boolean }): NativeSession | undefined {
    const { binding } = nativeBinding();
    if (!binding) return undefined;
    return new NativeSession(binding, binding.createSession(model, o.threads, true, o.prepacking !== false));
  }

  /** Runs the session: `outputs` are written in place (each must have the output's exact size). */
  run(inputs: NativeTensor[], outputs: NativeTensor[]): void {
    if (!this.handle) throw new Error('the train-step session was released');
    this.binding.run(this.handle, inputs, outputs);
  }

  async release(): Promise<void> {
    if (this.handle) this.binding.release(this.handle);
    this.handle = undefined;
  }
}

/** onnxruntime-node tensors as the binding's triples (their data is read in place). */
export function nativeTensors(feeds: Record<string, ort.Tensor>): NativeTensor[] {
  return Object.entries(feeds).map(([name, t]) => [name, t.data as NativeArray, t.dims]);
}
