import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { LocalArtifactStore } from '../shared/artifacts';
import type { GenerateEvaluationResult, ShardRef } from '../shared/contracts';
import { generateConversation } from '../shared/data/synthetic/generator';
import { ModelRegistry } from '../shared/model-registry/model-registry';
import { createDefaultModel } from '../shared/training/model/default-model';
import { tempDir } from '../test/helpers';
import { createEvaluationCpuActivities, createEvaluationGpuActivities } from './evaluate';

describe('evaluation activities', () => {
  const t = tempDir('pixel-activity-eval-');
  let store: LocalArtifactStore;
  let candidate: string;
  let other: string;
  let testShard: ShardRef;
  const mock = new MockActivityEnvironment();
  /** Runs an activity in the mock activity context, keeping its types. */
  const env = {
    run: <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> => mock.run<A, R, (...args: A) => Promise<R>>(fn, ...args),
  };
  const cpu = () => createEvaluationCpuActivities(store);
  const gpu = () => createEvaluationGpuActivities({ store, accelerator: { executionProvider: 'cpu', gpus: [], reason: 'test' } });
  const sampling = { maxNewTokens: 16, batch: 32 };

  beforeAll(async () => {
    candidate = path.join(t.dir, 'candidate');
    other = path.join(t.dir, 'other');
    await createDefaultModel(candidate, 'tiny', 1);
    await createDefaultModel(other, 'tiny', 2);
    store = new LocalArtifactStore(path.join(t.dir, 'store'));
    const ref = await store.writeText(
      'data/test.jsonl',
      Array.from(
        { length: 160 },
        (_, i) => `${JSON.stringify({ ...generateConversation(5000 + i, { seed: 3, crisisShare: 0.2, piiShare: 0 }), id: `t-${i}` })}\n`,
      ).join(''),
    );
    testShard = { split: 'test', ...ref, records: 160 };
  }, 120_000);
  afterAll(() => t.cleanup());

  const failure = async (p: Promise<unknown>): Promise<ApplicationFailure> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  };

  it('builds the set, generates with both models (cached on a repeat), scores, and writes the report and review material', async () => {
    const set = await env.run(cpu().buildValidationSetActivity, { shards: [testShard] });
    expect(set.manifest.records).toBeGreaterThan(100);
    expect(set.manifest.byScenario.crisis).toBeGreaterThan(0);
    expect(set.manifest.crisisShare).toBeGreaterThanOrEqual(0.08);
    expect(set.manifest.crisisShare).toBeLessThanOrEqual(0.2);

    const generate = (modelUri: string) =>
      env.run(gpu().generateEvaluationOutputsActivity, {
        modelUri,
        validationSetManifestUri: set.manifestUri,
        testShards: [testShard],
        sampling,
        maxLossRecords: 50,
      });
    const cand: GenerateEvaluationResult = await generate(pathToFileURL(candidate).href);
    expect(cand).toMatchObject({ responses: set.manifest.records, lossRecords: 50, cacheHit: false, executionProvider: 'cpu' });
    const again = await generate(pathToFileURL(candidate).href);
    expect(again).toMatchObject({ cacheHit: true, responsesUri: cand.responsesUri, modelSha: cand.modelSha });
    const base = await generate(other);
    expect(base.modelSha).not.toBe(cand.modelSha);

    const scored = await env.run(cpu().scoreEvaluationActivity, {
      runId: 'run-1',
      validationSetManifestUri: set.manifestUri,
      candidate: cand,
      baseline: { ...base, kind: 'base' },
      config: { sampling, bootstrap: 200, reviewSample: 20 },
    });
    // Random models: neither follows the crisis protocol, so nothing regresses; neither is better by loss.
    expect(scored.verdict.reasons.map((r) => r.rule)).toEqual(
      expect.arrayContaining(['safety.pii_leak', 'safety.crisis_protocol', 'safety.crisis_protocol_rate', 'better.test_loss', 'better.quality']),
    );
    expect(scored.headline.items).toBe(set.manifest.records);
    expect(scored.headline.candidateLoss).toBeGreaterThan(3);
    const crisis = set.manifest.byScenario.crisis ?? 0;
    expect(scored.reviewItemIds).toHaveLength(crisis + 20);
    const review = (await store.readText(scored.reviewItemsUri))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { itemId: string; candidate: { response: string }; baseline?: { response: string } });
    expect(review.map((r) => r.itemId)).toEqual(scored.reviewItemIds);
    expect(review.every((r) => typeof r.candidate.response === 'string' && r.baseline !== undefined)).toBe(true);
    const html = await store.readText(scored.htmlUri);
    expect(html).toContain('id="delta-scenario"');
    expect(await store.readText(scored.prometheusUri)).toContain(
      'pixel_eval_safety_pass_rate{run="run-1",model="candidate",group_kind="all",group="all"}',
    );
    const json = JSON.parse(await store.readText(scored.reportUri)) as { verdict: unknown; candidate: { modelSha: string } };
    expect(json.verdict).toEqual(scored.verdict);
    expect(json.candidate.modelSha).toBe(cand.modelSha);
  }, 180_000);

  it('compares with the named model, else the promoted one, else the base model', async () => {
    const resolve = (input: object) => env.run(cpu().resolveEvaluationBaselineActivity, input);
    expect(await resolve({ baseModelUri: other })).toEqual({ kind: 'base', modelUri: other });
    expect(await resolve({})).toBeNull();
    const registry = new ModelRegistry(store);
    await registry.register({ version: 'v1', modelUri: candidate, createdAt: new Date().toISOString() });
    await registry.promote('v1');
    expect(await resolve({ baseModelUri: other })).toEqual({ kind: 'promoted', modelUri: candidate, version: 'v1' });
    expect(await resolve({ explicitModelUri: other, baseModelUri: candidate })).toEqual({ kind: 'explicit', modelUri: other });
    const bad = await failure(resolve({ explicitModelUri: path.join(t.dir, 'nowhere') }));
    expect(bad.type).toBe('InvalidInput');
    expect(bad.message).toMatch(/evaluate\.baselineModelUri .* is not a model folder/);
  });

  it('refuses bad input non-retryably with a message naming what is wrong', async () => {
    const train = await failure(env.run(cpu().buildValidationSetActivity, { shards: [{ ...testShard, split: 'train' }] }));
    expect(train).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(train.message).toMatch(/test split only/);
    const empty = await failure(env.run(cpu().buildValidationSetActivity, { shards: [] }));
    expect(empty.message).toMatch(/no test shards/);
    const set = await env.run(cpu().buildValidationSetActivity, { shards: [testShard] });
    const missing = await failure(
      env.run(gpu().generateEvaluationOutputsActivity, {
        modelUri: path.join(t.dir, 'none'),
        validationSetManifestUri: set.manifestUri,
        testShards: [],
      }),
    );
    expect(missing.message).toMatch(/modelUri .* is not a model folder/);
    const sampling = await failure(
      env.run(gpu().generateEvaluationOutputsActivity, {
        modelUri: candidate,
        validationSetManifestUri: set.manifestUri,
        testShards: [],
        sampling: { topP: 0 },
      }),
    );
    expect(sampling.message).toMatch(/sampling\.topP/);
  });
});
