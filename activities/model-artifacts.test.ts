import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import * as path from 'node:path';
import { LocalArtifactStore } from '../shared/artifacts';
import type { GenerateArtifactsInput, GenerateArtifactsResult } from '../shared/contracts';
import { createDefaultModel } from '../shared/training/model/default-model';
import { tempDir } from '../test/helpers';
import { createTrainingActivities } from './model-artifacts';

describe('generateTrainingArtifactsActivity', () => {
  const t = tempDir('pixel-activity-training-');
  afterAll(() => t.cleanup());

  it('generates the artifacts of a model folder into the store, heartbeating what it builds', async () => {
    const model = path.join(t.dir, 'model');
    await createDefaultModel(model, 'tiny', 1);
    const { generateTrainingArtifactsActivity } = createTrainingActivities(new LocalArtifactStore(path.join(t.dir, 'store')));
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const input: GenerateArtifactsInput = { model, modes: ['lora'], batch: 1, seq: 16 };
    const result: GenerateArtifactsResult = await env.run(generateTrainingArtifactsActivity, input);
    expect(result.cacheHit).toBe(false);
    expect(Object.keys(result.files)).toEqual(expect.arrayContaining(['train-step-lora.onnx', 'eval-lora.onnx', 'inference/onnx/model.onnx']));
    expect(Object.keys(result.files)).not.toContain('train-step-full.onnx');
    expect(beats).toEqual(
      expect.arrayContaining([
        { phase: 'generate', what: 'train-step-lora' },
        { phase: 'generate', what: 'inference' },
      ]),
    );
  });

  it.each([
    [{ model: '' }, /model: model is empty/],
    [{ model: 'x', seq: 1 }, /seq/],
    [{ model: 'x', lora: { rank: 0 } }, /lora\.rank/],
    [{ model: '/no/such/folder' }, /model folder \/no\/such\/folder: config .*config\.json: it does not exist/],
  ])('fails %j non-retryably, naming the problem', async (input, message) => {
    const { generateTrainingArtifactsActivity } = createTrainingActivities(new LocalArtifactStore(path.join(t.dir, 'store')));
    const err: unknown = await new MockActivityEnvironment().run(generateTrainingArtifactsActivity, input as GenerateArtifactsInput).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toMatch(message);
  });
});
