import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { LocalArtifactStore } from '../../artifacts';
import { tempDir } from '../../../test/helpers';
import { createDefaultModel } from '../model/default-model';
import { openModelFolder } from '../model/folder';
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
        'eval-lora.onnx',
        'lora-weights.onnx.data',
        'inference/onnx/model.onnx',
        'inference/onnx/model.onnx_data',
      ]),
    );
    // The train step and the eval graph share one data file: the frozen base is stored once.
    const data = result.files['lora-weights.onnx.data']!;
    expect(existsSync(fileURLToPath(data.uri))).toBe(true);
    const frozen = (await openModelFolder(model)).storedBytes;
    expect(data.bytes).toBeGreaterThan(frozen * 0.9); // norms under 1 KiB stay inline
    expect(data.bytes).toBeLessThan(frozen * 1.5);
    for (const name of ['train-step-lora.onnx', 'eval-lora.onnx']) {
      const session = await ort.InferenceSession.create(fileURLToPath(result.files[name]!.uri));
      expect(session.inputNames).toEqual(
        expect.arrayContaining(['input_ids', 'targets', 'loss_mask', 'example_weight', 'negative_example', 'objective_weights']),
      );
      await session.release();
    }
    // The default (inline) layout is a different artifact set: another key.
    const inline = await generateTrainingArtifacts(store, { model, modes: ['lora'], batch: 1, seq: 8 });
    expect(inline.key).not.toBe(result.key);
    expect(Object.keys(inline.files).some((f) => f.endsWith('.data'))).toBe(false);
  });
});
