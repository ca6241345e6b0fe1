import { createStepRunner } from '../shared/training/step-runner';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Command } from 'commander';
import * as ort from 'onnxruntime-node';
import { createTrainActivities } from '../activities/fine-tune';
import { createGpuActivities } from '../activities/gpu';
import { failureMessage } from '../client/follow';
import { findTemporalCli, startDevServer, type DevServer } from '../client/temporal-cli';
import { LocalArtifactStore } from '../shared/artifacts';
import {
  TrainConfigSchema,
  type PipelineInput,
  type PipelineResult,
  type TrainConfigInput,
  type TrainHeartbeat,
  type TrainModelResult,
} from '../shared/contracts';
import { generateConversation } from '../shared/data/synthetic/generator';
import { artifactSpecOf } from '../shared/training/fine-tune';
import { generateTrainingArtifacts } from '../shared/training/artifacts/generate';
import type { ArtifactManifest } from '../shared/training/artifacts/train-step';
import { BatchStream, type Batch } from '../shared/training/data/batches';
import { createDefaultModel } from '../shared/training/model/default-model';
import { loadModelFolder } from '../shared/training/model/folder';
import { loadTokenizer } from '../shared/training/tokenizer/load';
import { openTrainStep } from '../shared/training/trainer';
import { freePort, quietRuntime } from '../test/helpers';
import { trainingPipelineWorkflow } from '../workflows/pipeline';
import { createCpuWorker, createGpuWorker } from '../workers/factory';
import { Teardown, runBench } from './bench/teardown';
import { intOption } from './options';

interface BenchTrainOptions {
  steps: number;
  server: boolean;
  evaluate: boolean;
  serverRecords: number;
  serverTimeout: number;
}

type Beat = { at: number; beat: TrainHeartbeat };

/** Steady-state tokens/s between the first and the last heartbeat that reported a step's loss. */
function steadyTokensPerSecond(beats: readonly Beat[], tokensPerStep: number): { tokensPerSecond: number; firstStep: number; lastStep: number } {
  const steps = beats.filter((x) => x.beat.loss !== undefined);
  const first = steps[0];
  const last = steps[steps.length - 1];
  if (!first || !last || last.beat.step <= first.beat.step || last.at <= first.at)
    throw new Error(`too few step heartbeats to time (${steps.length}); raise --steps`);
  return {
    tokensPerSecond: ((last.beat.step - first.beat.step) * tokensPerStep) / ((last.at - first.at) / 1000),
    firstStep: first.beat.step,
    lastStep: last.beat.step,
  };
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The last non-empty line of a log file, for an error message (the file is removed with the temp dir). */
function lastLogLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return lines[lines.length - 1] ?? '(empty log)';
  } catch {
    return '(no log)';
  }
}

interface DevServerMeasurement {
  result: PipelineResult;
  beats: Beat[];
  activityStartedAt: number;
  activityFinishedAt: number;
  pipelineSeconds: number;
  serverHeartbeats: number;
  serverLastStep: number;
  serverStartSeconds: number;
}

/**
 * The project's pipeline workflow on a real Temporal dev server (SQLite in the temp dir), with a
 * CPU worker (workflows and CPU activities) and a GPU-queue worker (training, evaluation
 * generation) built by workers/factory.ts, in this process. The training activity is the real
 * one, wrapped only to note when each heartbeat is sent; the worker forwards heartbeats to the
 * server (throttled as in production), and the client counts those the server shows.
 */
async function measureOnDevServer(
  teardown: Teardown,
  dir: string,
  store: LocalArtifactStore,
  trainConfig: TrainConfigInput,
  opts: BenchTrainOptions & { cli: string },
): Promise<DevServerMeasurement> {
  quietRuntime();
  const logFile = path.join(dir, 'temporal.log');
  const serverStarted = Date.now();
  let server: DevServer;
  try {
    server = await startDevServer({
      cli: opts.cli,
      dbFile: path.join(dir, 'temporal.db'),
      port: await freePort(),
      uiPort: await freePort(),
      logFile,
    });
  } catch (err) {
    throw new Error(`the Temporal dev server did not start: ${failureMessage(err)}; its log ends: ${lastLogLine(logFile)}`);
  }
  teardown.add('dev server', () => server.stop());
  const serverStartSeconds = (Date.now() - serverStarted) / 1000;
  console.error(`dev server at ${server.address} (${serverStartSeconds.toFixed(1)} s); starting workers (not timed) ...`);

  const nativeConnection = await NativeConnection.connect({ address: server.address });
  teardown.add('worker connection', () => nativeConnection.close());
  const connection = await Connection.connect({ address: server.address });
  teardown.add('client connection', () => connection.close());
  const client = new Client({ connection, namespace: 'default' });

  const taskQueue = 'pixel-bench-train';
  const accelerator = { executionProvider: 'cpu' as const, gpus: [], reason: 'bench' };
  const gpu = createGpuActivities({ store, accelerator });
  const beats: Beat[] = [];
  let activityStartedAt = 0;
  let activityFinishedAt = 0;
  const trainModelActivity: typeof gpu.trainModelActivity = async (input) => {
    // Observes the heartbeats the real activity sends: each still goes to the worker's own
    // heartbeat, which forwards it to the server.
    const ctx = Context.current();
    const send = ctx.heartbeat;
    Object.defineProperty(ctx, 'heartbeat', {
      configurable: true,
      writable: true,
      value: (details?: unknown) => {
        if (details && typeof details === 'object' && 'step' in details) beats.push({ at: Date.now(), beat: details as TrainHeartbeat });
        send(details);
      },
    });
    beats.length = 0;
    activityStartedAt = Date.now();
    try {
      return await gpu.trainModelActivity(input);
    } finally {
      activityFinishedAt = Date.now();
    }
  };

  const workers: { name: string; worker: Worker; running: Promise<void> }[] = [];
  const startWorker = (name: string, worker: Worker) => {
    const running = worker.run();
    running.catch(() => undefined);
    workers.push({ name, worker, running });
    teardown.add(`${name} worker`, async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      // A worker whose activity is still running waits out its shutdown grace time: don't.
      await Promise.race([running.catch(() => undefined), sleep(15_000)]);
    });
  };
  startWorker('cpu', await createCpuWorker({ connection: nativeConnection, namespace: 'default', taskQueue, store }));
  startWorker(
    'gpu',
    await createGpuWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue: `${taskQueue}-gpu`,
      store,
      accelerator,
      extra: { activities: { ...gpu, trainModelActivity } },
    }),
  );
  const workerDied = Promise.race(
    workers.map(({ name, running }) =>
      running.then(
        () => Promise.reject(new Error(`the ${name} worker stopped during the run`)),
        (err: unknown) => Promise.reject(new Error(`the ${name} worker failed: ${failureMessage(err)}`)),
      ),
    ),
  );
  workerDied.catch(() => undefined);

  const input: PipelineInput = {
    runName: 'bench-train',
    data: { source: { kind: 'synthetic', count: opts.serverRecords, seed: 8 } },
    train: { config: trainConfig },
    evaluate: { enabled: opts.evaluate },
    // Expert review waits for clinicians; the bench stops after evaluation.
    review: { enabled: false },
  };
  console.error(
    `pipeline on the dev server: ${opts.serverRecords} synthetic conversations, ${opts.steps} steps${opts.evaluate ? ', evaluation' : ''} ...`,
  );
  const pipelineStarted = Date.now();
  const handle = await client.workflow.start(trainingPipelineWorkflow, { taskQueue, workflowId: `bench-train-${Date.now()}`, args: [input] });

  // What the server holds of the training activity's heartbeats (each update of its last heartbeat time).
  const seen = new Set<string>();
  let serverLastStep = 0;
  let finished = false;
  const poll = (async () => {
    while (!finished) {
      try {
        const pending = (await handle.describe()).raw.pendingActivities?.find((a) => a.activityType?.name === 'trainModelActivity');
        const payload = pending?.heartbeatDetails?.payloads?.[0];
        if (pending?.lastHeartbeatTime && payload) {
          seen.add(JSON.stringify(pending.lastHeartbeatTime));
          serverLastStep = Math.max(serverLastStep, defaultPayloadConverter.fromPayload<TrainHeartbeat>(payload).step);
        }
      } catch {
        // A describe that fails (the run just closed) is not a measurement.
      }
      await sleep(1000);
    }
  })();

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the pipeline run did not finish within ${opts.serverTimeout} s (--server-timeout)`)),
      opts.serverTimeout * 1000,
    );
  });
  let result: PipelineResult;
  try {
    result = await Promise.race([handle.result(), workerDied, timeout]);
  } catch (err) {
    await handle.terminate('bench train failed').catch(() => undefined);
    throw new Error(`the pipeline run on the dev server failed: ${failureMessage(err)}`);
  } finally {
    clearTimeout(timer);
    finished = true;
    await poll;
  }
  const pipelineSeconds = (Date.now() - pipelineStarted) / 1000;
  return {
    result,
    beats,
    activityStartedAt,
    activityFinishedAt,
    pipelineSeconds,
    serverHeartbeats: seen.size,
    serverLastStep,
    serverStartSeconds,
  };
}

export function registerBenchTrainCommand(bench: Command): void {
  bench
    .command('train')
    .description(
      'Tokens/s of the training activity against the bare train-step loop on the same model, in a mock activity environment and through the pipeline on a real Temporal dev server, and the time a retried attempt takes to resume; prints JSON',
    )
    .option('--steps <n>', 'training steps per measurement', intOption('--steps', 10, 100_000), 120)
    .option('--no-server', 'skip the measurement on a Temporal dev server')
    .option('--no-evaluate', 'run the dev-server pipeline without its evaluation stage')
    .option(
      '--server-records <n>',
      'synthetic conversations the dev-server pipeline prepares, filters and augments',
      intOption('--server-records', 200, 1_000_000),
      1000,
    )
    .option('--server-timeout <seconds>', 'give up on the dev-server pipeline run after this long', intOption('--server-timeout', 10, 86_400), 1200)
    .action(async (opts: BenchTrainOptions) => {
      await runBench('train', (dir, teardown) => benchTrain(dir, teardown, opts));
    });
}

async function benchTrain(dir: string, teardown: Teardown, opts: BenchTrainOptions): Promise<void> {
  // Found first, so a missing CLI fails before minutes of measuring.
  const cli = opts.server ? findTemporalCli() : undefined;
  const modelDir = path.join(dir, 'model');
  console.error('creating the default model and data (not timed) ...');
  await createDefaultModel(modelDir);
  const store = new LocalArtifactStore(path.join(dir, 'store'));
  const shard = async (name: string, split: string, from: number, n: number) => {
    const ref = await store.writeText(
      `data/${name}`,
      Array.from(
        { length: n },
        (_, i) => `${JSON.stringify({ ...generateConversation(from + i, { seed: 8, crisisShare: 0.1, piiShare: 0 }), id: `${name}-${i}` })}\n`,
      ).join(''),
    );
    return { split, kind: 'source', ...ref, records: n };
  };
  const manifest = await store.writeText(
    'data/manifest.json',
    JSON.stringify({
      kind: 'augmented-dataset',
      shards: [await shard('train.jsonl', 'train', 0, 2000), await shard('val.jsonl', 'val', 50_000, 50)],
    }),
  );
  const trainConfig: TrainConfigInput = { model: modelDir, steps: opts.steps, warmupSteps: 5, evalEvery: 0, checkpointEvery: 20 };
  const config = TrainConfigSchema.parse(trainConfig);

  // The bare loop: the same train-step graph on batches prepared in advance, nothing else.
  const artifacts = await generateTrainingArtifacts(store, artifactSpecOf(config, modelDir));
  const file = (name: string) => fileURLToPath((artifacts.files[name] as { uri: string }).uri);
  const stepManifest = JSON.parse(await readFile(file(`train-step-${config.mode}.json`), 'utf8')) as ArtifactManifest;
  const session = await openTrainStep(file(`train-step-${config.mode}.onnx`), stepManifest, config.threads);
  const tokenizer = await loadTokenizer(modelDir);
  const stream = new BatchStream([fileURLToPath(manifest.uri).replace('manifest.json', 'train.jsonl')], tokenizer, {
    batch: config.batch,
    seq: config.seq,
    padId: tokenizer.convert_tokens_to_ids('<|endoftext|>'),
    seed: 1,
    crisisWeight: 2,
  });
  const batches: Batch[] = [];
  for (let i = 0; i < opts.steps; i++) batches.push(await stream.next());
  const base = await loadModelFolder(modelDir);
  const state = new Map(
    stepManifest.trainable.map(({ name, shape }) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const value = (base.weights.get(name)?.data as Float32Array | undefined) ?? new Float32Array(n).fill(name.endsWith('lora_A') ? 0.01 : 0);
      return [name, { value, m: new Float32Array(n), v: new Float32Array(n) }];
    }),
  );
  const runner = createStepRunner(session, stepManifest, state);
  const [b, s] = [config.batch, config.seq];
  console.error(`bare loop: ${opts.steps} steps ...`);
  let bareStart = process.hrtime.bigint();
  for (let i = 0; i < opts.steps; i++) {
    // Timed from the end of the first step, as the activity's figure is (first to last step).
    if (i === 1) bareStart = process.hrtime.bigint();
    const batch = batches[i] as Batch;
    await runner.step(
      {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(batch.input, BigInt), [b, s]),
        targets: new ort.Tensor('int64', BigInt64Array.from(batch.target, BigInt), [b, s]),
        loss_mask: new ort.Tensor('float32', Float32Array.from(batch.mask), [b, s]),
        example_weight: new ort.Tensor('float32', Float32Array.from(batch.exampleWeight), [b]),
      },
      i + 1,
      config.lr,
    );
  }
  const bareSeconds = Number(process.hrtime.bigint() - bareStart) / 1e9;
  await session.release();
  const bareTokensPerSecond = ((opts.steps - 1) * b * s) / bareSeconds;

  // The activity in a mock environment: the same steps with tokenising, streaming, heartbeats and checkpoints.
  const activities = createTrainActivities({ store, accelerator: { executionProvider: 'cpu', gpus: [], reason: 'bench' } });
  const measure = async (details?: TrainHeartbeat) => {
    const env = new MockActivityEnvironment(details ? { heartbeatDetails: details, attempt: 2 } : {});
    const beats: Beat[] = [];
    env.on('heartbeat', (d: unknown) => {
      if (d && typeof d === 'object' && 'step' in d) beats.push({ at: Date.now(), beat: d as TrainHeartbeat });
    });
    const started = Date.now();
    type TrainInput = Parameters<typeof activities.trainModelActivity>[0];
    const result = await env.run<[TrainInput], TrainModelResult, typeof activities.trainModelActivity>(
      (input: TrainInput) => activities.trainModelActivity(input),
      { config, dataManifestUri: manifest.uri, runId: 'bench' },
    );
    return { result, beats, started, finished: Date.now() };
  };
  console.error(`activity (mock environment): ${opts.steps} steps ...`);
  const run = await measure();
  const mock = steadyTokensPerSecond(run.beats, b * s);
  const activityTokensPerSecond = mock.tokensPerSecond;
  const mockWallSeconds = (run.finished - run.started) / 1000;

  // A retried attempt: from its start to its first step after the checkpoint it resumes from.
  const checkpointBeat = run.beats.find((x) => x.beat.checkpointUri && x.beat.step >= Math.floor(opts.steps / 2))?.beat;
  let resumeSeconds: number | null = null;
  if (checkpointBeat) {
    console.error('resume (mock environment) ...');
    const resumed = await measure({ ...checkpointBeat, step: checkpointBeat.step });
    const first = resumed.beats.find((x) => x.beat.loss !== undefined && x.beat.step > checkpointBeat.step);
    if (first) resumeSeconds = (first.at - resumed.started) / 1000;
  }

  const mockEnvironment = {
    scope:
      'the train activity (activities/fine-tune.ts) called in-process under @temporalio/testing MockActivityEnvironment: no server, no worker, heartbeats go to an event emitter; hand-made data manifest (2000 train, 50 val synthetic conversations); training config evalEvery 0, checkpointEvery 20, train-step artifacts already cached; tokensPerSecond is steady state between the first and last step heartbeat; wallSeconds is the activity call from start to return',
    tokensPerSecond: Math.round(activityTokensPerSecond),
    steps: run.result.steps,
    timedSteps: mock.lastStep - mock.firstStep,
    wallSeconds: round(mockWallSeconds),
    heartbeats: run.beats.length,
    overheadFractionVsBare: round(1 - activityTokensPerSecond / bareTokensPerSecond),
    resumeSeconds,
  };

  let devServer: Record<string, unknown> | { skipped: string };
  if (!opts.server) {
    devServer = { skipped: '--no-server' };
  } else {
    const m = await measureOnDevServer(teardown, dir, store, trainConfig, { ...opts, cli: cli ?? findTemporalCli() });
    const train = m.result.train;
    if (!train) throw new Error('the pipeline run on the dev server returned no train result');
    if (train.steps !== opts.steps) throw new Error(`the pipeline trained ${train.steps} steps, not ${opts.steps}`);
    const dev = steadyTokensPerSecond(m.beats, b * s);
    const activityWallSeconds = (m.activityFinishedAt - m.activityStartedAt) / 1000;
    const stageSeconds = Object.fromEntries(
      m.result.stages.filter((st) => st.durationMs !== undefined).map((st) => [st.name, round((st.durationMs as number) / 1000)]),
    );
    const evaluation = m.result.evaluate;
    devServer = {
      scope: `trainingPipelineWorkflow (workflows/pipeline.ts) on a real Temporal dev server (temporal server start-dev, SQLite, started by client/temporal-cli.ts) with the CPU and GPU-queue workers of workers/factory.ts in this process: prepare, safety and augment on ${opts.serverRecords} synthetic conversations, then the real train activity on the GPU queue (same model and training config as the mock run: evalEvery 0, checkpointEvery 20, train-step artifacts already cached; its heartbeats throttled to the server as in production), then ${opts.evaluate ? 'the evaluation stage (validation set, generation by the fine-tuned and the base model, scoring)' : 'no evaluation (--no-evaluate)'}, expert review off; tokensPerSecond is steady state between the first and last step heartbeat the activity sent, timed in the worker exactly as the mock run; activityWallSeconds is the activity function from start to return in the worker; trainStageSeconds is the train stage as the workflow saw it (scheduling, dispatch, result); serverHeartbeats counts distinct heartbeats the server showed on the pending activity, polled every second`,
      tokensPerSecond: Math.round(dev.tokensPerSecond),
      steps: train.steps,
      timedSteps: dev.lastStep - dev.firstStep,
      activityWallSeconds: round(activityWallSeconds),
      trainStageSeconds: stageSeconds.train ?? null,
      pipelineWallSeconds: round(m.pipelineSeconds),
      stageSeconds,
      heartbeatsSent: m.beats.length,
      serverHeartbeats: m.serverHeartbeats,
      serverLastHeartbeatStep: m.serverLastStep,
      tokensPerSecondRatioVsMock: round(dev.tokensPerSecond / activityTokensPerSecond),
      overheadFractionVsMock: round(1 - dev.tokensPerSecond / activityTokensPerSecond),
      activityWallRatioVsMock: round(activityWallSeconds / mockWallSeconds),
      overheadFractionVsBare: round(1 - dev.tokensPerSecond / bareTokensPerSecond),
      serverStartSeconds: round(m.serverStartSeconds, 1),
      ...(evaluation
        ? {
            evaluation: {
              items: evaluation.headline.items,
              decision: evaluation.verdict.decision,
              candidateLoss: evaluation.headline.candidateLoss,
              baselineLoss: evaluation.headline.baselineLoss,
            },
          }
        : {}),
    };
  }

  console.log(
    JSON.stringify({
      benchmark: 'train',
      model: 'default (3.4M parameters)',
      mode: config.mode,
      batch: b,
      seq: s,
      steps: opts.steps,
      activityTokensPerSecond: Math.round(activityTokensPerSecond),
      bareTokensPerSecond: Math.round(bareTokensPerSecond),
      overheadFraction: round(1 - activityTokensPerSecond / bareTokensPerSecond),
      resumeSeconds,
      scope:
        'top-level figures are the mock-environment run (see mockEnvironment): activity: steady-state tokens/s between its first and last step heartbeat (tokenising and streaming batches, heartbeats, a checkpoint every 20 steps), in its worker thread; bare: the same graph on batches prepared in advance; resume: a retried attempt from its start to its first step past the checkpoint (artifacts cached), not counting the heartbeat timeout that detects a dead worker',
      target: { overheadFraction: 0.1 },
      mockEnvironment,
      devServer,
    }),
  );
}
