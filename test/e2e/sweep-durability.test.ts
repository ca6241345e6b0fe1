import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startDevServer, stopChild, type DevServer } from '../../client/temporal-cli';
import type { SweepInput, SweepResult, SweepTrial } from '../../shared/contracts';
import { createDefaultModel } from '../../shared/training/model/default-model';
import { hyperparameterSweepWorkflow } from '../../workflows/sweep';
import { sweepLeaderboardQuery } from '../../workflows/sweep-messages';
import { freePort, startWorkerProcess, tempDir } from '../helpers';

/** What must survive: each trial's proposal, how far it got, what every rung measured and how it ended. */
const essence = (trials: readonly SweepTrial[]) =>
  [...trials]
    .sort((a, b) => a.index - b.index)
    .map((t) => ({ index: t.index, params: t.params, status: t.status, step: t.step, rungs: t.rungs, values: t.values }));

/**
 * A sweep whose GPU worker is SIGKILLed and whose Temporal server restarts (same SQLite file)
 * while trials train: it completes with exactly the trials, proposals, rung values and ASHA
 * decisions of the same sweep run without interruption. The sampler's state is the workflow's
 * own, so nothing is lost and nothing is proposed twice; a killed segment resumes from its checkpoint.
 */
describe('a sweep survives a killed GPU worker and a server restart', () => {
  const t = tempDir('pixel-sweep-durability-');
  let server: DevServer;
  let port: number;
  let uiPort: number;
  let env: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];
  const options = () => ({ dbFile: path.join(t.dir, 'temporal.db'), port, uiPort, logFile: path.join(t.dir, 'temporal.log') });
  const model = path.join(t.dir, 'tiny-model');

  beforeAll(async () => {
    port = await freePort();
    uiPort = await freePort();
    server = await startDevServer(options());
    await createDefaultModel(model, 'tiny', 3);
    env = {
      ...process.env,
      PIXEL_TEMPORAL_ADDRESS: server.address,
      PIXEL_ARTIFACTS: path.join(t.dir, 'artifacts'),
      PIXEL_HOME: path.join(t.dir, 'home'),
      PIXEL_EXECUTION_PROVIDER: 'cpu',
      PIXEL_LOG_LEVEL: 'ERROR',
    };
    for (const file of ['cpu-worker.ts', 'gpu-worker.ts']) {
      const w = startWorkerProcess(file, env);
      children.push(w.child);
      await w.ready;
    }
  }, 180_000);

  afterAll(async () => {
    for (const c of children) await stopChild(c, 5000);
    await server?.stop();
    t.cleanup();
  });

  const input: SweepInput = {
    pipeline: {
      data: { source: { kind: 'synthetic', count: 240, seed: 5 } },
      train: {
        config: { model, steps: 90, batch: 2, seq: 48, warmupSteps: 2, evalEvery: 0, checkpointEvery: 3, seed: 3 },
        heartbeatTimeoutSeconds: 4,
      },
    },
    space: { lr: { type: 'log-float', low: 1e-4, high: 3e-2 }, 'lora.rank': { type: 'categorical', choices: [2, 4] } },
    objectives: [{ name: 'valLoss', direction: 'minimize' }],
    // TPE after two trials: later proposals depend on the earlier trials' results.
    sampler: { kind: 'tpe', seed: 4, startupTrials: 2 },
    asha: { minSteps: 10, eta: 3 },
    trials: 5,
    // One trial at a time: the interrupted sweep sees its history in the same order as the reference.
    concurrency: 1,
    validationExamples: 4,
  };

  it('completes with the uninterrupted sweep’s trials, proposals and rung values', async () => {
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const reference: SweepResult = await client.workflow.execute(hyperparameterSweepWorkflow, {
      taskQueue: 'pixel-cpu',
      workflowId: 'sweep-reference',
      args: [input],
    });
    expect(reference.trials).toHaveLength(5);

    const handle = await client.workflow.start(hyperparameterSweepWorkflow, {
      taskQueue: 'pixel-cpu',
      workflowId: 'sweep-interrupted',
      args: [input],
    });
    // Interrupt once a trial has passed its first rung, another has started, and a segment is training on the GPU worker.
    const deadline = Date.now() + 120_000;
    let board = await handle.query(sweepLeaderboardQuery).catch(() => undefined);
    const segmentRunning = async () =>
      ((await handle.describe()).raw.pendingActivities ?? []).some(
        (a) =>
          a.activityType?.name === 'trainTrialSegmentActivity' &&
          a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
      );
    while (!(board && board.started >= 2 && board.trials.some((x) => x.rungs.length > 0) && (await segmentRunning())) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      board = await handle.query(sweepLeaderboardQuery).catch(() => undefined);
    }
    expect(board?.started).toBeGreaterThanOrEqual(2);
    expect(board?.status).toBe('running');
    const gpu = children[1]!;
    gpu.kill('SIGKILL');
    await new Promise((r) => (gpu.exitCode !== null || gpu.signalCode !== null ? r(undefined) : gpu.once('exit', r)));
    await server.stop();
    await new Promise((r) => setTimeout(r, 1000));
    server = await startDevServer(options());
    const replacement = startWorkerProcess('gpu-worker.ts', env);
    children.push(replacement.child);
    await replacement.ready;

    const connection2 = await Connection.connect({ address: server.address });
    const result: SweepResult = await new Client({ connection: connection2 }).workflow.getHandle('sweep-interrupted').result();
    expect(result.status).toBe('completed');
    expect(essence(result.trials)).toEqual(essence(reference.trials));
    expect(result.trainSteps).toBe(reference.trainSteps);
    expect(result.best?.index).toBe(reference.best?.index);
    // The segment the kill interrupted ran again (a retry, resumed from its checkpoint), as one activity.
    const events = (await new Client({ connection: connection2 }).workflow.getHandle('sweep-interrupted').fetchHistory()).events ?? [];
    const segmentIds = new Set(
      events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainTrialSegmentActivity').map((e) => String(e.eventId)),
    );
    const retried = events.filter(
      (e) =>
        e.activityTaskStartedEventAttributes &&
        segmentIds.has(String(e.activityTaskStartedEventAttributes.scheduledEventId)) &&
        (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1,
    );
    expect(retried.length).toBeGreaterThanOrEqual(1);
    expect(segmentIds.size).toBe(result.trials.reduce((a, x) => a + x.rungs.length, 0));
    await connection.close();
    await connection2.close();
  }, 420_000);
});
