import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { LocalArtifactStore } from '../../artifacts';
import { tempDir } from '../../../test/helpers';
import { createDefaultModel } from '../model/default-model';
import { generateTrainingArtifacts } from './generate';

describe('generateTrainingArtifacts', () => {
  const t = tempDir('pixel-generate-');
  afterAll(() => t.cleanup());

  it('keeps large weights in data files beside the graphs, which onnxruntime opens by path', async () => {
    const model = path.join(t.dir, 'model');
    await createDefaultModel(model, 'tiny', 2);
    const store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const result = await generateTrainingArtifacts(store, { model, modes: ['lora'], batch: 1, seq: 8 }, undefined, { externalDataBytes: 1 });
    expect(Object.keys(result.files)).toEqual(
      expect.arrayContaining([
        'train-step-lora.onnx',
        'train-step-lora.onnx.data',
        'eval-lora.onnx.data',
        'inference/onnx/model.onnx',
        'inference/onnx/model.onnx_data',
      ]),
    );
    const file = fileURLToPath(result.files['eval-lora.onnx']!.uri);
    expect(existsSync(`${file}.data`)).toBe(true);
    const session = await ort.InferenceSession.create(file);
    expect(session.inputNames).toEqual(
      expect.arrayContaining(['input_ids', 'targets', 'loss_mask', 'example_weight', 'negative_example', 'objective_weights']),
    );
    await session.release();
    // The default (inline) layout is a different artifact set: another key.
    const inline = await generateTrainingArtifacts(store, { model, modes: ['lora'], batch: 1, seq: 8 });
    expect(inline.key).not.toBe(result.key);
    expect(Object.keys(inline.files).some((f) => f.endsWith('.data'))).toBe(false);
  });
});
