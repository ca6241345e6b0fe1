import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { InvalidArgumentError, type Command } from 'commander';
import { findTemporalCli, startDevServer } from '../client/temporal-cli';
import { LocalArtifactStore } from '../shared/artifacts';
import type { SweepInput, SweepResult } from '../shared/contracts';
import { BASE_MODEL_PRESETS } from '../shared/training/model/base-model';
import { freePort, quietRuntime } from '../test/helpers';
import { hyperparameterSweepWorkflow } from '../workflows/sweep';
import { createCpuWorker, createGpuWorker } from '../workers/factory';
import { Teardown, runBench } from './bench/teardown';
import { intOption } from './options';

interface BenchSweepOptions {
  trials: number;
  steps: number;
  minSteps: number;
  eta: number;
  seed: number;
  model: string;
  records: number;
  sampler: 'random' | 'tpe';
  modes: ('stop' | 'promote')[];
  timeout: number;
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * ASHA against plain random search, both through `hyperparameterSweepWorkflow` on a real Temporal
 * dev server with the CPU and GPU-queue workers in this process: the same default search space,
 * the same trial count and, with the random sampler for both (the default), the very same trial
 * configurations, so the difference is early stopping alone. Prints the training steps each
 * spent and the best validation loss each found.
 */
async function benchSweep(dir: string, teardown: Teardown, opts: BenchSweepOptions): Promise<void> {
  const cli = findTemporalCli();
  quietRuntime();
  const server = await startDevServer({
    cli,
    dbFile: path.join(dir, 'temporal.db'),
    port: await freePort(),
    uiPort: await freePort(),
    logFile: path.join(dir, 'temporal.log'),
  });
  teardown.add('dev server', () => server.stop());
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  teardown.add('worker connection', () => nativeConnection.close());
  const connection = await Connection.connect({ address: server.address });
  teardown.add('client connection', () => connection.close());
  const client = new Client({ connection, namespace: 'default' });
  const store = new LocalArtifactStore(path.join(dir, 'store'));
  const taskQueue = 'pixel-bench-sweep';
  const startWorker = (name: string, worker: Worker) => {
    const running = worker.run();
    running.catch(() => undefined);
    teardown.add(`${name} worker`, async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.race([running.catch(() => undefined), new Promise((r) => setTimeout(r, 15_000))]);
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
      accelerator: { executionProvider: 'cpu', gpus: [], reason: 'bench' },
    }),
  );

  const input = (mode: 'stop' | 'promote' | undefined): SweepInput => ({
    name: mode ? `bench-asha-${mode}` : 'bench-random',
    pipeline: {
      data: { source: { kind: 'synthetic', count: opts.records, seed: 8 } },
      train: { config: { model: opts.model, steps: opts.steps, evalEvery: 0, checkpointEvery: 0, seed: opts.seed } },
      evaluate: { enabled: false },
      review: { enabled: false },
    },
    objectives: [{ name: 'valLoss', direction: 'minimize' }],
    sampler: { kind: mode ? opts.sampler : 'random', seed: opts.seed },
    asha: { enabled: mode !== undefined, minSteps: opts.minSteps, eta: opts.eta, mode: mode ?? 'stop' },
    trials: opts.trials,
    // One trial at a time: the same history in the same order, so the runs are repeatable.
    concurrency: 1,
    validationExamples: 32,
  });
  const run = async (mode: 'stop' | 'promote' | undefined): Promise<{ result: SweepResult; seconds: number }> => {
    const started = Date.now();
    console.error(`${mode ? `ASHA (${mode})` : 'random search'}: ${opts.trials} trials of ${opts.steps} steps ...`);
    const handle = await client.workflow.start(hyperparameterSweepWorkflow, {
      taskQueue,
      workflowId: `bench-sweep-${mode ?? 'random'}-${Date.now()}`,
      args: [input(mode)],
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        handle.result(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the sweep did not finish within ${opts.timeout} s (--timeout)`)), opts.timeout * 1000);
        }),
      ]);
      return { result, seconds: (Date.now() - started) / 1000 };
    } catch (err) {
      await handle.terminate('bench sweep failed').catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };
  // Random search first: it also prepares the data the ASHA sweeps then find in the cache.
  const random = await run(undefined);
  const randomBest = random.result.best;
  if (!randomBest) throw new Error('the random search finished no trial');
  const figures = async (mode: 'stop' | 'promote') => {
    const asha = await run(mode);
    const best = asha.result.best;
    if (!best) throw new Error(`the ASHA sweep (${mode}) finished no trial`);
    const computeFraction = asha.result.trainSteps / random.result.trainSteps;
    const gap = ((best.values[0] as number) - (randomBest.values[0] as number)) / (randomBest.values[0] as number);
    return {
      ashaTrainSteps: asha.result.trainSteps,
      computeFraction: round(computeFraction),
      ashaBestValLoss: round(best.values[0] as number),
      relativeGap: round(gap),
      ashaBestTrial: best.index,
      ashaCounts: asha.result.counts,
      ashaSeconds: round(asha.seconds, 1),
      met: gap <= 0.02 && computeFraction <= 0.4,
    };
  };
  const modes: Record<string, Awaited<ReturnType<typeof figures>>> = {};
  for (const mode of opts.modes) modes[mode] = await figures(mode);
  const first = modes[opts.modes[0] as string]!;
  console.log(
    JSON.stringify(
      {
        trials: opts.trials,
        stepsPerTrial: opts.steps,
        rungs: { minSteps: opts.minSteps, eta: opts.eta },
        model: opts.model,
        sampler: { asha: opts.sampler, random: 'random', seed: opts.seed },
        // The first mode's figures; every mode's under `modes`.
        mode: opts.modes[0],
        ashaTrainSteps: first.ashaTrainSteps,
        randomTrainSteps: random.result.trainSteps,
        computeFraction: first.computeFraction,
        ashaBestValLoss: first.ashaBestValLoss,
        randomBestValLoss: round(randomBest.values[0] as number),
        relativeGap: first.relativeGap,
        randomBestTrial: randomBest.index,
        randomSeconds: round(random.seconds, 1),
        modes,
        target: { maxRelativeGap: 0.02, maxComputeFraction: 0.4 },
        met: first.met,
      },
      null,
      2,
    ),
  );
}

export function registerBenchSweepCommand(bench: Command): void {
  bench
    .command('sweep')
    .description(
      'ASHA early stopping against random search of the same trials, through the sweep workflow on a real Temporal dev server; prints JSON',
    )
    .option('--trials <n>', 'trials in each sweep', intOption('--trials', 2, 500), 27)
    .option('--steps <n>', 'training steps of a trial run to the end', intOption('--steps', 4, 100_000), 60)
    .option('--min-steps <n>', "ASHA's first rung", intOption('--min-steps', 1, 100_000), 5)
    .option('--eta <n>', "ASHA's reduction factor", intOption('--eta', 2, 10), 3)
    .option('--seed <n>', 'sampler and training seed', intOption('--seed', 0, 2 ** 31 - 1), 7)
    .option(
      '--model <preset>',
      `base model (${BASE_MODEL_PRESETS.join(', ')}, or a model folder)`,
      (v: string) => {
        if (!v.trim()) throw new InvalidArgumentError('--model is empty');
        return v;
      },
      'random-small',
    )
    .option('--records <n>', 'synthetic conversations to prepare', intOption('--records', 100, 1_000_000), 600)
    .option(
      '--sampler <kind>',
      'sampler of the ASHA sweep (random: the same trials as the random search)',
      (v: string) => {
        if (v !== 'random' && v !== 'tpe') throw new InvalidArgumentError('--sampler is random or tpe');
        return v;
      },
      'random',
    )
    .option(
      '--modes <list>',
      "ASHA modes to run, comma-separated, the first one's figures on top (promote: trials wait at rungs; stop: trials stop at once)",
      (v: string) => {
        const modes = v.split(',').map((m) => m.trim());
        if (modes.length === 0 || modes.some((m) => m !== 'stop' && m !== 'promote'))
          throw new InvalidArgumentError('--modes lists stop and/or promote');
        return [...new Set(modes)];
      },
      ['promote', 'stop'],
    )
    .option('--timeout <seconds>', 'give up on a sweep after this long', intOption('--timeout', 10, 86_400), 3600)
    .action(async (opts: BenchSweepOptions) => {
      await runBench('sweep', (dir, teardown) => benchSweep(dir, teardown, opts));
    });
}
