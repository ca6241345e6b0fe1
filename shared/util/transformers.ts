import { availableParallelism } from 'node:os';
import * as path from 'node:path';

/**
 * `@huggingface/transformers` set up to load one local model folder and nothing remote (Pixel's
 * machines reach no model hub). Returns the library and the id to pass to its loaders.
 */
export async function localTransformers(modelDir: string): Promise<{ hf: typeof import('@huggingface/transformers'); id: string }> {
  const hf = (await import('@huggingface/transformers')) as typeof import('@huggingface/transformers');
  hf.env.allowRemoteModels = false;
  hf.env.allowLocalModels = true;
  hf.env.localModelPath = `${path.dirname(path.resolve(modelDir))}/`;
  return { hf, id: path.basename(path.resolve(modelDir)) };
}

/**
 * onnxruntime session options for the small encoders (sentence encoder, name tagger): one
 * operator at a time on one thread by default, `PIXEL_ENCODER_THREADS` (1-16) for more. The
 * safety stage is judged by conversations per CPU-second: the same MiniLM texts cost 7.3 CPU-ms
 * each on one thread and 8.0 on two (2 cores, 2026-12-05), and a worker uses its other core for
 * other activities. Left to transformers.js's defaults the same batch took 1.5x the wall time and
 * 1.5x the CPU time on 2 cores.
 */
export function encoderSessionOptions(env: NodeJS.ProcessEnv = process.env): { intraOpNumThreads: number; interOpNumThreads: number } {
  const raw = env.PIXEL_ENCODER_THREADS;
  if (raw === undefined || raw === '') return { intraOpNumThreads: 1, interOpNumThreads: 1 };
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 16)
    throw new Error(`PIXEL_ENCODER_THREADS must be a whole number from 1 to 16, got ${JSON.stringify(raw.slice(0, 20))}`);
  return { intraOpNumThreads: Math.min(n, Math.max(1, availableParallelism())), interOpNumThreads: 1 };
}
