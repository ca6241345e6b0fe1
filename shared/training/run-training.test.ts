import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../test/helpers';
import { TrainConfigSchema, type TrainConfigInput } from '../contracts/fine-tune';
import { generateConversation } from '../data/synthetic/generator';
import { buildEval, buildTrainStep, type TrainStepSpec } from './artifacts/train-step';
import { toOnnx } from './graph/onnx-writer';
import { createDefaultModel } from './model/default-model';
import { loadModelFolder } from './model/folder';
import { runTrainingInThread, TrainingError, type TrainStepMessage } from './run-training';
import type { TrainThreadData } from './train-thread';

describe('runTrainingInThread', () => {
  const t = tempDir('pixel-train-thread-');
  let base: TrainThreadData;
  beforeAll(async () => {
    const modelDir = path.join(t.dir, 'model');
    await createDefaultModel(modelDir, 'tiny', 5);
    const { dims, weights } = await loadModelFolder(modelDir);
    const spec: TrainStepSpec = {
      dims,
      batch: 2,
      seq: 96,
      dtype: 'float32',
      mode: 'lora',
      lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] },
    };
    const step = buildTrainStep(spec, weights);
    const evaluation = buildEval(spec, weights);
    writeFileSync(path.join(t.dir, 'step.onnx'), toOnnx(step.graph));
    writeFileSync(path.join(t.dir, 'eval.onnx'), toOnnx(evaluation.graph));
    const shard = (name: string, from: number, n: number) => {
      const file = path.join(t.dir, name);
      writeFileSync(
        file,
        `${Array.from({ length: n }, (_, i) => JSON.stringify({ ...generateConversation(from + i, { seed: 3, crisisShare: 0.2, piiShare: 0 }), id: `${name}-${i}` })).join('\n')}\n`,
      );
      return file;
    };
    base = {
      modelDir,
      trainStep: { path: path.join(t.dir, 'step.onnx'), manifest: step.manifest },
      evaluation: { path: path.join(t.dir, 'eval.onnx'), manifest: evaluation.manifest },
      trainFiles: [shard('train.jsonl', 0, 30)],
      valFiles: [shard('val.jsonl', 900, 4)],
      config: TrainConfigSchema.parse({
        mode: 'lora',
        steps: 8,
        warmupSteps: 2,
        batch: 2,
        seq: 96,
        evalEvery: 4,
        evalBatches: 1,
        checkpointEvery: 4,
        lr: 5e-3,
        minLr: 5e-4,
      } satisfies TrainConfigInput),
      checkpointDir: path.join(t.dir, 'run-a'),
    };
    mkdirSync(base.checkpointDir, { recursive: true });
  });
  afterAll(() => t.cleanup());

  it('trains off the main thread, reports steps and checkpoints, and a resumed thread repeats the rest of the run', async () => {
    const steps: TrainStepMessage[] = [];
    const checkpoints: string[] = [];
    const first = await runTrainingInThread(base, { onStep: (m) => steps.push(m), onCheckpoint: (m) => checkpoints.push(`${m.reason}:${m.step}`) })
      .done;
    expect(first.step).toBe(8);
    expect(first.stoppedBy).toBe('steps');
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(steps[3]?.valLoss).toBeDefined();
    expect(steps[7]?.cursor.line).toBeGreaterThan(0);
    expect(checkpoints).toEqual(expect.arrayContaining(['interval:4', 'interval:8', 'best:4']));

    const resumedDir = path.join(t.dir, 'run-b');
    mkdirSync(resumedDir, { recursive: true });
    const resumed = await runTrainingInThread({
      ...base,
      checkpointDir: resumedDir,
      resumeFrom: path.join(base.checkpointDir, 'step-0000004.safetensors'),
    }).done;
    expect(resumed.losses).toEqual(first.losses.filter((l) => l.step > 4));
  }, 120_000);

  it('refuses a checkpoint of another graph, and reports a bad config as an error', async () => {
    const other = path.join(t.dir, 'other.safetensors');
    writeFileSync(other, 'not a checkpoint');
    await expect(runTrainingInThread({ ...base, resumeFrom: other }).done).rejects.toBeInstanceOf(TrainingError);
    await expect(runTrainingInThread({ ...base, config: { ...(base.config as object), lr: -1 } }).done).rejects.toThrow(/lr/);
  }, 60_000);
});
