import type { CrisisSeverity, EvaluateConfig, ExampleLoss, GeneratedResponse, Scenario, ValidationItem } from '../contracts';
import type { DetectionEngine } from '../safety/engine';
import { bootstrapMean, bootstrapPairedDelta, groupBy, type Estimate } from './metrics/aggregate';
import { scoreClinical } from './metrics/clinical';
import { openingCounts, scoreEmpathy } from './metrics/empathy';
import { languageModelling, lossDelta, type LanguageModelling } from './metrics/language-modelling';
import { scoreSafety } from './metrics/safety-compliance';
import {
  SAFETY_FAILURES,
  type ClinicalScore,
  type EmpathyScore,
  type PromptContext,
  type SafetyCompliance,
  type SafetyFailure,
} from './metrics/types';

/** Every metric of one response. */
export interface ItemScore {
  itemId: string;
  scenario: Scenario;
  severity: CrisisSeverity;
  tokens: number;
  /** The response ran out of tokens before ending itself. */
  cutOff: boolean;
  safety: SafetyCompliance;
  empathy: EmpathyScore;
  clinical: ClinicalScore;
  /** The mean of the empathy and clinical scores: one number for "a good reply", in [0, 1]. */
  quality: number;
}

/** One model's figures over a group of items (all, one scenario, one severity). */
export interface GroupFigures {
  n: number;
  safetyPassRate: Estimate;
  /** Among items whose severity calls for the crisis protocol; null when the group has none. */
  crisisProtocolRate: Estimate | null;
  failures: Record<SafetyFailure, { count: number; rate: number; itemIds: string[] }>;
  empathy: Estimate;
  clinical: Estimate;
  quality: Estimate;
}

export interface ModelFigures {
  overall: GroupFigures;
  byScenario: Partial<Record<Scenario, GroupFigures>>;
  bySeverity: Partial<Record<CrisisSeverity, GroupFigures>>;
  languageModelling: LanguageModelling | null;
}

/** Candidate minus baseline on the same items, per group. */
export interface GroupDelta {
  n: number;
  safetyPassRate: Estimate;
  empathy: Estimate;
  clinical: Estimate;
  quality: Estimate;
}

export interface Comparison {
  overall: GroupDelta;
  byScenario: Partial<Record<Scenario, GroupDelta>>;
  bySeverity: Partial<Record<CrisisSeverity, GroupDelta>>;
  /** Paired loss change over shared test conversations; null when the models do not share a tokenizer. */
  loss: Estimate | null;
}

/** Scores one model's responses to the validation items (matched by item id). */
export function scoreResponses(
  items: readonly ValidationItem[],
  responses: readonly GeneratedResponse[],
  engine: Pick<DetectionEngine, 'detect'>,
  options: { piiThreshold?: number } = {},
): ItemScore[] {
  const byId = new Map(responses.map((r) => [r.itemId, r]));
  const missing = items.filter((i) => !byId.has(i.id));
  if (missing.length > 0) throw new Error(`responses are missing for ${missing.length} validation items (first: ${missing[0]!.id})`);
  const texts = items.map((i) => byId.get(i.id)!.response);
  const corpus = { openingCounts: openingCounts(texts), responses: texts.length };
  return items.map((item, k) => {
    const response = texts[k] as string;
    const lastUser = [...item.messages].reverse().find((m) => m.role === 'user');
    const prompt: PromptContext = { scenario: item.scenario, crisis: item.crisis, lastUserTurn: lastUser?.content ?? '' };
    const empathy = scoreEmpathy(response, prompt, corpus);
    const clinical = scoreClinical(response, prompt);
    const generated = byId.get(item.id)!;
    return {
      itemId: item.id,
      scenario: item.scenario,
      severity: item.crisis.severity,
      tokens: generated.tokens,
      cutOff: !generated.finished,
      safety: scoreSafety(response, prompt, engine, options),
      empathy,
      clinical,
      quality: (empathy.score + clinical.score) / 2,
    };
  });
}

function figures(scores: readonly ItemScore[], resamples: number, seed: number): GroupFigures {
  const n = scores.length;
  const failures = Object.fromEntries(
    SAFETY_FAILURES.map((f) => {
      const ids = scores.filter((s) => s.safety.failures.includes(f)).map((s) => s.itemId);
      return [f, { count: ids.length, rate: n === 0 ? 0 : ids.length / n, itemIds: ids }];
    }),
  ) as GroupFigures['failures'];
  const protocol = scores.filter((s) => s.safety.crisisProtocol !== null);
  return {
    n,
    safetyPassRate: bootstrapMean(
      scores.map((s) => (s.safety.pass ? 1 : 0)),
      resamples,
      seed,
    ),
    crisisProtocolRate:
      protocol.length === 0
        ? null
        : bootstrapMean(
            protocol.map((s) => (s.safety.crisisProtocol!.pass ? 1 : 0)),
            resamples,
            seed + 1,
          ),
    failures,
    empathy: bootstrapMean(
      scores.map((s) => s.empathy.score),
      resamples,
      seed + 2,
    ),
    clinical: bootstrapMean(
      scores.map((s) => s.clinical.score),
      resamples,
      seed + 3,
    ),
    quality: bootstrapMean(
      scores.map((s) => s.quality),
      resamples,
      seed + 4,
    ),
  };
}

/** One model's figures overall, per scenario and per crisis severity, with bootstrap intervals. */
export function modelFigures(
  scores: readonly ItemScore[],
  losses: readonly ExampleLoss[] | null,
  config: Pick<EvaluateConfig, 'bootstrap'>,
  seed: number,
): ModelFigures {
  const r = config.bootstrap;
  const byScenario: ModelFigures['byScenario'] = {};
  for (const [k, group] of groupBy(scores, (s) => s.scenario)) byScenario[k] = figures(group, r, seed);
  const bySeverity: ModelFigures['bySeverity'] = {};
  for (const [k, group] of groupBy(scores, (s) => s.severity)) bySeverity[k] = figures(group, r, seed);
  return {
    overall: figures(scores, r, seed),
    byScenario,
    bySeverity,
    languageModelling: losses && losses.length > 0 ? languageModelling(losses, r, seed) : null,
  };
}

function delta(candidate: readonly ItemScore[], baseline: readonly ItemScore[], resamples: number, seed: number): GroupDelta {
  const base = new Map(baseline.map((s) => [s.itemId, s]));
  const pairs = candidate.filter((c) => base.has(c.itemId)).map((c) => [c, base.get(c.itemId)!] as const);
  const d = (f: (s: ItemScore) => number, k: number) =>
    bootstrapPairedDelta(
      pairs.map(([c]) => f(c)),
      pairs.map(([, b]) => f(b)),
      resamples,
      seed + k,
    );
  return {
    n: pairs.length,
    safetyPassRate: d((s) => (s.safety.pass ? 1 : 0), 0),
    empathy: d((s) => s.empathy.score, 1),
    clinical: d((s) => s.clinical.score, 2),
    quality: d((s) => s.quality, 3),
  };
}

/** Candidate minus baseline, overall and per group, on the items both answered. */
export function compare(
  candidate: readonly ItemScore[],
  baseline: readonly ItemScore[],
  candidateLosses: readonly ExampleLoss[],
  baselineLosses: readonly ExampleLoss[],
  config: Pick<EvaluateConfig, 'bootstrap'>,
  seed: number,
): Comparison {
  const r = config.bootstrap;
  const byScenario: Comparison['byScenario'] = {};
  const baseByScenario = groupBy(baseline, (s) => s.scenario);
  for (const [k, group] of groupBy(candidate, (s) => s.scenario)) byScenario[k] = delta(group, baseByScenario.get(k) ?? [], r, seed);
  const bySeverity: Comparison['bySeverity'] = {};
  const baseBySeverity = groupBy(baseline, (s) => s.severity);
  for (const [k, group] of groupBy(candidate, (s) => s.severity)) bySeverity[k] = delta(group, baseBySeverity.get(k) ?? [], r, seed);
  const loss = candidateLosses.length > 0 && baselineLosses.length > 0 ? lossDelta(candidateLosses, baselineLosses, r, seed) : null;
  return { overall: delta(candidate, baseline, r, seed), byScenario, bySeverity, loss: loss && loss.n > 0 ? loss : null };
}
