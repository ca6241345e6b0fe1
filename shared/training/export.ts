import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { TrainConfigSchema } from '../contracts/fine-tune';
import { describeZodError } from '../contracts/validation';
import { buildInference } from './artifacts/inference';
import { loadTrainState } from './checkpoint';
import { tensor, type Tensor } from './graph/ir';
import { toOnnx } from './graph/onnx-writer';
import { parameterShapes } from './model/config';
import { TOKENIZER_AND_GENERATION_FILES, loadModelFolder } from './model/folder';
import { writeSafetensors } from './safetensors';

/**
 * Writes the fine-tuned model as a model folder: the base folder's config and tokenizer, the
 * weights of the checkpoint (full fine-tuning) or the base weights with the LoRA adapters merged
 * in (W + alpha / rank * B A, rank and alpha as the checkpoint's saved training config says), and
 * `onnx/model.onnx`, the inference graph with KV cache transformers.js loads. Returns the number
 * of weights the checkpoint changed.
 */
export async function exportFineTuned(baseDir: string, checkpointFile: string, outDir: string, maxPositions: number): Promise<{ changed: number }> {
  const base = await loadModelFolder(baseDir);
  const state = await loadTrainState(checkpointFile);
  const saved = TrainConfigSchema.safeParse(state.training);
  if (!saved.success) throw new Error(describeZodError(`checkpoint ${checkpointFile}: its training config`, saved.error));
  const lora = saved.data.mode === 'lora' ? saved.data.lora : undefined;
  const weights = new Map<string, Tensor>(base.weights);
  let changed = 0;
  for (const [name, shape] of parameterShapes(base.dims)) {
    const trained = state.params.get(name);
    if (trained) {
      weights.set(name, tensor('float32', shape, trained.value));
      changed += 1;
      continue;
    }
    const a = state.params.get(name.replace(/\.weight$/, '.lora_A'));
    const b = state.params.get(name.replace(/\.weight$/, '.lora_B'));
    if (!a || !b || !lora) continue;
    const [out, inp] = shape as [number, number];
    const r = lora.rank;
    const scale = lora.alpha / lora.rank;
    const merged = Float32Array.from((base.weights.get(name) as Tensor).data as Float32Array);
    for (let o = 0; o < out; o++) {
      for (let k = 0; k < r; k++) {
        const bv = (b.value[o * r + k] as number) * scale;
        if (bv === 0) continue;
        for (let i = 0; i < inp; i++) merged[o * inp + i]! += bv * (a.value[k * inp + i] as number);
      }
    }
    weights.set(name, tensor('float32', shape, merged));
    changed += 1;
  }
  await mkdir(path.join(outDir, 'onnx'), { recursive: true });
  for (const f of await readdir(baseDir))
    if (f === 'config.json' || TOKENIZER_AND_GENERATION_FILES.test(f)) await copyFile(path.join(baseDir, f), path.join(outDir, f));
  await writeFile(
    path.join(outDir, 'model.safetensors'),
    writeSafetensors(
      parameterShapes(base.dims).map(([name, shape]) => ({
        name,
        dtype: 'F32' as const,
        shape,
        data: (weights.get(name) as Tensor).data as Float32Array,
      })),
      { format: 'pt', producer: 'pixel', checkpointStep: String(state.step) },
    ),
  );
  await writeFile(path.join(outDir, 'onnx', 'model.onnx'), toOnnx(buildInference(base.dims, weights, maxPositions)));
  return { changed };
}
