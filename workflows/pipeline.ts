import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  ParentClosePolicy,
  executeChild,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CpuActivities } from '../activities/cpu';
import {
  CRISIS_COUNT,
  UNREDACTED_PII,
  DATASET_SHA,
  ErrorTypes,
  PIPELINE_STAGE,
  PipelineInputSchema,
  RUN_NAME,
  parseInput,
  reviewWorkflowId,
  type AugmentResult,
  type ParsedPipelineInput,
  type PipelineInput,
  type PipelineResult,
  type PipelineStageName,
  type PrepareDatasetResult,
  type SafetyResult,
  type SafetyShardResult,
  type ShardRef,
} from '../shared/contracts';
import { mapInOrder } from '../shared/util/pool';
import { RETRY_POLICY, gpuActivities } from './activity-options';
import { expertReviewWorkflow } from './expert-review';
import { getProgressQuery, isTrainingStopRequestedQuery, reportTrainingProgressSignal, stopTrainingSignal } from './messages';
import { PipelineState } from './pipeline-state';

/** Guards the safety stage's commands for histories recorded before it existed. */
export const SAFETY_STAGE_PATCH = 'safety-stage-v1';
/** Guards the augmentation stage's commands for histories recorded before it existed. */
export const AUGMENT_STAGE_PATCH = 'augment-stage-v1';
/** Guards the training stage's commands for histories recorded before it existed. */
export const TRAIN_STAGE_PATCH = 'train-stage-v1';
/** Guards the evaluation stage's commands for histories recorded before it existed. */
export const EVALUATE_STAGE_PATCH = 'evaluate-stage-v1';
/** Guards the review and promotion stages' commands for histories recorded before they existed. */
export const REVIEW_STAGE_PATCH = 'review-stage-v1';
/**
 * Guards stopping training by cancelling its activity (runs from before it asked the activity to
 * poll a stop flag, and took its progress as signals).
 */
export const TRAIN_STOP_BY_CANCEL_PATCH = 'train-stop-by-cancel-v1';
/** Guards the check before training for runs that end when nothing changed (`train.skipIfUnchanged`). */
export const SKIP_UNCHANGED_PATCH = 'skip-unchanged-v1';

// CPU activities run on the workflow's own task queue (the CPU queue in production), which also
// keeps each test's worker on a queue of its own.
const CPU_ACTIVITY_OPTIONS = {
  // A cancelled run waits for its stage to stop and clean up, so nothing half-written survives it.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '2 minutes',
  retry: RETRY_POLICY,
} as const;
const cpu = proxyActivities<CpuActivities>(CPU_ACTIVITY_OPTIONS);

/**
 * The CPU activities that stream records (preparation, a safety or augmentation shard): they
 * heartbeat every batch (seconds apart at most, the learned models' loading included), so a
 * worker that dies is noticed after a minute rather than the two the others are given.
 */
const streaming = proxyActivities<CpuActivities>({ ...CPU_ACTIVITY_OPTIONS, heartbeatTimeout: '1 minute' });

/** Turns a failed activity into the ApplicationFailure the workflow fails with, keeping its type. */
function stageFailure(stage: PipelineStageName, err: unknown): ApplicationFailure {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  const type = cause instanceof ApplicationFailure && cause.type ? cause.type : ErrorTypes.StageFailed;
  return ApplicationFailure.create({
    message: `stage ${stage} failed: ${message}`,
    type,
    nonRetryable: true,
    cause: cause instanceof Error ? cause : undefined,
  });
}

type StageSummary = { counts: Record<string, number>; cacheHit?: boolean; artifacts?: Record<string, string> };

/** One run's progress, its UI surface (search attributes, current details) and its stage bookkeeping. */
class PipelineRun {
  readonly state: PipelineState;
  stopTrainingRequested = false;
  /** Cancelled by the stop signal: the training activity then finishes with its best checkpoint. */
  trainingScope: CancellationScope | undefined;

  constructor(readonly config: ParsedPipelineInput) {
    this.state = new PipelineState(config.runName ?? workflowInfo().workflowId);
    setHandler(getProgressQuery, () => this.state.progress());
    setHandler(stopTrainingSignal, () => {
      this.stopTrainingRequested = true;
      this.trainingScope?.cancel();
    });
    setHandler(isTrainingStopRequestedQuery, () => this.stopTrainingRequested);
    // Training activities of older versions sent their progress as signals; keep reading them.
    setHandler(reportTrainingProgressSignal, (p) => {
      if (this.state.currentStage !== 'train') return;
      const milli = (x: number | undefined) => (x !== undefined ? Math.round(x * 1000) : undefined);
      const counts = {
        step: p.step,
        totalSteps: p.totalSteps,
        lossMilli: milli(p.loss),
        valLossMilli: milli(p.valLoss),
        bestValLossMilli: milli(p.bestValLoss),
        tokensPerSecond: p.tokensPerSecond,
        etaSeconds: p.etaSeconds,
      };
      this.progress(
        'train',
        Object.fromEntries(
          Object.entries(counts)
            .filter((e): e is [string, number] => e[1] !== undefined)
            .map(([k, v]) => [k, Math.round(v)]),
        ),
      );
    });
    upsertSearchAttributes([{ key: RUN_NAME, value: this.state.runName }]);
  }

  publish(): void {
    upsertSearchAttributes([{ key: PIPELINE_STAGE, value: this.state.currentStage }]);
    setCurrentDetails(this.state.details());
  }

  /** Live counts of a running stage (shards done, ...), shown in the UI's current details. */
  progress(name: PipelineStageName, counts: Record<string, number>): void {
    this.state.progressCounts(name, counts);
    setCurrentDetails(this.state.details());
  }

  /** Runs one stage: marks it running, then completed with its summary, failed or cancelled. */
  async stage<T>(name: PipelineStageName, run: () => Promise<T>, summarize: (result: T) => StageSummary): Promise<T> {
    this.state.begin(name, new Date());
    this.publish();
    try {
      const result = await run();
      const { counts, cacheHit, artifacts } = summarize(result);
      this.state.complete(name, new Date(), counts, cacheHit, artifacts);
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        this.state.cancel(name, new Date());
        // Still allowed after a cancellation request: commands that complete the run's record.
        this.publish();
        throw err;
      }
      const failure = stageFailure(name, err);
      this.state.fail(name, new Date(), failure.message);
      this.publish();
      throw failure;
    }
  }
}

/**
 * The training pipeline. One JSON object in (every field defaulted: `{}` runs the default
 * pipeline on synthetic data), references and counts out. Stages run in order; each one is an
 * activity (or a child workflow) that passes artifact URIs on, never data. Runs recorded before
 * a stage existed replay without it (the `patched` guards).
 */
export async function trainingPipelineWorkflow(input: PipelineInput = {}): Promise<PipelineResult> {
  const config = parseInput(PipelineInputSchema, 'pipeline input', input);
  const run = new PipelineRun(config);

  const dataset = await prepareStage(run);
  const safety = patched(SAFETY_STAGE_PATCH) ? await safetyStage(run, dataset) : undefined;
  const augment = safety && patched(AUGMENT_STAGE_PATCH) ? await augmentStage(run, dataset, safety) : undefined;
  const unchanged = augment && config.train.enabled && config.train.skipIfUnchanged ? await unchangedSincePromotion(run, augment) : undefined;
  // Nothing changed since the promoted model: no training, so no evaluation, review or promotion.
  const train = !unchanged && augment && config.train.enabled && patched(TRAIN_STAGE_PATCH) ? await trainStage(run, augment) : undefined;
  const evaluation =
    train?.modelUri && config.evaluate.enabled && patched(EVALUATE_STAGE_PATCH) ? await evaluateStage(run, train, safety?.shards ?? []) : undefined;
  // No items to review (no crisis item and a review sample of 0): nothing can approve, nothing is promoted.
  const reviewed =
    evaluation && train?.modelUri && config.review.enabled && (evaluation.reviewItems ?? []).length > 0 && patched(REVIEW_STAGE_PATCH)
      ? await reviewAndPromoteStages(run, evaluation, train.modelUri, train.trainingKey)
      : undefined;

  run.state.finish();
  run.publish();
  return {
    runName: run.state.runName,
    dataset,
    ...(safety ? { safety: safety.result } : {}),
    ...(augment ? { augment } : {}),
    ...(safety ? { testShards: testShardsOf(safety.shards) } : {}),
    ...(unchanged ? { unchanged } : {}),
    ...(train ? { train } : {}),
    ...(evaluation ? { evaluate: evaluation } : {}),
    ...(reviewed ? reviewed : {}),
    stages: run.state.stagesSnapshot(),
  };
}

/** The safety stage's kept test shards that hold records. */
function testShardsOf(shards: readonly SafetyShardResult[]): ShardRef[] {
  return shards.filter((s) => s.split === 'test' && s.kept.records > 0).map((s) => ({ split: s.split, ...s.kept }));
}

async function prepareStage(run: PipelineRun): Promise<PrepareDatasetResult> {
  const dataset = await run.stage(
    'prepare',
    () => streaming.prepareDatasetActivity({ config: run.config.data, useCache: run.config.useCache }),
    (r) => ({
      counts: { read: r.counts.read, accepted: r.counts.accepted, quarantined: r.counts.quarantined, ...r.counts.bySplit },
      cacheHit: r.cacheHit,
      artifacts: { manifest: r.manifestUri, quarantine: r.quarantineUri },
    }),
  );
  run.state.setDatasetSha(dataset.datasetSha);
  upsertSearchAttributes([{ key: DATASET_SHA, value: dataset.datasetSha }]);
  return dataset;
}

async function safetyStage(run: PipelineRun, dataset: PrepareDatasetResult): Promise<{ result: SafetyResult; shards: SafetyShardResult[] }> {
  let shards: SafetyShardResult[] = [];
  // A run that keeps raw PII (its reason given in the policy) is marked where ML ops search runs.
  if (!run.config.safety.policy.redactPii) upsertSearchAttributes([{ key: UNREDACTED_PII, value: true }]);
  const result = await run.stage(
    'safety',
    async () => {
      // Bounded fan-out: a few shard activities at a time, results kept in shard order.
      shards = await mapInOrder(
        dataset.shards,
        run.config.safety.concurrency,
        (shard: ShardRef) => streaming.safetyFilterShardActivity({ shard, policy: run.config.safety.policy }),
        (done) => run.progress('safety', { shards: dataset.shards.length, shardsDone: done }),
      );
      return cpu.summarizeSafetyActivity({ datasetSha: dataset.datasetSha, shards });
    },
    (r) => ({
      counts: {
        records: r.counts.records,
        kept: r.counts.kept,
        rejected: r.counts.rejected,
        crisis: r.counts.crisis,
        piiRedacted: r.counts.piiRedacted,
      },
      artifacts: { report: r.reportUri, manifest: r.manifestUri },
    }),
  );
  upsertSearchAttributes([{ key: CRISIS_COUNT, value: result.counts.crisis }]);
  return { result, shards };
}

/** Augmentation reads the safety stage's kept shards. */
async function augmentStage(run: PipelineRun, dataset: PrepareDatasetResult, safety: { shards: SafetyShardResult[] }): Promise<AugmentResult> {
  const config = run.config.augment;
  return run.stage(
    'augment',
    async () => {
      const shards: ShardRef[] = safety.shards.map((s) => ({ split: s.split, ...s.kept }));
      const results = await mapInOrder(
        shards,
        config.concurrency,
        (shard) => streaming.augmentShardActivity({ shard, config }),
        (done) => run.progress('augment', { shards: shards.length, shardsDone: done }),
      );
      return cpu.summarizeAugmentationActivity({ datasetSha: dataset.datasetSha, shards: results, config });
    },
    (r) => ({
      counts: {
        source: r.counts.source,
        augmented: r.counts.kept,
        discarded: r.counts.discarded,
        crisisGenerated: Object.values(r.counts.generatedByType).reduce((a, b) => a + b, 0),
        ratioPercent: Math.round(r.ratio * 100),
        crisisSharePercent: Math.round(r.crisisShare.after * 100),
      },
      cacheHit: r.cacheHit,
      artifacts: { report: r.reportUri, manifest: r.manifestUri },
    }),
  );
}

/**
 * A scheduled run's check before training (`train.skipIfUnchanged`): when the promoted model was
 * trained from the same data, config and base model, training would give it again, so the run
 * ends here and says so, and the later stages are marked skipped with the reason.
 */
async function unchangedSincePromotion(run: PipelineRun, augment: AugmentResult): Promise<NonNullable<PipelineResult['unchanged']> | undefined> {
  if (!patched(SKIP_UNCHANGED_PATCH)) return undefined;
  const gpu = gpuActivities({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '10 minutes' });
  const check = await gpu.trainingUnchangedActivity({ dataManifestUri: augment.manifestUri, config: run.config.train.config });
  if (!check.promoted) return undefined;
  const reason = `nothing changed: data, training config and base model are those of promoted model ${check.promoted.version}`;
  for (const stage of ['train', 'evaluate', 'review', 'promote'] as const) run.state.skip(stage, reason);
  return { ...check.promoted, trainingKey: check.trainingKey, reason };
}

/**
 * Fine-tuning on the GPU queue. Its progress (step, loss, val loss, tokens/s, ETA) travels in
 * the activity's heartbeat details, which the UI shows on the pending activity and which add
 * nothing to this history. The stop signal cancels the activity, which finishes with its best
 * checkpoint and returns the model.
 */
async function trainStage(run: PipelineRun, augment: AugmentResult): Promise<NonNullable<PipelineResult['train']>> {
  const config = run.config.train;
  const gpu = gpuActivities({ startToCloseTimeout: '24 hours', heartbeatTimeout: config.heartbeatTimeoutSeconds * 1000, maximumAttempts: 10 });
  const stopByCancel = patched(TRAIN_STOP_BY_CANCEL_PATCH);
  const train = () => gpu.trainModelActivity({ config: config.config, dataManifestUri: augment.manifestUri, runId: workflowInfo().workflowId });
  return run.stage(
    'train',
    async () => {
      if (!stopByCancel) return train();
      const scope = new CancellationScope();
      run.trainingScope = scope;
      try {
        return await scope.run(() => {
          const training = train();
          // A stop asked for before training began: the activity stops at its first heartbeat.
          if (run.stopTrainingRequested) scope.cancel();
          return training;
        });
      } catch (err) {
        // The stop cancelled the activity before it started: there is no model to go on with.
        if (isCancellation(err) && run.stopTrainingRequested && !CancellationScope.current().consideredCancelled) {
          throw ApplicationFailure.nonRetryable('training was stopped before it started: no model was trained', ErrorTypes.StageFailed);
        }
        throw err;
      } finally {
        run.trainingScope = undefined;
      }
    },
    (r) => ({
      counts: {
        steps: r.steps,
        bestStep: r.bestStep,
        ...(r.baseValLoss !== null ? { baseValLossMilli: Math.round(r.baseValLoss * 1000) } : {}),
        ...(r.bestValLoss !== null ? { bestValLossMilli: Math.round(r.bestValLoss * 1000) } : {}),
      },
      artifacts: {
        lossCurve: r.lossCurveUri,
        ...(r.lossChartUri ? { lossChart: r.lossChartUri } : {}),
        artifacts: r.artifactsManifestUri,
        ...(r.bestCheckpointUri ? { bestCheckpoint: r.bestCheckpointUri } : {}),
      },
    }),
  );
}

/** Evaluation: the validation set and scoring on the CPU queue, generation on the GPU queue. */
async function evaluateStage(
  run: PipelineRun,
  trained: NonNullable<PipelineResult['train']>,
  safetyShards: readonly SafetyShardResult[],
): Promise<NonNullable<PipelineResult['evaluate']>> {
  const gpu = gpuActivities({ startToCloseTimeout: '12 hours', heartbeatTimeout: '5 minutes' });
  const evaluate = run.config.evaluate;
  const candidateUri = trained.modelUri as string;
  return run.stage(
    'evaluate',
    async () => {
      const testShards = testShardsOf(safetyShards);
      const set = await cpu.buildValidationSetActivity({ shards: testShards, config: evaluate.validationSet });
      run.progress('evaluate', { items: set.manifest.records });
      const baseline = await cpu.resolveEvaluationBaselineActivity({
        ...(evaluate.baselineModelUri ? { explicitModelUri: evaluate.baselineModelUri } : {}),
        ...(trained.baseModelUri ? { baseModelUri: trained.baseModelUri } : {}),
      });
      const generate = (modelUri: string) =>
        gpu.generateEvaluationOutputsActivity({
          modelUri,
          validationSetManifestUri: set.manifestUri,
          testShards,
          sampling: evaluate.sampling,
          maxLossRecords: evaluate.maxLossRecords,
        });
      const [candidate, baselineOutputs] = await Promise.all([
        generate(candidateUri),
        baseline ? generate(baseline.modelUri) : Promise.resolve(undefined),
      ]);
      const scored = await cpu.scoreEvaluationActivity({
        runId: workflowInfo().workflowId,
        validationSetManifestUri: set.manifestUri,
        candidate,
        ...(baseline && baselineOutputs
          ? { baseline: { ...baselineOutputs, kind: baseline.kind, ...(baseline.version ? { version: baseline.version } : {}) } }
          : {}),
        lossCurveUri: trained.lossCurveUri,
        config: evaluate,
      });
      return { ...scored, validationSetManifestUri: set.manifestUri, baseline };
    },
    (r) => ({
      counts: {
        items: r.headline.items,
        better: r.verdict.decision === 'better' ? 1 : 0,
        safetyBlocked: r.verdict.safetyBlocked ? 1 : 0,
        reviewItems: r.reviewItemIds.length,
        safetyPassPercent: Math.round(r.headline.candidateSafetyPassRate * 100),
        ...(r.headline.candidateLoss !== null ? { testLossMilli: Math.round(r.headline.candidateLoss * 1000) } : {}),
      },
      artifacts: {
        report: r.htmlUri,
        reportJson: r.reportUri,
        metrics: r.prometheusUri,
        reviewItems: r.reviewItemsUri,
        validationSet: r.validationSetManifestUri,
      },
    }),
  );
}

/** Expert review (a child workflow that waits for clinicians), then promotion of a better, safe, approved model. */
async function reviewAndPromoteStages(
  run: PipelineRun,
  evaluated: NonNullable<PipelineResult['evaluate']>,
  candidateUri: string,
  trainingKey: string | undefined,
): Promise<Pick<PipelineResult, 'review' | 'promotion'>> {
  const reviewConfig = run.config.review;
  const review = await run.stage(
    'review',
    async () => {
      const reviewers = reviewConfig.reviewers ?? (await cpu.loadReviewersActivity());
      const items = evaluated.reviewItems;
      run.progress('review', { items: items.length, reviewers: reviewers.length });
      return executeChild(expertReviewWorkflow, {
        workflowId: reviewWorkflowId(workflowInfo().workflowId),
        taskQueue: workflowInfo().taskQueue,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        args: [{ reviewId: workflowInfo().workflowId, items, reviewItemsUri: evaluated.reviewItemsUri, reviewers, config: reviewConfig }],
      });
    },
    (r) => ({
      counts: {
        reviews: r.reviews,
        approved: r.status === 'approved' ? 1 : 0,
        passRatePercent: Math.round(r.consensus.passRate * 100),
        ...(r.consensus.alpha !== null ? { alphaMilli: Math.round(r.consensus.alpha * 1000) } : {}),
      },
    }),
  );
  const reasons: string[] = [];
  if (evaluated.verdict.decision !== 'better')
    reasons.push(
      `evaluation: not better${evaluated.verdict.safetyBlocked ? ' (blocked by safety)' : ''}: ${evaluated.verdict.reasons
        .filter((r) => !r.passed)
        .map((r) => r.rule)
        .join(', ')}`,
    );
  if (review.status !== 'approved')
    reasons.push(
      `expert review: ${review.status}: ${review.explanation.filter((e) => e.startsWith('FAIL')).join('; ') || review.explanation.join('; ')}`,
    );
  const promotion = await run.stage(
    'promote',
    async () => {
      if (reasons.length > 0) return { promoted: false, reasons };
      const result = await cpu.promoteModelActivity({
        runId: workflowInfo().workflowId,
        modelUri: candidateUri,
        ...(trainingKey ? { trainingKey } : {}),
        evaluation: { reportUri: evaluated.reportUri, decision: evaluated.verdict.decision, headline: evaluated.headline },
        review: {
          status: review.status,
          explanation: review.explanation,
          alpha: review.consensus.alpha,
          meanScore: review.consensus.meanScore,
          passRate: review.consensus.passRate,
        },
      });
      return { promoted: true, reasons: [`evaluation better and safe; expert review approved`], result };
    },
    (r) => ({ counts: { promoted: r.promoted ? 1 : 0 } }),
  );
  return { review, promotion };
}
