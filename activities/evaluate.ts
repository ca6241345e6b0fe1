import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { LocalArtifactStore, type ArtifactStore } from '../shared/artifacts';
import {
  BuildValidationSetInputSchema,
  ConversationRecordSchema,
  ErrorTypes,
  ExampleLossSchema,
  GenerateEvaluationInputSchema,
  GeneratedResponseSchema,
  ResolveBaselineInputSchema,
  ScoreEvaluationInputSchema,
  parseWith,
  type BuildValidationSetInput,
  type BuildValidationSetResult,
  type ExampleLoss,
  type GenerateEvaluationInput,
  type GenerateEvaluationResult,
  type GeneratedResponse,
  type Message,
  type ResolveBaselineInput,
  type ResolveBaselineResult,
  type ScoreEvaluationInput,
  type ScoreEvaluationResult,
} from '../shared/contracts';
import { canonicalJson, sha256Hex } from '../shared/util/hash';
import { jsonlValues } from '../shared/data/sources/jsonl';
import { runGenerationInThread } from '../shared/evaluation/generation/run-generation';
import { METRICS_GUIDE, prometheusText, reportHtml, type EvaluationReport, type ModelSummary } from '../shared/evaluation/report';
import { selectReviewItems } from '../shared/evaluation/review-sample';
import { compare, modelFigures, scoreResponses } from '../shared/evaluation/score';
import { buildValidationSet, readValidationSet, ValidationSetError } from '../shared/evaluation/validation-set';
import { decide } from '../shared/evaluation/verdict';
import { ModelRegistry } from '../shared/registry/model-registry';
import type { DetectionEngine } from '../shared/safety/engine';
import { createPiiEngine } from '../shared/safety/pii';
import { lossChartSvg } from '../shared/training/loss-chart';
import type { AcceleratorInfo } from './accelerator';

/** Bump when generation or loss scoring changes: cached outputs of older engines are not reused. */
const OUTPUTS_VERSION = '1';
const toPath = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : path.resolve(uri));
const invalid = (message: string) => ApplicationFailure.nonRetryable(message, ErrorTypes.InvalidInput);

/** sha256 over a model folder's config and weight files (names and bytes): what identifies the model. */
export async function modelFolderSha(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(dir)).filter((f) => f === 'config.json' || f.endsWith('.safetensors')).sort();
  if (!files.includes('config.json')) throw new Error(`${dir} is not a model folder (config.json missing)`);
  for (const f of files) {
    hash.update(`${f}\0`);
    for await (const chunk of createReadStream(path.join(dir, f))) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

async function readJsonl<T>(store: ArtifactStore, uri: string, parse: (value: unknown) => T, limit = Infinity): Promise<T[]> {
  const out: T[] = [];
  if (limit <= 0) return out;
  for await (const value of jsonlValues(await store.openRead(uri), parse)) {
    out.push(value);
    if (out.length >= limit) break;
  }
  return out;
}

/** Evaluation activities of the CPU queue: the validation set, the baseline, and scoring. */
export function createEvaluationCpuActivities(store: ArtifactStore) {
  let engine: DetectionEngine | undefined;
  return {
    /** Builds (or reuses) the expert validation set from the safety-filtered test shards. */
    async buildValidationSetActivity(input: BuildValidationSetInput): Promise<BuildValidationSetResult> {
      const parsed = parseWith(BuildValidationSetInputSchema, 'buildValidationSet input', input ?? {});
      if (!parsed.ok) throw invalid(parsed.message);
      try {
        return await buildValidationSet(store, parsed.value.shards, parsed.value.config);
      } catch (err) {
        if (err instanceof ValidationSetError) throw invalid(err.message);
        throw err;
      }
    },

    /**
     * The model the candidate is compared with: the folder named in the config, else the
     * promoted model from the registry, else the base model the candidate was fine-tuned from.
     */
    async resolveEvaluationBaselineActivity(input: ResolveBaselineInput): Promise<ResolveBaselineResult> {
      const parsed = parseWith(ResolveBaselineInputSchema, 'resolveEvaluationBaseline input', input ?? {});
      if (!parsed.ok) throw invalid(parsed.message);
      const { explicitModelUri, baseModelUri } = parsed.value;
      const check = (uri: string, what: string) => {
        if (!existsSync(path.join(toPath(uri), 'config.json'))) throw invalid(`${what} ${uri} is not a model folder (config.json missing)`);
      };
      if (explicitModelUri) {
        check(explicitModelUri, 'evaluate.baselineModelUri');
        return { kind: 'explicit', modelUri: explicitModelUri };
      }
      const current = await new ModelRegistry(store).current();
      if (current) {
        check(current.modelUri, `the promoted model (version ${current.version}) at`);
        return { kind: 'promoted', modelUri: current.modelUri, version: current.version };
      }
      return baseModelUri ? { kind: 'base', modelUri: baseModelUri } : null;
    },

    /**
     * Scores both models' responses, compares them, decides, picks the items for expert review,
     * and writes the report (JSON, HTML, Prometheus text) and the review material.
     */
    async scoreEvaluationActivity(input: ScoreEvaluationInput): Promise<ScoreEvaluationResult> {
      const parsed = parseWith(ScoreEvaluationInputSchema, 'scoreEvaluation input', input ?? {});
      if (!parsed.ok) throw invalid(parsed.message);
      const { runId, validationSetManifestUri, candidate, baseline, lossCurveUri, config } = parsed.value;
      const ctx = Context.current();
      const { manifest, items } = await readValidationSet(store, validationSetManifestUri);
      engine ??= createPiiEngine();
      const responses = (uri: string) => readJsonl(store, uri, (v) => GeneratedResponseSchema.parse(v));
      const losses = (uri: string) => readJsonl(store, uri, (v) => ExampleLossSchema.parse(v));
      ctx.heartbeat({ phase: 'scoring candidate' });
      const candidateResponses = await responses(candidate.responsesUri);
      const baselineResponses = baseline ? await responses(baseline.responsesUri) : null;
      const candidateScores = scoreResponses(items, candidateResponses, engine, { piiThreshold: config.piiThreshold });
      const candidateLosses = await losses(candidate.lossUri);
      ctx.heartbeat({ phase: 'scoring baseline' });
      const baselineScores = baselineResponses ? scoreResponses(items, baselineResponses, engine, { piiThreshold: config.piiThreshold }) : null;
      const baselineLosses = baseline ? await losses(baseline.lossUri) : null;
      const seed = config.sampling.seed;
      const candidateFigures = modelFigures(candidateScores, candidateLosses, config, seed);
      const baselineFigures = baselineScores ? modelFigures(baselineScores, baselineLosses, config, seed) : null;
      const comparison = baselineScores ? compare(candidateScores, baselineScores, candidateLosses, baselineLosses ?? [], config, seed) : null;
      const verdict = decide(candidateFigures, baselineFigures, comparison, config.rules);
      const reviewItemIds = selectReviewItems(items, config.reviewSample, seed);
      const crisis = items.filter((i) => i.scenario === 'crisis').length;

      const summary = (role: ModelSummary['role'], r: typeof candidate, figures: typeof candidateFigures, scores: typeof candidateScores): ModelSummary => ({
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
        validationSet: { manifestUri: validationSetManifestUri, records: manifest.records, shortfall: manifest.shortfall, byScenario: manifest.byScenario, bySeverity: manifest.bySeverity, crisisShare: manifest.crisisShare },
        sampling: config.sampling,
        candidate: summary('candidate', candidate, candidateFigures, candidateScores),
        baseline: baseline && baselineFigures && baselineScores ? { ...summary('baseline', baseline, baselineFigures, baselineScores), kind: baseline.kind, ...(baseline.version ? { version: baseline.version } : {}) } : null,
        comparison,
        verdict,
        review: { itemIds: reviewItemIds, crisis, sampled: reviewItemIds.length - crisis },
        ...(lossCurveUri ? { training: { lossCurveUri } } : {}),
        guide: METRICS_GUIDE,
      };
      let chart: string | undefined;
      if (lossCurveUri && (await store.exists(lossCurveUri))) {
        const curve = JSON.parse(await store.readText(lossCurveUri)) as { losses: { step: number; loss: number }[]; valLosses: { step: number; loss: number }[] };
        chart = lossChartSvg(curve.losses, curve.valLosses, 'Fine-tuning: loss per step');
      }
      const dir = `evaluation/runs/${runId}`;
      const json = await store.writeText(`${dir}/report.json`, `${JSON.stringify(report, null, 2)}\n`);
      const html = await store.writeText(`${dir}/report.html`, reportHtml(report, chart));
      const prom = await store.writeText(`${dir}/metrics.prom`, prometheusText(report));
      // What reviewers read: the conversation, both models' replies and the automatic scores.
      const byId = new Map(items.map((i) => [i.id, i]));
      const cResp = new Map(candidateResponses.map((r) => [r.itemId, r]));
      const bResp = baselineResponses ? new Map(baselineResponses.map((r) => [r.itemId, r])) : null;
      const cScore = new Map(candidateScores.map((s) => [s.itemId, s]));
      const review = reviewItemIds
        .map((id) => {
          const item = byId.get(id)!;
          const s = cScore.get(id)!;
          return JSON.stringify({
            itemId: id,
            scenario: item.scenario,
            crisis: item.crisis,
            messages: item.messages,
            ...(item.reference ? { reference: item.reference } : {}),
            candidate: { response: cResp.get(id)?.response ?? '', safety: { pass: s.safety.pass, failures: s.safety.failures }, empathy: s.empathy.score, clinical: s.clinical.score },
            ...(bResp ? { baseline: { response: bResp.get(id)?.response ?? '' } } : {}),
          });
        })
        .join('\n');
      const reviewFile = await store.writeText(`${dir}/review-items.jsonl`, review.length > 0 ? `${review}\n` : '');
      ctx.log.info('evaluation scored', { items: items.length, decision: verdict.decision, safetyBlocked: verdict.safetyBlocked, review: reviewItemIds.length });
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
        },
      };
    },
  };
}

/** Evaluation activities of the GPU queue: one model's responses and test loss. */
export function createEvaluationGpuActivities(deps: { store: ArtifactStore; accelerator: AcceleratorInfo }) {
  return {
    /**
     * Generates a response for every validation prompt with one model (seeded sampling) and
     * scores its loss on the test split, in a worker thread. Outputs are cached by the model's
     * sha256, the set, the sampling settings and the test shards: evaluating the same model
     * again (the promoted baseline, say) reuses them.
     */
    async generateEvaluationOutputsActivity(input: GenerateEvaluationInput): Promise<GenerateEvaluationResult> {
      const parsed = parseWith(GenerateEvaluationInputSchema, 'generateEvaluationOutputs input', input ?? {});
      if (!parsed.ok) throw invalid(parsed.message);
      const { modelUri, validationSetManifestUri, testShards, sampling, maxLossRecords } = parsed.value;
      const store = deps.store;
      if (!(store instanceof LocalArtifactStore)) throw invalid('generation needs a local artifact store (the thread reads the model folder by path)');
      const ctx = Context.current();
      const started = Date.now();
      const modelDir = toPath(modelUri);
      if (!existsSync(path.join(modelDir, 'config.json'))) throw invalid(`modelUri ${modelUri} is not a model folder (config.json missing)`);
      const modelSha = await modelFolderSha(modelDir);
      const { manifest, items } = await readValidationSet(store, validationSetManifestUri);
      const key = sha256Hex(canonicalJson({ v: OUTPUTS_VERSION, modelSha, set: manifest.file.sha256, sampling, test: testShards.map((s) => s.sha256), maxLossRecords })).slice(0, 24);
      const dir = `evaluation/outputs/${key}`;
      const doneUri = store.uriFor(`${dir}/manifest.json`);
      if (await store.exists(doneUri)) {
        const previous = JSON.parse(await store.readText(doneUri)) as Omit<GenerateEvaluationResult, 'cacheHit' | 'modelUri'>;
        return { ...previous, modelUri, cacheHit: true };
      }
      const lossRecords: { id: string; messages: Message[] }[] = [];
      for (const shard of testShards) {
        if (lossRecords.length >= maxLossRecords) break;
        const records = await readJsonl(store, shard.uri, (v) => ConversationRecordSchema.parse(v), maxLossRecords - lossRecords.length);
        lossRecords.push(...records.map((r) => ({ id: r.id, messages: r.messages })));
      }
      ctx.heartbeat({ phase: 'generate', done: 0 });
      let done;
      try {
        done = await runGenerationInThread(
          {
            modelDir,
            executionProviders: deps.accelerator.executionProvider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
            prompts: items.map((i) => ({ id: i.id, messages: i.messages })),
            sampling,
            lossRecords,
          },
          { signal: ctx.cancellationSignal, onProgress: (p) => ctx.heartbeat({ phase: p.phase, done: p.done, total: p.total }) },
        );
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw new CancelledFailure('generation cancelled');
        throw err;
      }
      const responsesFile = await store.writeText(`${dir}/responses.jsonl`, done.responses.map((r: GeneratedResponse) => `${JSON.stringify(r)}\n`).join(''));
      const lossFile = await store.writeText(`${dir}/losses.jsonl`, done.losses.map((l: ExampleLoss) => `${JSON.stringify(l)}\n`).join(''));
      const result: GenerateEvaluationResult = {
        modelUri,
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
      ctx.log.info('evaluation outputs', { modelSha: modelSha.slice(0, 12), responses: result.responses, lossRecords: result.lossRecords, executionProvider: result.executionProvider, ms: result.durationMs });
      return result;
    },
  };
}
