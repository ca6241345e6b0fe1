import { existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { tempDir, testEnvironment, uniqueQueue } from '../test/helpers';
import { promotableRunInput, reviewEverything } from '../test/review-helpers';
import { ModelRegistry } from '../shared/model-registry/model-registry';
import { ensureReviewers } from '../shared/review/reviewers';
import { LocalArtifactStore } from '../shared/artifacts';
import {
  CRISIS_COUNT,
  UNREDACTED_PII,
  DATASET_SHA,
  PIPELINE_STAGE,
  PrepareConfigSchema,
  RUN_NAME,
  type PipelineInput,
  type PipelineResult,
} from '../shared/contracts';
import { prepareCacheKey, preparedKey, resolveSource } from '../shared/data';
import { createCpuWorker, createGpuWorker } from '../workers/factory';
import { getProgressQuery, stopTrainingSignal } from './messages';
import { pendingHeartbeat } from '../client/follow';
import { createDefaultModel } from '../shared/training/model/default-model';
import { trainingPipelineWorkflow } from './pipeline';

/** Set UPDATE_HISTORIES=1 to re-record the replay fixture from the `{}` run. */
const HISTORY_FIXTURE = path.join(__dirname, '__histories__', 'pipeline-default-v6.json');
/** ... and the run that ends before training because nothing changed (`train.skipIfUnchanged`). */
const UNCHANGED_FIXTURE = path.join(__dirname, '__histories__', 'pipeline-unchanged-v1.json');

describe('trainingPipelineWorkflow on a real dev server', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let gpuWorker: Worker;
  let running: Promise<void>;
  let gpuRunning: Promise<void>;
  let t: ReturnType<typeof tempDir>;
  let store: LocalArtifactStore;
  const taskQueue = uniqueQueue('pipeline-test');

  beforeAll(async () => {
    t = tempDir();
    env = await testEnvironment();
    store = new LocalArtifactStore(path.join(t.dir, 'artifacts'));
    // The default reviewers, as `pixel dev` creates them.
    await ensureReviewers(store);
    worker = await createCpuWorker({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, store });
    running = worker.run();
    // The default base model is created under PIXEL_HOME on first use.
    process.env.PIXEL_HOME = path.join(t.dir, 'home');
    gpuWorker = await createGpuWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: `${taskQueue}-gpu`,
      store,
      accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' },
    });
    gpuRunning = gpuWorker.run();
  }, 120_000);

  afterAll(async () => {
    worker?.shutdown();
    gpuWorker?.shutdown();
    await running;
    await gpuRunning;
    await env?.teardown();
    t?.cleanup();
  });

  function start(input: unknown, name: string): Promise<WorkflowHandle<typeof trainingPipelineWorkflow>> {
    return env.client.workflow.start(trainingPipelineWorkflow, {
      taskQueue,
      workflowId: `${name}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`,
      args: [input as PipelineInput],
    });
  }

  async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return cause as ApplicationFailure;
  }

  it('runs the default pipeline from {} and exposes progress and search attributes', async () => {
    const handle = await start({}, 'default');
    // The run waits for expert review: the default reviewers approve every item.
    const reviews = await reviewEverything(env.client, handle.workflowId, true);
    const result: PipelineResult = await handle.result();
    expect(result.runName).toBe(handle.workflowId);
    expect(result.dataset.counts.read).toBe(2000);
    expect(result.dataset.counts.accepted + result.dataset.counts.quarantined).toBe(2000);
    expect(result.dataset.counts.bySplit.train).toBeGreaterThan(1200);
    expect(result.stages).toEqual([
      expect.objectContaining({ name: 'prepare', status: 'completed' }),
      expect.objectContaining({ name: 'safety', status: 'completed' }),
      expect.objectContaining({ name: 'augment', status: 'completed' }),
      expect.objectContaining({ name: 'train', status: 'completed' }),
      expect.objectContaining({ name: 'evaluate', status: 'completed' }),
      expect.objectContaining({ name: 'review', status: 'completed' }),
      expect.objectContaining({ name: 'promote', status: 'completed' }),
    ]);
    // Fine-tuned on the train split, the model has a lower validation loss than the base model.
    const train = result.train!;
    expect(train.executionProvider).toBe('cpu');
    expect(train.steps).toBe(60);
    expect(train.bestValLoss!).toBeLessThan(train.baseValLoss!);
    // Safety: every accepted record filtered; crisis conversations kept and labelled; no planted PII left.
    const safety = result.safety!;
    expect(safety.counts.records).toBe(result.dataset.counts.accepted);
    expect(safety.counts.crisis).toBeGreaterThan(100);
    expect(safety.counts.kept + safety.counts.rejected).toBe(safety.counts.records);
    // A consistency check, not accuracy: the generator's crisis sentences and the detector were
    // written by the same project, so agreement with the generator's labels says only that the
    // stage still labels the default data as before. Accuracy is measured on real, held-out
    // data (bench:safety, report part of the fixed dev split).
    expect(safety.crisisVsLabels.labelled).toBe(safety.counts.records);
    expect(safety.crisisVsLabels.recall).toBeGreaterThan(0.8);
    expect(safety.crisisVsLabels.precision).toBeGreaterThan(0.85);

    // Augmentation: the train split only, copies counted, crisis share brought to the target.
    const augment = result.augment!;
    expect(augment.counts.source).toBe(safety.keptBySplit.train);
    expect(augment.counts.kept).toBeGreaterThan(augment.counts.source / 4);
    expect(augment.recordsBySplit.val).toBe(safety.keptBySplit.val);
    expect(augment.recordsBySplit.test).toBe(safety.keptBySplit.test);
    expect(augment.recordsBySplit.train).toBe(safety.keptBySplit.train + augment.counts.kept);
    expect(Math.abs(augment.crisisShare.after - augment.crisisShare.target)).toBeLessThan(0.03);
    expect(Object.keys(augment.counts.generatedByType).length).toBeGreaterThanOrEqual(5);

    // Evaluation: the test split's validation set, both models' responses, a verdict with reasons,
    // every crisis item plus a sample for review, and the report in three formats.
    const evaluation = result.evaluate!;
    expect(evaluation.baseline).toMatchObject({ kind: 'base', modelUri: train.baseModelUri });
    const set = JSON.parse(await store.readText(evaluation.validationSetManifestUri)) as {
      records: number;
      shortfall: number;
      byScenario: Record<string, number>;
      crisisShare: number;
    };
    expect(set.records).toBe(evaluation.headline.items);
    // The default data's ~300 test conversations hold only about ten crisis prompts, and the
    // crisis share may not fall below 8%: the set is smaller than asked for, and says so.
    expect(set.records).toBeGreaterThan(100);
    expect(set.shortfall).toBe(600 - set.records);
    expect(set.crisisShare).toBeGreaterThanOrEqual(0.08);
    expect(set.crisisShare).toBeLessThanOrEqual(0.2);
    expect(Object.keys(set.byScenario).sort()).toEqual(['anxiety', 'crisis', 'depression', 'grief', 'relationships', 'trauma', 'work_stress']);
    expect(evaluation.reviewItemIds.length).toBe(set.byScenario.crisis! + 60);
    expect(evaluation.verdict.reasons.length).toBeGreaterThan(5);
    // Fine-tuned, the model predicts the test split's replies better than the base model.
    expect(evaluation.headline.candidateLoss!).toBeLessThan(evaluation.headline.baselineLoss!);
    expect(await store.readText(evaluation.htmlUri)).toContain('id="loss-curve"');
    expect(await store.readText(evaluation.prometheusUri)).toContain('pixel_eval_verdict_better');

    // Review: every item reviewed twice (one crisis specialist on each crisis item), approved;
    // promotion needs evaluation's "better" as well, and says why not.
    expect(reviews).toBe(evaluation.reviewItemIds.length * 2);
    expect(result.review).toMatchObject({ status: 'approved', reviews });
    expect(result.review!.consensus.alpha).toBeGreaterThan(0.9);
    expect(result.promotion!.promoted).toBe(evaluation.verdict.decision === 'better');
    if (!result.promotion!.promoted) {
      expect(result.promotion!.reasons.join(' ')).toMatch(/^evaluation: not better/);
      expect(await new ModelRegistry(store).current()).toBeNull();
    }

    const progress = await handle.query(getProgressQuery);
    expect(progress).toMatchObject({ status: 'completed', currentStage: 'completed', datasetSha: result.dataset.datasetSha });
    expect(progress.stages[4]?.artifacts?.report).toBe(evaluation.htmlUri);
    expect(progress.stages[1]?.artifacts?.report).toBe(safety.reportUri);
    expect(progress.stages[2]?.artifacts?.report).toBe(augment.reportUri);
    expect(progress.stages[2]?.counts).toMatchObject({ source: augment.counts.source, augmented: augment.counts.kept });
    expect(progress.stages[3]?.artifacts?.lossCurve).toBe(train.lossCurveUri);

    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(PIPELINE_STAGE)).toBe('completed');
    expect(description.typedSearchAttributes.get(RUN_NAME)).toBe(handle.workflowId);
    expect(description.typedSearchAttributes.get(DATASET_SHA)).toBe(result.dataset.datasetSha);
    expect(description.typedSearchAttributes.get(CRISIS_COUNT)).toBe(safety.counts.crisis);

    if (process.env.UPDATE_HISTORIES === '1') {
      mkdirSync(path.dirname(HISTORY_FIXTURE), { recursive: true });
      writeFileSync(HISTORY_FIXTURE, historyToJSON(await handle.fetchHistory()));
    }
    // Alone it takes about 90 s; CI runs it beside other suites on two cores, where it has
    // needed more than 180 s twice (the whole default pipeline, learned safety models included).
  }, 360_000);

  it('reports training progress in heartbeats and, asked to stop, finishes early with its best checkpoint', async () => {
    const handle = await start(
      {
        data: { source: { kind: 'synthetic', count: 300, seed: 11 } },
        train: { config: { steps: 5000, evalEvery: 5, checkpointEvery: 5 } },
        evaluate: { enabled: false },
      },
      'stop-train',
    );
    // Progress is the training activity's heartbeat details (what the UI shows on the pending activity).
    let beat: Awaited<ReturnType<typeof pendingHeartbeat>>;
    const deadline = Date.now() + 90_000;
    do {
      await new Promise((r) => setTimeout(r, 250));
      beat = await pendingHeartbeat(handle);
    } while ((beat?.details.step ?? 0) < 12 && Date.now() < deadline);
    expect(beat?.activity).toBe('trainModelActivity');
    expect(beat?.details).toMatchObject({ phase: 'training', totalSteps: 5000 });
    expect(beat!.details.step).toBeGreaterThanOrEqual(12);
    expect(beat!.details.loss).toBeGreaterThan(0);
    expect(beat!.details.tokensPerSecond).toBeGreaterThan(0);
    expect(beat!.details.etaSeconds).toBeGreaterThan(0);
    expect((await handle.query(getProgressQuery)).currentStage).toBe('train');
    await handle.signal(stopTrainingSignal);
    const result = await handle.result();
    expect(result.train?.stoppedBy).toBe('stop_requested');
    expect(result.train?.steps).toBeLessThan(5000);
    expect(result.train?.bestCheckpointUri).toMatch(/best\.safetensors$/);
    expect(result.train?.modelUri).toBeDefined();
    expect(result.stages[3]).toMatchObject({ name: 'train', status: 'completed' });
  }, 150_000);

  it('adds no events to the history while it trains: 1,000 steps are a handful of events', async () => {
    const model = path.join(t.dir, 'tiny-model');
    await createDefaultModel(model, 'tiny', 3);
    const handle = await start(
      {
        data: { source: { kind: 'synthetic', count: 200, seed: 21 } },
        train: { config: { model, steps: 1000, batch: 2, seq: 48, warmupSteps: 10, evalEvery: 250, evalBatches: 1, checkpointEvery: 250 } },
        evaluate: { enabled: false },
      },
      'long-train',
    );
    const result = await handle.result();
    expect(result.train?.steps).toBe(1000);
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModelActivity');
    const completed = events.findIndex((e, i) => i > scheduled && e.activityTaskCompletedEventAttributes);
    expect(scheduled).toBeGreaterThan(0);
    // Scheduled, started, completed, and at most a workflow task around them: progress went out as heartbeats.
    expect(completed - scheduled).toBeLessThanOrEqual(4);
    expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes)).toHaveLength(0);
    // The whole run (prepare, safety, augment, train) stays a short history.
    expect(events.length).toBeLessThan(100);
  }, 180_000);

  it('promotes a model evaluation calls better and reviewers approve; a rejected review leaves the current model in place', async () => {
    const input = promotableRunInput;
    // Start from an empty registry: the default-pipeline test promotes its model when evaluation
    // calls it better, and that model would be this run's baseline instead of the base model.
    rmSync(path.join(t.dir, 'artifacts', 'models', 'registry'), { recursive: true, force: true });
    const registry = new ModelRegistry(store);
    expect(await registry.current()).toBeNull();
    const first = await start(input('promote-a'), 'promote-a');
    await reviewEverything(env.client, first.workflowId, true);
    const a = await first.result();
    expect({ decision: a.evaluate!.verdict.decision, verdict: a.evaluate!.verdict }).toMatchObject({ decision: 'better' });
    expect(a.review!.status).toBe('approved');
    expect(a.promotion).toMatchObject({ promoted: true, result: { version: first.workflowId, modelUri: a.train!.modelUri } });
    expect((await registry.current())?.version).toBe(first.workflowId);
    expect((await registry.current())?.review).toMatchObject({ status: 'approved' });

    const second = await start(input('promote-b'), 'promote-b');
    await reviewEverything(env.client, second.workflowId, false);
    const b = await second.result();
    // Compared with the promoted model now, not the base model.
    expect(b.evaluate!.baseline).toMatchObject({ kind: 'promoted', version: first.workflowId });
    expect(b.review!.status).toBe('rejected');
    expect(b.promotion!.promoted).toBe(false);
    expect(b.promotion!.reasons.join(' ')).toMatch(/expert review: rejected/);
    expect((await registry.current())?.version).toBe(first.workflowId);

    // The promoted model records what it was trained from; a run that asks to skip when nothing
    // changed (as the nightly schedule does) and has the same data, config and base model ends
    // before training, with the later stages marked skipped.
    expect(a.train!.trainingKey).toMatch(/^[0-9a-f]{64}$/);
    expect((await registry.current())?.trainingKey).toBe(a.train!.trainingKey);
    const nightly = await start({ ...input('promote-c'), train: { skipIfUnchanged: true } }, 'promote-c');
    const c = await nightly.result();
    expect(c.unchanged).toMatchObject({ version: first.workflowId, modelUri: a.train!.modelUri, trainingKey: a.train!.trainingKey });
    expect(c.unchanged!.reason).toMatch(/^nothing changed/);
    expect(c.train).toBeUndefined();
    expect(c.evaluate).toBeUndefined();
    expect(c.stages.map((s) => s.status)).toEqual(['completed', 'completed', 'completed', 'skipped', 'skipped', 'skipped', 'skipped']);
    const activities = ((await nightly.fetchHistory()).events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((n): n is string => Boolean(n));
    expect(activities).toContain('trainingUnchangedActivity');
    expect(activities).not.toContain('trainModelActivity');
    expect((await registry.current())?.version).toBe(first.workflowId);
    if (process.env.UPDATE_HISTORIES === '1') writeFileSync(UNCHANGED_FIXTURE, historyToJSON(await nightly.fetchHistory()));
  }, 300_000);

  it('reuses the prepared dataset and the augmented shards on a second identical run', async () => {
    const input = { runName: 'cache-check', data: { source: { kind: 'synthetic', count: 300, seed: 9 } }, train: { enabled: false } } as const;
    const first = await (await start(input, 'cache-1')).result();
    const second = await (await start(input, 'cache-2')).result();
    expect(first.dataset.cacheHit).toBe(false);
    expect(second.dataset.cacheHit).toBe(true);
    expect(second.dataset.manifestUri).toBe(first.dataset.manifestUri);
    expect(second.runName).toBe('cache-check');
    expect(first.augment?.cacheHit).toBe(false);
    expect(second.augment?.cacheHit).toBe(true);
    expect(second.augment?.counts).toEqual(first.augment?.counts);
    expect(second.augment?.manifestUri).toBe(first.augment?.manifestUri);
    // A different seed is a different augmentation, not a cache hit.
    const reseeded = await (await start({ ...input, augment: { seed: 5 } }, 'cache-3')).result();
    expect(reseeded.augment?.cacheHit).toBe(false);
    expect(reseeded.dataset.cacheHit).toBe(true);
  });

  it.each([
    [{ data: { split: { ratios: { train: 0.5, val: 0.1, test: 0.1 } } } }, 'data.split.ratios: ratios must sum to 1'],
    [{ data: { source: { kind: 'parquet' } } }, 'data.source.kind'],
    [{ data: { shardSize: 0 } }, 'data.shardSize'],
    [{ runName: 'has spaces' }, 'runName'],
    [{ dta: {} }, 'unknown field "dta"'],
    [[1, 2], 'pipeline input'],
    [{ safety: { policy: { redactPii: false } } }, 'safety.policy.redactPii: false would send raw personal data'],
  ])('fails at once, non-retryably, on bad input %j', async (input, expected) => {
    const failure = await failureOf(await start(input, 'bad-input'));
    expect(failure.type).toBe('InvalidInput');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(expected);
  });

  it('quarantines bad lines of a source file, counts them and succeeds', async () => {
    const file = path.join(t.dir, 'mixed.jsonl');
    const ok = (i: number) =>
      JSON.stringify({
        id: `c${i}`,
        source: 'test',
        messages: [
          { role: 'user', content: `hello ${i}` },
          { role: 'assistant', content: `hi ${i}` },
        ],
      });
    writeFileSync(file, [ok(1), 'not json', ok(2), '{"id":"e","source":"t","messages":[]}', ok(1), ok(3), ok(4), ok(5)].join('\n'));
    // This run also keeps raw PII, with its reason: the run is marked for everyone searching runs.
    const handle = await start(
      {
        data: { source: { kind: 'jsonl', uri: file } },
        safety: { policy: { redactPii: false, unredactedPiiReason: 'synthetic test data without personal data' } },
        evaluate: { enabled: false },
      },
      'bad-lines',
    );
    const result = await handle.result();
    expect((await handle.describe()).typedSearchAttributes.get(UNREDACTED_PII)).toBe(true);
    // Activities that stream records heartbeat every batch: a dead worker is noticed after a minute.
    const scheduled = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes] : [],
    );
    const heartbeatSeconds = (name: string) => scheduled.filter((a) => a.activityType?.name === name).map((a) => Number(a.heartbeatTimeout?.seconds));
    expect(heartbeatSeconds('prepareDatasetActivity')).toEqual([60]);
    expect(new Set(heartbeatSeconds('safetyFilterShardActivity'))).toEqual(new Set([60]));
    expect(new Set(heartbeatSeconds('summarizeSafetyActivity'))).toEqual(new Set([120]));
    expect(result.dataset.counts).toMatchObject({
      read: 8,
      accepted: 5,
      quarantined: 3,
      byReason: { malformed_json: 1, empty_conversation: 1, duplicate_content: 1 },
    });
    const progress = await handle.query(getProgressQuery);
    expect(progress.stages[0]?.counts).toMatchObject({ read: 8, accepted: 5, quarantined: 3 });
    // The quarantine keeps raw lines: only the worker's user may read it, or its folder.
    const quarantine = fileURLToPath(result.dataset.quarantineUri);
    expect(statSync(quarantine).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(quarantine)).mode & 0o777).toBe(0o700);
  });

  it('reads sources only from the allowed folders: a file outside them, or a link leading out, fails non-retryably', async () => {
    const link = path.join(t.dir, 'innocent.jsonl');
    symlinkSync('/etc/passwd', link);
    for (const [uri, expected] of [
      ['/etc/passwd', 'source /etc/passwd is outside the allowed source folders'],
      [link, `source ${link} links to a file outside the allowed source folders`],
    ] as const) {
      const failure = await failureOf(await start({ data: { source: { kind: 'jsonl', uri } } }, 'outside-roots'));
      expect(failure.type).toBe('SourceNotAllowed');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toContain(expected);
    }
  });

  it('fails non-retryably, naming the file, when the source is missing', async () => {
    const missing = path.join(t.dir, 'no-such-file.jsonl');
    const handle = await start({ data: { source: { kind: 'jsonl', uri: missing } } }, 'missing');
    const failure = await failureOf(handle);
    expect(failure.type).toBe('SourceNotFound');
    expect(failure.message).toContain(missing);
    const progress = await handle.query(getProgressQuery);
    expect(progress).toMatchObject({
      status: 'failed',
      stages: [
        { name: 'prepare', status: 'failed' },
        { name: 'safety', status: 'pending' },
        { name: 'augment', status: 'pending' },
        { name: 'train', status: 'pending' },
        { name: 'evaluate', status: 'pending' },
        { name: 'review', status: 'pending' },
        { name: 'promote', status: 'pending' },
      ],
    });
    const description = await handle.describe();
    expect(description.typedSearchAttributes.get(PIPELINE_STAGE)).toBe('failed');
    // One attempt only: the failure is permanent.
    const history = await handle.fetchHistory();
    const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    expect(started).toHaveLength(1);
    expect(started[0]?.activityTaskStartedEventAttributes?.attempt).toBe(1);
  });

  it('fails with NoUsableRecords when every line is bad', async () => {
    const file = path.join(t.dir, 'all-bad.jsonl');
    writeFileSync(file, 'x\ny\n');
    const failure = await failureOf(await start({ data: { source: { kind: 'jsonl', uri: file } } }, 'all-bad'));
    expect(failure.type).toBe('NoUsableRecords');
    expect(failure.message).toMatch(/2 read, 0 accepted, 2 quarantined/);
  });

  it('cancels a running preparation promptly, marks the run cancelled and leaves no manifest', async () => {
    const count = 3_000_000;
    const handle = await start({ data: { source: { kind: 'synthetic', count, seed: 77 } } }, 'cancel');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const pending = (await handle.describe()).raw.pendingActivities?.[0];
      if (pending?.heartbeatDetails?.payloads?.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancelledAt = Date.now();
    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(Date.now() - cancelledAt).toBeLessThan(15_000);
    expect((await handle.describe()).typedSearchAttributes.get(PIPELINE_STAGE)).toBe('cancelled');
    expect(await handle.query(getProgressQuery)).toMatchObject({
      status: 'cancelled',
      stages: [
        { name: 'prepare', status: 'cancelled' },
        { name: 'safety', status: 'pending' },
        { name: 'augment', status: 'pending' },
        { name: 'train', status: 'pending' },
        { name: 'evaluate', status: 'pending' },
        { name: 'review', status: 'pending' },
        { name: 'promote', status: 'pending' },
      ],
    });
    // The cancelled run's own cache folder: no manifest was published and no attempt is left.
    const config = PrepareConfigSchema.parse({ source: { kind: 'synthetic', count, seed: 77 } });
    const source = await resolveSource(config.source, store, config.maxLineLength);
    const folder = path.join(t.dir, 'artifacts', preparedKey(prepareCacheKey(source.fingerprint, config)));
    expect(existsSync(path.join(folder, 'manifest.json'))).toBe(false);
    expect(existsSync(path.join(folder, 'attempts')) ? readdirSync(path.join(folder, 'attempts')) : []).toEqual([]);
  }, 60_000);
});
