import { gradients } from './autodiff';
import type { Graph, Value } from './ir';
import type { AdamWSpec } from '../../contracts/model-artifacts';
import { add, div, mul, sqrt, sub, sumAll } from './ops';

/** AdamW's settings: the validated {@link AdamWSpec}. */
export type AdamWConfig = AdamWSpec;

export interface TrainStep {
  /** Per parameter, in order: its gradient (before clipping), new value and new moments. */
  params: { param: Value; grad: Value; next: Value; m: Value; v: Value; nextM: Value; nextV: Value }[];
  /** Global L2 norm of the gradients, before clipping. */
  gradNorm: Value;
  lr: Value;
  step: Value;
}

/**
 * The optimizer half of a train-step graph: gradients of `loss` for `params` (graph inputs),
 * global-norm clipping, and AdamW with bias correction and decoupled weight decay, applied to
 * the parameters `decay` selects (matrices by default: norms and biases are not decayed).
 * Adds graph inputs `lr` and `step` (float scalars; `step` counts from 1) and, per parameter,
 * inputs for its two moments (`<name>.m`, `<name>.v`). Outputs are left to the caller.
 */
export function adamWStep(
  g: Graph,
  loss: Value,
  params: readonly Value[],
  config: AdamWConfig,
  decay: (p: Value) => boolean = (p) => p.shape.length >= 2,
): TrainStep {
  const dtype = loss.dtype;
  const c = (x: number) => g.scalar(dtype, x);
  const lr = g.input('lr', dtype, []);
  const step = g.input('step', dtype, []);
  const grads = gradients(g, loss, params);
  const gradNorm = sqrt(
    g,
    grads.map((gr) => sumAll(g, mul(g, gr, gr))).reduce((a, b) => add(g, a, b)),
  );
  // clip = min(1, max / (norm + 1e-6)): gradients are scaled only when the norm exceeds the bound.
  const clip =
    config.maxGradNorm > 0
      ? (g.node('Min', [c(1), div(g, c(config.maxGradNorm), add(g, gradNorm, c(1e-6)))], {}, [{ dtype, shape: [] }])[0] as Value)
      : c(1);
  const pow = (base: number) => g.node('Pow', [c(base), step], {}, [{ dtype, shape: [] }])[0] as Value;
  // Everything that is one number per step is folded into scalars first, so each parameter
  // tensor sees as few full-size passes as possible (the update is memory-bound):
  //   m' = b1 m + (1 - b1) clip g          v' = b2 v + (1 - b2) clip^2 g^2
  //   p' = p (1 - lr wd) - lr / (1 - b1^t) * m' / (sqrt(v') / sqrt(1 - b2^t) + eps)
  // which is AdamW with bias correction and decoupled weight decay, rearranged.
  const a1 = mul(g, c(1 - config.beta1), clip);
  const a2 = mul(g, c(1 - config.beta2), mul(g, clip, clip));
  const stepSize = div(g, lr, sub(g, c(1), pow(config.beta1)));
  const invCorrection2 = div(g, c(1), sqrt(g, sub(g, c(1), pow(config.beta2))));
  const keep = sub(g, c(1), mul(g, lr, c(config.weightDecay)));
  const out: TrainStep['params'] = params.map((param, i) => {
    const grad = grads[i] as Value;
    const m = g.input(`${param.name}.m`, dtype, param.shape);
    const v = g.input(`${param.name}.v`, dtype, param.shape);
    const nextM = add(g, mul(g, c(config.beta1), m), mul(g, a1, grad));
    const nextV = add(g, mul(g, c(config.beta2), v), mul(g, a2, mul(g, grad, grad)));
    const denominator = add(g, mul(g, sqrt(g, nextV), invCorrection2), c(config.eps));
    const update = mul(g, div(g, nextM, denominator), stepSize);
    const decayed = config.weightDecay > 0 && decay(param) ? mul(g, param, keep) : param;
    const next = sub(g, decayed, update);
    return { param, grad, next, m, v, nextM, nextV };
  });
  return { params: out, gradNorm, lr, step };
}

/**
 * The gradient half of a train step whose AdamW runs on the host (shared/training/host-adamw.ts):
 * gradients of `loss` for `params` and their global L2 norm (before clipping; the host clips).
 */
export function gradientsAndNorm(g: Graph, loss: Value, params: readonly Value[]): { grads: Value[]; gradNorm: Value } {
  const dtype = loss.dtype;
  const grads = gradients(g, loss, params);
  // One read of each gradient (no squared copy): the host pass is what reads them next.
  const squares = grads.map(
    (gr) => g.node('ReduceSumSquare', [gr], { keepdims: { kind: 'int', value: 0 } }, [{ dtype, shape: [] }], 'sumsq')[0] as Value,
  );
  return {
    grads,
    gradNorm: sqrt(
      g,
      squares.reduce((a, b) => add(g, a, b)),
    ),
  };
}
