import * as ort from 'onnxruntime-node';
import type { ArtifactManifest } from './artifacts/train-step';
import { gradientStepRunner, HostAdamW } from './host-adamw';
import { NativeSession, nativeTensors, type NativeTensor } from './native-step';

/** A trainable tensor's value and AdamW moments. */
export interface TrainTensors {
  value: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export interface StepRunner {
  /**
   * One train step on a batch's feeds (`input_ids`, `targets`, ...): AdamW where the manifest
   * puts it. The state moves on only when the loss is finite.
   */
  step(data: Record<string, ort.Tensor>, step: number, lr: number): Promise<{ loss: number; gradNorm: number }>;
}

const f32 = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, [...dims]);

/**
 * Takes train steps of a train-step session, keeping the state in `params` (updated in place:
 * the map's entries are replaced). With AdamW on the host (the manifest's `optimizer`), the state
 * is copied once into the optimizer's memory and the entries become views of it, which every
 * step then updates in place: a caller that keeps an array across steps (a checkpoint being
 * written) must be done with it before the next step. With AdamW in the graph, the entries are
 * the arrays the graph gives back.
 */
export function createStepRunner(
  session: ort.InferenceSession | NativeSession,
  manifest: ArtifactManifest,
  params: Map<string, TrainTensors>,
): StepRunner {
  const shapes = new Map(manifest.trainable.map((t) => [t.name, t.shape]));
  const shapeOf = (name: string) => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`the state has a tensor ${name} the train step does not train`);
    return shape;
  };
  for (const name of shapes.keys()) if (!params.has(name)) throw new Error(`the state has no tensor ${name}, which the train step trains`);
  const optimizer = manifest.optimizer;
  if (optimizer?.placement === 'host') {
    const host = new HostAdamW(manifest.trainable, optimizer.adamw);
    for (const [name, p] of params) {
      shapeOf(name);
      const t = host.tensors.get(name) as TrainTensors;
      for (const [what, from, to] of [
        ['', p.value, t.value],
        ['.m', p.m, t.m],
        ['.v', p.v, t.v],
      ] as const) {
        if (from.length !== to.length) throw new Error(`${name}${what} has ${from.length} numbers, the train step needs ${to.length}`);
        to.set(from);
      }
      params.set(name, { value: t.value, m: t.m, v: t.v });
    }
    const run = session instanceof NativeSession ? nativeGradientStepRunner(session, host) : gradientStepRunner(session, host);
    const weights: Record<string, ort.Tensor> = {};
    for (const [name, t] of host.tensors) weights[name] = f32(t.value, t.shape);
    return {
      step: async (data, step, lr) => {
        const out = await run({ ...data, ...weights });
        if (Number.isFinite(out.loss)) host.step(step, lr, out.gradNorm);
        return out;
      },
    };
  }
  if (session instanceof NativeSession) throw new Error('the train-step binding serves steps with AdamW on the host only');
  return {
    step: async (data, step, lr) => {
      const feeds: Record<string, ort.Tensor> = { ...data, lr: f32(Float32Array.from([lr]), []), step: f32(Float32Array.from([step]), []) };
      for (const [name, p] of params) {
        const dims = shapeOf(name);
        feeds[name] = f32(p.value, dims);
        feeds[`${name}.m`] = f32(p.m, dims);
        feeds[`${name}.v`] = f32(p.v, dims);
      }
      const out = await session.run(feeds);
      const loss = Number((out.loss as ort.Tensor).data[0]);
      if (Number.isFinite(loss))
        for (const name of params.keys())
          params.set(name, {
            value: (out[`${name}.next`] as ort.Tensor).data as Float32Array,
            m: (out[`${name}.m.next`] as ort.Tensor).data as Float32Array,
            v: (out[`${name}.v.next`] as ort.Tensor).data as Float32Array,
          });
      return { loss, gradNorm: Number((out.grad_norm as ort.Tensor).data[0]) };
    },
  };
}

/**
 * A host-optimizer train step on Pixel's binding: parameters read from the optimizer's memory and
 * gradients written into it, nothing copied (see native-step.ts).
 */
function nativeGradientStepRunner(
  session: NativeSession,
  host: HostAdamW,
): (feeds: Record<string, ort.Tensor>) => Promise<{ loss: number; gradNorm: number }> {
  const loss = new Float32Array(1);
  const gradNorm = new Float32Array(1);
  const outputs: NativeTensor[] = [
    ['loss', loss, []],
    ['grad_norm', gradNorm, []],
    ...[...host.tensors].map(([name, t]): NativeTensor => [`${name}.grad`, t.grad, t.shape]),
  ];
  return async (feeds) => {
    session.run(nativeTensors(feeds), outputs);
    return { loss: loss[0] as number, gradNorm: gradNorm[0] as number };
  };
}
