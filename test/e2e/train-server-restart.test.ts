import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { PipelineInput } from '../../shared/contracts';
import { startDevServer, stopChild, type DevServer } from '../../client/temporal-cli';
import { pendingHeartbeat } from '../../client/follow';
import { trainingPipelineWorkflow } from '../../workflows/pipeline';
import { freePort, tempDir } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The Temporal dev server stops during training and comes back on the same SQLite file: the
 * workers (processes of their own) reconnect, the training activity carries on or is retried
 * from its checkpoint, and the run completes with every step.
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

  it('a run whose server restarts mid-training completes with all its steps', async () => {
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const input: PipelineInput = {
      data: { source: { kind: 'synthetic', count: 300, seed: 31 } },
      train: { config: { steps: 150, evalEvery: 50, checkpointEvery: 10 }, heartbeatTimeoutSeconds: 10 },
      evaluate: { enabled: false },
    };
    const handle = await client.workflow.start(trainingPipelineWorkflow, { taskQueue: 'pixel-cpu', workflowId: 'restart-run', args: [input] });
    const deadline = Date.now() + 120_000;
    let step = 0;
    while (step < 25 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      step = (await pendingHeartbeat(handle))?.details.step ?? 0;
    }
    expect(step).toBeGreaterThanOrEqual(25);

    await server.stop();
    await new Promise((r) => setTimeout(r, 2000));
    server = await startDevServer(options());

    const result = await handle.result();
    expect(result.train?.steps).toBe(150);
    expect(result.train?.stoppedBy).toBe('steps');
    expect(result.stages.map((s) => s.status)).toEqual(['completed', 'completed', 'completed', 'completed', 'pending', 'pending', 'pending']);
    await connection.close();
  }, 300_000);
});
