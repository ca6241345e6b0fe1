/**
 * AdamW on the host, in one pass: the train-step graph gives the gradients (and their global
 * norm), and this updates every parameter and both moments in place with a WebAssembly SIMD
 * kernel, reading each number once.
 *
 * Why not in the graph: onnxruntime's CPU provider has no fused optimizer op, so AdamW in ONNX is
 * about fourteen element-wise passes over every parameter-sized tensor, and the new parameters and
 * moments (three parameter-sized outputs) are copied into new JS buffers every step by
 * onnxruntime-node. Measured on the 13.7M model's full step (batch 8 x 64, 2 cores): the graph's
 * AdamW about 80 ms and the copies about 60 ms; this kernel takes 16 ms and only the gradients
 * cross (see README, "Train-step speed").
 *
 * The state (parameter, first and second moment, gradient of each trainable tensor) lives in one
 * WebAssembly memory; the trainer hands onnxruntime views of it (parameters as inputs, read in
 * place; gradients as pre-allocated outputs, written in place where the binding supports it).
 * A 32-bit memory holds at most 4 GiB, so this serves up to {@link HOST_OPTIMIZER_MAX_PARAMS}
 * trainable numbers; larger full fine-tunes keep AdamW in the graph.
 */
import * as ort from 'onnxruntime-node';
import type { AdamWSpec } from '../contracts/model-artifacts';

// The few WebAssembly JS API members used here (the project's lib and @types/node 20 declare none).
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> };
};

/** Bytes of state per trainable number: parameter, two moments, gradient (float32 each). */
const BYTES_PER_PARAM = 16;
const PAGE = 65536;
/** What the memory may hold: 4 GiB less a page (V8's 32-bit limit), less slack for the 16-byte padding of each tensor. */
const MAX_STATE_BYTES = 4 * 2 ** 30 - PAGE - (1 << 20);
/** The most trainable numbers the host optimizer serves (about 268M). */
export const HOST_OPTIMIZER_MAX_PARAMS = Math.floor(MAX_STATE_BYTES / BYTES_PER_PARAM);

/** Whether these trainable tensors fit the host optimizer (each padded to whole 16-byte groups). */
export function hostOptimizerFits(tensors: readonly { shape: readonly number[] }[]): boolean {
  return stateBytes(tensors) <= MAX_STATE_BYTES;
}

const padded = (n: number) => Math.ceil(n / 4) * 4;
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const stateBytes = (tensors: readonly { shape: readonly number[] }[]) =>
  tensors.reduce((sum, t) => sum + padded(numel(t.shape)) * BYTES_PER_PARAM, 0);

// ---------------------------------------------------------------------------------------------
// The kernel, as a WebAssembly module written here byte by byte (no toolchain at build time).
// adamw(p, m, v, g, groups, b1, b2, a1, a2, stepSize, invCorrection2, eps, keep): for each of
// `groups` groups of four float32 at byte offsets p, m, v, g (16-byte aligned):
//   m = b1 m + a1 g;   v = b2 v + a2 g g;   p = p keep - m / (sqrt(v) invCorrection2 + eps) stepSize

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
};
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
/** SIMD opcodes (prefix 0xfd) of the WebAssembly 2.0 spec. */
const SIMD = { load: 0x00, store: 0x0b, splat: 0x13, sqrt: 0xe3, add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7 } as const;

function kernelBytes(): Uint8Array {
  const params = [I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32];
  // Parameters are locals 0-12 in this order; the function's own locals follow.
  const [P, M, V, G, GROUPS] = [0, 1, 2, 3, 4] as const;
  let next = params.length;
  const local = () => next++;
  const i = local();
  const offset = local();
  // The eight float parameters (locals 5-12), each splat into a vector local once.
  const [vB1, vB2, vA1, vA2, vStep, vIC, vEps, vKeep] = [local(), local(), local(), local(), local(), local(), local(), local()] as const;
  const splats = [vB1, vB2, vA1, vA2, vStep, vIC, vEps, vKeep].map((vec, k) => ({ scalar: 5 + k, vec }));
  const gi = local();
  const mi = local();
  const vi = local();
  const get = (x: number) => [0x20, ...uleb(x)];
  const set = (x: number) => [0x21, ...uleb(x)];
  const tee = (x: number) => [0x22, ...uleb(x)];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const memarg = [4, 0]; // 16-byte alignment (2^4), offset 0
  const at = (base: number) => [...get(base), ...get(offset), 0x6a]; // base + offset (i32.add)
  const load = (base: number) => [...at(base), ...simd(SIMD.load), ...memarg];
  // Expression builders: each gives the bytes that leave its value on the stack.
  const binary = (op: number) => (x: number[], y: number[]) => [...x, ...y, ...simd(op)];
  const [add, sub, mul, div] = [binary(SIMD.add), binary(SIMD.sub), binary(SIMD.mul), binary(SIMD.div)];
  const sqrt = (x: number[]) => [...x, ...simd(SIMD.sqrt)];
  /** Stores `value` at base + offset, keeping it in `keep` when given. */
  const store = (base: number, value: number[], keep?: number) => [
    ...at(base),
    ...value,
    ...(keep === undefined ? [] : tee(keep)),
    ...simd(SIMD.store),
    ...memarg,
  ];
  const body = [
    ...splats.flatMap((s) => [...get(s.scalar), ...simd(SIMD.splat), ...set(s.vec)]),
    ...[0x02, 0x40, 0x03, 0x40], // block, loop
    ...[...get(i), ...get(GROUPS), 0x4f, 0x0d, 1], // i >= groups (i32.ge_u): br_if to the block's end
    ...[...get(i), 0x41, 4, 0x74, ...set(offset)], // offset = i << 4
    ...load(G),
    ...set(gi),
    // m = b1 m + a1 g;  v = b2 v + a2 g g;  p = p keep - m / (sqrt(v) ic + eps) stepSize
    ...store(M, add(mul(load(M), get(vB1)), mul(get(gi), get(vA1))), mi),
    ...store(V, add(mul(load(V), get(vB2)), mul(mul(get(gi), get(gi)), get(vA2))), vi),
    ...store(P, sub(mul(load(P), get(vKeep)), mul(div(get(mi), add(mul(sqrt(get(vi)), get(vIC)), get(vEps))), get(vStep)))),
    ...[...get(i), 0x41, 1, 0x6a, ...set(i)], // i += 1
    ...[0x0c, 0], // br to the loop's start
    ...[0x0b, 0x0b, 0x0b], // end loop, block, function
  ];
  const locals = vector([
    [...uleb(2), I32],
    [...uleb(splats.length + 3), V128],
  ]);
  const code = [...locals, ...body];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
    ...section(1, vector([[0x60, ...vector(params.map((t) => [t])), 0]])), // type: (params) -> ()
    ...section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x00, ...uleb(1)]])), // import env.memory (min 1 page)
    ...section(3, vector([[0]])), // one function of type 0
    ...section(7, vector([[...name('adamw'), 0x00, 0]])), // export it
    ...section(10, vector([[...uleb(code.length), ...code]])),
  ]);
}

let compiled: object | undefined;
const kernelModule = () => (compiled ??= new WebAssembly.Module(kernelBytes()));

type Kernel = (p: number, m: number, v: number, g: number, groups: number, ...scalars: number[]) => void;

export interface HostTensor {
  value: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** Where the train step's gradient goes (a pre-allocated output, or copied in). */
  grad: Float32Array;
}

/**
 * AdamW state of a set of trainable tensors in one WebAssembly memory, and the step that updates
 * it: global-norm clipping (from the norm the graph computed), bias correction and decoupled
 * weight decay on matrices (tensors of rank 2 or more), exactly the graph optimizer's formula
 * (shared/training/graph/optimizer.ts), in float32.
 */
export class HostAdamW {
  readonly tensors = new Map<
    string,
    HostTensor & { shape: readonly number[]; offsets: [number, number, number, number]; groups: number; decay: boolean }
  >();
  private readonly kernel: Kernel;

  constructor(
    trainable: readonly { name: string; shape: readonly number[] }[],
    private readonly config: AdamWSpec,
  ) {
    const bytes = stateBytes(trainable);
    if (bytes > MAX_STATE_BYTES)
      throw new Error(
        `the host optimizer holds at most ${HOST_OPTIMIZER_MAX_PARAMS.toLocaleString('en')} trainable numbers; these are ${(bytes / BYTES_PER_PARAM).toLocaleString('en')}`,
      );
    const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE)) });
    this.kernel = new WebAssembly.Instance(kernelModule(), { env: { memory } }).exports.adamw as Kernel;
    let at = 0;
    for (const { name: tensorName, shape } of trainable) {
      if (this.tensors.has(tensorName)) throw new Error(`trainable tensor ${tensorName} is listed twice`);
      const n = numel(shape);
      const span = padded(n) * 4;
      const offsets = [at, at + span, at + 2 * span, at + 3 * span] as [number, number, number, number];
      const view = (offset: number) => new Float32Array(memory.buffer, offset, n);
      this.tensors.set(tensorName, {
        value: view(offsets[0]),
        m: view(offsets[1]),
        v: view(offsets[2]),
        grad: view(offsets[3]),
        shape: [...shape],
        offsets,
        groups: padded(n) / 4,
        decay: shape.length >= 2,
      });
      at += 4 * span;
    }
  }

  /** One AdamW step over every tensor, from the gradients in place and their global norm (before clipping). */
  step(step: number, lr: number, gradNorm: number): void {
    if (!(step >= 1)) throw new Error(`AdamW step counts from 1, got ${step}`);
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.config;
    const f = Math.fround;
    // The same scalars, in float32, as the graph optimizer folds them.
    const clip = maxGradNorm > 0 ? Math.min(1, f(maxGradNorm / f(gradNorm + 1e-6))) : 1;
    const a1 = f((1 - beta1) * clip);
    const a2 = f((1 - beta2) * f(clip * clip));
    const stepSize = f(lr / f(1 - f(beta1 ** step)));
    const invCorrection2 = f(1 / Math.sqrt(f(1 - f(beta2 ** step))));
    const keep = f(1 - f(lr * weightDecay));
    for (const t of this.tensors.values())
      this.kernel(...t.offsets, t.groups, beta1, beta2, a1, a2, stepSize, invCorrection2, eps, weightDecay > 0 && t.decay ? keep : 1);
  }
}

/**
 * Runs a host-optimizer train step so that its gradients land in the optimizer's memory: as
 * pre-allocated outputs, which onnxruntime-node 1.30 writes in place (it also returns copies,
 * which are dropped), else, where a binding refuses or ignores them, copied from the returned
 * tensors. Which of the two works is found on the first run: the gradient buffers are filled with
 * NaN first, so a binding that ignored them is told apart from one that wrote them.
 */
export function gradientStepRunner(
  session: ort.InferenceSession,
  host: HostAdamW,
): (feeds: Record<string, ort.Tensor>) => Promise<{ loss: number; gradNorm: number }> {
  const outputs = [...host.tensors].map(([tensorName, t]) => ({
    output: `${tensorName}.grad`,
    grad: t.grad,
    preallocated: new ort.Tensor('float32', t.grad, [...t.shape]),
  }));
  let inPlace: boolean | undefined;
  // The fetches, made once: the gradients into the optimizer's memory, or (once that is known not
  // to work) as new tensors to copy from.
  const preallocatedFetches: Record<string, ort.Tensor | null> = { loss: null, grad_norm: null };
  const plainFetches: Record<string, null> = { loss: null, grad_norm: null };
  for (const o of outputs) {
    preallocatedFetches[o.output] = o.preallocated;
    plainFetches[o.output] = null;
  }
  const scalars = (out: ort.InferenceSession.ReturnType) => ({
    loss: Number((out.loss as ort.Tensor).data[0]),
    gradNorm: Number((out.grad_norm as ort.Tensor).data[0]),
  });
  const copyGrads = (out: ort.InferenceSession.ReturnType) => {
    for (const o of outputs) o.grad.set((out[o.output] as ort.Tensor).data as Float32Array);
  };
  return async (feeds) => {
    if (inPlace !== false) {
      if (inPlace === undefined) for (const o of outputs) o.grad.fill(NaN);
      let out: ort.InferenceSession.ReturnType | undefined;
      try {
        out = await session.run(feeds, preallocatedFetches);
      } catch (err) {
        if (inPlace !== undefined || !/preallocated|pre-allocated/i.test(String((err as Error).message))) throw err;
        inPlace = false;
      }
      if (out) {
        if (inPlace === undefined) {
          const same = (a: Float32Array, b: Float32Array) =>
            Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
          inPlace = outputs.every((o) => same(o.grad, out[o.output]?.data as Float32Array));
          if (!inPlace) copyGrads(out);
        }
        return scalars(out);
      }
    }
    const out = await session.run(feeds, plainFetches);
    copyGrads(out);
    return scalars(out);
  };
}
