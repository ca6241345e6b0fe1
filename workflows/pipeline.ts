import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
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
import type { GpuActivities } from '../activities/gpu';
import {
  CPU_TASK_QUEUE,
  CRISIS_COUNT,
  DATASET_SHA,
  GPU_TASK_QUEUE,
  ErrorTypes,
  NON_RETRYABLE_ERROR_TYPES,
  PIPELINE_STAGE,
  PipelineInputSchema,
  RUN_NAME,
  parseWith,
  type PipelineInput,
  type PipelineResult,
  type AugmentResult,
  type AugmentShardResult,
  type PipelineStageName,
  type SafetyResult,
  type SafetyShardResult,
  type ShardRef,
  reviewWorkflowId,
} from '../shared/contracts';

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
import { getProgressQuery, isTrainingStopRequestedQuery, reportTrainingProgressSignal, stopTrainingSignal } from './messages';
import { PipelineState } from './pipeline-state';
import { expertReviewWorkflow } from './expert-review';

// CPU activities run on the workflow's own task queue (the CPU queue in production), which also
// keeps each test's worker on a queue of its own.
const cpu = proxyActivities<CpuActivities>({
  // A cancelled run waits for its stage to stop and clean up, so nothing half-written survives it.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/** Turns a failed activity into the ApplicationFailure the workflow fails with, keeping its type. */
function stageFailure(stage: PipelineStageName, err: unknown): ApplicationFailure {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  const type = cause instanceof ApplicationFailure && cause.type ? cause.type : 'StageFailed';
  return ApplicationFailure.create({ message: `stage ${stage} failed: ${message}`, type, nonRetryable: true, cause: cause instanceof Error ? cause : undefined });
}

/**
 * Runs `run` over every item, at most `concurrency` at a time, results in item order;
 * `onDone` sees how many have finished.
 */
async function fanOut<T, R>(items: readonly T[], concurrency: number, run: (item: T) => Promise<R>, onDone: (done: number) => void): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let done = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i] as T);
      done += 1;
      onDone(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return results;
}

/**
 * The training pipeline. One JSON object in (every field defaulted: `{}` runs the default
 * pipeline on synthetic data), references and counts out. Stages run in order; each one is an
 * activity that passes artifact URIs on, never data.
 */
export async function trainingPipelineWorkflow(input: PipelineInput = {}): Promise<PipelineResult> {
  const parsed = parseWith(PipelineInputSchema, 'pipeline input', input ?? {});
  if (!parsed.ok) throw ApplicationFailure.nonRetryable(parsed.message, ErrorTypes.InvalidInput);
  const config = parsed.value;
  const state = new PipelineState(config.runName ?? workflowInfo().workflowId);
  setHandler(getProgressQuery, () => state.progress());
  let stopTraining = false;
  setHandler(stopTrainingSignal, () => {
    stopTraining = true;
  });
  setHandler(isTrainingStopRequestedQuery, () => stopTraining);
  setHandler(reportTrainingProgressSignal, (p) => {
    if (state.currentStage !== 'train') return;
    state.progressCounts('train', {
      step: p.step,
      totalSteps: p.totalSteps,
      lossMilli: Math.round(p.loss * 1000),
      ...(p.valLoss !== undefined ? { valLossMilli: Math.round(p.valLoss * 1000) } : {}),
      ...(p.bestValLoss !== undefined ? { bestValLossMilli: Math.round(p.bestValLoss * 1000) } : {}),
      ...(p.tokensPerSecond !== undefined ? { tokensPerSecond: Math.round(p.tokensPerSecond) } : {}),
      ...(p.etaSeconds !== undefined ? { etaSeconds: Math.round(p.etaSeconds) } : {}),
    });
    setCurrentDetails(state.details());
  });

  const publish = (): void => {
    upsertSearchAttributes([{ key: PIPELINE_STAGE, value: state.currentStage }]);
    setCurrentDetails(state.details());
  };
  upsertSearchAttributes([{ key: RUN_NAME, value: state.runName }]);

  async function stage<T>(name: PipelineStageName, run: () => Promise<T>, summarize: (result: T) => { counts: Record<string, number>; cacheHit?: boolean; artifacts?: Record<string, string> }): Promise<T> {
    state.begin(name, new Date());
    publish();
    try {
      const result = await run();
      const { counts, cacheHit, artifacts } = summarize(result);
      state.complete(name, new Date(), counts, cacheHit, artifacts);
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        state.cancel(name, new Date());
        // Still allowed after a cancellation request: commands that complete the run's record.
        publish();
        throw err;
      }
      const failure = stageFailure(name, err);
      state.fail(name, new Date(), failure.message);
      publish();
      throw failure;
    }
  }

  const dataset = await stage(
    'prepare',
    () => cpu.prepareDatasetActivity({ config: config.data, useCache: config.useCache }),
    (r) => ({
      counts: { read: r.counts.read, accepted: r.counts.accepted, quarantined: r.counts.quarantined, ...r.counts.bySplit },
      cacheHit: r.cacheHit,
      artifacts: { manifest: r.manifestUri, quarantine: r.quarantineUri },
    }),
  );
  state.setDatasetSha(dataset.datasetSha);
  upsertSearchAttributes([{ key: DATASET_SHA, value: dataset.datasetSha }]);

  // Runs started before the safety stage existed finish without it on replay.
  let safety: SafetyResult | undefined;
  let safetyShards: SafetyShardResult[] = [];
  if (patched(SAFETY_STAGE_PATCH)) {
    safety = await stage(
      'safety',
      async () => {
        const shards = dataset.shards;
        // Bounded fan-out: a few shard activities at a time, results kept in shard order.
        safetyShards = await fanOut(
          shards,
          config.safety.concurrency,
          (shard: ShardRef) => cpu.safetyFilterShardActivity({ shard, policy: config.safety.policy }),
          (done) => {
            state.progressCounts('safety', { shards: shards.length, shardsDone: done });
            setCurrentDetails(state.details());
          },
        );
        return cpu.summarizeSafetyActivity({ datasetSha: dataset.datasetSha, shards: safetyShards });
      },
      (r) => ({
        counts: { records: r.counts.records, kept: r.counts.kept, rejected: r.counts.rejected, crisis: r.counts.crisis, piiRedacted: r.counts.piiRedacted },
        artifacts: { report: r.reportUri, manifest: r.manifestUri },
      }),
    );
    upsertSearchAttributes([{ key: CRISIS_COUNT, value: safety.counts.crisis }]);
  }

  // Augmentation reads the safety stage's kept shards; runs from before it finish without it.
  let augment: AugmentResult | undefined;
  if (safety && patched(AUGMENT_STAGE_PATCH)) {
    augment = await stage(
      'augment',
      async () => {
        const shards: ShardRef[] = safetyShards.map((s) => ({ split: s.split, ...s.kept }));
        const results: AugmentShardResult[] = await fanOut(
          shards,
          config.augment.concurrency,
          (shard) => cpu.augmentShardActivity({ shard, config: config.augment }),
          (done) => {
            state.progressCounts('augment', { shards: shards.length, shardsDone: done });
            setCurrentDetails(state.details());
          },
        );
        return cpu.summarizeAugmentationActivity({ datasetSha: dataset.datasetSha, shards: results, config: config.augment });
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

  // Fine-tuning and generation on the GPU queue: 'pixel-gpu' beside 'pixel-cpu', else '<queue>-gpu' (tests).
  const queue = workflowInfo().taskQueue;
  const gpuQueue = queue === CPU_TASK_QUEUE ? GPU_TASK_QUEUE : `${queue}-gpu`;
  let train: PipelineResult['train'];
  if (augment && config.train.enabled && patched(TRAIN_STAGE_PATCH)) {
    const gpu = proxyActivities<GpuActivities>({
      taskQueue: gpuQueue,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      startToCloseTimeout: '24 hours',
      heartbeatTimeout: `${config.train.heartbeatTimeoutSeconds} seconds`,
      // A retry resumes from the last checkpoint its attempt heartbeated.
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES, 'NonFiniteLoss'] },
    });
    const augmented = augment;
    train = await stage(
      'train',
      () => gpu.trainModelActivity({ config: config.train.config, dataManifestUri: augmented.manifestUri, runId: workflowInfo().workflowId }),
      (r) => ({
        counts: {
          steps: r.steps,
          bestStep: r.bestStep,
          ...(r.baseValLoss !== null ? { baseValLossMilli: Math.round(r.baseValLoss * 1000) } : {}),
          ...(r.bestValLoss !== null ? { bestValLossMilli: Math.round(r.bestValLoss * 1000) } : {}),
        },
        artifacts: { lossCurve: r.lossCurveUri, lossChart: r.lossChartUri, artifacts: r.artifactsManifestUri, ...(r.bestCheckpointUri ? { bestCheckpoint: r.bestCheckpointUri } : {}) },
      }),
    );
  }

  // Evaluation: the validation set and scoring on the CPU queue, generation on the GPU queue.
  let evaluation: PipelineResult['evaluate'];
  const candidateUri = train?.modelUri;
  if (candidateUri && config.evaluate.enabled && patched(EVALUATE_STAGE_PATCH)) {
    const gpu = proxyActivities<GpuActivities>({
      taskQueue: gpuQueue,
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      startToCloseTimeout: '12 hours',
      heartbeatTimeout: '5 minutes',
      retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
    });
    const evaluate = config.evaluate;
    const trained = train!;
    evaluation = await stage(
      'evaluate',
      async () => {
        const testShards: ShardRef[] = safetyShards.filter((s) => s.split === 'test' && s.kept.records > 0).map((s) => ({ split: s.split, ...s.kept }));
        const set = await cpu.buildValidationSetActivity({ shards: testShards, config: evaluate.validationSet });
        state.progressCounts('evaluate', { items: set.manifest.records });
        setCurrentDetails(state.details());
        const baseline = await cpu.resolveEvaluationBaselineActivity({ ...(evaluate.baselineModelUri ? { explicitModelUri: evaluate.baselineModelUri } : {}), ...(trained.baseModelUri ? { baseModelUri: trained.baseModelUri } : {}) });
        const generate = (modelUri: string) => gpu.generateEvaluationOutputsActivity({ modelUri, validationSetManifestUri: set.manifestUri, testShards, sampling: evaluate.sampling, maxLossRecords: evaluate.maxLossRecords });
        const [candidate, baselineOutputs] = await Promise.all([generate(candidateUri), baseline ? generate(baseline.modelUri) : Promise.resolve(undefined)]);
        const scored = await cpu.scoreEvaluationActivity({
          runId: workflowInfo().workflowId,
          validationSetManifestUri: set.manifestUri,
          candidate,
          ...(baseline && baselineOutputs ? { baseline: { ...baselineOutputs, kind: baseline.kind, ...(baseline.version ? { version: baseline.version } : {}) } } : {}),
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
        artifacts: { report: r.htmlUri, reportJson: r.reportUri, metrics: r.prometheusUri, reviewItems: r.reviewItemsUri, validationSet: r.validationSetManifestUri },
      }),
    );
  }

  // Expert review (a child workflow that waits for clinicians), then promotion.
  let review: PipelineResult['review'];
  let promotion: PipelineResult['promotion'];
  // No items to review (no crisis item and a review sample of 0): nothing can approve, nothing is promoted.
  if (evaluation && candidateUri && config.review.enabled && (evaluation.reviewItems ?? []).length > 0 && patched(REVIEW_STAGE_PATCH)) {
    const evaluated = evaluation;
    const reviewConfig = config.review;
    review = await stage(
      'review',
      async () => {
        const reviewers = reviewConfig.reviewers ?? (await cpu.loadReviewersActivity());
        const items = evaluated.reviewItems;
        state.progressCounts('review', { items: items.length, reviewers: reviewers.length });
        setCurrentDetails(state.details());
        return executeChild(expertReviewWorkflow, {
          workflowId: reviewWorkflowId(workflowInfo().workflowId),
          taskQueue: workflowInfo().taskQueue,
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          args: [{ reviewId: workflowInfo().workflowId, items, reviewItemsUri: evaluated.reviewItemsUri, reviewers, config: reviewConfig }],
        });
      },
      (r) => ({ counts: { reviews: r.reviews, approved: r.status === 'approved' ? 1 : 0, passRatePercent: Math.round(r.consensus.passRate * 100), ...(r.consensus.alpha !== null ? { alphaMilli: Math.round(r.consensus.alpha * 1000) } : {}) } }),
    );
    const reasons: string[] = [];
    if (evaluated.verdict.decision !== 'better') reasons.push(`evaluation: not better${evaluated.verdict.safetyBlocked ? ' (blocked by safety)' : ''}: ${evaluated.verdict.reasons.filter((r) => !r.passed).map((r) => r.rule).join(', ')}`);
    if (review.status !== 'approved') reasons.push(`expert review: ${review.status}: ${review.explanation.filter((e) => e.startsWith('FAIL')).join('; ') || review.explanation.join('; ')}`);
    const approved = review;
    promotion = await stage(
      'promote',
      async () => {
        if (reasons.length > 0) return { promoted: false, reasons };
        const result = await cpu.promoteModelActivity({
          runId: workflowInfo().workflowId,
          modelUri: candidateUri,
          evaluation: { reportUri: evaluated.reportUri, decision: evaluated.verdict.decision, headline: evaluated.headline },
          review: { status: approved.status, explanation: approved.explanation, alpha: approved.consensus.alpha, meanScore: approved.consensus.meanScore, passRate: approved.consensus.passRate },
        });
        return { promoted: true, reasons: [`evaluation better and safe; expert review approved`], result };
      },
      (r) => ({ counts: { promoted: r.promoted ? 1 : 0 } }),
    );
  }

  state.finish();
  publish();
  return { runName: state.runName, dataset, ...(safety ? { safety } : {}), ...(augment ? { augment } : {}), ...(train ? { train } : {}), ...(evaluation ? { evaluate: evaluation } : {}), ...(review ? { review } : {}), ...(promotion ? { promotion } : {}), stages: state.stagesSnapshot() };
}
