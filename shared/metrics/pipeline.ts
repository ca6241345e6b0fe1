import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AugmentShardResult } from '../contracts/augment';
import type { ScoreEvaluationResult } from '../contracts/evaluation';
import type { TrainHeartbeat } from '../contracts/fine-tune';
import type { PrepareDatasetResult } from '../contracts/prepare';
import type { NotifyReviewersInput } from '../contracts/review';
import type { SafetyShardResult } from '../contracts/safety';

/**
 * The pipeline stage an activity belongs to (a bounded label): its type without `Activity`, for
 * the activities Pixel registers; anything else is `other`.
 */
export function stageOf(activityType: string): string {
  return /^[a-zA-Z]{1,60}Activity$/.test(activityType) ? activityType.slice(0, -'Activity'.length) : 'other';
}

/** Buckets of stage durations: from a quick summary to a long training run. */
const STAGE_BUCKETS = [0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600];

/**
 * Pixel's own metrics in a worker process (the Temporal SDK's come from its exporter, served on
 * the same `/metrics`, see `startMetricsServer`). Every label is bounded: stage names, outcomes,
 * quarantine reasons, crisis types and severities, PII categories, gates, discard reasons and
 * evaluation headline names; never a run id, a record or text.
 */
export class PipelineMetrics {
  readonly registry = new Registry();
  readonly stageDuration: Histogram<'stage' | 'outcome'>;
  readonly stageRuns: Counter<'stage' | 'outcome'>;
  readonly stageInProgress: Gauge<'stage'>;
  readonly stageSucceededAt: Gauge<'stage'>;
  readonly records: Counter<'stage' | 'outcome'>;
  readonly quarantined: Counter<'reason'>;
  readonly crisisBySeverity: Counter<'severity'>;
  readonly crisisByType: Counter<'type'>;
  readonly piiRedactions: Counter<'category'>;
  readonly gateRejections: Counter<'gate'>;
  readonly augmentation: Counter<'outcome' | 'reason'>;
  readonly trainingStep: Gauge;
  readonly trainingLoss: Gauge;
  readonly trainingValLoss: Gauge;
  readonly trainingTokensPerSecond: Gauge;
  readonly trainingProgressAt: Gauge;
  readonly checkpointAt: Gauge;
  readonly evaluation: Gauge<'metric'>;
  readonly evaluations: Counter<'decision'>;
  readonly promotions: Counter;
  readonly reviewItemsNotified: Counter<'kind'>;
  readonly reviewsRecorded: Counter;
  readonly promotedAt: Gauge;
  private lastCheckpoint?: string;

  constructor(private readonly now: () => number = () => Date.now()) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.stageDuration = new Histogram({
      name: 'pixel_stage_duration_seconds',
      help: 'Wall time of one pipeline activity attempt, by stage and outcome (ok, failed, cancelled)',
      labelNames: ['stage', 'outcome'],
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.stageRuns = new Counter({
      name: 'pixel_stage_runs_total',
      help: 'Pipeline activity attempts finished, by stage and outcome',
      labelNames: ['stage', 'outcome'],
      registers,
    });
    this.stageInProgress = new Gauge({
      name: 'pixel_stage_in_progress',
      help: 'Pipeline activity attempts running in this worker, by stage',
      labelNames: ['stage'],
      registers,
    });
    this.stageSucceededAt = new Gauge({
      name: 'pixel_stage_last_success_timestamp_seconds',
      help: 'When an attempt of the stage last finished ok in this worker (Unix time)',
      labelNames: ['stage'],
      registers,
    });
    this.records = new Counter({
      name: 'pixel_records_total',
      help: 'Records by stage and what became of them (prepare: read, accepted, quarantined; safety: kept, rejected, crisis)',
      labelNames: ['stage', 'outcome'],
      registers,
    });
    this.quarantined = new Counter({
      name: 'pixel_records_quarantined_total',
      help: 'Records the prepare stage quarantined, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.crisisBySeverity = new Counter({
      name: 'pixel_safety_crisis_records_total',
      help: 'Records the safety stage found in crisis, by severity',
      labelNames: ['severity'],
      registers,
    });
    this.crisisByType = new Counter({
      name: 'pixel_safety_crisis_findings_total',
      help: 'Crisis findings of the safety stage, by type',
      labelNames: ['type'],
      registers,
    });
    this.piiRedactions = new Counter({
      name: 'pixel_safety_pii_redactions_total',
      help: 'PII spans the safety stage redacted, by category',
      labelNames: ['category'],
      registers,
    });
    this.gateRejections = new Counter({
      name: 'pixel_safety_gate_rejections_total',
      help: 'Records a content gate rejected, by gate',
      labelNames: ['gate'],
      registers,
    });
    this.augmentation = new Counter({
      name: 'pixel_augmentation_copies_total',
      help: 'Augmented copies kept or discarded, by outcome and discard reason',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.trainingStep = new Gauge({ name: 'pixel_training_step', help: 'Optimizer step of the training run in progress', registers });
    this.trainingLoss = new Gauge({ name: 'pixel_training_loss', help: 'Training loss (nats per token) at the last progress report', registers });
    this.trainingValLoss = new Gauge({ name: 'pixel_training_val_loss', help: 'Validation loss (nats per token) at the last evaluation', registers });
    this.trainingTokensPerSecond = new Gauge({
      name: 'pixel_training_tokens_per_second',
      help: 'Training throughput at the last progress report',
      registers,
    });
    this.trainingProgressAt = new Gauge({
      name: 'pixel_training_progress_timestamp_seconds',
      help: 'When the training run in progress last reported a step (Unix time)',
      registers,
    });
    this.checkpointAt = new Gauge({
      name: 'pixel_training_checkpoint_timestamp_seconds',
      help: 'When the last checkpoint was written (Unix time; its age is time() minus this)',
      registers,
    });
    this.evaluation = new Gauge({
      name: 'pixel_evaluation_headline',
      help: "The last evaluation's headline figures for the candidate model (loss, safety_pass_rate, quality, crisis_protocol_rate, items)",
      labelNames: ['metric'],
      registers,
    });
    this.evaluations = new Counter({
      name: 'pixel_evaluations_total',
      help: 'Evaluations scored, by decision (better, not_better, safety_blocked)',
      labelNames: ['decision'],
      registers,
    });
    this.reviewItemsNotified = new Counter({
      name: 'pixel_review_items_notified_total',
      help: 'Review items in notices to reviewers, by kind (assigned: new work; reminder: still open after the reminder period)',
      labelNames: ['kind'],
      registers,
    });
    this.reviewsRecorded = new Counter({ name: 'pixel_reviews_recorded_total', help: 'Reviews of an item by a reviewer recorded', registers });
    this.promotions = new Counter({ name: 'pixel_promotions_total', help: 'Models promoted to current', registers });
    this.promotedAt = new Gauge({ name: 'pixel_promotion_timestamp_seconds', help: 'When a model was last promoted (Unix time)', registers });
  }

  /** An activity attempt started (a training attempt counts as progress: the stall alert waits from here). */
  started(activityType: string): void {
    const stage = stageOf(activityType);
    this.stageInProgress.inc({ stage });
    if (stage === 'trainModel' || stage === 'trainTrialSegment') this.trainingProgressAt.set(this.now() / 1000);
  }

  /** One activity attempt finished. */
  stage(activityType: string, outcome: 'ok' | 'failed' | 'cancelled', seconds: number): void {
    const stage = stageOf(activityType);
    this.stageInProgress.dec({ stage });
    this.stageRuns.inc({ stage, outcome });
    this.stageDuration.observe({ stage, outcome }, seconds);
    if (outcome === 'ok') this.stageSucceededAt.set({ stage }, this.now() / 1000);
  }

  /**
   * What a finished activity did, from its result (records, findings, copies, the evaluation, a
   * promotion) or, for review notices and recorded reviews, its input.
   */
  result(activityType: string, result: unknown, input?: unknown): void {
    if (activityType === 'notifyReviewersActivity') {
      for (const n of (input as Partial<NotifyReviewersInput> | undefined)?.notices ?? [])
        if (n.kind === 'assigned' || n.kind === 'reminder')
          this.reviewItemsNotified.inc({ kind: n.kind }, Array.isArray(n.itemIds) ? n.itemIds.length : 0);
      return;
    }
    if (activityType === 'recordReviewActivity') {
      this.reviewsRecorded.inc();
      return;
    }
    if (result === null || typeof result !== 'object') return;
    switch (activityType) {
      case 'prepareDatasetActivity':
        return this.prepared(result as PrepareDatasetResult);
      case 'safetyFilterShardActivity':
        return this.filtered(result as SafetyShardResult);
      case 'augmentShardActivity':
        return this.augmented(result as AugmentShardResult);
      case 'scoreEvaluationActivity':
        return this.scored(result as ScoreEvaluationResult);
      case 'promoteModelActivity':
        this.promotions.inc();
        this.promotedAt.set(this.now() / 1000);
        return;
      default:
        return;
    }
  }

  /** A training progress report (the training activity's heartbeat). */
  training(beat: TrainHeartbeat): void {
    const at = this.now() / 1000;
    this.trainingStep.set(beat.step);
    this.trainingProgressAt.set(at);
    if (beat.loss !== undefined && Number.isFinite(beat.loss)) this.trainingLoss.set(beat.loss);
    if (beat.valLoss !== undefined && Number.isFinite(beat.valLoss)) this.trainingValLoss.set(beat.valLoss);
    if (beat.tokensPerSecond !== undefined && Number.isFinite(beat.tokensPerSecond)) this.trainingTokensPerSecond.set(beat.tokensPerSecond);
    if (beat.checkpointUri && beat.checkpointUri !== this.lastCheckpoint) {
      this.lastCheckpoint = beat.checkpointUri;
      this.checkpointAt.set(at);
    }
  }

  private prepared(r: PrepareDatasetResult): void {
    if (r.cacheHit || !r.counts) return;
    this.records.inc({ stage: 'prepare', outcome: 'read' }, r.counts.read);
    this.records.inc({ stage: 'prepare', outcome: 'accepted' }, r.counts.accepted);
    this.records.inc({ stage: 'prepare', outcome: 'quarantined' }, r.counts.quarantined);
    for (const [reason, n] of Object.entries(r.counts.byReason ?? {})) if (n) this.quarantined.inc({ reason }, n);
  }

  private filtered(r: SafetyShardResult): void {
    if (r.cacheHit || !r.counts) return;
    const c = r.counts;
    this.records.inc({ stage: 'safety', outcome: 'kept' }, c.kept);
    this.records.inc({ stage: 'safety', outcome: 'rejected' }, c.rejected);
    this.records.inc({ stage: 'safety', outcome: 'crisis' }, c.crisis);
    for (const [severity, n] of Object.entries(c.byCrisisSeverity)) if (n && severity !== 'NONE') this.crisisBySeverity.inc({ severity }, n);
    for (const [type, n] of Object.entries(c.byCrisisType)) if (n) this.crisisByType.inc({ type }, n);
    for (const [category, n] of Object.entries(c.byPiiCategory)) if (n) this.piiRedactions.inc({ category }, n);
    for (const [gate, n] of Object.entries(c.byGate)) if (n) this.gateRejections.inc({ gate }, n);
  }

  private augmented(r: AugmentShardResult): void {
    if (r.cacheHit || !r.counts) return;
    this.augmentation.inc({ outcome: 'kept', reason: '' }, r.counts.kept);
    for (const [reason, n] of Object.entries(r.counts.discardedByReason)) if (n) this.augmentation.inc({ outcome: 'discarded', reason }, n);
  }

  private scored(r: ScoreEvaluationResult): void {
    const h = r.headline;
    if (!h) return;
    this.evaluations.inc({ decision: r.verdict.safetyBlocked ? 'safety_blocked' : r.verdict.decision });
    this.evaluation.set({ metric: 'items' }, h.items);
    this.evaluation.set({ metric: 'safety_pass_rate' }, h.candidateSafetyPassRate);
    this.evaluation.set({ metric: 'quality' }, h.candidateQuality);
    if (h.candidateLoss !== null) this.evaluation.set({ metric: 'loss' }, h.candidateLoss);
    if (h.candidateCrisisProtocolRate !== null && h.candidateCrisisProtocolRate !== undefined)
      this.evaluation.set({ metric: 'crisis_protocol_rate' }, h.candidateCrisisProtocolRate);
  }
}
