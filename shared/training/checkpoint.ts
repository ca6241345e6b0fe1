import { readFile, writeFile } from 'node:fs/promises';
import type { Tensor } from './graph/ir';
import { readSafetensors, writeSafetensors, type TensorToWrite } from './safetensors';

/**
 * A training checkpoint in one safetensors file: every trainable tensor with its two AdamW
 * moments (`<name>`, `<name>.m`, `<name>.v`), and in the metadata the step, the artifact's spec
 * hash (which graph it belongs to) and the training config, so a resumed run starts exactly
 * where this one stopped.
 */
export interface Checkpoint {
  step: number;
  specHash: string;
  config: unknown;
  params: Map<string, { value: Tensor; m: Tensor; v: Tensor }>;
}

const ST_DTYPE = { float32: 'F32', float64: 'F64' } as const;

export async function saveCheckpoint(file: string, c: Checkpoint): Promise<void> {
  const tensors: TensorToWrite[] = [];
  for (const [name, { value, m, v }] of c.params) {
    for (const [suffix, t] of [
      ['', value],
      ['.m', m],
      ['.v', v],
    ] as const) {
      if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new Error(`checkpoint: ${name}${suffix} is ${t.dtype}; only float tensors are saved`);
      tensors.push({ name: `${name}${suffix}`, dtype: ST_DTYPE[t.dtype], shape: t.dims, data: t.data });
    }
  }
  await writeFile(
    file,
    writeSafetensors(tensors, { kind: 'pixel-checkpoint', step: String(c.step), specHash: c.specHash, config: JSON.stringify(c.config ?? null) }),
  );
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  const { tensors, metadata } = readSafetensors(await readFile(file), file);
  if (metadata.kind !== 'pixel-checkpoint') throw new Error(`${file} is not a Pixel checkpoint (metadata kind ${metadata.kind ?? 'missing'})`);
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new Error(`${file}: step ${metadata.step} is not a whole number`);
  const params: Checkpoint['params'] = new Map();
  const copy = (name: string): Tensor => {
    const e = tensors.get(name);
    if (!e) throw new Error(`${file}: ${name} is missing`);
    const bytes = Uint8Array.from(e.bytes); // aligned copy
    const data = e.dtype === 'F64' ? new Float64Array(bytes.buffer) : new Float32Array(bytes.buffer);
    return { dtype: e.dtype === 'F64' ? 'float64' : 'float32', dims: e.shape, data };
  };
  for (const name of tensors.keys()) {
    if (name.endsWith('.m') || name.endsWith('.v')) continue;
    params.set(name, { value: copy(name), m: copy(`${name}.m`), v: copy(`${name}.v`) });
  }
  return { step, specHash: metadata.specHash ?? '', config: JSON.parse(metadata.config ?? 'null') as unknown, params };
}

/** A trainer state as a checkpoint: tensors, step, and in the config the data cursor and early-stopping state. */
export async function saveTrainState(
  file: string,
  state: {
    step: number;
    params: ReadonlyMap<string, { value: Float32Array; m: Float32Array; v: Float32Array }>;
    cursor: unknown;
    bestValLoss: number;
    bestStep: number;
    sinceBest: number;
  },
  shapes: ReadonlyMap<string, readonly number[]>,
  specHash: string,
  config: unknown,
): Promise<void> {
  const t = (data: Float32Array, dims: readonly number[]): Tensor => ({ dtype: 'float32', dims, data });
  await saveCheckpoint(file, {
    step: state.step,
    specHash,
    config: {
      training: config,
      cursor: state.cursor,
      bestValLoss: Number.isFinite(state.bestValLoss) ? state.bestValLoss : null,
      bestStep: state.bestStep,
      sinceBest: state.sinceBest,
    },
    params: new Map(
      [...state.params].map(([name, p]) => {
        const dims = shapes.get(name);
        if (!dims) throw new Error(`saveTrainState: no shape for ${name}`);
        return [name, { value: t(p.value, dims), m: t(p.m, dims), v: t(p.v, dims) }];
      }),
    ),
  });
}

export async function loadTrainState<C>(file: string): Promise<{
  step: number;
  specHash: string;
  params: Map<string, { value: Float32Array; m: Float32Array; v: Float32Array }>;
  cursor: C;
  bestValLoss: number;
  bestStep: number;
  sinceBest: number;
  training: unknown;
}> {
  const c = await loadCheckpoint(file);
  const meta = (c.config ?? {}) as { training?: unknown; cursor?: C; bestValLoss?: number | null; bestStep?: number; sinceBest?: number };
  if (meta.cursor === undefined) throw new Error(`${file}: not a trainer checkpoint (no data cursor)`);
  const f = (t: Tensor) => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array));
  return {
    step: c.step,
    specHash: c.specHash,
    params: new Map([...c.params].map(([name, p]) => [name, { value: f(p.value), m: f(p.m), v: f(p.v) }])),
    cursor: meta.cursor,
    bestValLoss: meta.bestValLoss ?? Infinity,
    bestStep: meta.bestStep ?? 0,
    sinceBest: meta.sinceBest ?? 0,
    training: meta.training,
  };
}
