import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { readInputFile } from '../../util/files';
import type { ArtifactStore } from '../../artifacts';
import {
  GenerateArtifactsInputSchema,
  GenerateArtifactsResultSchema,
  type GenerateArtifactsInput,
  type GenerateArtifactsResult,
} from '../../contracts/model-artifacts';
import type { Graph } from '../graph/ir';
import {
  EXTERNAL_DATA_BYTES,
  externalDataSink,
  graphWeightBytes,
  toOnnx,
  writeOnnxWithExternalData,
  type ExternalDataSink,
} from '../graph/onnx-writer';
import { parameterShapes } from '../model/config';
import { TOKENIZER_AND_GENERATION_FILES, openModelFolder } from '../model/folder';
import { buildInference, inferencePositions } from './inference';
import { buildEval, buildTrainStep, GENERATOR_VERSION, type TrainStepSpec } from './train-step';

const modelFolderPath = (model: string) => (model.startsWith('file://') ? new URL(model).pathname : path.resolve(model));

/**
 * The key the artifacts of a spec are stored under: a hash of the model folder (its config and
 * every weight file), the spec and the generator version. The same model and spec give the same
 * key on any machine; a changed weight, config or spec gives another.
 */
export async function artifactsKey(input: GenerateArtifactsInput, options: { externalDataBytes?: number } = {}): Promise<string> {
  const spec = GenerateArtifactsInputSchema.parse(input);
  const dir = modelFolderPath(spec.model);
  const configText = readInputFile(path.join(dir, 'config.json'), `model folder ${dir}: config`);
  const weightsHash = createHash('sha256');
  const entries = (await readdir(dir)).sort();
  // Streamed: weight files of large models are tens of gigabytes.
  for (const f of entries)
    if (/\.safetensors$|^model\.safetensors\.index\.json$/.test(f)) {
      weightsHash.update(f);
      for await (const chunk of createReadStream(path.join(dir, f), { highWaterMark: 1 << 22 })) weightsHash.update(chunk as Buffer);
    }
  return createHash('sha256')
    .update(
      JSON.stringify({
        generator: GENERATOR_VERSION,
        config: configText,
        weights: weightsHash.digest('hex'),
        spec: { ...spec, model: undefined },
        externalDataBytes: options.externalDataBytes ?? EXTERNAL_DATA_BYTES,
      }),
    )
    .digest('hex')
    .slice(0, 32);
}

/** The data file a mode's train step and eval graph share their frozen weights in, when the weights are large. */
export const sharedWeightsFile = (mode: 'full' | 'lora'): string => `${mode}-weights.onnx.data`;

/** Whether a generated artifact set keeps a mode's frozen weights in a shared data file (so sessions should map, not pack, them). */
export const usesSharedWeightsFile = (files: Readonly<Record<string, unknown>>, mode: 'full' | 'lora'): boolean => sharedWeightsFile(mode) in files;

/**
 * Generates the training artifacts of a model folder into the artifact store, under a key
 * that hashes the model (config and weights), the spec and the generator version:
 * - per mode (full, LoRA): `train-step-<mode>.onnx` and `eval-<mode>.onnx`, each with its
 *   manifest (inputs, outputs, trainable tensors in order, frozen weights, spec hash);
 * - `inference/`: a model folder transformers.js can load (`config.json`, `onnx/model.onnx`
 *   with KV cache, and the tokenizer files the source folder has);
 * - `manifest.json`, written last: every file with its size and sha256.
 * An existing manifest under the same key is reused (cache hit).
 */
export async function generateTrainingArtifacts(
  store: ArtifactStore,
  input: GenerateArtifactsInput,
  onProgress?: (what: string) => void,
  options: { externalDataBytes?: number } = {},
): Promise<GenerateArtifactsResult> {
  const externalDataBytes = options.externalDataBytes ?? EXTERNAL_DATA_BYTES;
  const spec = GenerateArtifactsInputSchema.parse(input);
  const dir = modelFolderPath(spec.model);
  const key = await artifactsKey(spec, { externalDataBytes });
  const prefix = `training/artifacts/${key}`;
  const manifestUri = store.uriFor(`${prefix}/manifest.json`);
  if (await store.exists(manifestUri)) {
    const previous = JSON.parse(await store.readText(manifestUri)) as Omit<GenerateArtifactsResult, 'cacheHit' | 'manifestUri'>;
    return GenerateArtifactsResultSchema.parse({ ...previous, manifestUri, cacheHit: true });
  }
  // Weights stay on disk until a graph writer streams them, one tensor at a time.
  const model = await openModelFolder(dir);
  const parameters = parameterShapes(model.dims).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
  const files: GenerateArtifactsResult['files'] = {};
  const open = (name: string) => {
    const writer = store.openWrite(`${prefix}/${name}`);
    return {
      write: (data: Uint8Array | string) =>
        writer.write(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)),
      close: async () => void (files[name] = await writer.close()),
      abort: () => writer.abort(),
    };
  };
  const put = async (name: string, data: Uint8Array | string) => {
    const file = open(name);
    try {
      await file.write(data);
      await file.close();
    } catch (err) {
      await file.abort();
      throw err;
    }
  };
  /** An external data file written as graphs are: graphs written against it share the tensors it already holds. */
  const dataFile = (name: string) => {
    const file = open(name);
    const sink = externalDataSink({ location: path.posix.basename(name), minBytes: 1024 }, (chunk) => file.write(chunk));
    return { sink, close: file.close, abort: file.abort };
  };
  // A graph with large weights goes out as `<name>` plus its data file, else as one file.
  const putGraph = async (name: string, g: Graph, docString: string, sink?: ExternalDataSink) => {
    if (!sink) return put(name, toOnnx(g, { docString }));
    await put(name, await writeOnnxWithExternalData(g, sink, { docString }));
  };
  for (const mode of spec.modes) {
    const trainSpec: TrainStepSpec = {
      dims: model.dims,
      batch: spec.batch,
      seq: spec.seq,
      dtype: 'float32',
      mode,
      lora: spec.lora,
      adamw: spec.adamw,
      objectives: spec.objectives,
      ...(spec.frozenDtype ? { frozenDtype: spec.frozenDtype } : {}),
    };
    const frozen = mode === 'lora' ? model.weights : undefined;
    onProgress?.(`train-step-${mode}`);
    const step = buildTrainStep(trainSpec, frozen);
    onProgress?.(`eval-${mode}`);
    const evaluation = buildEval(trainSpec, frozen);
    // The LoRA train step and its eval graph hold the same frozen base: one data file serves both.
    const shared = graphWeightBytes(step.graph) >= externalDataBytes ? dataFile(sharedWeightsFile(mode)) : undefined;
    try {
      await putGraph(`train-step-${mode}.onnx`, step.graph, `Pixel train step (${mode}), generator ${GENERATOR_VERSION}`, shared?.sink);
      await putGraph(`eval-${mode}.onnx`, evaluation.graph, `Pixel eval (${mode}), generator ${GENERATOR_VERSION}`, shared?.sink);
      await shared?.close();
    } catch (err) {
      await shared?.abort();
      throw err;
    }
    await put(`train-step-${mode}.json`, `${JSON.stringify(step.manifest, null, 2)}\n`);
    await put(`eval-${mode}.json`, `${JSON.stringify(evaluation.manifest, null, 2)}\n`);
  }
  onProgress?.('inference');
  const inference = buildInference(model.dims, model.weights, inferencePositions(model.config, spec.seq));
  // transformers.js looks for `model.onnx_data` beside a model with external data.
  const inferenceData = graphWeightBytes(inference) >= externalDataBytes ? dataFile('inference/onnx/model.onnx_data') : undefined;
  try {
    await putGraph('inference/onnx/model.onnx', inference, `Pixel inference with KV cache, generator ${GENERATOR_VERSION}`, inferenceData?.sink);
    await inferenceData?.close();
  } catch (err) {
    await inferenceData?.abort();
    throw err;
  }
  await put('inference/config.json', readInputFile(path.join(dir, 'config.json'), `model folder ${dir}: config`));
  for (const f of (await readdir(dir)).sort())
    if (TOKENIZER_AND_GENERATION_FILES.test(f)) await put(`inference/${f}`, await readFile(path.join(dir, f), 'utf8'));
  const manifest = {
    kind: 'training-artifacts',
    generatorVersion: GENERATOR_VERSION,
    key,
    model: dir,
    parameters,
    spec: { ...spec, model: undefined },
    files,
  };
  await store.writeText(`${prefix}/manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  return GenerateArtifactsResultSchema.parse({ manifestUri, key, cacheHit: false, parameters, files });
}
