import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../../shared/artifacts';
import type { PipelineInput, PipelineResult } from '../../shared/contracts';
import { pendingHeartbeat } from '../../client/follow';
import { trainingPipelineWorkflow } from '../../workflows/pipeline';
import { createCpuWorker } from '../../workers/factory';
import { startWorkerProcess, tempDir, testEnvironment, uniqueQueue } from '../helpers';

describe('training survives a killed GPU worker', () => {
  const t = tempDir('pixel-durability-');
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = uniqueQueue('durability');
  let childEnv: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    env = await testEnvironment();
    const artifacts = path.join(t.dir, 'artifacts');
    worker = await createCpuWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      store: new LocalArtifactStore(artifacts),
    });
    running = worker.run();
    childEnv = {
      ...process.env,
      PIXEL_TEMPORAL_ADDRESS: process.env.PIXEL_TEST_TEMPORAL_ADDRESS,
      PIXEL_ARTIFACTS: artifacts,
      PIXEL_HOME: path.join(t.dir, 'home'),
      PIXEL_GPU_TASK_QUEUE: `${taskQueue}-gpu`,
      PIXEL_EXECUTION_PROVIDER: 'cpu',
      PIXEL_LOG_LEVEL: 'WARN',
    };
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    worker?.shutdown();
    await running;
    await env?.teardown();
    t.cleanup();
  });

  const input = (name: string): PipelineInput => ({
    runName: name,
    data: { source: { kind: 'synthetic', count: 300, seed: 21 } },
    train: { config: { steps: 300, evalEvery: 100, checkpointEvery: 10, seed: 3 }, heartbeatTimeoutSeconds: 4 },
    // Training's durability is the subject; evaluation has its own tests.
    evaluate: { enabled: false },
  });
  const lossCurve = (r: PipelineResult) =>
    JSON.parse(readFileSync(fileURLToPath(r.train!.lossCurveUri), 'utf8')) as { losses: { step: number; loss: number }[] };

  it('a run whose GPU worker is SIGKILLed mid-training completes on a new worker, resumed from its last checkpoint, with the uninterrupted run’s steps and losses', async () => {
    const first = startWorkerProcess('gpu-worker.ts', childEnv);
    children.push(first.child);
    await first.ready;
    // The uninterrupted reference run.
    const reference = await env.client.workflow.execute(trainingPipelineWorkflow, {
      taskQueue,
      workflowId: `${taskQueue}-reference`,
      args: [input('reference')],
    });

    const handle = await env.client.workflow.start(trainingPipelineWorkflow, {
      taskQueue,
      workflowId: `${taskQueue}-killed`,
      args: [input('killed')],
    });
    // The killed run reaches training after preparation, safety and augmentation (cached from the
    // reference run) and the model's artifacts: about a minute alone, more beside other suites.
    const deadline = Date.now() + 180_000;
    let step = 0;
    // Heartbeats reach the server every few seconds (throttled), so the run is long enough that the kill lands mid-training.
    while (step < 60 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      step = (await pendingHeartbeat(handle))?.details.step ?? 0;
    }
    expect(step).toBeGreaterThanOrEqual(60);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const second = startWorkerProcess('gpu-worker.ts', childEnv);
    children.push(second.child);
    await second.ready;

    const result = await handle.result();
    const train = result.train!;
    expect(train.steps).toBe(reference.train!.steps);
    expect(train.steps).toBe(300);
    // Resumed from one of the checkpoints (every 10 steps) the killed attempt had reported: which
    // one depends on how far its throttled heartbeats had reached the server.
    expect(train.resumedFromStep % 10).toBe(0);
    expect(train.resumedFromStep).toBeGreaterThanOrEqual(10);
    expect(train.resumedFromStep).toBeLessThan(300);
    // The resumed attempt's losses are exactly the uninterrupted run's from there on.
    const resumedLosses = lossCurve(result).losses;
    expect(resumedLosses[0]?.step).toBe(train.resumedFromStep + 1);
    expect(resumedLosses).toEqual(lossCurve(reference).losses.filter((l) => l.step > train.resumedFromStep));
    expect(train.bestValLoss).toBe(reference.train!.bestValLoss);
  }, 360_000);
});
