import { createHash } from 'node:crypto';
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
import { toOnnx, toOnnxWithExternalData } from '../graph/onnx-writer';
import { parameterShapes } from '../model/config';
import { TOKENIZER_AND_GENERATION_FILES, loadModelFolder } from '../model/folder';
import { buildInference } from './inference';
import { buildEval, buildTrainStep, GENERATOR_VERSION, type TrainStepSpec } from './train-step';

/**
 * Graphs whose initializers exceed this many bytes keep them in a data file beside the model
 * (protobuf cannot hold 2 GB; large frozen weights load faster from a file anyway).
 */
export const EXTERNAL_DATA_BYTES = 256 * 1024 * 1024;

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
  for (const f of entries)
    if (/\.safetensors$|^model\.safetensors\.index\.json$/.test(f)) weightsHash.update(f).update(await readFile(path.join(dir, f)));
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
  const model = await loadModelFolder(dir);
  const parameters = parameterShapes(model.dims).reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
  const files: GenerateArtifactsResult['files'] = {};
  const put = async (name: string, data: Uint8Array | string) => {
    const writer = store.openWrite(`${prefix}/${name}`);
    try {
      await writer.write(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      const ref = await writer.close();
      files[name] = ref;
    } catch (err) {
      await writer.abort();
      throw err;
    }
  };
  // A graph with large weights goes out as `<name>` plus `<dataName>`, else as one file.
  const putGraph = async (name: string, g: Graph, docString: string, dataName = `${path.basename(name)}.data`) => {
    const bytes = [...g.initializers.values()].reduce((n, t) => n + t.data.byteLength, 0);
    if (bytes < externalDataBytes) return put(name, toOnnx(g, { docString }));
    const { model, data } = toOnnxWithExternalData(g, { location: dataName, minBytes: 1024 }, { docString });
    await put(name, model);
    await put(path.posix.join(path.posix.dirname(name), dataName), data);
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
    };
    const frozen = mode === 'lora' ? model.weights : undefined;
    onProgress?.(`train-step-${mode}`);
    const step = buildTrainStep(trainSpec, frozen);
    await putGraph(`train-step-${mode}.onnx`, step.graph, `Pixel train step (${mode}), generator ${GENERATOR_VERSION}`);
    await put(`train-step-${mode}.json`, `${JSON.stringify(step.manifest, null, 2)}\n`);
    onProgress?.(`eval-${mode}`);
    const evaluation = buildEval(trainSpec, frozen);
    await putGraph(`eval-${mode}.onnx`, evaluation.graph, `Pixel eval (${mode}), generator ${GENERATOR_VERSION}`);
    await put(`eval-${mode}.json`, `${JSON.stringify(evaluation.manifest, null, 2)}\n`);
  }
  onProgress?.('inference');
  const maxPositions = Math.max(spec.seq, Number((model.config as { max_position_embeddings?: number }).max_position_embeddings ?? 2048));
  // transformers.js looks for `model.onnx_data` beside a model with external data.
  await putGraph(
    'inference/onnx/model.onnx',
    buildInference(model.dims, model.weights, maxPositions),
    `Pixel inference with KV cache, generator ${GENERATOR_VERSION}`,
    'model.onnx_data',
  );
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
