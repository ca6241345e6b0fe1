import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { ArtifactStore } from '../artifacts';
import {
  ConversationRecordSchema,
  ExampleLossSchema,
  GeneratedResponseSchema,
  type BuildValidationSetResult,
  type EvaluateConfig,
  type GenerateEvaluationResult,
  type Message,
  type ResolveBaselineResult,
  type ReviewMaterial,
  type SamplingConfig,
  type ScoreEvaluationResult,
  type ShardRef,
  type ValidationSetConfig,
} from '../contracts';
import { ModelRegistry } from '../model-registry/model-registry';
import type { DetectionEngine } from '../safety/engine';
import { sharedPersonTagger, withTaggedPersons, type PersonTagger } from '../safety/pii/rampart';
import { lossChartSvg } from '../training/loss-chart';
import { modelFolderSha } from '../training/model/folder';
import { canonicalJson, sha256Hex } from '../util/hash';
import { collectJsonl } from '../util/jsonl';
import { runGenerationInThread } from './generation/run-generation';
import { METRICS_GUIDE, prometheusText, reportHtml, type EvaluationReport, type ModelSummary } from './report';
import { selectReviewItems } from './review-sample';
import { compare, modelFigures, scoreResponses, type ItemScore } from './score';
import { buildValidationSet, readValidationSet, ValidationSetError } from './validation-set';
import { decide } from './verdict';

/** Bump when generation or loss scoring changes: cached outputs of older engines are not reused. */
const OUTPUTS_VERSION = '1';

/** Evaluation input that can never work (a missing model folder, a set that cannot be built). */
export class EvaluationInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvaluationInputError';
  }
}

/** The local folder of a model named by URI or path; it must hold a `config.json`. */
export async function modelFolder(store: ArtifactStore, uri: string, what: string): Promise<string> {
  let dir: string;
  try {
    dir = await store.localPath(uri, { folder: true });
  } catch {
    throw new EvaluationInputError(`${what} ${uri} is not a model folder (config.json missing)`);
  }
  if (!existsSync(path.join(dir, 'config.json'))) throw new EvaluationInputError(`${what} ${uri} is not a model folder (config.json missing)`);
  return dir;
}

/** Builds (or reuses) the expert validation set from the safety-filtered test shards. */
export async function buildEvaluationSet(
  store: ArtifactStore,
  shards: readonly ShardRef[],
  config: ValidationSetConfig,
): Promise<BuildValidationSetResult> {
  try {
    return await buildValidationSet(store, shards, config);
  } catch (err) {
    if (err instanceof ValidationSetError) throw new EvaluationInputError(err.message);
    throw err;
  }
}

/**
 * The model the candidate is compared with: the folder named in the config, else the promoted
 * model from the registry, else the base model the candidate was fine-tuned from.
 */
export async function resolveBaseline(
  store: ArtifactStore,
  input: { explicitModelUri?: string; baseModelUri?: string },
): Promise<ResolveBaselineResult> {
  if (input.explicitModelUri) {
    await modelFolder(store, input.explicitModelUri, 'evaluate.baselineModelUri');
    return { kind: 'explicit', modelUri: input.explicitModelUri };
  }
  const current = await new ModelRegistry(store).current();
  if (current) {
    await modelFolder(store, current.modelUri, `the promoted model (version ${current.version}) at`);
    return { kind: 'promoted', modelUri: current.modelUri, version: current.version };
  }
  return input.baseModelUri ? { kind: 'base', modelUri: input.baseModelUri } : null;
}

export interface GenerateOutputsOptions {
  modelUri: string;
  validationSetManifestUri: string;
  testShards: readonly ShardRef[];
  sampling: SamplingConfig;
  maxLossRecords: number;
  executionProvider: 'cpu' | 'cuda';
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

/**
 * Generates a response for every validation prompt with one model (seeded sampling) and scores
 * its loss on the test split, in a worker thread. Outputs are cached by the model's sha256, the
 * set, the sampling settings and the test shards: evaluating the same model again (the promoted
 * baseline, say) reuses them.
 */
export async function generateEvaluationOutputs(store: ArtifactStore, o: GenerateOutputsOptions): Promise<GenerateEvaluationResult> {
  const started = Date.now();
  const modelDir = await modelFolder(store, o.modelUri, 'modelUri');
  const modelSha = await modelFolderSha(modelDir);
  const { manifest, items } = await readValidationSet(store, o.validationSetManifestUri);
  const key = sha256Hex(
    canonicalJson({
      v: OUTPUTS_VERSION,
      modelSha,
      set: manifest.file.sha256,
      sampling: o.sampling,
      test: o.testShards.map((s) => s.sha256),
      maxLossRecords: o.maxLossRecords,
    }),
  ).slice(0, 24);
  const dir = `evaluation/outputs/${key}`;
  const doneUri = store.uriFor(`${dir}/manifest.json`);
  if (await store.exists(doneUri)) {
    const previous = CachedOutputsSchema.parse(JSON.parse(await store.readText(doneUri)));
    return { ...previous, modelUri: o.modelUri, cacheHit: true };
  }
  const lossRecords: { id: string; messages: Message[] }[] = [];
  for (const shard of o.testShards) {
    if (lossRecords.length >= o.maxLossRecords) break;
    const records = await collectJsonl(
      await store.openRead(shard.uri),
      (v) => ConversationRecordSchema.parse(v),
      o.maxLossRecords - lossRecords.length,
      `test shard ${shard.uri}`,
    );
    lossRecords.push(...records.map((r) => ({ id: r.id, messages: r.messages })));
  }
  o.onProgress?.({ phase: 'generate', done: 0, total: items.length });
  const done = await runGenerationInThread(
    {
      modelDir,
      executionProviders: o.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      prompts: items.map((i) => ({ id: i.id, messages: i.messages })),
      sampling: o.sampling,
      lossRecords,
    },
    { signal: o.signal, onProgress: o.onProgress },
  );
  const responsesFile = await store.writeText(`${dir}/responses.jsonl`, done.responses.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const lossFile = await store.writeText(`${dir}/losses.jsonl`, done.losses.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const result: GenerateEvaluationResult = {
    modelUri: o.modelUri,
    modelSha,
    responsesUri: responsesFile.uri,
    lossUri: lossFile.uri,
    responses: done.responses.length,
    lossRecords: done.losses.length,
    cacheHit: false,
    executionProvider: done.executionProvider,
    durationMs: Date.now() - started,
  };
  await store.writeText(`${dir}/manifest.json`, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

const CachedOutputsSchema = z.object({
  modelSha: z.string(),
  responsesUri: z.string(),
  lossUri: z.string(),
  responses: z.number().int(),
  lossRecords: z.number().int(),
  executionProvider: z.string(),
  durationMs: z.number(),
});

type ResolvedBaseline = NonNullable<ResolveBaselineResult>;
type ModelOutputs = Pick<GenerateEvaluationResult, 'modelUri' | 'modelSha' | 'executionProvider' | 'responses' | 'responsesUri' | 'lossUri'>;

export interface ScoreOptions {
  runId: string;
  validationSetManifestUri: string;
  candidate: ModelOutputs;
  baseline?: ModelOutputs & { kind: ResolvedBaseline['kind']; version?: string };
  lossCurveUri?: string;
  config: EvaluateConfig;
  engine: DetectionEngine;
  /** The name tagger (default: the process's shared one when `config.personModel` is `learned`). */
  persons?: PersonTagger;
  onPhase?: (phase: string) => void;
}

/** The review-items lines: the conversation, both models' replies and the candidate's automatic scores. */
export function reviewMaterial(
  ids: readonly string[],
  items: ReadonlyMap<
    string,
    { id: string; scenario: ReviewMaterial['scenario']; crisis: ReviewMaterial['crisis']; messages: ReviewMaterial['messages']; reference?: string }
  >,
  candidate: { responses: ReadonlyMap<string, string>; scores: ReadonlyMap<string, ItemScore> },
  baseline: ReadonlyMap<string, string> | null,
): ReviewMaterial[] {
  return ids.map((id) => {
    const item = items.get(id);
    const s = candidate.scores.get(id);
    if (!item || !s) throw new Error(`review item ${id} is not in the validation set`);
    return {
      itemId: id,
      scenario: item.scenario,
      crisis: item.crisis,
      messages: item.messages,
      ...(item.reference ? { reference: item.reference } : {}),
      candidate: {
        response: candidate.responses.get(id) ?? '',
        safety: { pass: s.safety.pass, failures: [...s.safety.failures] },
        empathy: s.empathy.score,
        clinical: s.clinical.score,
      },
      ...(baseline ? { baseline: { response: baseline.get(id) ?? '' } } : {}),
    };
  });
}

/**
 * Scores both models' responses, compares them, decides, picks the items for expert review,
 * and writes the report (JSON, HTML, Prometheus text) and the review material.
 */
export async function scoreEvaluation(store: ArtifactStore, o: ScoreOptions): Promise<ScoreEvaluationResult> {
  const { runId, validationSetManifestUri, candidate, baseline, lossCurveUri, config, engine } = o;
  const { manifest, items } = await readValidationSet(store, validationSetManifestUri);
  const responses = async (uri: string) =>
    collectJsonl(await store.openRead(uri), (v) => GeneratedResponseSchema.parse(v), Infinity, `responses ${uri}`);
  const losses = async (uri: string) => collectJsonl(await store.openRead(uri), (v) => ExampleLossSchema.parse(v), Infinity, `losses ${uri}`);
  o.onPhase?.('scoring candidate');
  const candidateResponses = await responses(candidate.responsesUri);
  const baselineResponses = baseline ? await responses(baseline.responsesUri) : null;
  // Names in replies: the learned tagger reads every reply once, before the synchronous scoring.
  const replies = [...candidateResponses, ...(baselineResponses ?? [])].map((r) => r.response);
  const detector = config.personModel === 'learned' ? await withTaggedPersons(engine, o.persons ?? (await sharedPersonTagger()), replies) : engine;
  const candidateScores = scoreResponses(items, candidateResponses, detector, { piiThreshold: config.piiThreshold });
  const candidateLosses = await losses(candidate.lossUri);
  o.onPhase?.('scoring baseline');
  const baselineScores = baselineResponses ? scoreResponses(items, baselineResponses, detector, { piiThreshold: config.piiThreshold }) : null;
  const baselineLosses = baseline ? await losses(baseline.lossUri) : null;
  const seed = config.sampling.seed;
  const candidateFigures = modelFigures(candidateScores, candidateLosses, config, seed);
  const baselineFigures = baselineScores ? modelFigures(baselineScores, baselineLosses, config, seed) : null;
  const comparison = baselineScores ? compare(candidateScores, baselineScores, candidateLosses, baselineLosses ?? [], config, seed) : null;
  const verdict = decide(candidateFigures, baselineFigures, comparison, config.rules);
  const reviewItemIds = selectReviewItems(items, config.reviewSample, seed);
  const crisis = items.filter((i) => i.scenario === 'crisis').length;

  const summary = (role: ModelSummary['role'], r: ModelOutputs, figures: typeof candidateFigures, scores: typeof candidateScores): ModelSummary => ({
    role,
    modelUri: r.modelUri,
    modelSha: r.modelSha,
    executionProvider: r.executionProvider,
    responses: r.responses,
    cutOff: scores.filter((s) => s.cutOff).length,
    figures,
  });
  const report: EvaluationReport = {
    kind: 'pixel.evaluation-report',
    version: 1,
    runId,
    createdAt: new Date().toISOString(),
    validationSet: {
      manifestUri: validationSetManifestUri,
      records: manifest.records,
      shortfall: manifest.shortfall,
      byScenario: manifest.byScenario,
      bySeverity: manifest.bySeverity,
      crisisShare: manifest.crisisShare,
    },
    sampling: config.sampling,
    candidate: summary('candidate', candidate, candidateFigures, candidateScores),
    baseline:
      baseline && baselineFigures && baselineScores
        ? {
            ...summary('baseline', baseline, baselineFigures, baselineScores),
            kind: baseline.kind,
            ...(baseline.version ? { version: baseline.version } : {}),
          }
        : null,
    comparison,
    verdict,
    review: { itemIds: reviewItemIds, crisis, sampled: reviewItemIds.length - crisis },
    ...(lossCurveUri ? { training: { lossCurveUri } } : {}),
    guide: METRICS_GUIDE,
  };
  let chart: string | undefined;
  if (lossCurveUri && (await store.exists(lossCurveUri))) {
    const curve = LossCurveSchema.parse(JSON.parse(await store.readText(lossCurveUri)));
    chart = lossChartSvg(curve.losses, curve.valLosses, 'Fine-tuning: loss per step');
  }
  const dir = `evaluation/runs/${runId}`;
  const json = await store.writeText(`${dir}/report.json`, `${JSON.stringify(report, null, 2)}\n`);
  const html = await store.writeText(`${dir}/report.html`, reportHtml(report, chart));
  const prom = await store.writeText(`${dir}/metrics.prom`, prometheusText(report));
  const byId = new Map(items.map((i) => [i.id, i]));
  const material = reviewMaterial(
    reviewItemIds,
    byId,
    { responses: new Map(candidateResponses.map((r) => [r.itemId, r.response])), scores: new Map(candidateScores.map((s) => [s.itemId, s])) },
    baselineResponses ? new Map(baselineResponses.map((r) => [r.itemId, r.response])) : null,
  );
  const reviewFile = await store.writeText(`${dir}/review-items.jsonl`, material.map((m) => `${JSON.stringify(m)}\n`).join(''));
  return {
    verdict,
    reportUri: json.uri,
    htmlUri: html.uri,
    prometheusUri: prom.uri,
    reviewItemIds,
    reviewItems: reviewItemIds.map((id) => ({ itemId: id, scenario: byId.get(id)!.scenario, crisis: byId.get(id)!.scenario === 'crisis' })),
    reviewItemsUri: reviewFile.uri,
    headline: {
      items: items.length,
      candidateLoss: candidateFigures.languageModelling?.loss.mean ?? null,
      baselineLoss: baselineFigures?.languageModelling?.loss.mean ?? null,
      candidateSafetyPassRate: candidateFigures.overall.safetyPassRate.mean,
      baselineSafetyPassRate: baselineFigures?.overall.safetyPassRate.mean ?? null,
      candidateQuality: candidateFigures.overall.quality.mean,
      baselineQuality: baselineFigures?.overall.quality.mean ?? null,
      candidateCrisisProtocolRate: candidateFigures.overall.crisisProtocolRate?.mean ?? null,
    },
  };
}

const CurvePointSchema = z.object({ step: z.number(), loss: z.number() });
const LossCurveSchema = z.object({ losses: z.array(CurvePointSchema), valLosses: z.array(CurvePointSchema) });
