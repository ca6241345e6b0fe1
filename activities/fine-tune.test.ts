import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalArtifactStore } from '../shared/artifacts';
import type { TrainHeartbeat } from '../shared/contracts';
import { generateConversation } from '../shared/data/synthetic/generator';
import { createDefaultModel } from '../shared/training/model/default-model';
import { loadModelFolder } from '../shared/training/model/folder';
import * as ort from 'onnxruntime-node';
import { readSafetensors, toFloat32, writeSafetensors } from '../shared/training/safetensors';
import { tempDir } from '../test/helpers';
import { createTrainActivities, type TrainModelInput, type TrainModelResult } from './fine-tune';

describe('trainModelActivity', () => {
  const t = tempDir('pixel-activity-train-');
  let store: LocalArtifactStore;
  let input: TrainModelInput;
  beforeAll(async () => {
    const model = path.join(t.dir, 'model');
    await createDefaultModel(model, 'tiny', 4);
    store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const shard = async (name: string, split: string, from: number, n: number) => {
      const ref = await store.writeText(
        `data/${name}`,
        Array.from(
          { length: n },
          (_, i) => `${JSON.stringify({ ...generateConversation(from + i, { seed: 2, crisisShare: 0.2, piiShare: 0 }), id: `${name}-${i}` })}\n`,
        ).join(''),
      );
      return { split, kind: 'source', ...ref, records: n };
    };
    const manifest = await store.writeText(
      'data/manifest.json',
      JSON.stringify({ kind: 'augmented-dataset', shards: [await shard('train.jsonl', 'train', 0, 30), await shard('val.jsonl', 'val', 800, 4)] }),
    );
    input = {
      config: {
        model,
        mode: 'lora',
        steps: 6,
        warmupSteps: 1,
        batch: 2,
        seq: 96,
        evalEvery: 3,
        evalBatches: 1,
        checkpointEvery: 3,
        lr: 5e-3,
        minLr: 5e-4,
        lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] },
      },
      dataManifestUri: manifest.uri,
      runId: 'run-1',
    };
  });
  afterAll(() => t.cleanup());

  const activity = () => createTrainActivities({ store, accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' } }).trainModelActivity;

  it('trains, heartbeating step, checkpoint, best val loss and data cursor, and a retry resumes from the heartbeat', async () => {
    const env = new MockActivityEnvironment();
    const beats: TrainHeartbeat[] = [];
    env.on('heartbeat', (d: unknown) => {
      if (d && typeof d === 'object' && 'step' in d) beats.push(d as TrainHeartbeat);
    });
    const first: TrainModelResult = await env.run(activity(), input);
    expect(first).toMatchObject({ steps: 6, stoppedBy: 'steps', executionProvider: 'cpu', resumedFromStep: 0 });
    expect(first.bestValLoss).not.toBeNull();
    const atThree = beats.find((b) => b.step === 3 && b.checkpointUri);
    expect(atThree?.checkpointUri).toMatch(/training\/runs\/run-1\/checkpoints\/step-0000003\.safetensors$/);
    expect(atThree?.dataCursor.line).toBeGreaterThan(0);
    const curve = JSON.parse(await readFile(fileURLToPath(first.lossCurveUri), 'utf8')) as { losses: { step: number; loss: number }[] };
    const chart = await readFile(fileURLToPath(first.lossChartUri!), 'utf8');
    // The fine-tuned model: a loadable folder whose adapted projections moved, the rest not.
    const tuned = await loadModelFolder(fileURLToPath(first.modelUri!));
    const baseModel = await loadModelFolder(input.config!.model!);
    const differs = (name: string) =>
      (tuned.weights.get(name)!.data as Float32Array).some((v, i) => v !== (baseModel.weights.get(name)!.data as Float32Array)[i]);
    expect(differs('model.layers.0.self_attn.q_proj.weight')).toBe(true);
    expect(differs('model.layers.0.self_attn.k_proj.weight')).toBe(false);
    const session = await ort.InferenceSession.create(path.join(fileURLToPath(first.modelUri!), 'onnx', 'model.onnx'));
    expect(session.outputNames).toContain('logits');
    await session.release();
    expect(chart).toMatch(/^<svg[\s\S]*class="train"[\s\S]*class="val"[\s\S]*<\/svg>/);

    // The retry of an attempt that died after step 3's checkpoint.
    const retry = new MockActivityEnvironment({ heartbeatDetails: atThree, attempt: 2 });
    const second: TrainModelResult = await retry.run(activity(), { ...input, runId: 'run-1' });
    expect(second.resumedFromStep).toBe(3);
    expect(second.steps).toBe(6);
    const resumed = JSON.parse(await readFile(fileURLToPath(second.lossCurveUri), 'utf8')) as { losses: { step: number; loss: number }[] };
    expect(resumed.losses).toEqual(curve.losses.filter((l) => l.step > 3));
  }, 120_000);

  it.each([
    [{ config: { lr: -1 } }, /config\.lr: lr must be positive/],
    [{ config: { mode: 'lora', lora: { targets: ['q_proj', 'wq'] } } }, /config\.lora\.targets/],
    [{ config: { model: '/no/such/model' } }, /config\.model: no model folder at \/no\/such\/model/],
    [{ dataManifestUri: 'file:///no/such/manifest.json' }, /dataManifestUri file:\/\/\/no\/such\/manifest\.json/],
  ])('fails %j fast and non-retryably, naming the field', async (change, message) => {
    const bad = { ...input, ...change, config: { ...input.config, ...(change as { config?: object }).config } } as TrainModelInput;
    const err: unknown = await new MockActivityEnvironment().run(activity(), bad).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it('fails non-retryably on a non-finite loss, naming the step and the last good checkpoint', async () => {
    // A base model with a NaN in its final norm: the first step's loss is NaN.
    const poisoned = path.join(t.dir, 'poisoned');
    await createDefaultModel(poisoned, 'tiny', 4);
    const file = path.join(poisoned, 'model.safetensors');
    const { tensors } = readSafetensors(readFileSync(file));
    writeFileSync(
      file,
      writeSafetensors(
        [...tensors].map(([name, e]) => ({
          name,
          dtype: 'F32' as const,
          shape: e.shape,
          data: name === 'model.norm.weight' ? new Float32Array(e.shape[0] as number).fill(NaN) : toFloat32(e),
        })),
      ),
    );
    const err: unknown = await new MockActivityEnvironment()
      .run(activity(), { ...input, runId: 'nan-run', config: { ...input.config, model: poisoned } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('NonFiniteLoss');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toMatch(/not finite at step 1; last good checkpoint: none/);
  }, 60_000);
});
