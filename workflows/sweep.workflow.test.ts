import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { LocalArtifactStore } from '../shared/artifacts';
import {
  RUN_NAME,
  SWEEP_BEST_VALUE,
  SWEEP_TRIALS_DONE,
  SweepInputSchema,
  type SweepInput,
  type SweepResult,
  type SweepTrial,
} from '../shared/contracts';
import { applyParams } from '../shared/sweep/space';
import { createDefaultModel } from '../shared/training/model/default-model';
import { tempDir, testEnvironment, uniqueQueue } from '../test/helpers';
import { createCpuWorker, createGpuWorker } from '../workers/factory';
import { hyperparameterSweepWorkflow } from './sweep';
import { stopSweepUpdate, sweepLeaderboardQuery, widenSweepUpdate } from './sweep-messages';

/** Set UPDATE_HISTORIES=1 to re-record the replay fixture from the first sweep. */
const HISTORY_FIXTURE = path.join(__dirname, '__histories__', 'sweep-v1.json');

/** Every trial's rungs: strictly increasing steps, each reached once (no segment trained twice). */
function expectRungsOnce(trials: readonly SweepTrial[]): void {
  for (const t of trials) {
    const steps = t.rungs.map((r) => r.step);
    expect(steps).toEqual([...new Set(steps)].sort((a, b) => a - b));
    expect(t.step).toBe(steps[steps.length - 1] ?? 0);
  }
}

describe('hyperparameterSweepWorkflow on a real dev server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let gpuWorker: Worker;
  let running: Promise<void>;
  let gpuRunning: Promise<void>;
  let t: ReturnType<typeof tempDir>;
  let model: string;
  const taskQueue = uniqueQueue('sweep-test');

  beforeAll(async () => {
    t = tempDir();
    env = await testEnvironment();
    const store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    worker = await createCpuWorker({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, store });
    running = worker.run();
    process.env.PIXEL_HOME = path.join(t.dir, 'home');
    gpuWorker = await createGpuWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: `${taskQueue}-gpu`,
      store,
      accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' },
    });
    gpuRunning = gpuWorker.run();
    model = path.join(t.dir, 'tiny-model');
    await createDefaultModel(model, 'tiny', 3);
  }, 120_000);

  afterAll(async () => {
    worker?.shutdown();
    gpuWorker?.shutdown();
    await running;
    await gpuRunning;
    await env?.teardown();
    t?.cleanup();
  });

  /** A small sweep of the tiny model: rungs at steps 3 and 9 of 27. */
  const input = (over: Partial<SweepInput> = {}): SweepInput => ({
    pipeline: {
      data: { source: { kind: 'synthetic', count: 240, seed: 5 } },
      train: { config: { model, steps: 27, batch: 2, seq: 48, warmupSteps: 2, evalEvery: 0, checkpointEvery: 0, seed: 3 } },
      evaluate: { validationSet: { crisisShare: { min: 0, target: 0.15, max: 0.2 } } },
    },
    space: {
      lr: { type: 'log-float', low: 1e-4, high: 3e-2 },
      'lora.rank': { type: 'categorical', choices: [2, 4] },
    },
    asha: { minSteps: 3, eta: 3 },
    quickEval: { items: 4, maxNewTokens: 6 },
    validationExamples: 4,
    ...over,
  });

  function start(over: Partial<SweepInput>, name: string): Promise<WorkflowHandleWithFirstExecutionRunId<typeof hyperparameterSweepWorkflow>> {
    return env.client.workflow.start(hyperparameterSweepWorkflow, {
      taskQueue,
      workflowId: `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
      args: [input(over)],
    });
  }

  it('runs trials asynchronously with ASHA, ranks them, finds the Pareto front and writes the report', async () => {
    const handle = await start({ name: 'sweep-a', trials: 6, concurrency: 2, sampler: { kind: 'tpe', seed: 11, startupTrials: 3 } }, 'sweep-a');
    const result: SweepResult = await handle.result();
    expect(result.status).toBe('completed');
    expect(result.trials).toHaveLength(6);
    expect(result.trials.map((x) => x.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expectRungsOnce(result.trials);
    // Asynchronous successive halving: the first trial at a rung always goes on; at least one later one is stopped.
    expect(result.counts.completed + result.counts.pruned).toBe(6);
    expect(result.counts.pruned).toBeGreaterThan(0);
    for (const trial of result.trials.filter((x) => x.status === 'pruned')) {
      expect(trial.step).toBeLessThan(27);
      expect(trial.reason).toMatch(/stopped early at step (3|9)/);
      expect(trial.modelUri).toBeUndefined();
      // Its checkpoint is kept.
      expect(existsSync(fileURLToPath(trial.checkpointUri!))).toBe(true);
    }
    // Early stopping saved training: fewer steps than every trial to the end.
    expect(result.fullSteps).toBe(6 * 27);
    expect(result.trainSteps).toBe(result.trials.reduce((a, x) => a + x.step, 0));
    expect(result.trainSteps).toBeLessThan(result.fullSteps);
    // Finished trials have both objectives from their last rung and the quick evaluation.
    const completed = result.trials.filter((x) => x.status === 'completed');
    for (const trial of completed) {
      expect(trial.step).toBe(27);
      expect(trial.values).toHaveLength(2);
      expect(trial.values![0]).toBe(trial.rungs[trial.rungs.length - 1]!.valLoss);
      expect(trial.metrics).toMatchObject({ quality: expect.any(Number), safetyPassRate: expect.any(Number) });
      expect(existsSync(path.join(fileURLToPath(trial.modelUri!), 'config.json'))).toBe(true);
    }
    // The Pareto front: finished trials no other finished trial beats on both objectives.
    expect(result.paretoFront.length).toBeGreaterThan(0);
    for (const i of result.paretoFront) {
      const p = completed.find((x) => x.index === i)!;
      for (const q of completed)
        expect(
          q.values![0]! <= p.values![0]! && q.values![1]! >= p.values![1]! && (q.values![0]! < p.values![0]! || q.values![1]! > p.values![1]!),
        ).toBe(false);
    }
    // The best trial is on the front and best in the first objective there; its pipeline input trains it again.
    const best = result.best!;
    expect(result.paretoFront).toContain(best.index);
    const front = completed.filter((x) => result.paretoFront.includes(x.index));
    expect(best.values[0]).toBe(Math.min(...front.map((x) => x.values![0]!)));
    const trained = applyParams(input().pipeline!.train!.config!, best.params);
    expect((best.pipelineInput as { train: { config: unknown } }).train.config).toEqual(trained);
    // The report files.
    expect(readFileSync(fileURLToPath(result.reportHtmlUri), 'utf8')).toMatch(/<svg/);
    expect(JSON.parse(readFileSync(fileURLToPath(result.reportUri), 'utf8'))).toMatchObject({ name: 'sweep-a', best: { index: best.index } });
    // The UI lists the sweep with its best value and trials done.
    const attrs = (await handle.describe()).typedSearchAttributes;
    expect(attrs.get(RUN_NAME)).toBe('sweep-a');
    expect(attrs.get(SWEEP_TRIALS_DONE)).toBe(6);
    expect(attrs.get(SWEEP_BEST_VALUE)).toBeCloseTo(best.values[0]!, 10);
    // The data stages ran once, as a child pipeline that stopped before training.
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toHaveLength(1);
    const segments = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainTrialSegmentActivity');
    expect(segments).toHaveLength(result.trials.reduce((a, x) => a + x.rungs.length, 0));
    if (process.env.UPDATE_HISTORIES) {
      mkdirSync(path.dirname(HISTORY_FIXTURE), { recursive: true });
      writeFileSync(HISTORY_FIXTURE, `${JSON.stringify(JSON.parse(historyToJSON(await handle.fetchHistory())), null, 1)}\n`);
    }
  }, 600_000);

  it('promotes paused trials (ASHA as Li et al. describe it): trials wait at rungs and only the best of each rung train on', async () => {
    const handle = await start(
      {
        name: 'sweep-p',
        trials: 6,
        concurrency: 2,
        asha: { minSteps: 3, eta: 3, mode: 'promote' },
        objectives: [{ name: 'valLoss', direction: 'minimize' }],
      },
      'sweep-p',
    );
    const result = await handle.result();
    expect(result.trials).toHaveLength(6);
    expectRungsOnce(result.trials);
    expect(result.counts).toMatchObject({ running: 0, paused: 0, failed: 0 });
    // At least one trial is promoted to the end (the budget spent, the best of each rung goes on).
    expect(result.counts.completed).toBeGreaterThanOrEqual(1);
    for (const trial of result.trials.filter((x) => x.status === 'pruned')) expect(trial.reason).toMatch(/not promoted past step (3|9)/);
    // Every trial reached the first rung; fewer reached each next one.
    const reached = (step: number) => result.trials.filter((x) => x.rungs.some((r) => r.step === step)).length;
    expect(reached(3)).toBe(6);
    expect(reached(9)).toBeLessThan(6);
    expect(reached(27)).toBeLessThanOrEqual(reached(9));
    // The trial that finished was the best at the last rung before the end among those that reached it.
    const finished = result.trials.filter((x) => x.status === 'completed');
    const at9 = result.trials.filter((x) => x.rungs.some((r) => r.step === 9)).map((x) => x.rungs.find((r) => r.step === 9)!.valLoss!);
    expect(Math.min(...finished.map((x) => x.rungs.find((r) => r.step === 9)!.valLoss!))).toBe(Math.min(...at9));
    expect(result.trainSteps).toBeLessThan(result.fullSteps);
  }, 600_000);

  it('widens and stops on Updates, answers the leaderboard query, and refuses to widen a stopped sweep', async () => {
    const handle = await start(
      { name: 'sweep-b', trials: 2, concurrency: 1, asha: { enabled: false }, objectives: [{ name: 'valLoss', direction: 'minimize' }] },
      'sweep-b',
    );
    const widened = await handle.executeUpdate(widenSweepUpdate, { args: [{ trials: 2 }] });
    expect(widened.budget).toBe(4);
    // Wait for the second trial to start, then stop: it finishes; no other starts.
    const deadline = Date.now() + 300_000;
    let board = await handle.query(sweepLeaderboardQuery);
    while (board.started < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      board = await handle.query(sweepLeaderboardQuery);
    }
    expect(board.budget).toBe(4);
    const stopped = await handle.executeUpdate(stopSweepUpdate, { args: [{ reason: 'enough for today' }] });
    expect(stopped.stopped).toBe(true);
    await expect(handle.executeUpdate(widenSweepUpdate, { args: [{ trials: 1 }] })).rejects.toThrow(WorkflowUpdateFailedError);
    await expect(handle.executeUpdate(widenSweepUpdate, { args: [{ trials: 0 }] })).rejects.toThrow(WorkflowUpdateFailedError);
    const result = await handle.result();
    expect(result.stopped).toEqual({ reason: 'enough for today' });
    expect(result.started).toBe(stopped.started);
    expect(result.started).toBeLessThan(4);
    // Running trials finished; results kept.
    expect(result.counts.running).toBe(0);
    expect(result.counts.completed).toBe(result.started);
    expect(result.objectives).toEqual([{ name: 'valLoss', direction: 'minimize' }]);
    expect(result.paretoFront).toEqual([result.best!.index]);
  }, 600_000);

  it('continues as new with its state: no trial lost, none repeated, interrupted trials resumed from their checkpoints', async () => {
    const handle = await start(
      { name: 'sweep-c', trials: 6, concurrency: 2, maxHistoryEvents: 50, objectives: [{ name: 'valLoss', direction: 'minimize' }] },
      'sweep-c',
    );
    const result = await handle.result();
    expect(result.runs).toBeGreaterThan(1);
    expect(result.trials.map((x) => x.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(result.counts.running).toBe(0);
    expectRungsOnce(result.trials);
    // No trial was proposed twice.
    expect(new Set(result.trials.map((x) => JSON.stringify(x.params))).size).toBe(6);
    // The first run handed on trials paused at a rung, with their checkpoints; they went on from there.
    const first = env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
    const continued = ((await first.fetchHistory()).events ?? []).find(
      (e) => e.workflowExecutionContinuedAsNewEventAttributes,
    )?.workflowExecutionContinuedAsNewEventAttributes;
    const carried = JSON.parse(Buffer.from(continued!.input!.payloads![0]!.data!).toString('utf8')) as SweepInput;
    const paused = carried.state!.trials.filter((x) => x.status === 'running' && x.step > 0);
    expect(paused.length).toBeGreaterThan(0);
    for (const p of paused) {
      expect(p.checkpointUri).toBeDefined();
      const final = result.trials.find((x) => x.index === p.index)!;
      expect(final.rungs.slice(0, p.rungs.length)).toEqual(p.rungs);
      expect(final.step).toBeGreaterThan(p.step);
    }
  }, 600_000);

  it('refuses an input that cannot work, naming the field, before anything runs', async () => {
    const bad = SweepInputSchema.safeParse({ objectives: [{ name: 'accuracy', direction: 'maximize' }], trials: 0 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['objectives.0.name', 'trials']);
    // Warmup up to 40 steps with a 27-step budget: the space's high end is refused by the training config.
    const handle = await start({ space: { warmupSteps: { type: 'int', low: 0, high: 40 } } }, 'sweep-bad');
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toMatch(/space: every parameter at its high end .*warmupSteps/);
  }, 60_000);
});
