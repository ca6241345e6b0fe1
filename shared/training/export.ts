import { copyFile, mkdir, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { TrainConfigSchema } from '../contracts/fine-tune';
import { describeZodError } from '../contracts/validation';
import { buildInference } from './artifacts/inference';
import { loadTrainState } from './checkpoint';
import { initializerData } from './graph/ir';
import { writeOnnxFile } from './graph/onnx-writer';
import { parameterShapes } from './model/config';
import { TOKENIZER_AND_GENERATION_FILES, openModelFolder } from './model/folder';
import { toBfloat16, writeSafetensorsFile } from './safetensors';

/**
 * Writes the fine-tuned model as a model folder: the base folder's config and tokenizer, the
 * weights of the checkpoint (full fine-tuning) or the base weights with the LoRA adapters merged
 * in (W + alpha / rank * B A, rank and alpha as the checkpoint's saved training config says), and
 * `onnx/model.onnx`, the inference graph with KV cache transformers.js loads (its weights in
 * `onnx/model.onnx_data` when large). Weights are streamed one tensor at a time, read from the
 * base folder as they are written, so a model of any size needs memory for its largest tensor,
 * not for the model; they are stored as float32 when the base is, else as bfloat16 (a 12B base
 * in bf16 stays 24 GB, not 48). Returns the number of weights the checkpoint changed.
 */
export async function exportFineTuned(baseDir: string, checkpointFile: string, outDir: string, maxPositions: number): Promise<{ changed: number }> {
  const base = await openModelFolder(baseDir);
  const state = await loadTrainState(checkpointFile);
  const saved = TrainConfigSchema.safeParse(state.training);
  if (!saved.success) throw new Error(describeZodError(`checkpoint ${checkpointFile}: its training config`, saved.error));
  const lora = saved.data.mode === 'lora' ? saved.data.lora : undefined;
  const float32 = base.storedDtype === 'F32';
  let changed = 0;
  const tensors = parameterShapes(base.dims).map(([name, shape]) => {
    const trained = state.params.get(name);
    const a = state.params.get(name.replace(/\.weight$/, '.lora_A'));
    const b = state.params.get(name.replace(/\.weight$/, '.lora_B'));
    const merge = !trained && a && b && lora;
    if (trained || merge) changed += 1;
    const values = (): Float32Array => {
      if (trained) return trained.value;
      const weight = initializerData(base.weights.get(name)!) as Float32Array;
      if (!merge) return weight;
      const [out, inp] = shape as [number, number];
      const r = lora.rank;
      const scale = lora.alpha / lora.rank;
      for (let o = 0; o < out; o++) {
        for (let k = 0; k < r; k++) {
          const bv = (b.value[o * r + k] as number) * scale;
          if (bv === 0) continue;
          const row = o * inp;
          const arow = k * inp;
          for (let i = 0; i < inp; i++) weight[row + i]! += bv * (a.value[arow + i] as number);
        }
      }
      return weight;
    };
    return float32 ? { name, dtype: 'F32' as const, shape, load: values } : { name, dtype: 'BF16' as const, shape, load: () => toBfloat16(values()) };
  });
  await mkdir(path.join(outDir, 'onnx'), { recursive: true });
  for (const f of await readdir(baseDir))
    if (f === 'config.json' || TOKENIZER_AND_GENERATION_FILES.test(f)) await copyFile(path.join(baseDir, f), path.join(outDir, f));
  await writeSafetensorsFile(path.join(outDir, 'model.safetensors'), tensors, {
    format: 'pt',
    producer: 'pixel',
    checkpointStep: String(state.step),
  });
  // The inference graph of the weights as saved (read back from the new folder, one tensor at a time).
  const exported = await openModelFolder(outDir);
  await writeOnnxFile(buildInference(exported.dims, exported.weights, maxPositions), path.join(outDir, 'onnx', 'model.onnx'), {
    dataName: 'model.onnx_data',
  });
  return { changed };
}
