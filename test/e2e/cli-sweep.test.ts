import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../../shared/artifacts';
import { PipelineInputSchema, type SweepInput, type SweepResult } from '../../shared/contracts';
import { createDefaultModel } from '../../shared/training/model/default-model';
import { createCpuWorker, createGpuWorker } from '../../workers/factory';
import { pixelFailure, runPixel, tempDir, testEnvironment, uniqueQueue } from '../helpers';

/** `pixel sweep` as ML ops use it, against the real dev server with a CPU and a GPU-queue worker. */
describe('pixel sweep on a real dev server', () => {
  let env: TestWorkflowEnvironment;
  let workers: { worker: Worker; running: Promise<void> }[] = [];
  const t = tempDir('pixel-cli-sweep-');
  const queue = uniqueQueue('cli-sweep');
  let cli: { env: NodeJS.ProcessEnv };
  const model = path.join(t.dir, 'tiny-model');

  beforeAll(async () => {
    env = await testEnvironment();
    const store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    process.env.PIXEL_HOME = path.join(t.dir, 'home');
    await createDefaultModel(model, 'tiny', 3);
    const connection = env.nativeConnection;
    const cpu = await createCpuWorker({ connection, namespace: 'default', taskQueue: queue, store });
    const gpu = await createGpuWorker({
      connection,
      namespace: 'default',
      taskQueue: `${queue}-gpu`,
      store,
      accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' },
    });
    workers = [cpu, gpu].map((worker) => ({ worker, running: worker.run() }));
    cli = { env: { ...process.env, PIXEL_TEMPORAL_ADDRESS: process.env.PIXEL_TEST_TEMPORAL_ADDRESS } };
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) w.worker.shutdown();
    await Promise.all(workers.map((w) => w.running));
    t.cleanup();
  });

  it('starts a sweep and follows it to its best trial, shows its leaderboard, and prints the best configuration as a pipeline input', async () => {
    const id = `${queue}-sweep`;
    const input: SweepInput = {
      name: 'cli-sweep',
      pipeline: {
        data: { source: { kind: 'synthetic', count: 200, seed: 9 } },
        train: { config: { model, steps: 12, batch: 2, seq: 48, warmupSteps: 1, evalEvery: 0, checkpointEvery: 0 } },
        evaluate: { validationSet: { crisisShare: { min: 0, target: 0.15, max: 0.2 } } },
      },
      space: { lr: { type: 'log-float', low: 1e-4, high: 3e-2 } },
      asha: { minSteps: 4, eta: 3 },
      trials: 3,
      quickEval: { items: 3, maxNewTokens: 4 },
      validationExamples: 4,
    };
    const started = await runPixel(['sweep', 'start', '--id', id, '--task-queue', queue, '--input', JSON.stringify(input)], {
      ...cli,
      timeout: 300_000,
    });
    expect(started.stdout).toContain(`started ${id}`);
    expect(started.stdout).toMatch(/sweep cli-sweep: completed; 3\/3 trials started/);
    expect(started.stdout).toMatch(/best: trial \d+: valLoss=\d+\.\d{4}, quality=\d+\.\d{4}/);
    expect(started.stdout).toMatch(/report: file:\/\/.*sweep-report\.html/);

    const status = JSON.parse((await runPixel(['sweep', 'status', id, '--json'], cli)).stdout) as SweepResult;
    expect(status).toMatchObject({ name: 'cli-sweep', status: 'completed', started: 3, budget: 3 });
    expect(status.trials).toHaveLength(3);

    const out = path.join(t.dir, 'best-input.json');
    await runPixel(['sweep', 'best', id, '--as-input', '--out', out], cli);
    const best = JSON.parse(readFileSync(out, 'utf8')) as unknown;
    // Fed straight back: a valid pipeline input that trains the best trial's configuration.
    const parsed = PipelineInputSchema.parse(best);
    expect(parsed.train.config.lr).toBe(status.best!.params.lr);
    expect(parsed.train.config.steps).toBe(12);
    expect(parsed.data.source).toMatchObject({ kind: 'synthetic', count: 200, seed: 9 });

    // A finished sweep cannot be stopped or widened; an unknown one is named.
    const stop = await pixelFailure(['sweep', 'stop', id], cli);
    expect(stop.stderr.trim().split('\n')).toHaveLength(1);
    expect(stop.stderr).toMatch(/^pixel: .*(completed|closed|not found)/i);
    const missing = await pixelFailure(['sweep', 'status', `${id}-nope`], cli);
    expect(missing.stderr).toMatch(/^pixel: no sweep /);
  }, 360_000);
});
