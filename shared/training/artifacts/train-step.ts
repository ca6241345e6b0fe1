import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AdamWSpecSchema, LoraSpecSchema, type AdamWSpec, type LoraSpec, type ObjectiveTerms } from '../../contracts/model-artifacts';
import { Graph, initializerData, type DType, type Initializer, type Value } from '../graph/ir';
import { toFloat16 } from '../safetensors';
import * as op from '../graph/ops';
import { adamWStep, gradientsAndNorm } from '../graph/optimizer';
import { hostOptimizerFits } from '../host-adamw';
import { parameterShapes, type ModelDims } from '../model/config';
import { llamaForward, type LoraAdapter } from '../model/llama';

/** Bump when generated graphs change for the same spec; recorded in every manifest. */
export const GENERATOR_VERSION = '5';

/** LoRA settings as the graph builder takes them (the validated {@link LoraSpec}). */
export type LoraConfig = Pick<LoraSpec, 'rank' | 'alpha'> & { targets: readonly string[] };

export interface TrainStepSpec {
  dims: ModelDims;
  batch: number;
  seq: number;
  dtype: DType;
  mode: 'full' | 'lora';
  lora?: LoraConfig;
  adamw?: AdamWSpec;
  /**
   * Loss terms besides cross-entropy. A term that is off is not in the graph at all; one that
   * is on takes its weight from the `objective_weights` input ([cross-entropy, then each term
   * that is on, in this order]), so a run can change or zero it without a new graph.
   */
  objectives?: Partial<ObjectiveTerms>;
  /**
   * LoRA only: the frozen base's matrices in float16 (half the memory: what lets a 12B base fit
   * one 80 GB GPU), multiplied in float16 with float32 results; adapters, norms, loss and AdamW
   * state stay float32. For execution providers with float16 kernels (CUDA); the CPU provider
   * widens them back to float32 when it loads the graph.
   */
  frozenDtype?: 'float32' | 'float16';
  /**
   * Where AdamW runs: `host` (the graph gives gradients and their norm, the trainer updates the
   * state in one WebAssembly pass; see shared/training/host-adamw.ts) or `graph` (AdamW in the
   * ONNX graph, state in and out every step). Default: `host` for float32 graphs whose trainable
   * tensors fit its memory (about 268M numbers), else `graph`. Not part of the spec hash: a checkpoint holds the
   * same tensors either way.
   */
  optimizer?: 'graph' | 'host';
}

const IoSpecSchema = z
  .object({
    name: z.string().min(1),
    dtype: z.enum(['float32', 'float64', 'float16', 'int64', 'int32', 'uint8', 'int8', 'bool']),
    shape: z.array(z.union([z.number().int(), z.string()])),
  })
  .strict();
export type IoSpec = z.infer<typeof IoSpecSchema>;

/** What a generated artifact takes and gives, so a runner needs nothing but the manifest (`<artifact>.json`). */
export const ArtifactManifestSchema = z
  .object({
    kind: z.enum(['train-step', 'eval']),
    generatorVersion: z.string(),
    mode: z.enum(['full', 'lora']),
    /** Hash of the spec (model dims, bucket, optimizer, LoRA), to match checkpoints to graphs. */
    specHash: z.string().min(1),
    inputs: z.array(IoSpecSchema),
    outputs: z.array(IoSpecSchema),
    /** Trainable tensors in order; each has `<name>.m` / `<name>.v` inputs and `.next` outputs in a train step. */
    trainable: z.array(z.object({ name: z.string().min(1), shape: z.array(z.number().int().min(0)) }).strict()),
    /** Base weights stored in the graph (LoRA): not inputs. */
    frozen: z.array(z.string()),
    /**
     * Train steps: where AdamW runs. `graph` (or absent): per trainable tensor `<name>.m` and
     * `<name>.v` inputs, `lr` and `step`, and `.next` outputs. `host`: per trainable tensor a
     * `<name>.grad` output, and the trainer applies AdamW with these settings.
     */
    optimizer: z
      .object({ placement: z.enum(['graph', 'host']), adamw: AdamWSpecSchema })
      .strict()
      .optional(),
  })
  .strict();
export type ArtifactManifest = z.infer<typeof ArtifactManifestSchema>;

export function specHash(spec: TrainStepSpec): string {
  const { dims, batch, seq, dtype, mode } = spec;
  return createHash('sha256')
    .update(
      JSON.stringify({
        dims,
        batch,
        seq,
        dtype,
        mode,
        lora: mode === 'lora' ? (spec.lora ?? LoraSpecSchema.parse({})) : null,
        adamw: spec.adamw ?? AdamWSpecSchema.parse({}),
        objectives: spec.objectives ?? {},
        ...(spec.mode === 'lora' && spec.frozenDtype === 'float16' ? { frozenDtype: 'float16' } : {}),
      }),
    )
    .digest('hex')
    .slice(0, 16);
}

const loraName = (weight: string, part: 'A' | 'B') => weight.replace(/\.weight$/, `.lora_${part}`);

/**
 * The model half shared by the train-step and eval graphs: parameters (inputs when trained,
 * initializers when frozen), LoRA adapters beside their weights (x W^T + alpha/r (x A^T) B^T, so
 * the frozen weight never gets a gradient of its own), data inputs and the weighted loss.
 *
 * Loss: token cross-entropy on the tokens `loss_mask` selects, each example scaled by
 * `example_weight` (e.g. to upweight crisis-protocol examples), averaged over the selected tokens;
 * `per_example_loss` gives each example's own mean. With `objectives.unlikelihood`, examples
 * flagged in `negative_example` (responses the safety stage marked unsafe) leave the
 * cross-entropy and instead add -log(1 - p(token)) on their selected tokens, pushing those
 * tokens down. With `objectives.kl`, KL(base || model) per selected token against
 * `base_logprobs` [batch, seq, vocab] (the base model's log-probabilities) keeps the model near
 * its base.
 */
function buildModel(g: Graph, spec: TrainStepSpec, frozen: ReadonlyMap<string, Initializer> | undefined) {
  const { dims, batch, seq, dtype } = spec;
  const lora = spec.mode === 'lora' ? (spec.lora ?? LoraSpecSchema.parse({})) : undefined;
  const trainable: Value[] = [];
  const frozenNames: string[] = [];
  const params = new Map<string, Value>();
  const adapters = new Map<string, LoraAdapter>();
  for (const [name, shape] of parameterShapes(dims)) {
    if (!lora) {
      const v = g.input(name, dtype, shape);
      trainable.push(v);
      params.set(name, v);
      continue;
    }
    const t = frozen?.get(name);
    if (!t) throw new Error(`LoRA needs the base weight ${name}`);
    if (t.dtype !== dtype || t.dims.join() !== shape.join())
      throw new Error(`base weight ${name} is ${t.dtype} [${t.dims.join(', ')}], expected ${dtype} [${shape.join(', ')}]`);
    const half = spec.frozenDtype === 'float16' && shape.length === 2;
    const base = g.initializer(name, half ? { dtype: 'float16', dims: t.dims, load: () => toFloat16(initializerData(t) as Float32Array) } : t);
    frozenNames.push(name);
    const target = lora.targets.some((x) => name.endsWith(`.${x}.weight`));
    if (!target) {
      params.set(name, base);
      continue;
    }
    const [out, inp] = shape as [number, number];
    const a = g.input(loraName(name, 'A'), dtype, [lora.rank, inp]);
    const b = g.input(loraName(name, 'B'), dtype, [out, lora.rank]);
    trainable.push(a, b);
    params.set(name, base);
    adapters.set(name, { a, b, scale: lora.alpha / lora.rank });
  }
  const ids = g.input('input_ids', 'int64', [batch, seq]);
  const targets = g.input('targets', 'int64', [batch, seq]);
  const mask = g.input('loss_mask', dtype, [batch, seq]);
  const weight = g.input('example_weight', dtype, [batch]);
  const objectives = spec.objectives ?? {};
  const negative = objectives.unlikelihood ? g.input('negative_example', dtype, [batch]) : undefined;
  const terms = 1 + (objectives.unlikelihood ? 1 : 0) + (objectives.kl ? 1 : 0);
  const objectiveWeights = terms > 1 ? g.input('objective_weights', dtype, [terms]) : undefined;
  const baseLogprobs = objectives.kl ? g.input('base_logprobs', dtype, [batch, seq, dims.vocab]) : undefined;
  const logits = llamaForward(g, dims, params, ids, { batch, seq, dtype, adapters });
  const logp = op.logSoftmax(g, logits, -1);
  const tokenLogp = op.reshape(g, op.gatherElements(g, logp, op.unsqueeze(g, targets, [-1]), -1), [batch, seq]);
  const atLeastOne = (x: Value, shape: number[]) => g.node('Max', [x, g.scalar(dtype, 1)], {}, [{ dtype, shape }])[0] as Value;
  const perExampleWeight = (x: Value) => op.mul(g, x, weight);
  // Positive tokens: the mask, minus the examples flagged negative.
  const negativeColumn = negative ? op.unsqueeze(g, negative, [1]) : undefined;
  const positiveMask = negativeColumn ? op.mul(g, mask, op.sub(g, g.scalar(dtype, 1), negativeColumn)) : mask;
  const perExampleSum = op.reduceSum(g, op.mul(g, op.neg(g, tokenLogp), positiveMask), [1], false);
  const perExample = op.div(g, perExampleSum, atLeastOne(op.reduceSum(g, positiveMask, [1], false), [batch]));
  const count = atLeastOne(op.sumAll(g, positiveMask), []);
  const crossEntropy = op.div(g, op.sumAll(g, perExampleWeight(perExampleSum)), count);
  const weightOf = (k: number) =>
    g.node('Gather', [objectiveWeights as Value, g.ints([k])], { axis: { kind: 'int', value: 0 } }, [{ dtype, shape: [1] }])[0] as Value;
  const scalarOf = (x: Value) => op.reshape(g, x, []);
  let loss = objectiveWeights ? op.mul(g, crossEntropy, scalarOf(weightOf(0))) : crossEntropy;
  let next = 1;
  if (negativeColumn) {
    const negativeMask = op.mul(g, mask, negativeColumn);
    // -log(1 - p + 1e-6): finite even when p reaches 1.
    const unlikely = op.neg(g, op.log(g, op.sub(g, g.scalar(dtype, 1 + 1e-6), op.exp(g, tokenLogp))));
    const ul = op.div(
      g,
      op.sumAll(g, perExampleWeight(op.reduceSum(g, op.mul(g, unlikely, negativeMask), [1], false))),
      atLeastOne(op.sumAll(g, negativeMask), []),
    );
    loss = op.add(g, loss, op.mul(g, ul, scalarOf(weightOf(next++))));
  }
  if (baseLogprobs) {
    const perToken = op.reduceSum(g, op.mul(g, op.exp(g, baseLogprobs), op.sub(g, baseLogprobs, logp)), [-1], false);
    const kl = op.div(g, op.sumAll(g, op.mul(g, perToken, positiveMask)), count);
    loss = op.add(g, loss, op.mul(g, kl, scalarOf(weightOf(next++))));
  }
  return { trainable, frozenNames, loss, perExample, logits };
}

function io(g: Graph, names: readonly string[]): IoSpec[] {
  return names.map((name) => {
    const v = g.value(name);
    return { name, dtype: v.dtype, shape: [...v.shape] };
  });
}

/**
 * The train-step artifact: forward and backward, and AdamW where {@link TrainStepSpec.optimizer}
 * puts it. Inputs: data (`input_ids`, `targets`, `loss_mask`, `example_weight`) and per
 * trainable tensor its value. Outputs: `loss`, `grad_norm` (before clipping), `per_example_loss`,
 * and per trainable tensor `<name>.grad` (AdamW on the host) or, with AdamW in the graph (which
 * also takes `lr`, `step` and per tensor its moments `<name>.m`, `<name>.v`), global-norm
 * clipping and `<name>.next`, `<name>.m.next`, `<name>.v.next`. The manifest says which. LoRA
 * keeps the base weights in the graph as initializers (they stay on the device) and trains the
 * adapters.
 */
export function buildTrainStep(spec: TrainStepSpec, frozen?: ReadonlyMap<string, Initializer>): { graph: Graph; manifest: ArtifactManifest } {
  const g = new Graph(`train-step-${spec.mode}`);
  const model = buildModel(g, spec, frozen);
  const adamw = spec.adamw ?? AdamWSpecSchema.parse({});
  // The host optimizer is float32 (float64 graphs are for gradient checks).
  if (spec.optimizer === 'host' && spec.dtype !== 'float32') throw new Error(`AdamW on the host is float32; this train step is ${spec.dtype}`);
  const placement =
    spec.optimizer ??
    (spec.dtype === 'float32' && hostOptimizerFits(model.trainable.map((v) => ({ shape: v.shape as number[] }))) ? 'host' : 'graph');
  if (placement === 'host') {
    const { grads, gradNorm } = gradientsAndNorm(g, model.loss, model.trainable);
    g.output(model.loss, 'loss');
    g.output(gradNorm, 'grad_norm');
    g.output(model.perExample, 'per_example_loss');
    model.trainable.forEach((p, i) => g.output(grads[i] as Value, `${p.name}.grad`));
  } else {
    const step = adamWStep(g, model.loss, model.trainable, adamw);
    g.output(model.loss, 'loss');
    g.output(step.gradNorm, 'grad_norm');
    g.output(model.perExample, 'per_example_loss');
    for (const p of step.params) {
      g.output(p.next, `${p.param.name}.next`);
      g.output(p.nextM, `${p.param.name}.m.next`);
      g.output(p.nextV, `${p.param.name}.v.next`);
    }
  }
  return { graph: g, manifest: { ...manifestOf('train-step', g, spec, model), optimizer: { placement, adamw } } };
}

function manifestOf(
  kind: ArtifactManifest['kind'],
  g: Graph,
  spec: TrainStepSpec,
  model: { trainable: Value[]; frozenNames: string[] },
): ArtifactManifest {
  return {
    kind,
    generatorVersion: GENERATOR_VERSION,
    mode: spec.mode,
    specHash: specHash(spec),
    inputs: io(g, g.inputs),
    outputs: io(g, g.outputs),
    trainable: model.trainable.map((v) => ({ name: v.name, shape: v.shape as number[] })),
    frozen: model.frozenNames,
  };
}

/** The eval artifact: loss and per-example loss only, same inputs as the train step minus optimizer state. */
export function buildEval(spec: TrainStepSpec, frozen?: ReadonlyMap<string, Initializer>): { graph: Graph; manifest: ArtifactManifest } {
  const g = new Graph(`eval-${spec.mode}`);
  const model = buildModel(g, spec, frozen);
  g.output(model.loss, 'loss');
  g.output(model.perExample, 'per_example_loss');
  return { graph: g, manifest: manifestOf('eval', g, spec, model) };
}
