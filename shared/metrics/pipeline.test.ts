import { PipelineMetrics, stageOf } from './pipeline';

const value = async (m: PipelineMetrics, name: string, labels: Record<string, string> = {}) => {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = metric?.values.find((x) => Object.entries(labels).every(([k, want]) => String(x.labels[k]) === want));
  return v?.value;
};

describe('pipeline metrics', () => {
  it('names stages by activity type and keeps anything else out of the label', () => {
    expect(stageOf('prepareDatasetActivity')).toBe('prepareDataset');
    expect(stageOf('trainModelActivity')).toBe('trainModel');
    expect(stageOf('some weird thing')).toBe('other');
    expect(stageOf(`${'x'.repeat(200)}Activity`)).toBe('other');
  });

  it('counts stage attempts, their durations and what is in progress', async () => {
    let now = 1_000_000;
    const m = new PipelineMetrics(() => now);
    m.started('trainModelActivity');
    expect(await value(m, 'pixel_stage_in_progress', { stage: 'trainModel' })).toBe(1);
    // A training attempt counts as progress when it starts.
    expect(await value(m, 'pixel_training_progress_timestamp_seconds')).toBe(1000);
    now += 5000;
    m.stage('trainModelActivity', 'ok', 5);
    m.started('prepareDatasetActivity');
    m.stage('prepareDatasetActivity', 'failed', 0.5);
    expect(await value(m, 'pixel_stage_in_progress', { stage: 'trainModel' })).toBe(0);
    expect(await value(m, 'pixel_stage_runs_total', { stage: 'trainModel', outcome: 'ok' })).toBe(1);
    expect(await value(m, 'pixel_stage_runs_total', { stage: 'prepareDataset', outcome: 'failed' })).toBe(1);
    expect(await value(m, 'pixel_stage_last_success_timestamp_seconds', { stage: 'trainModel' })).toBe(1005);
    expect(await value(m, 'pixel_stage_last_success_timestamp_seconds', { stage: 'prepareDataset' })).toBeUndefined();
  });

  it('reads what a stage did from its result: prepare, safety, augmentation, evaluation, promotion', async () => {
    const m = new PipelineMetrics(() => 2_000_000);
    m.result('prepareDatasetActivity', {
      cacheHit: false,
      counts: { read: 10, accepted: 7, quarantined: 3, blankLines: 0, byReason: { bad_json: 2, empty_conversation: 1 }, bySplit: {}, byTopic: {} },
    });
    // A cached result did no work this time: not counted again.
    m.result('prepareDatasetActivity', { cacheHit: true, counts: { read: 10, accepted: 7, quarantined: 3, byReason: {} } });
    m.result('safetyFilterShardActivity', {
      cacheHit: false,
      counts: {
        kept: 5,
        rejected: 2,
        crisis: 3,
        byCrisisSeverity: { NONE: 4, HIGH: 2, IMMINENT: 1 },
        byCrisisType: { suicidal_ideation: 3 },
        byPiiCategory: { EMAIL: 2 },
        byGate: { medical_advice: 1 },
      },
    });
    m.result('augmentShardActivity', { cacheHit: false, counts: { kept: 4, discardedByReason: { near_duplicate: 2 } } });
    m.result('scoreEvaluationActivity', {
      verdict: { decision: 'better', safetyBlocked: false, reasons: [] },
      headline: { items: 20, candidateLoss: 2.5, candidateSafetyPassRate: 0.9, candidateQuality: 0.7, candidateCrisisProtocolRate: 0.95 },
    });
    m.result(
      'notifyReviewersActivity',
      { written: 2 },
      {
        reviewId: 'r',
        notices: [
          { reviewerId: 'a', kind: 'assigned', itemIds: ['i1', 'i2'] },
          { reviewerId: 'b', kind: 'reminder', itemIds: ['i3'] },
        ],
      },
    );
    m.result('recordReviewActivity', {}, { reviewId: 'r' });
    m.result('promoteModelActivity', { version: 'v1' });
    m.result('promoteModelActivity', null);
    expect(await value(m, 'pixel_records_total', { stage: 'prepare', outcome: 'read' })).toBe(10);
    expect(await value(m, 'pixel_records_total', { stage: 'prepare', outcome: 'quarantined' })).toBe(3);
    expect(await value(m, 'pixel_records_quarantined_total', { reason: 'bad_json' })).toBe(2);
    expect(await value(m, 'pixel_records_total', { stage: 'safety', outcome: 'kept' })).toBe(5);
    // Severity NONE is not a crisis record.
    expect(await value(m, 'pixel_safety_crisis_records_total', { severity: 'NONE' })).toBeUndefined();
    expect(await value(m, 'pixel_safety_crisis_records_total', { severity: 'HIGH' })).toBe(2);
    expect(await value(m, 'pixel_safety_crisis_findings_total', { type: 'suicidal_ideation' })).toBe(3);
    expect(await value(m, 'pixel_safety_pii_redactions_total', { category: 'EMAIL' })).toBe(2);
    expect(await value(m, 'pixel_safety_gate_rejections_total', { gate: 'medical_advice' })).toBe(1);
    expect(await value(m, 'pixel_augmentation_copies_total', { outcome: 'discarded', reason: 'near_duplicate' })).toBe(2);
    expect(await value(m, 'pixel_evaluation_headline', { metric: 'crisis_protocol_rate' })).toBe(0.95);
    expect(await value(m, 'pixel_evaluations_total', { decision: 'better' })).toBe(1);
    expect(await value(m, 'pixel_promotions_total')).toBe(1);
    expect(await value(m, 'pixel_review_items_notified_total', { kind: 'assigned' })).toBe(2);
    expect(await value(m, 'pixel_review_items_notified_total', { kind: 'reminder' })).toBe(1);
    expect(await value(m, 'pixel_reviews_recorded_total')).toBe(1);
    expect(await value(m, 'pixel_promotion_timestamp_seconds')).toBe(2000);
  });

  it('takes training progress from the heartbeat; the checkpoint time moves only with a new checkpoint', async () => {
    let now = 10_000;
    const m = new PipelineMetrics(() => now);
    const beat = { step: 5, bestValLoss: null, dataCursor: { epoch: 0, file: 0, line: 0 } };
    m.training({ ...beat, loss: 3.2, tokensPerSecond: 900, checkpointUri: 'file:///c1' });
    now = 20_000;
    m.training({ ...beat, step: 6, loss: Number.NaN, valLoss: 3.1, checkpointUri: 'file:///c1' });
    expect(await value(m, 'pixel_training_step')).toBe(6);
    expect(await value(m, 'pixel_training_loss')).toBe(3.2);
    expect(await value(m, 'pixel_training_val_loss')).toBe(3.1);
    expect(await value(m, 'pixel_training_tokens_per_second')).toBe(900);
    expect(await value(m, 'pixel_training_checkpoint_timestamp_seconds')).toBe(10);
    expect(await value(m, 'pixel_training_progress_timestamp_seconds')).toBe(20);
  });
});
