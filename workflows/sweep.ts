import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CpuActivities } from '../activities/cpu';
import {
  ErrorTypes,
  RUN_NAME,
  StopSweepInputSchema,
  SWEEP_BEST_VALUE,
  SWEEP_TRIALS_DONE,
  SweepInputSchema,
  WidenSweepInputSchema,
  invalidInput,
  parseInput,
  type ParsedSweepInput,
  type SweepInput,
  type SweepLeaderboard,
  type SweepResult,
  type SweepShared,
  type SweepState,
  type SweepTrial,
  type TrainConfig,
} from '../shared/contracts';
import { ashaDecide, ashaPromotable, ashaRungs } from '../shared/sweep/asha';
import { objectiveValues, samplerHistory, spaceProblem, sweepLeaderboard, trialConfig, trialTargets } from '../shared/sweep/leaderboard';
import { suggestTrial } from '../shared/sweep/sampler';
import { RETRY_POLICY, gpuActivities } from './activity-options';
import { trainingPipelineWorkflow } from './pipeline';
import { stopSweepUpdate, sweepLeaderboardQuery, widenSweepUpdate } from './sweep-messages';

const cpu = proxyActivities<CpuActivities>({
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: RETRY_POLICY,
});

/** A failure's own message (an activity's cause, not the wrapper's "activity task failed"). */
function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return (cause instanceof Error ? cause.message : String(cause)).slice(0, 1000);
}

/** Checkpoint folder name of a trial: the sweep's id (safe characters only) and the trial's index. */
function trialRunId(index: number): string {
  return `${workflowInfo()
    .workflowId.replace(/[^\w.:@-]/g, '_')
    .slice(0, 100)}.trial-${String(index).padStart(4, '0')}`;
}

/**
 * A hyperparameter sweep over the training config. `{}` sweeps the default pipeline over the
 * default space. The data stages run once, as a child pipeline that stops before training; then
 * trials run asynchronously, `concurrency` at a time, each proposed by the seeded sampler from
 * every trial before it. A trial trains on the GPU queue one segment per ASHA rung (the segments
 * add up to one uninterrupted run: same schedule, resumed from each rung's checkpoint) and ASHA
 * decides at each rung whether it goes on; a trial that reaches its budget gets a quick
 * evaluation. Everything that decides what happens next (the trials, ASHA's record, the budget)
 * is this workflow's state, so a restarted worker or server repeats nothing, and a long sweep
 * continues as new with it. Updates stop or widen the sweep; a query gives the leaderboard.
 */
export async function hyperparameterSweepWorkflow(input: SweepInput = {}): Promise<SweepResult> {
  const config = parseInput(SweepInputSchema, 'sweep input', input);
  const sweep = new SweepRun(config);
  if (!sweep.state.shared) {
    sweep.state.shared = await sharedData(sweep);
    sweep.publish();
  }
  await sweep.runTrials();
  if (sweep.shouldContinueAsNew()) {
    await condition(allHandlersFinished);
    return continueAsNew<typeof hyperparameterSweepWorkflow>({ ...input, state: sweep.snapshot() });
  }
  sweep.finishing = true;
  sweep.closePaused();
  const leaderboard = sweep.leaderboard('completed');
  const report = await cpu.writeSweepReportActivity({ sweepId: workflowInfo().workflowId, leaderboard });
  sweep.publish();
  return { ...leaderboard, ...report, runs: sweep.state.continued + 1 };
}

/** The data stages once for every trial, and the validation set the quick evaluation draws from. */
async function sharedData(sweep: SweepRun): Promise<SweepShared> {
  const { config } = sweep;
  const dataWorkflowId = `${workflowInfo().workflowId}-data`;
  const pipeline = config.pipeline;
  const data = await executeChild(trainingPipelineWorkflow, {
    workflowId: dataWorkflowId,
    taskQueue: workflowInfo().taskQueue,
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    args: [
      {
        ...pipeline,
        runName: `${sweep.name.slice(0, 120)}-data`,
        train: { ...pipeline.train, enabled: false },
        evaluate: { ...pipeline.evaluate, enabled: false },
        review: { ...pipeline.review, enabled: false },
      },
    ],
  });
  if (!data.augment || !data.testShards)
    throw ApplicationFailure.nonRetryable(`the data pipeline ${dataWorkflowId} produced no augmented dataset`, ErrorTypes.StageFailed);
  let validationSetManifestUri: string | undefined;
  if (config.objectives.some((o) => o.name !== 'valLoss')) {
    if (data.testShards.length === 0)
      throw ApplicationFailure.nonRetryable('the test split kept no conversation: the quick evaluation has no prompts', ErrorTypes.StageFailed);
    const set = await cpu.buildValidationSetActivity({ shards: data.testShards, config: pipeline.evaluate.validationSet });
    validationSetManifestUri = set.manifestUri;
  }
  return {
    dataManifestUri: data.augment.manifestUri,
    ...(validationSetManifestUri ? { validationSetManifestUri } : {}),
    datasetSha: data.dataset.datasetSha,
    dataWorkflowId,
  };
}

/** One run of a sweep: its state, its handlers and UI surface, and the trial loop. */
class SweepRun {
  readonly state: SweepState;
  readonly name: string;
  /** Trials training now (their loops have not returned). */
  private running = 0;
  /** Set once the trials are over: no Update may change the sweep any more. */
  finishing = false;
  /** The search attribute values last set. */
  private published: { done: number; best: number | undefined } = { done: -1, best: undefined };

  constructor(readonly config: ParsedSweepInput) {
    this.name = config.name ?? workflowInfo().workflowId;
    this.state = config.state
      ? (JSON.parse(JSON.stringify(config.state)) as SweepState)
      : { trials: [], asha: {}, budget: config.trials, continued: 0 };
    if (config.state) this.state.continued += 1;
    // A space whose corners the training config refuses would fail every trial: say so before anything runs.
    const problem = spaceProblem(config);
    if (problem) throw invalidInput(`sweep input: space: ${problem}`);
    setHandler(sweepLeaderboardQuery, () => this.leaderboard());
    setHandler(
      stopSweepUpdate,
      (request) => {
        const { reason } = parseInput(StopSweepInputSchema, 'stopSweep', request ?? {});
        this.state.stopped ??= { reason };
        this.publish();
        return this.control();
      },
      {
        validator: (request) => {
          parseInput(StopSweepInputSchema, 'stopSweep', request ?? {});
        },
      },
    );
    setHandler(
      widenSweepUpdate,
      (request) => {
        const { trials } = parseInput(WidenSweepInputSchema, 'widenSweep', request);
        this.state.budget += trials;
        this.publish();
        return this.control();
      },
      {
        validator: (request) => {
          const { trials } = parseInput(WidenSweepInputSchema, 'widenSweep', request);
          if (this.state.stopped) throw invalidInput('widenSweep: the sweep was stopped; start a new one');
          if (this.finishing) throw invalidInput('widenSweep: the sweep has finished its trials');
          if (this.state.budget + trials > 1000) throw invalidInput(`widenSweep: at most 1000 trials in all (the budget is ${this.state.budget})`);
        },
      },
    );
    upsertSearchAttributes([{ key: RUN_NAME, value: this.name }]);
    this.publish();
  }

  private control() {
    return { budget: this.state.budget, started: this.state.trials.length, stopped: this.state.stopped !== undefined };
  }

  snapshot(): SweepState {
    return JSON.parse(JSON.stringify(this.state)) as SweepState;
  }

  /**
   * No new trial or segment starts in this run: its history is long enough (or the server says so).
   * Running segments finish; their trials wait, each at its rung's checkpoint, for the next run.
   */
  private draining(): boolean {
    const info = workflowInfo();
    return info.historyLength >= this.config.maxHistoryEvents || info.continueAsNewSuggested;
  }

  /** ASHA's `promote` mode: the paused trial a free slot should resume, if any. */
  private promotable(): SweepTrial | undefined {
    if (!this.config.asha.enabled || this.config.asha.mode !== 'promote') return undefined;
    const maxSteps = Math.max(0, ...this.state.trials.map((t) => t.steps));
    const relaxed = this.state.trials.length >= this.state.budget;
    const index = ashaPromotable(this.state.trials, this.config.asha, ashaRungs(this.config.asha, maxSteps), relaxed);
    return index === undefined ? undefined : this.state.trials[index];
  }

  /** Something to run: a paused trial to promote, or a trial not started yet. */
  private hasWork(): boolean {
    return !this.state.stopped && (this.promotable() !== undefined || this.state.trials.length < this.state.budget);
  }

  private canStart(): boolean {
    return !CancellationScope.current().consideredCancelled && !this.draining() && this.running < this.config.concurrency && this.hasWork();
  }

  shouldContinueAsNew(): boolean {
    if (!this.draining()) return false;
    return this.state.trials.some((t) => t.status === 'running') || this.hasWork();
  }

  /** The sweep is over: a trial still waiting at a rung was not promoted, and says why. */
  closePaused(): void {
    for (const t of this.state.trials.filter((x) => x.status === 'paused')) {
      t.status = 'pruned';
      t.reason = this.state.stopped
        ? `not promoted past step ${t.step}: the sweep was stopped`
        : `not promoted past step ${t.step}: its validation loss was not in the best 1/${this.config.asha.eta} of the trials that reached it`;
    }
  }

  leaderboard(status?: SweepLeaderboard['status']): SweepLeaderboard {
    const s = status ?? (!this.state.shared ? 'preparing' : this.finishing ? 'completed' : this.state.stopped ? 'stopping' : 'running');
    return sweepLeaderboard(this.config, {
      name: this.name,
      status: s,
      trials: this.state.trials,
      budget: this.state.budget,
      stopped: this.state.stopped,
    });
  }

  /** The UI's view: search attributes (best value, trials done) and the current details (the leaderboard's top). */
  publish(): void {
    const board = this.leaderboard();
    const done = board.counts.completed + board.counts.pruned + board.counts.failed;
    const best = board.best?.values[0];
    // Only when they change: each upsert is an event in the history.
    if (done !== this.published.done || best !== this.published.best) {
      upsertSearchAttributes([{ key: SWEEP_TRIALS_DONE, value: done }, ...(best !== undefined ? [{ key: SWEEP_BEST_VALUE, value: best }] : [])]);
      this.published = { done, best };
    }
    const objectives = board.objectives.map((o) => `${o.name} (${o.direction === 'minimize' ? 'min' : 'max'})`).join(', ');
    const rows = board.trials.slice(0, 10).map((t) => {
      const last = t.rungs[t.rungs.length - 1];
      const values = t.values
        ? t.values.map((v) => v.toFixed(4)).join(' / ')
        : last?.valLoss != null
          ? `val ${last.valLoss.toFixed(4)} @ ${last.step}`
          : '';
      return `| ${t.index} | ${t.status} | ${t.step}/${t.steps} | ${values} | ${Object.entries(t.params)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(3)) : String(v)}`)
        .join(' ')} |`;
    });
    setCurrentDetails(
      [
        `**Sweep ${board.name}**: ${board.status}; ${board.started}/${board.budget} trials started; ${board.counts.running} running, ${board.counts.completed} completed, ${board.counts.pruned} stopped early, ${board.counts.failed} failed`,
        `Objectives: ${objectives}. Training steps ${board.trainSteps} of ${board.fullSteps} without early stopping.`,
        board.stopped ? `Stopped: ${board.stopped.reason}` : '',
        '',
        '| trial | status | steps | values | params |',
        '| --- | --- | --- | --- | --- |',
        ...rows,
      ]
        .filter((l, i) => l !== '' || i === 3)
        .join('\n'),
    );
  }

  /** Runs trials until the budget is spent, the sweep is stopped or the run must continue as new; interrupted trials first. */
  async runTrials(): Promise<void> {
    const launch = (trial: SweepTrial) => {
      this.running += 1;
      void this.runTrial(trial).finally(() => {
        this.running -= 1;
        this.publish();
      });
    };
    for (const trial of this.state.trials.filter((t) => t.status === 'running')) launch(trial);
    for (;;) {
      await condition(() => this.canStart() || this.running === 0);
      if (!this.canStart()) break;
      const promoted = this.promotable();
      if (promoted) {
        promoted.status = 'running';
        launch(promoted);
        this.publish();
        continue;
      }
      const index = this.state.trials.length;
      const params = suggestTrial(this.config.space, this.config.sampler, this.config.objectives, index, samplerHistory(this.state.trials));
      const trial: SweepTrial = { index, params, status: 'running', step: 0, steps: 0, rungs: [] };
      this.state.trials.push(trial);
      launch(trial);
      this.publish();
    }
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('sweep cancelled');
  }

  private fail(trial: SweepTrial, reason: string): void {
    trial.status = 'failed';
    trial.reason = reason;
  }

  /** One trial: a training segment per rung (ASHA decides after each), then the quick evaluation. */
  private async runTrial(trial: SweepTrial): Promise<void> {
    const { config } = this;
    const shared = this.state.shared as SweepShared;
    let train: TrainConfig;
    try {
      train = trialConfig(config.pipeline.train.config, trial.params, config.validationExamples);
    } catch (err) {
      this.fail(trial, `its training config is refused: ${messageOf(err)}`);
      return;
    }
    trial.steps = train.steps;
    const gpu = gpuActivities({
      startToCloseTimeout: '24 hours',
      heartbeatTimeout: config.pipeline.train.heartbeatTimeoutSeconds * 1000,
      maximumAttempts: 10,
    });
    for (const target of trialTargets(config.asha, train.steps)) {
      if (target <= trial.step) continue;
      // Paused here; the next run of this sweep goes on from this checkpoint.
      if (this.draining() || CancellationScope.current().consideredCancelled) return;
      let segment;
      try {
        segment = await gpu.trainTrialSegmentActivity({
          config: train,
          dataManifestUri: shared.dataManifestUri,
          runId: trialRunId(trial.index),
          untilStep: target,
          ...(trial.checkpointUri ? { resumeFromUri: trial.checkpointUri } : {}),
          ...(trial.bestCheckpointUri ? { bestCheckpointUri: trial.bestCheckpointUri } : {}),
        });
      } catch (err) {
        if (isCancellation(err)) return;
        this.fail(trial, `training failed at step ${trial.step}: ${messageOf(err)}`);
        return;
      }
      // Cancelled meanwhile: the activity finished early with what it had; no rung was reached.
      if (CancellationScope.current().consideredCancelled) return;
      trial.step = segment.steps;
      if (segment.lastCheckpointUri) trial.checkpointUri = segment.lastCheckpointUri;
      if (segment.bestCheckpointUri) trial.bestCheckpointUri = segment.bestCheckpointUri;
      const valLoss = segment.lastValLoss ?? null;
      trial.rungs.push({ step: segment.steps, valLoss });
      if (valLoss === null || !Number.isFinite(valLoss)) {
        this.fail(trial, `no validation loss at step ${segment.steps} (an empty val split, or training diverged): nothing to compare`);
        return;
      }
      if (segment.steps < train.steps && config.asha.mode === 'promote') {
        // Waits here, its checkpoint kept, until it ranks among the best of its rung (see `promotable`).
        trial.status = 'paused';
        return;
      }
      if (segment.steps < train.steps) {
        const decision = ashaDecide(this.state.asha, config.asha, target, valLoss);
        this.state.asha = decision.record;
        if (!decision.goOn) {
          trial.status = 'pruned';
          trial.reason = `stopped early at step ${target}: validation loss ${valLoss?.toFixed(4) ?? 'unmeasured'} is not in the best 1/${config.asha.eta} at this rung`;
          return;
        }
      } else if (segment.modelUri) trial.modelUri = segment.modelUri;
      this.publish();
    }
    if (config.objectives.some((o) => o.name !== 'valLoss')) {
      if (!trial.modelUri || !shared.validationSetManifestUri) {
        this.fail(trial, 'training exported no model to evaluate');
        return;
      }
      const evaluate = gpuActivities({ startToCloseTimeout: '2 hours', heartbeatTimeout: '5 minutes' });
      try {
        const quick = await evaluate.quickEvaluateActivity({
          modelUri: trial.modelUri,
          validationSetManifestUri: shared.validationSetManifestUri,
          quickEval: config.quickEval,
          seed: config.pipeline.evaluate.sampling.seed,
        });
        trial.metrics = quick.metrics;
      } catch (err) {
        if (isCancellation(err)) return;
        this.fail(trial, `the quick evaluation failed: ${messageOf(err)}`);
        return;
      }
    }
    trial.metrics = { ...trial.metrics, valLoss: trial.rungs[trial.rungs.length - 1]?.valLoss ?? null };
    trial.status = 'completed';
    const values = objectiveValues(trial, config.objectives);
    if (values) trial.values = values;
    else
      trial.reason = `not ranked: no value for ${config.objectives
        .filter((o) => trial.metrics?.[o.name as keyof typeof trial.metrics] == null)
        .map((o) => o.name)
        .join(', ')} (e.g. no crisis prompt among the quick evaluation's)`;
  }
}
