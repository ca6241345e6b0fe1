import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { PipelineInput, PipelineResult } from '../../shared/contracts';
import { startDevServer, stopChild, type DevServer } from '../../client/temporal-cli';
import { pendingHeartbeat } from '../../client/follow';
import { trainingPipelineWorkflow } from '../../workflows/pipeline';
import { freePort, tempDir } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');

/** The training activity's last heartbeat as the server has it: its figures and when the server recorded it. */
async function trainingBeat(handle: WorkflowHandle): Promise<{ step: number; phase?: string; at: number } | undefined> {
  const beat = await pendingHeartbeat(handle);
  const ts = (await handle.describe()).raw.pendingActivities?.[0]?.lastHeartbeatTime;
  if (beat?.activity !== 'trainModelActivity' || beat.details.step === undefined || !ts?.seconds) return undefined;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return { step: beat.details.step, phase: beat.details.phase, at: seconds * 1000 + (ts.nanos ?? 0) / 1e6 };
}

/**
 * The Temporal dev server stops during training and comes back on the same SQLite file: the
 * workers (processes of their own) reconnect, the training activity carries on or is retried
 * from its checkpoint, and the run completes with every step and the uninterrupted run's losses.
 */
describe('training survives a Temporal server restart', () => {
  const t = tempDir('pixel-restart-');
  let server: DevServer;
  let port: number;
  let uiPort: number;
  const workers: ChildProcess[] = [];
  const options = () => ({ dbFile: path.join(t.dir, 'temporal.db'), port, uiPort, logFile: path.join(t.dir, 'temporal.log') });

  beforeAll(async () => {
    port = await freePort();
    uiPort = await freePort();
    server = await startDevServer(options());
    const env = {
      ...process.env,
      PIXEL_TEMPORAL_ADDRESS: server.address,
      PIXEL_ARTIFACTS: path.join(t.dir, 'artifacts'),
      PIXEL_HOME: path.join(t.dir, 'home'),
      PIXEL_EXECUTION_PROVIDER: 'cpu',
      PIXEL_LOG_LEVEL: 'ERROR',
    };
    for (const w of ['cpu-worker.ts', 'gpu-worker.ts'])
      workers.push(spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'workers', w)], { cwd: ROOT, env, stdio: 'ignore' }));
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await stopChild(w, 5000);
    await server?.stop();
    t.cleanup();
  });

  const STEPS = 150;
  const input = (runName: string): PipelineInput => ({
    runName,
    data: { source: { kind: 'synthetic', count: 300, seed: 31 } },
    train: { config: { steps: STEPS, evalEvery: 50, checkpointEvery: 10, seed: 3 }, heartbeatTimeoutSeconds: 10 },
    evaluate: { enabled: false },
  });
  const lossCurve = (r: PipelineResult) =>
    JSON.parse(readFileSync(fileURLToPath(r.train!.lossCurveUri), 'utf8')) as { losses: { step: number; loss: number }[] };

  it('a run whose server restarts mid-training completes with all its steps and the uninterrupted run’s losses', async () => {
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    // The uninterrupted reference run.
    const reference = await client.workflow.execute(trainingPipelineWorkflow, {
      taskQueue: 'pixel-cpu',
      workflowId: 'restart-reference',
      args: [input('reference')],
    });
    expect(reference.train?.steps).toBe(STEPS);

    const handle = await client.workflow.start(trainingPipelineWorkflow, {
      taskQueue: 'pixel-cpu',
      workflowId: 'restart-run',
      args: [input('restarted')],
    });
    // The server stops at the first training progress it has recorded, so the outage lands well inside training.
    let deadline = Date.now() + 90_000;
    let before: Awaited<ReturnType<typeof trainingBeat>>;
    while (!(before && before.phase === 'training' && before.step > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      before = await trainingBeat(handle);
    }
    expect(before).toMatchObject({ phase: 'training' });
    expect(before!.step).toBeGreaterThan(0);
    expect(before!.step).toBeLessThan(STEPS);

    await server.stop();
    const down = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    server = await startDevServer(options());

    // Training carries on across the outage: the restarted server records new training progress
    // (a heartbeat after the stop whose step differs from the one the server came back with,
    // still before the last step) for the same run.
    deadline = Date.now() + 90_000;
    const stale = await trainingBeat(handle).catch(() => undefined);
    let after: Awaited<ReturnType<typeof trainingBeat>>;
    const progressed = (b: typeof after) => b && b.at > down && b.phase === 'training' && b.step > 0 && b.step !== stale?.step;
    while (!progressed(after) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      after = await trainingBeat(handle).catch(() => undefined);
    }
    expect(after).toMatchObject({ phase: 'training' });
    expect(after!.at).toBeGreaterThan(down);
    expect(after!.step).toBeGreaterThan(0);
    expect(after!.step).not.toBe(stale?.step);
    expect(after!.step).toBeLessThan(STEPS);

    const result = await handle.result();
    const train = result.train!;
    expect(train.steps).toBe(STEPS);
    expect(train.stoppedBy).toBe('steps');
    expect(result.stages.map((s) => s.status)).toEqual(['completed', 'completed', 'completed', 'completed', 'pending', 'pending', 'pending']);
    // Whether the attempt carried on or a retry resumed from a checkpoint, its losses are
    // exactly the uninterrupted run's from there on.
    expect(train.resumedFromStep % 10).toBe(0);
    expect(train.resumedFromStep).toBeLessThan(STEPS);
    const losses = lossCurve(result).losses;
    expect(losses[0]?.step).toBe(train.resumedFromStep + 1);
    expect(losses).toEqual(lossCurve(reference).losses.filter((l) => l.step > train.resumedFromStep));
    expect(train.bestValLoss).toBe(reference.train!.bestValLoss);
    await connection.close();
  }, 300_000);
});
